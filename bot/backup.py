"""`tinbao backup` and `tinbao restore`: the database and the evidence in one archive.

The archive is a plain tar (evidence is photos, often encrypted: compressing gains nothing):

    database/tinbao.sqlite3 | database/tinbao.pgdump    a consistent copy (storage/dump.py)
    evidence/<aa>/<bb>/<sha256>.<ext>                    the files exactly as stored
    manifest.json                                        written last

The manifest records the format version, when and from what the backup was made (engine,
schema revision, tinbao version), which evidence keys the files are encrypted with (their ids,
never the keys) and the SHA-256 and size of every other member. A restore checks all of it
before it touches anything.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy.engine import make_url

from bot.settings import Settings
from handlers import evidence, seal
from storage import dump
from storage import reports as report_store
from storage.engine import Database
from storage.migrate import current_revision, upgrade
from storage.models import utcnow

FORMAT = "tinbao-backup"
VERSION = 1
MANIFEST = "manifest.json"
EVIDENCE = "evidence/"


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, in one line."""


@dataclass
class Made:
    """What `backup` wrote."""

    path: Path
    engine: str
    revision: str | None
    files: int
    encrypted: int
    size: int


@dataclass
class Restored:
    """What `restore` did."""

    engine: str
    made_at: str
    revision: str | None  # as backed up
    now_at: str | None  # after migrations
    reports: int
    submitted: int
    files: int
    encrypted: int
    missing_keys: list[str] = field(default_factory=list)  # ids of keys files need, not set


