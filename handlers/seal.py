"""Evidence at rest: files sealed with AES-GCM under `TINBAO_EVIDENCE_KEY`.

A sealed file is a small header, the ciphertext and GCM's 16-byte tag:

    magic  b"\\x89TBSEAL\\n"   8 bytes; no evidence format tinbao accepts starts like this
    version  1                 1 byte
    key id                     8 bytes: names the key (never reveals it), so keys can rotate
    nonce                      12 bytes, fresh for every file
    ciphertext                 as long as the original
    tag                        16 bytes

The whole header is authenticated (GCM's associated data), so a changed version or key id
fails like changed content. Files without the magic are plaintext (stored before a key was
set) and stay readable, so the two kinds can live side by side.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"\x89TBSEAL\n"
VERSION = 1
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + 1 + 8 + NONCE_BYTES
CHUNK = 1024 * 1024
DAMAGED = "the encrypted file is damaged or was changed (its GCM tag fails)"


class SealError(Exception):
    """A sealed file cannot be opened: no key, another key, or damaged. The message says
    which, for the operator (never for a resident or an officer)."""


class KeyFormatError(ValueError):
    """A key that is not 32 bytes in base64."""


def key_id(key: bytes) -> str:
    """A short public name of a key (16 hex digits); it cannot be turned back into the key."""
    return hashlib.sha256(b"tinbao evidence key id\x00" + key).hexdigest()[:16]


def parse_key(text: str) -> bytes:
    """A key as written in `TINBAO_EVIDENCE_KEY`: 32 random bytes in base64 (either alphabet)."""
    cleaned = text.strip()
    try:
        raw = base64.b64decode(
            cleaned.replace("-", "+").replace("_", "/") + "=" * (-len(cleaned) % 4),
            validate=True,
        )
    except (binascii.Error, ValueError) as error:
        raise KeyFormatError(
            "must be 32 random bytes in base64 (see `tinbao evidence key`)"
        ) from error
    if len(raw) != KEY_BYTES:
        raise KeyFormatError(
            f"must be {KEY_BYTES} bytes in base64, not {len(raw)} (see `tinbao evidence key`)"
        )
    return raw


def new_key() -> str:
    """A fresh random key, in the form `TINBAO_EVIDENCE_KEY` takes."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


@dataclass(frozen=True)
class Keyring:
    """The key new files are sealed with, and every key files may be sealed with."""

    current: bytes = field(repr=False)
    older: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def current_id(self) -> str:
        """The id of the key new files are sealed with."""
        return key_id(self.current)

    def find(self, wanted: str) -> bytes | None:
        """The key with this id, if this keyring has it."""
        for key in (self.current, *self.older):
            if key_id(key) == wanted:
                return key
        return None

    def __repr__(self) -> str:
        return f"Keyring(current={self.current_id}, older={len(self.older)})"


@dataclass(frozen=True)
class Header:
    """What the start of a stored file says about it."""

    sealed: bool
    key_id: str | None = None
    nonce: bytes = b""
    raw: bytes = b""


def _header(key: bytes, nonce: bytes) -> bytes:
    return MAGIC + bytes([VERSION]) + bytes.fromhex(key_id(key)) + nonce


def parse_header(head: bytes) -> Header:
    """Whether a file that starts with `head` is sealed, and with which key."""
    if not head.startswith(MAGIC):
        return Header(sealed=False)
    if len(head) < HEADER_BYTES:
        raise SealError("the file is cut short inside its header")
    version = head[len(MAGIC)]
    if version != VERSION:
        raise SealError(f"sealed in format version {version}, which this tinbao cannot read")
    start = len(MAGIC) + 1
    return Header(
        sealed=True,
        key_id=head[start : start + 8].hex(),
        nonce=head[start + 8 : HEADER_BYTES],
        raw=head[:HEADER_BYTES],
    )


