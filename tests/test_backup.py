"""`tinbao backup` and `tinbao restore`, run as an operator runs them: a backup taken while the
bot runs, restored into an empty place, holds the report with its (still encrypted) evidence,
and the bot works on it; a changed archive is refused; nothing is overwritten without --force.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from handlers import evidence, seal
from storage.migrate import head_revision
from tests.conftest import POSTGRES_ENV, scratch_postgres
from tests.test_evidence_at_rest import KEY, PDF, ask_for_files, sealed_bot
from tests.test_officer_flow import OFFICER, file_report
from tests.test_report_flow import JPEG, joined
from tests.updates import Resident

ROOT = Path(__file__).resolve().parent.parent


def tinbao(*args: str, data: Path, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `tinbao ARGS` with the data directory `data`, the database `url` (default: SQLite in
    `data`) and the evidence key, and nothing else from the environment's TINBAO_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env |= {"PYTHONPATH": str(ROOT), "TINBAO_DATA_DIR": str(data), "TINBAO_EVIDENCE_KEY": KEY}
    if url is not None:
        env["TINBAO_DATABASE_URL"] = url
    data.parent.mkdir(parents=True, exist_ok=True)  # the working directory; `data` may not be
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=data.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def restore_url(db_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second, empty database on the same engine as `db_url`, to restore into."""
    if make_url(db_url).get_backend_name() == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored' / 'data' / 'tinbao.db'}"
        return
    async with scratch_postgres(os.environ[POSTGRES_ENV]) as url:
        yield url


def manifest_of(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        return json.loads(handle.read())


async def test_a_backup_taken_while_the_bot_runs_restores_with_the_report_and_its_evidence(
    tmp_path: Path, db_url: str, restore_url: str
) -> None:
    archive = tmp_path / "backup.tar"
    async with sealed_bot(tmp_path, db_url) as h:
        code = await file_report(h, Resident(3201, "Lan"), anonymous=False, with_photo=True)
        made = await asyncio.to_thread(
            tinbao, "backup", str(archive), data=tmp_path / "data", url=db_url
        )
        assert made.returncode == 0, made.stderr
        assert "1 evidence file(s), 1 of them encrypted" in made.stdout
        assert "keep TINBAO_EVIDENCE_KEY apart" in made.stderr
        # The bot goes on working while and after the backup is taken.
        later = await file_report(h, Resident(3202, "Minh"), again=False)
        assert later != code
        next_update = h.fake._next_update_id

    manifest = manifest_of(archive)
    engine = make_url(db_url).get_backend_name()
    assert manifest["format"] == "tinbao-backup" and manifest["version"] == 1
    assert manifest["engine"] == engine and manifest["schema_revision"] == head_revision()
    assert manifest["created_at"] and manifest["evidence"]["encrypted"] == 1
    with tarfile.open(archive) as tar:
        for name, member in manifest["members"].items():
            handle = tar.extractfile(name)
            assert handle is not None
            data = handle.read()
            assert hashlib.sha256(data).hexdigest() == member["sha256"]
            if name.startswith("evidence/"):
                assert data.startswith(seal.MAGIC) and JPEG not in data  # still encrypted
    assert (archive.stat().st_mode & 0o077) == 0  # the archive is for its owner only

    restored_data = tmp_path / "restored" / "data"
    done = await asyncio.to_thread(
        tinbao, "restore", str(archive), data=restored_data, url=restore_url
    )
    assert done.returncode == 0, done.stderr
    assert f"the {engine} database (1 report(s), 1 submitted" in done.stdout
    assert "1 evidence file(s) (1 encrypted)" in done.stdout
    check = await asyncio.to_thread(
        tinbao, "evidence", "verify", data=restored_data, url=restore_url
    )
    assert check.returncode == 0 and "1 file(s) match" in check.stdout, check.stderr

    async with sealed_bot(tmp_path / "restored", restore_url, add_officer=False) as h:
        # Telegram's update ids go on rising; the restored database remembers those handled.
        h.fake._next_update_id = next_update
        calls = await h.send(OFFICER.text(code))  # the officer opens the report by its code
        assert f"📄 {code}" in joined(calls) and "nạp tiền vào sàn đầu tư" in joined(calls)
        start = await ask_for_files(h, code)
        documents = [c for c in h.fake.calls[start:] if c.method == "sendDocument"]
        assert len(documents) == 1 and documents[0].params["document"].data == JPEG
        calls = await h.send(OFFICER.text(later))  # filed after the backup: not there
        assert f"📄 {later}" not in joined(calls)
        # New reports go on from the restored data.
        newer = await file_report(h, Resident(3203, "Hoa"))
        assert newer != code


def make_place(data: Path) -> None:
    """A data directory with a migrated SQLite database and two evidence files."""
    result = tinbao("db", "upgrade", data=data)
    assert result.returncode == 0, result.stderr
    evidence.store(data / "evidence", JPEG, "image/jpeg")
    evidence.store(data / "evidence", PDF, "application/pdf", seal.Keyring(seal.parse_key(KEY)))


def test_a_changed_archive_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    make_place(tmp_path / "a" / "data")
    archive = tmp_path / "backup.tar"
    assert tinbao("backup", str(archive), data=tmp_path / "a" / "data").returncode == 0
    original = archive.read_bytes()
    target = tmp_path / "b" / "data"

    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("evidence/"))
    changed = bytearray(original)
    changed[member.offset_data + 3] ^= 0x01
    archive.write_bytes(bytes(changed))
    result = tinbao("restore", str(archive), data=target)
    assert result.returncode == 1
    assert f"{member.name} in the backup does not match its checksum" in result.stderr
    assert "nothing was restored" in result.stderr
    assert not target.exists() or not any(target.rglob("*"))

    # A manifest edited to match a changed file is no better: the file list must match too.
    with tarfile.open(fileobj=io.BytesIO(original)) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = json.loads(handle.read())
        manifest["members"]["evidence/../../escape"] = {"sha256": "0" * 64, "size": 1}
    forged = tmp_path / "forged.tar"
    with tarfile.open(forged, "w") as out, tarfile.open(fileobj=io.BytesIO(original)) as tar:
        for info in tar.getmembers():
            if info.name == "manifest.json":
                data = json.dumps(manifest).encode()
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
            else:
                out.addfile(info, tar.extractfile(info))
    result = tinbao("restore", str(forged), data=target)
    assert result.returncode == 1 and "outside its place" in result.stderr

    not_a_backup = tmp_path / "photo.tar"
    not_a_backup.write_bytes(JPEG)
    result = tinbao("restore", str(not_a_backup), data=target)
    assert result.returncode == 1 and "cannot be read" in result.stderr
    assert "Traceback" not in result.stderr
    assert not target.exists() or not any(target.rglob("*"))


