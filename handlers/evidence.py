"""Evidence files: checked, typed from their bytes, and stored by SHA-256 at receipt."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import puremagic
from PIL import Image

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


# Pictures are opened with Pillow before they are kept, each only by the decoder of the type its
# bytes announce. HEIC/HEIF (iPhone files sent "as file") are kept as they came: Pillow has no
# decoder for them here and the bot never decodes them, so they are evidence files, not images.
IMAGE_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WEBP",
    "image/gif": "GIF",
}
UNDECODED_IMAGES = ("image/heic", "image/heif")
# A phone screenshot is 1080×2400 (2.6 Mpx), a camera photo 12–50 Mpx. A picture declaring more
# is refused from its header, before a pixel is decoded: a 20000×20000 PNG of a few hundred
# bytes would otherwise take 1.6 GB to open (a decompression bomb).
MAX_IMAGE_PIXELS = 50_000_000
# File-name endings that say "picture" (a document's name is the sender's claim, not its type).
_IMAGE_NAMES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".heic", ".heif", ".bmp", ".tif", ".tiff")

ImageVerdict = Literal["ok", "too_large", "not_an_image"]


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


def claims_image(kind: str, mime: str | None, name: str | None) -> bool:
    """Whether the sender's platform or file name says this file is a picture."""
    return (
        kind == "photo"
        or (mime or "").lower().startswith("image/")
        or (name or "").lower().endswith(_IMAGE_NAMES)
    )


def check_image(data: bytes, mime: str | None) -> ImageVerdict:
    """Whether `data`, whose bytes announce `mime`, is a picture tinbao accepts.

    The file is opened only by the decoder of its announced format (JPEG, PNG, WebP or GIF);
    one whose header declares more than `MAX_IMAGE_PIXELS` is refused before decoding, and the
    first frame is then decoded in full, so a truncated or corrupt picture is refused too.
    Blocking (it decodes): call it in a worker thread.
    """
    if mime in UNDECODED_IMAGES:
        return "ok"
    decoder = IMAGE_FORMATS.get(mime or "")
    if decoder is None:
        return "not_an_image"
    try:
        # Pillow itself refuses beyond twice its own limit (and only warns below that); the
        # limit here is lower and checked before any decoding.
        with Image.open(io.BytesIO(data), formats=[decoder]) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                return "too_large"
            if decoder == "JPEG":
                # Decoding at an eighth of the size checks the whole stream in a fraction of
                # the time and memory.
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except Image.DecompressionBombError:
        return "too_large"
    except Exception:  # hostile files make Pillow raise OSError, SyntaxError, struct.error, …
        return "not_an_image"
    return "ok"


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
