"""Sentinelle: security monitoring and cyber-crisis platform for hospitals."""

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sentinelle")
    except PackageNotFoundError:
        return "0.0.0+unknown"
