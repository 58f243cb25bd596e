"""The one way text from an input reaches a terminal (or any human-facing text output).

Logs, file names inside archives, rule titles and read issues are written by whoever wrote the
input: an attacker. Raw, an ``ESC`` sequence sets the terminal's title, clears the screen or
plants a hyperlink; a right-to-left override reverses what the analyst reads. Every writer that
puts input text in front of a person passes it through :func:`printable` first, so such bytes
are shown as visible escapes (``\\x1b``, ``\\u202e``) and never take effect.
"""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, zero-width characters, bidi embeddings, overrides and isolates, BOM.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` safe for a terminal: controls and bidi overrides shown as ``\\xNN`` escapes."""
    return _UNSAFE.sub(_escape_char, text)


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_json(text: str) -> str:
    """JSON text safe for a terminal and still valid JSON: what :func:`printable` escapes is
    written as ``\\uXXXX`` (such characters can only stand inside JSON strings, where that
    escape means the same character)."""
    return _UNSAFE.sub(_json_escape, text)


def _json_escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def printable_lines(text: str) -> str:
    """:func:`printable` line by line: a message of several lines (a model's problems, one a
    line) keeps its line breaks, and only they."""
    return "\n".join(printable(line) for line in text.split("\n"))