def test_restoring_over_data_needs_force_and_then_replaces_it_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    make_place(data)
    archive = tmp_path / "backup.tar"
    assert tinbao("backup", str(archive), data=data).returncode == 0
    later = evidence.store(
        data / "evidence", b"%PDF-1.4 stored after the backup", "application/pdf"
    )

    result = tinbao("restore", str(archive), data=data)
    assert result.returncode == 1
    assert "--force" in result.stderr and "has tables" in result.stderr
    assert "has files" in result.stderr
    assert (data / "evidence" / later.path).is_file()  # untouched

    result = tinbao("restore", "--force", str(archive), data=data)
    assert result.returncode == 0, result.stderr
    assert "2 evidence file(s) (1 encrypted)" in result.stdout
    assert not (data / "evidence" / later.path).exists()  # exactly the backup's files
    assert len(list(evidence.stored_files(data / "evidence"))) == 2
    assert not [p for p in data.iterdir() if p.name.startswith(".restoring-")]
    check = tinbao("evidence", "verify", data=data)
    assert check.returncode == 0 and "2 file(s) match" in check.stdout, check.stderr


def test_backup_refuses_to_overwrite_an_archive(tmp_path: Path) -> None:
    make_place(tmp_path / "data")
    archive = tmp_path / "backup.tar"
    archive.write_bytes(b"an older backup")
    result = tinbao("backup", str(archive), data=tmp_path / "data")
    assert result.returncode == 1 and "already exists" in result.stderr
    assert archive.read_bytes() == b"an older backup"
    into_dir = tinbao("backup", str(tmp_path), data=tmp_path / "data")
    assert into_dir.returncode == 0, into_dir.stderr
    assert len(list(tmp_path.glob("tinbao-backup-*.tar"))) == 1


async def test_without_pg_dump_the_backup_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from storage import dump

    monkeypatch.setattr(dump.shutil, "which", lambda name: None)
    target = dump.target("postgresql+asyncpg://tinbao:secret@127.0.0.1:5432/tinbao")
    with pytest.raises(dump.DumpError) as error:
        await dump.snapshot(target, tmp_path / "copy")
    assert "pg_dump is not installed" in str(error.value)
    assert "apt-get install postgresql-client" in str(error.value)
    with pytest.raises(dump.DumpError, match="pg_restore is not installed"):
        await dump.load(target, tmp_path / "copy", replace=False)


def test_the_database_password_goes_to_pg_dump_in_its_environment_not_its_arguments() -> None:
    from storage import dump

    dsn, env = dump._libpq(make_url("postgresql+asyncpg://tinbao:s3cret@db:5433/tb?ssl=require"))
    assert "s3cret" not in dsn and env["PGPASSWORD"] == "s3cret"
    assert dsn == "postgresql://tinbao@db:5433/tb?sslmode=require"
