"""Evidence files: stored by their SHA-256 under the data folder, outside any served path, and
given back only as downloads.

The upload is hashed while it is copied, so the stored name is the digest (two uploads of the
same file share one copy) and nothing the uploader chose becomes a path. The name shown is the
uploaded one cut to its last component, with controls removed: ``../../etc/passwd`` is shown
as ``passwd`` and stored as its digest.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from sentinelle.errors import SentinelleError

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


class EvidenceTooLarge(SentinelleError):
    """An evidence file over the configured size."""


def safe_name(name: str) -> str:
    """The uploaded name, for display and as the download's name: its last component only."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE_NAME.sub("", base).strip().lstrip(".")
    return base[:200] or "evidence"


def evidence_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def path_of(sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256 digest")
    return evidence_root() / sha256[:2] / sha256


def store(upload: UploadedFile, limit: int) -> tuple[str, int]:
    """Copy the upload under the evidence folder; its SHA-256 and size."""
    if upload.size is not None and upload.size > limit:
        raise EvidenceTooLarge(f"{upload.size} bytes, over the limit of {limit}")
    root = evidence_root()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    size = 0
    fd, temp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in upload.chunks():
                size += len(chunk)
                if size > limit:
                    raise EvidenceTooLarge(f"over the limit of {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        final = path_of(sha)
        final.parent.mkdir(exist_ok=True, mode=0o700)
        Path(temp_name).replace(final)
        final.chmod(0o600)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return sha, size
