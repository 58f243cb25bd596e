"""Sentinelle: security monitoring and cyber-crisis platform for hospitals."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sentinelle")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
