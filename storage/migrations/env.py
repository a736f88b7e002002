"""Alembic environment. `storage.migrate.upgrade` hands in an open connection.

Run from the `alembic` command line (for `revision --autogenerate`), it connects with the
`TINBAO_*` settings instead.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only ALTER a little; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_standalone() -> None:
    from bot.settings import Settings
    from storage.engine import Database

    async def go() -> None:
        db = Database(Settings().effective_database_url)
        async with db.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
        await db.dispose()

    asyncio.run(go())


given = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    _run_standalone()
