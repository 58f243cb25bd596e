"""Run the fuzz targets: ``python -m tests.fuzz.run --seconds N [target...]``.

Each target ``tests/fuzz/fuzz_<name>.py`` runs for N seconds from its seed corpus
``tests/fuzz/corpus/<name>/``: under atheris (coverage-guided libFuzzer, one process per target,
so a crash or a memory blow-up is caught as a finding) when it is installed, else with
Hypothesis (random bytes and mutated seeds, in this process). New inputs go to ``--work``
(default: a temporary folder; ``make fuzz`` keeps them in ``.fuzz/`` so runs build on each
other); a crashing input is written to ``<work>/<name>/crash-*`` and the exit status is 1.
Copy a finding into the seed corpus once fixed, so every later run replays it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.fuzz import harness

HERE = Path(__file__).parent
CORPUS = HERE / "corpus"
# Per input: a parser that takes longer than this on one input is a finding (a hang).
INPUT_SECONDS = 20
# A target whose process passes this much memory is a finding (unbounded growth).
RSS_LIMIT_MB = 2560


def targets() -> list[str]:
    return sorted(path.stem.removeprefix("fuzz_") for path in HERE.glob("fuzz_*.py"))


def seeds(name: str) -> list[bytes]:
    folder = CORPUS / name
    return [path.read_bytes() for path in sorted(folder.iterdir())] if folder.is_dir() else []


def fuzz(name: str, seconds: int, work: Path) -> bool:
    """Run one target for ``seconds``; True when it found nothing."""
    out = work / name
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    if harness.have_atheris():
        return _atheris(name, seconds, out)
    return _hypothesis(name, seconds, out)


def _atheris(name: str, seconds: int, out: Path) -> bool:
    command = [
        sys.executable,
        "-m",
        f"tests.fuzz.fuzz_{name}",
        f"-max_total_time={seconds}",
        f"-timeout={INPUT_SECONDS}",
        f"-rss_limit_mb={RSS_LIMIT_MB}",
        f"-artifact_prefix={out}/",
        "-print_final_stats=1",
        str(out / "corpus"),  # new inputs are written to the first folder only
    ]
    if (CORPUS / name).is_dir():
        command.append(str(CORPUS / name))
    log = out / "fuzz.log"
    with log.open("wb") as sink:
        # Twice the run's time plus start-up: libFuzzer stops itself, this only guards a hang.
        try:
            proc = subprocess.run(
                command,
                stdout=sink,
                stderr=subprocess.STDOUT,
                timeout=seconds * 2 + INPUT_SECONDS + 60,
                check=False,
                # libFuzzer ends the process without its exit handlers: a target's scratch
                # files go in this run's folder, removed with it (see harness.scratch_dir).
                env={**os.environ, harness.SCRATCH_ENV: str(out)},
            )
        except subprocess.TimeoutExpired:
            print(f"{name}: did not stop in time; see {log}", file=sys.stderr)
            return False
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-30:]
        print(f"{name}: finding (exit {proc.returncode}); see {log}", file=sys.stderr)
        print("\n".join(tail), file=sys.stderr)
        return False
    return True


def _hypothesis(name: str, seconds: int, out: Path) -> bool:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    target = importlib.import_module(f"tests.fuzz.fuzz_{name}").fuzz_one
    seeded = seeds(name) or [b""]

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = bytearray(draw(st.sampled_from(seeded)))
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data)))
            cut = draw(st.integers(0, 16))
            data[at : at + cut] = draw(st.binary(max_size=16))
        return bytes(data)

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.one_of(st.binary(max_size=4096), mutated()))
    def round_of(data: bytes) -> None:
        try:
            target(data)
        except Exception:
            (out / f"crash-{abs(hash(data)):x}").write_bytes(data)
            raise

    for data in seeded:
        target(data)
    stop = time.monotonic() + seconds
    try:
        while time.monotonic() < stop:
            round_of()
    except Exception as exc:
        print(f"{name}: finding: {type(exc).__name__}: {exc}; input in {out}", file=sys.stderr)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--seconds", type=int, default=600, help="time per target")
    parser.add_argument("--work", type=Path, help="folder for new inputs and findings")
    parser.add_argument("targets", nargs="*", help=f"default: all ({', '.join(targets())})")
    args = parser.parse_args(argv)
    chosen = args.targets or targets()
    unknown = sorted(set(chosen) - set(targets()))
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    with tempfile.TemporaryDirectory(prefix="sentinelle-fuzz-") as scratch:
        work = args.work or Path(scratch)
        failed = [name for name in chosen if not fuzz(name, args.seconds, work)]
    engine = "atheris" if harness.have_atheris() else "hypothesis"
    print(
        f"fuzzed {len(chosen)} target(s) for {args.seconds} s each with {engine}: "
        f"{'findings in ' + ', '.join(failed) if failed else 'no finding'}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
