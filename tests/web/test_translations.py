"""The catalogues: every message of the web app has its French text, and the compiled ``.mo``
files (committed, so an install needs no gettext) say what the ``.po`` files say."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest

import sentinelle.web

LOCALE = Path(sentinelle.web.__file__).parent / "locale"


def entries(po: Path) -> dict[str, str]:
    """msgid -> msgstr (the singular form for plurals) of a .po file; a message with a context
    is keyed ``context\x04msgid``, as gettext stores it."""
    out: dict[str, str] = {}
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        current = ""
        for line in block.splitlines():
            match = re.match(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[0\])?) "(.*)"$', line)
            if match:
                current = match.group(1).replace("[0]", "")
                fields[current] = match.group(2)
            elif line.startswith('"') and current:
                fields[current] += line[1:-1]
        if fields.get("msgid"):
            key = unquote(fields["msgid"])
            if "msgctxt" in fields:
                key = f"{unquote(fields['msgctxt'])}\x04{key}"
            out[key] = unquote(fields.get("msgstr", ""))
    return out


def unquote(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), text)


def test_every_message_has_its_french_text() -> None:
    french = entries(LOCALE / "fr" / "LC_MESSAGES" / "django.po")
    assert len(french) > 200
    assert not [k for k, v in french.items() if not v], "messages without a French text"


@pytest.mark.parametrize("language", ["fr", "en"])
def test_compiled_catalogues_match_their_sources(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for msgid, msgstr in entries(folder / "django.po").items():
        if msgstr:
            context, _sep, bare = msgid.rpartition("\x04")
            found = compiled.pgettext(context, bare) if context else compiled.gettext(msgid)
            assert found == msgstr, f"{language}: {msgid!r} (run msgfmt)"
