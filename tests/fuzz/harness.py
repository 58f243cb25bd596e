"""What every fuzz target shares: running under atheris (coverage-guided) when it is installed,
and the checks a reader's output must pass whatever the input.

A target module ``tests/fuzz/fuzz_<name>.py`` defines ``fuzz_one(data: bytes) -> None``, which
raises on a violated property (any exception is a finding), and ends with
``if __name__ == "__main__": harness.main(fuzz_one, __name__)``. Its seed inputs live in
``tests/fuzz/corpus/<name>/``. ``python -m tests.fuzz.run`` runs them.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from sentinelle.events import EventBatch

# Nothing of Sentinelle is imported here at module level: a target imports the code it fuzzes
# inside ``instrumentation()``, which must see those modules first to instrument them.
FuzzTarget = Callable[[bytes], None]


# The folder a target's scratch files go in when ``tests.fuzz.run`` drives it under libFuzzer,
# which ends the process without its exit handlers (the run removes that folder itself).
SCRATCH_ENV = "SENTINELLE_FUZZ_SCRATCH"


def scratch_dir(name: str) -> Path:
    """A folder for the scratch files of target ``name``, removed when the run ends: the run's
    own under libFuzzer, else a temporary one removed at exit (each run left one in /tmp)."""
    given = os.environ.get(SCRATCH_ENV)
    if given:
        folder = Path(given) / "scratch"
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    made = tempfile.mkdtemp(prefix=f"sentinelle-fuzz-{name}-")
    atexit.register(shutil.rmtree, made, ignore_errors=True)
    return Path(made)


def have_atheris() -> bool:
    return importlib.util.find_spec("atheris") is not None


def main(target: FuzzTarget, module: str) -> None:
    """Entry point of a target run as a script: libFuzzer's arguments come from argv."""
    import atheris

    atheris.Setup(sys.argv, target)
    atheris.Fuzz()


def instrumentation(driven: bool) -> contextlib.AbstractContextManager[Any]:
    """Where a target imports the code it fuzzes: instrumented for coverage when atheris drives
    the run (``driven``: the target runs as a script), plain otherwise (pytest, Hypothesis)."""
    if driven and have_atheris():
        import atheris

        return atheris.instrument_imports()  # type: ignore[no-any-return]
    return contextlib.nullcontext()


def read_as(fmt: str, data: bytes, name: str = "fuzz") -> list[EventBatch]:
    """``data`` read by the text reader of ``fmt``, every batch checked (see check_batch)."""
    from sentinelle.readers.batches import BatchBuilder
    from sentinelle.readers.textlogs import read_text_stream

    builder = BatchBuilder(name, fmt, 64)
    batches = list(read_text_stream(io.BytesIO(data), fmt, name, builder, mtime=1.7e9))
    last = builder.finish()
    if last is not None:
        batches.append(last)
    for batch in batches:
        check_batch(batch)
    return batches


def check_batch(batch: EventBatch) -> None:
    """What every output relies on: events encodable as JSON, times formattable, fields
    within the cap, read issues free of terminal control characters."""
    from sentinelle.readers.limits import DEFAULT_LIMITS

    for event in batch.events:
        orjson.dumps(event.to_dict())  # no default=: every value must encode as it is
        if event.timestamp is not None:
            assert event.iso_time() is not None
        assert len(event.fields) <= DEFAULT_LIMITS.max_fields
    for issue in batch.issues:
        text = issue.location + issue.reason
        assert not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text), issue
