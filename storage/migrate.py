"""Schema upgrades through Alembic, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.engine import Database

MIGRATIONS = Path(__file__).parent / "migrations"
# Several `tinbao webhook` processes may start at once on one PostgreSQL database: the first
# takes this advisory lock and migrates, the others wait and then find nothing to do.
_LOCK = 0x74696E62  # "tinb"


def alembic_config() -> Config:
    """An Alembic configuration pointing at our migrations, with no alembic.ini needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(db: Database, revision: str = "head") -> str | None:
    """Bring the schema to `revision`; returns the revision the database is at afterwards."""
    config = alembic_config()

    def run(connection: Connection) -> str | None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()

    async with _file_lock(db), db.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _LOCK})
            await connection.commit()
        try:
            current = await connection.run_sync(run)
            await connection.commit()
        finally:
            if postgres:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK})
                await connection.commit()
    return current


@asynccontextmanager
async def _file_lock(db: Database) -> AsyncIterator[None]:
    """On an SQLite file, an exclusive lock on `<file>.migrate-lock` (processes starting at
    once migrate one after the other); elsewhere nothing."""
    path = db.engine.url.database
    if db.engine.dialect.name != "sqlite" or not path or path == ":memory:":
        yield
        return
    handle = await asyncio.to_thread(Path(f"{path}.migrate-lock").open, "a+b")
    try:
        await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # closing releases the lock


def head_revision() -> str | None:
    """The newest revision in the migration history."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for an empty database)."""
    async with db.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