class _Hashing:
    """A file object that hashes what is read through it (tarfile reads members this way)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


def _add(archive: tarfile.TarFile, name: str, path: Path) -> dict[str, Any]:
    """Add one file; its size and SHA-256 as written (from the open file, so a file replaced
    meanwhile, e.g. by `tinbao evidence encrypt`, is read whole, old or new)."""
    with path.open("rb") as handle:
        info = archive.gettarinfo(arcname=name, fileobj=handle)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mode = 0o600
        reader = _Hashing(handle)
        archive.addfile(info, reader)
        return {"sha256": reader.digest.hexdigest(), "size": info.size}


def _output_path(path: Path, now: datetime) -> Path:
    if path.is_dir():
        return path / f"tinbao-backup-{now:%Y%m%d-%H%M%S}.tar"
    if path.exists():
        raise BackupError(f"{path} already exists; give a new file name or a directory")
    if not path.parent.is_dir():
        raise BackupError(f"the directory {path.parent} does not exist")
    return path


async def backup(settings: Settings, path: Path) -> Made:
    """Write one archive of the database and the evidence directory (the bot may be running)."""
    target = dump.target(settings.effective_database_url)
    now = utcnow()
    output = _output_path(path, now)
    database = Database(settings.effective_database_url)
    try:
        revision = await current_revision(database)
    except Exception as error:
        raise BackupError(f"cannot open the database: {error}") from error
    finally:
        await database.dispose()
    members: dict[str, dict[str, Any]] = {}
    key_ids: set[str] = set()
    encrypted = files = 0
    partial = output.with_name(f".{output.name}.partial")
    with tempfile.TemporaryDirectory(prefix="tinbao-backup-") as scratch:
        copy = Path(scratch) / "database"
        # The database first: every file it points at was stored before its row was written,
        # and stored files never change, so the evidence copied after it is all there.
        await dump.snapshot(target, copy)
        try:
            # Readable by the owner alone: the archive holds personal data.
            descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with (
                os.fdopen(descriptor, "wb") as raw,
                tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive,
            ):
                name = dump.member_name(target.engine)
                members[name] = _add(archive, name, copy)
                for stored in evidence.stored_files(settings.evidence_dir):
                    name = EVIDENCE + stored.relative_to(settings.evidence_dir).as_posix()
                    try:
                        header = seal.header_of(stored)
                        members[name] = _add(archive, name, stored)
                    except FileNotFoundError:
                        continue  # deleted since listed (a cancelled draft's file)
                    except seal.SealError:
                        header = seal.Header(sealed=False)
                        members[name] = _add(archive, name, stored)
                    files += 1
                    if header.sealed and header.key_id:
                        encrypted += 1
                        key_ids.add(header.key_id)
                manifest = {
                    "format": FORMAT,
                    "version": VERSION,
                    "created_at": now.isoformat(),
                    "tinbao": _version(),
                    "engine": target.engine,
                    "schema_revision": revision,
                    "database": dump.member_name(target.engine),
                    "evidence": {"files": files, "encrypted": encrypted, "keys": sorted(key_ids)},
                    "members": members,
                }
                data = json.dumps(manifest, indent=2, sort_keys=True).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = len(data), int(now.timestamp()), 0o600
                archive.addfile(info, io.BytesIO(data))
            with partial.open("rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(partial, output)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return Made(output, target.engine, revision, files, encrypted, output.stat().st_size)


def _version() -> str:
    try:
        return importlib.metadata.version("tinbao")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _safe(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and name == path.as_posix()
        and (name.startswith(EVIDENCE) or name.startswith("database/"))
        and len(path.parts) >= 2
    )


def read_manifest(archive: tarfile.TarFile) -> dict[str, Any]:
    """The manifest, checked for what a restore relies on."""
    try:
        member = archive.getmember(MANIFEST)
        handle = archive.extractfile(member)
        if handle is None:
            raise KeyError(MANIFEST)
        manifest = json.loads(handle.read(1024 * 1024 * 64))
    except KeyError:
        raise BackupError("this is not a tinbao backup: it has no manifest.json") from None
    except (ValueError, tarfile.TarError) as error:
        raise BackupError(f"the backup's manifest cannot be read: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("this is not a tinbao backup: its manifest is of another format")
    if manifest.get("version") != VERSION:
        raise BackupError(
            f"this backup is in format version {manifest.get('version')}; "
            f"this tinbao reads version {VERSION}"
        )
    members = manifest.get("members")
    database = manifest.get("database")
    if not isinstance(members, dict) or database not in members:
        raise BackupError("the backup's manifest lists no database")
    if manifest.get("engine") not in (dump.SQLITE, dump.POSTGRESQL):
        raise BackupError(f"the backup names an unknown engine: {manifest.get('engine')}")
    for name in members:
        if not _safe(name):
            raise BackupError(f"the backup names a file outside its place: {name!r}")
    return manifest


def verify(archive: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    """Check every member against the manifest; nothing listed missing, nothing unlisted."""
    members: dict[str, Any] = manifest["members"]
    seen = set()
    for info in archive:
        if info.name == MANIFEST:
            continue
        expected = members.get(info.name)
        if expected is None or not info.isfile():
            raise BackupError(f"the backup holds {info.name!r}, which its manifest does not list")
        handle = archive.extractfile(info)
        assert handle is not None
        digest = hashlib.sha256()
        size = 0
        while chunk := handle.read(seal.CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
            raise BackupError(
                f"{info.name} in the backup does not match its checksum: the archive is "
                "damaged or was changed; nothing was restored"
            )
        seen.add(info.name)
    missing = sorted(set(members) - seen)
    if missing:
        raise BackupError(f"the backup lacks {len(missing)} listed file(s), e.g. {missing[0]}")


@contextmanager
def _open(path: Path) -> Iterator[tarfile.TarFile]:
    if not path.is_file():
        raise BackupError(f"there is no backup at {path}")
    try:
        with tarfile.open(path, "r:") as archive:
            yield archive
    except tarfile.TarError as error:
        raise BackupError(f"the backup cannot be read: {error}") from None


def _extract(archive: tarfile.TarFile, name: str, to: Path, sha256: str) -> None:
    """Write one member to `to`, checking its checksum again as it goes (the archive is read
    twice: once to verify everything, once to restore)."""
    handle = archive.extractfile(name)
    assert handle is not None
    to.parent.mkdir(parents=True, exist_ok=True)
    reader = _Hashing(handle)
    with to.open("wb") as out:
        shutil.copyfileobj(reader, out, seal.CHUNK)
        out.flush()
        os.fsync(out.fileno())
    if reader.digest.hexdigest() != sha256:
        raise BackupError(f"{name} changed while it was being restored; nothing was replaced")


async def restore(settings: Settings, path: Path, *, force: bool = False) -> Restored:
    """Restore a backup into the configured database and evidence directory.

    Everything is checked first (manifest, every checksum, engine, that nothing would be
    overwritten without `force`); then the database is loaded, the evidence directory put in
    place whole, and the schema migrated to this tinbao's newest revision.
    """
    target = dump.target(settings.effective_database_url)
    evidence_dir = settings.evidence_dir
    with _open(path) as archive:
        manifest = read_manifest(archive)
        verify(archive, manifest)
        if manifest["engine"] != target.engine:
            raise BackupError(
                f"this is a backup of a {manifest['engine']} database, but TINBAO_DATABASE_URL "
                f"points at {target.engine}; restore it into a {manifest['engine']} database"
            )
        occupied = []
        if not await dump.is_empty(target):
            occupied.append(f"the database ({_shown(settings)}) has tables")
        if any(evidence.stored_files(evidence_dir)):
            occupied.append(f"the evidence directory {evidence_dir} has files")
        if occupied and not force:
            raise BackupError(
                "not restoring: " + " and ".join(occupied) + "; restore into an empty place, "
                "or add --force to replace them (stop the bot first)"
            )
        names = [n for n in manifest["members"] if n.startswith(EVIDENCE)]
        evidence_dir.parent.mkdir(parents=True, exist_ok=True)
        # Unpacked next to the evidence directory (same file system), then swapped in whole.
        staging = Path(tempfile.mkdtemp(prefix=".restoring-", dir=evidence_dir.parent))
        try:
            restored = staging / "evidence"
            restored.mkdir()
            members = manifest["members"]
            for name in names:
                to = restored / name.removeprefix(EVIDENCE)
                _extract(archive, name, to, members[name]["sha256"])
            database_copy = staging / "database"
            name = manifest["database"]
            _extract(archive, name, database_copy, members[name]["sha256"])
            await dump.load(target, database_copy, replace=bool(occupied))
            if evidence_dir.exists():
                os.replace(evidence_dir, staging / "replaced")
            os.replace(restored, evidence_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    database = Database(settings.effective_database_url)
    try:
        now_at = await upgrade(database)
        async with database.session() as session:
            reports, submitted = await report_store.count_reports(session)
    finally:
        await database.dispose()
    keys = settings.evidence_keys
    needed = manifest.get("evidence", {}).get("keys", [])
    missing = [k for k in needed if keys is None or keys.find(k) is None]
    return Restored(
        engine=target.engine,
        made_at=str(manifest.get("created_at")),
        revision=manifest.get("schema_revision"),
        now_at=now_at,
        reports=reports,
        submitted=submitted,
        files=len(names),
        encrypted=int(manifest.get("evidence", {}).get("encrypted", 0)),
        missing_keys=missing,
    )


def _shown(settings: Settings) -> str:
    return make_url(settings.effective_database_url).render_as_string(hide_password=True)
