"""Scratch databases for the benchmarks: a temporary SQLite file, or a PostgreSQL database
created next to a given server URL and dropped afterwards (also after an error or Ctrl-C)."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy.engine import make_url


class PostgresUnavailable(Exception):
    """The PostgreSQL server could not be reached or the scratch database not created."""


@asynccontextmanager
async def sqlite_url(name: str) -> AsyncIterator[str]:
    """A fresh SQLite file in a temporary directory, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"tinbao-{name}-") as tmp:
        yield f"sqlite+aiosqlite:///{Path(tmp) / f'{name}.db'}"


@asynccontextmanager
async def postgres_url(base: str) -> AsyncIterator[str]:
    """A scratch database on `base`'s server (created, then dropped even after an error)."""
    import asyncpg

    url = make_url(base)
    name = f"tinbao_bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncio.wait_for(asyncpg.connect(admin_dsn), 10.0)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        where = url.render_as_string(hide_password=True)
        raise PostgresUnavailable(f"{where}: {type(error).__name__}: {error}") from error
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
