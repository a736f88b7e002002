"""Small dialect helpers, so that race-sensitive writes stay single statements on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT for the session's dialect, with `on_conflict_do_nothing/update` available.

    SQLite (3.35+) and PostgreSQL both support `ON CONFLICT … RETURNING`; SQLAlchemy exposes it
    through each dialect's own `insert`.
    """
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
