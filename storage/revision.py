"""`python -m storage.revision "message"`: write a new migration for changed tables.

Alembic compares the tables in `storage.models` with a scratch SQLite database upgraded to the
current head, so no real database is touched. Review the result: it must run on PostgreSQL too.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from alembic import command
from sqlalchemy.engine import Connection

from storage.engine import Database
from storage.migrate import alembic_config, upgrade


async def revise(message: str) -> None:
    """Autogenerate a migration named after `message`."""
    with tempfile.TemporaryDirectory() as scratch:
        db = Database(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.db'}")
        await upgrade(db)
        config = alembic_config()

        def run(connection: Connection) -> None:
            config.attributes["connection"] = connection
            command.revision(config, message=message, autogenerate=True)

        async with db.engine.connect() as connection:
            await connection.run_sync(run)
        await db.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print('usage: python -m storage.revision "what changed"', file=sys.stderr)
        sys.exit(2)
    asyncio.run(revise(sys.argv[1]))
