"""One exception root for the package; every error can carry the place it comes from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where something was found: a file (or stream), and a line, record or chunk inside it."""

    source: str
    line: int | None = None
    record: int | None = None
    chunk: int | None = None

    def __str__(self) -> str:
        parts = [self.source]
        if self.line is not None:
            parts.append(str(self.line))
        text = ":".join(parts)
        if self.chunk is not None:
            text += f" chunk {self.chunk}"
        if self.record is not None:
            text += f" record {self.record}"
        return text


class SentinelleError(Exception):
    """Root of every error Sentinelle raises on purpose."""

    def __init__(self, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location is None:
            return self.message
        return f"{self.location}: {self.message}"


class ReadError(SentinelleError):
    """A log file or stream could not be read, or one of its records could not be parsed."""


class RuleError(SentinelleError):
    """A rule, filter or correlation could not be loaded or cannot be honoured exactly."""


class ConfigError(SentinelleError):
    """A configuration file (logsource mapping, hospital model, thresholds) is invalid."""
