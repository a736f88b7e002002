"""Evidence files: checked, typed from their bytes, and stored by SHA-256 at receipt."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import puremagic

# What residents send as evidence: screenshots and photos, PDFs, voice notes, audio and video.
# Anything else (apps, archives, office macros) is refused: officers should never have to open it.
ALLOWED = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
    "application/pdf": "pdf",
    "audio/ogg": "ogg",
    "application/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/webm": "webm",
    "video/3gpp": "3gp",
    "text/plain": "txt",
}


@dataclass(frozen=True)
class StoredFile:
    """A file written to the evidence store."""

    sha256: str
    size: int
    mime: str
    path: str  # relative to the evidence directory


def sniff(data: bytes) -> str | None:
    """The MIME type read from the bytes themselves (never from the name the sender gave)."""
    try:
        mime = puremagic.from_string(data, mime=True)
    except (puremagic.PureError, ValueError):
        return None
    mime = (mime or "").lower()
    if mime in ("audio/x-m4a", "video/x-m4a") or (mime == "video/mp4" and b"M4A " in data[:32]):
        return "audio/mp4"
    if mime == "application/ogg":
        return "audio/ogg"
    return mime or None


def is_allowed(mime: str | None) -> bool:
    """Whether tinbao keeps files of this type."""
    return mime in ALLOWED


def store(evidence_dir: Path, data: bytes, mime: str) -> StoredFile:
    """Write the bytes under their SHA-256 (once; the same file sent twice is stored once).

    The write goes to a temporary file first and is renamed into place, so a crash never
    leaves half a file under a hash that does not match it.
    """
    digest = hashlib.sha256(data).hexdigest()
    relative = Path(digest[:2]) / digest[2:4] / f"{digest}.{ALLOWED.get(mime, 'bin')}"
    target = evidence_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
    return StoredFile(sha256=digest, size=len(data), mime=mime, path=relative.as_posix())


def remove(evidence_dir: Path, relative_paths: list[str]) -> None:
    """Delete stored files no report uses any more."""
    for relative in relative_paths:
        (evidence_dir / relative).unlink(missing_ok=True)
