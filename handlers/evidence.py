"""Evidence files: checked, typed from their bytes, and stored by SHA-256 at receipt.

With `TINBAO_EVIDENCE_KEY` set, files are stored sealed (`handlers.seal`); the SHA-256 recorded
and the name on disk are still the original's, so the chain of custody does not change.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import puremagic
from PIL import Image

from handlers import seal
from handlers.seal import Keyring, SealError

# Temporary files of writes in progress; a crash may leave one, never a file under a hash.
TEMP_PREFIX = ".incoming-"

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


def store(evidence_dir: Path, data: bytes, mime: str, keys: Keyring | None = None) -> StoredFile:
    """Write the bytes under their SHA-256 (once; the same file sent twice is stored once),
    sealed under `keys.current` when a key is set.

    The write goes to a temporary file first and is renamed into place, so a crash never
    leaves half a file under a hash that does not match it.
    """
    digest = hashlib.sha256(data).hexdigest()
    relative = Path(digest[:2]) / digest[2:4] / f"{digest}.{ALLOWED.get(mime, 'bin')}"
    target = evidence_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)

        def write(handle: BinaryIO) -> None:
            if keys is None:
                handle.write(data)
            else:
                seal.seal_into(handle, data, keys.current)

        _replace(target, write)
    return StoredFile(sha256=digest, size=len(data), mime=mime, path=relative.as_posix())


def _replace(target: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a file next to `target`, flush it to disk, and rename it over `target`."""
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


class Unreadable(Exception):
    """A stored file that cannot be opened; the message is for the operator's log."""


def load(path: Path, keys: Keyring | None) -> bytes:
    """A stored file's original bytes, decrypted if it is sealed."""
    try:
        return seal.read(path, keys)
    except FileNotFoundError:
        raise Unreadable(f"evidence file {path.name} is missing on disk") from None
    except OSError as error:
        raise Unreadable(f"evidence file {path.name} cannot be read: {error}") from None
    except SealError as error:
        raise Unreadable(f"evidence file {path.name} cannot be opened: {error}") from None


def remove(evidence_dir: Path, relative_paths: list[str]) -> None:
    """Delete stored files no report uses any more."""
    for relative in relative_paths:
        (evidence_dir / relative).unlink(missing_ok=True)


def stored_files(evidence_dir: Path) -> Iterator[Path]:
    """Every stored file under the evidence directory (not writes in progress), sorted."""
    if not evidence_dir.is_dir():
        return
    for path in sorted(evidence_dir.rglob("*")):
        if path.is_file() and not path.name.startswith(TEMP_PREFIX):
            yield path


def recorded_sha256(path: Path) -> str:
    """The SHA-256 a stored file's name records (files are stored under their hash)."""
    return path.name.split(".", 1)[0].lower()


@dataclass
class Encrypted:
    """What `encrypt_all` did."""

    sealed: list[str] = field(default_factory=list)  # plaintext files now encrypted
    resealed: list[str] = field(default_factory=list)  # moved from an older key to the current
    already: int = 0  # files already encrypted with the current key
    refused: list[str] = field(default_factory=list)  # "path: why", left as they were


def encrypt_all(evidence_dir: Path, keys: Keyring) -> Encrypted:
    """Encrypt every plaintext stored file in place, and move files sealed with an older key
    to the current one; idempotent.

    Each file is written whole to a temporary file, checked against the SHA-256 its name
    records, flushed, and only then renamed over the old one: a crash at any moment leaves
    either the old file or the new one, never a mixture. A file whose content does not match
    its recorded hash is left untouched and reported (encrypting it would hide the damage).
    """
    done = Encrypted()
    for path in stored_files(evidence_dir):
        relative = path.relative_to(evidence_dir).as_posix()
        try:
            header = seal.header_of(path)
            if header.sealed and header.key_id == keys.current_id:
                done.already += 1
                continue
            expected = recorded_sha256(path)

            def write(handle: BinaryIO, path: Path = path, expected: str = expected) -> None:
                found = seal.seal_stream(seal.chunks(path, keys), handle, keys.current)
                if found != expected:
                    raise _Mismatch(found)

            _replace(path, write)
        except FileNotFoundError:
            continue  # removed meanwhile (a cancelled draft's file)
        except _Mismatch as mismatch:
            done.refused.append(
                f"{relative}: its content has SHA-256 {mismatch}, not the one recorded"
            )
            continue
        except (OSError, SealError) as error:
            done.refused.append(f"{relative}: {error}")
            continue
        (done.resealed if header.sealed else done.sealed).append(relative)
    return done


class _Mismatch(Exception):
    pass


@dataclass
class Verified:
    """What `verify_all` found."""

    good: int = 0
    encrypted: int = 0
    problems: list[str] = field(default_factory=list)  # "path: what is wrong"


def verify_all(
    evidence_dir: Path, keys: Keyring | None, recorded: dict[str, str] | None = None
) -> Verified:
    """Check every stored file against the SHA-256 recorded for it (decrypting as needed).

    `recorded` maps relative paths to the SHA-256 the database holds; each must exist and
    match. Files on disk are also checked against the hash in their own name.
    """
    result = Verified()
    recorded = dict(recorded or {})
    for path in stored_files(evidence_dir):
        relative = path.relative_to(evidence_dir).as_posix()
        expected = recorded.pop(relative, None) or recorded_sha256(path)
        try:
            sealed = seal.header_of(path).sealed
            actual = seal.sha256_of(path, keys)
        except (OSError, SealError) as error:
            result.problems.append(f"{relative}: {error}")
            continue
        if actual != expected:
            result.problems.append(
                f"{relative}: content has SHA-256 {actual}, but {expected} was recorded"
            )
            continue
        result.good += 1
        result.encrypted += int(sealed)
    for relative in sorted(recorded):
        result.problems.append(f"{relative}: recorded in the database but missing on disk")
    return result


def key_problem(evidence_dir: Path, keys: Keyring | None, sample: int = 200) -> str | None:
    """What is wrong with the evidence key, judged from the first `sample` stored files found:
    files encrypted with a key that is not set. None if those files can all be opened."""
    looked = 0
    for root, _dirs, names in os.walk(evidence_dir):
        for name in names:
            if name.startswith(TEMP_PREFIX):
                continue
            looked += 1
            try:
                header = seal.header_of(Path(root) / name)
            except (OSError, SealError):
                continue  # `tinbao evidence verify` reports damaged files one by one
            if header.sealed and header.key_id and (keys is None or not keys.find(header.key_id)):
                if keys is None:
                    return (
                        f"evidence files are encrypted (key id {header.key_id}) but "
                        "TINBAO_EVIDENCE_KEY is not set: officers cannot open them"
                    )
                return (
                    f"evidence files are encrypted with key id {header.key_id}, which neither "
                    f"TINBAO_EVIDENCE_KEY (key id {keys.current_id}) nor TINBAO_EVIDENCE_OLD_KEYS "
                    "holds: officers cannot open them"
                )
            if looked >= sample:
                return None
    return None
