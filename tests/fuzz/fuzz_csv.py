"""Fuzz target: the csv reader, from raw bytes to checked event batches."""

from __future__ import annotations

from tests.fuzz import harness

with harness.instrumentation(__name__ == "__main__"):
    import sentinelle.readers.textlogs  # noqa: F401 - the code under test, instrumented


def fuzz_one(data: bytes) -> None:
    harness.read_as("csv", data)


if __name__ == "__main__":
    harness.main(fuzz_one, __name__)