def _key_for(header: Header, keys: Keyring | None) -> bytes:
    assert header.key_id is not None
    if keys is None:
        raise SealError(
            f"the file is encrypted (key id {header.key_id}) but TINBAO_EVIDENCE_KEY is not set"
        )
    key = keys.find(header.key_id)
    if key is None:
        raise SealError(
            f"the file is encrypted with key id {header.key_id}, but TINBAO_EVIDENCE_KEY is "
            f"key id {keys.current_id}: set the key the file was encrypted with"
        )
    return key


def seal_into(handle: BinaryIO, data: bytes | memoryview, key: bytes) -> None:
    """Write `data` sealed under `key` to an open file, a chunk at a time (no second copy)."""
    nonce = os.urandom(NONCE_BYTES)
    header = _header(key, nonce)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(header)
    handle.write(header)
    view = memoryview(data)
    for start in range(0, len(view), CHUNK):
        handle.write(encryptor.update(view[start : start + CHUNK]))
    handle.write(encryptor.finalize())
    handle.write(encryptor.tag)


def seal_stream(source: Iterable[bytes], target: BinaryIO, key: bytes) -> str:
    """Seal chunks of bytes into `target` as they come; returns the original's SHA-256."""
    nonce = os.urandom(NONCE_BYTES)
    header = _header(key, nonce)
    encryptor = Cipher(algorithms.AES(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(header)
    digest = hashlib.sha256()
    target.write(header)
    for chunk in source:
        digest.update(chunk)
        target.write(encryptor.update(chunk))
    target.write(encryptor.finalize())
    target.write(encryptor.tag)
    return digest.hexdigest()


def read(path: Path, keys: Keyring | None) -> bytes:
    """The original bytes of a stored file, sealed or not.

    The file is read once, into one buffer, and decrypted from it; raises `SealError` when it
    cannot be opened and `OSError` when it cannot be read.
    """
    with path.open("rb") as handle:
        header = parse_header(handle.read(HEADER_BYTES))
        if not header.sealed:
            handle.seek(0)
            return handle.read()
        key = _key_for(header, keys)
        size = os.fstat(handle.fileno()).st_size - HEADER_BYTES
        if size < TAG_BYTES:
            raise SealError("the encrypted file is cut short")
        buffer = bytearray(size)
        if handle.readinto(buffer) != size:
            raise SealError("the encrypted file is cut short")
    try:
        return AESGCM(key).decrypt(header.nonce, buffer, header.raw)
    except InvalidTag:
        raise SealError(
            "the encrypted file is damaged or was changed (its GCM tag fails)"
        ) from None


def chunks(path: Path, keys: Keyring | None) -> Iterator[bytes]:
    """The original bytes of a stored file in chunks, for hashing large files in little memory.

    A sealed file's tag is checked at the end: the last step raises `SealError` if the file
    was changed, so a caller must read to the end before trusting what it saw.
    """
    with path.open("rb") as handle:
        head = handle.read(HEADER_BYTES)
        header = parse_header(head)
        if not header.sealed:
            yield head
            while chunk := handle.read(CHUNK):
                yield chunk
            return
        key = _key_for(header, keys)
        size = os.fstat(handle.fileno()).st_size
        body = size - HEADER_BYTES - TAG_BYTES
        if body < 0:
            raise SealError("the encrypted file is cut short")
        handle.seek(size - TAG_BYTES)
        tag = handle.read(TAG_BYTES)
        handle.seek(HEADER_BYTES)
        decryptor = Cipher(algorithms.AES(key), modes.GCM(header.nonce, tag)).decryptor()
        decryptor.authenticate_additional_data(header.raw)
        left = body
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                raise SealError("the encrypted file is cut short")
            left -= len(chunk)
            yield decryptor.update(chunk)
        try:
            yield decryptor.finalize()
        except InvalidTag:
            raise SealError(DAMAGED) from None


def sha256_of(path: Path, keys: Keyring | None) -> str:
    """The SHA-256 of a stored file's original bytes, decrypting as needed."""
    digest = hashlib.sha256()
    for chunk in chunks(path, keys):
        digest.update(chunk)
    return digest.hexdigest()


def header_of(path: Path) -> Header:
    """The header of a stored file (only its first bytes are read)."""
    with path.open("rb") as handle:
        return parse_header(handle.read(HEADER_BYTES))
