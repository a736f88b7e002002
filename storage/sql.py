"""Small dialect helpers, so that race-sensitive writes stay single statements on both engines."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

# The dialects the project runs on.
DIALECTS = ("postgresql", "sqlite")


def dialect_of(session: AsyncSession) -> str:
    """The session's dialect name: "postgresql" or "sqlite"."""
    return "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"


def insert_for(dialect: str, table: Any) -> Any:
    """An INSERT for this dialect, with `on_conflict_do_nothing/update` available (for
    statements built once, at import)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT for the session's dialect, with `on_conflict_do_nothing/update` available.

    SQLite (3.35+) and PostgreSQL both support `ON CONFLICT … RETURNING`; SQLAlchemy exposes it
    through each dialect's own `insert`.
    """
    return insert_for(dialect_of(session), table)
