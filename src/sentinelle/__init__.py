"""Sentinelle: security monitoring and cyber-crisis platform for hospitals."""

import time

__all__ = ["STARTED", "__version__"]

# When Sentinelle's first module was imported: a hunt counts its start-up (imports, command
# line parsing) from here, as a stage of its time.
STARTED = time.perf_counter()


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sentinelle")
    except PackageNotFoundError:
        return "0.0.0+unknown"
