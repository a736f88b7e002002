"""A consistent copy of the database while the bot runs, and loading one back.

SQLite is copied with its online backup API (one read transaction: a consistent snapshot even
while the bot writes); PostgreSQL with `pg_dump --format=custom` (one repeatable-read snapshot)
and loaded with `pg_restore` in a single transaction.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from storage.engine import Database

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class DumpError(Exception):
    """The database could not be copied or loaded; the message says why, in one line."""


@dataclass(frozen=True)
class Target:
    """A database as the backup tools see it."""

    engine: str  # "sqlite" or "postgresql"
    url: URL

    @property
    def sqlite_path(self) -> Path:
        """The SQLite file."""
        return Path(self.url.database or "")


def target(database_url: str) -> Target:
    """Which engine a database URL names, refusing what cannot be backed up."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == SQLITE:
        if not url.database or url.database == ":memory:":
            raise DumpError("an in-memory SQLite database cannot be backed up or restored")
        return Target(SQLITE, url)
    if backend == POSTGRESQL:
        return Target(POSTGRESQL, url)
    raise DumpError(f"backups support SQLite and PostgreSQL, not {backend}")


def member_name(engine: str) -> str:
    """The database's name inside a backup archive."""
    return "database/tinbao.sqlite3" if engine == SQLITE else "database/tinbao.pgdump"


async def snapshot(db: Target, into: Path) -> None:
    """Write a consistent copy of the database to the file `into`."""
    if db.engine == SQLITE:
        await asyncio.to_thread(_sqlite_snapshot, db.sqlite_path, into)
    else:
        await _run(_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                   f"--file={into}", db=db)  # fmt: skip


def _sqlite_snapshot(source: Path, into: Path) -> None:
    if not source.is_file():
        raise DumpError(f"there is no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(into)
    try:
        with dst:
            src.backup(dst)
        check = dst.execute("PRAGMA integrity_check").fetchone()
        if not check or check[0] != "ok":
            raise DumpError(f"the copy of the database fails its integrity check: {check}")
    except sqlite3.Error as error:
        raise DumpError(f"copying the SQLite database failed: {error}") from error
    finally:
        src.close()
        dst.close()


async def is_empty(db: Target) -> bool:
    """Whether the database holds no tables (a new, never-used database)."""
    if db.engine == SQLITE:
        path = db.sqlite_path
        if not path.is_file() or path.stat().st_size == 0:
            return True
    database = Database(db.url.render_as_string(hide_password=False))
    try:
        async with database.engine.connect() as connection:
            if db.engine == SQLITE:
                query = "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            else:
                query = (
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = current_schema()"
                )
            return not (await connection.execute(text(query))).scalar()
    except Exception as error:
        raise DumpError(f"cannot open the database to restore into: {error}") from error
    finally:
        await database.dispose()


async def load(db: Target, dump: Path, *, replace: bool) -> None:
    """Load a copy made by `snapshot` into the database, replacing what is there if `replace`.

    The bot must be stopped. SQLite: the file is swapped in whole (with its old journal files
    removed, which would otherwise be replayed onto it). PostgreSQL: one transaction, so a
    failure leaves the database as it was.
    """
    if db.engine == SQLITE:
        await asyncio.to_thread(_sqlite_load, db.sqlite_path, dump)
        return
    options = ["--clean", "--if-exists"] if replace else []
    await _run(_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
               "--exit-on-error", *options, str(dump), db=db)  # fmt: skip


def _sqlite_load(path: Path, dump: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.restoring")
    shutil.copyfile(dump, staged)
    with open(staged, "rb+") as handle:
        os.fsync(handle.fileno())
    for journal in ("-wal", "-shm", "-journal"):
        Path(f"{path}{journal}").unlink(missing_ok=True)
    os.replace(staged, path)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise DumpError(
            f"{name} is not installed: install the PostgreSQL client tools of the server's "
            "version (Debian/Ubuntu: apt-get install postgresql-client) and try again"
        )
    return found


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The URL as libpq takes it, and the environment carrying its password (never argv)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    query: dict[str, str] = {}
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        query["sslmode"] = ssl
    # (`URL.set` ignores None, so the password is left out by building a new URL.)
    plain = URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=query,
    )
    return plain.render_as_string(hide_password=False), env


async def _run(tool: str, *args: str, db: Target) -> None:
    dsn, env = _libpq(db.url)
    process = await asyncio.create_subprocess_exec(
        tool,
        *args,
        f"--dbname={dsn}",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip().splitlines()
        detail = message[-1] if message else f"exit code {process.returncode}"
        raise DumpError(f"{Path(tool).name} failed: {detail}")
