"""The database engine: SQLite (embedded default) or PostgreSQL, chosen by the URL alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from storage import audit


class Database:
    """An async engine plus a session factory; one per process, passed to whoever needs it."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None) -> None:
        """`pool_size`: PostgreSQL connections kept open (10 more may be opened at peaks);
        a webhook process sizes it to its inbox workers."""
        parsed = make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        # An error's message then names the statement but not its values (a resident's story,
        # phone or account number), so logging a database error leaks none of them.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            database = parsed.database or ""
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30}
            # Sessions always end their transaction (commit, or rollback on error), so the
            # pool's extra rollback on every return would only be another thread round trip.
            kwargs["pool_reset_on_return"] = None
        else:
            kwargs["pool_size"] = pool_size or 5
            kwargs["max_overflow"] = 10
            # Connections a firewall or PostgreSQL may have dropped while idle for long.
            kwargs["pool_recycle"] = 1800
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine)
        # SQLite allows one writer at a time. Queuing writers here, in the event loop, is fairer
        # and far faster than letting them spin in SQLite's busy handler (which sleeps in steps
        # of up to 100 ms).
        self._sqlite_lock = asyncio.Lock() if self.is_sqlite else None
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Sessions whose statements commit each by itself (no BEGIN, no COMMIT): see `single`.
        self._autocommit = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction: committed when the block ends, rolled back if it raises.

        Audit events recorded in it (`storage.audit.record`) are appended last, just before
        the commit, so they commit with the actions they record or not at all.
        """
        if self._sqlite_lock is not None:
            async with self._sqlite_lock, self._sessions() as session, session.begin():
                yield session
                await audit.append_pending(session)
        else:
            async with self._sessions() as session, session.begin():
                yield session
                await audit.append_pending(session)

    @asynccontextmanager
    async def single(self) -> AsyncIterator[AsyncSession]:
        """A session for one statement, atomic by itself, and no audit event: the inbox's
        writes and claims, several per update, and a lone read before the handling.

        On PostgreSQL it runs in autocommit: no BEGIN and no COMMIT, two round trips (and
        their CPU) fewer than `session`. A single statement is its own transaction anyway,
        so the effect is the same. On SQLite it is `session` (the writers' lock matters
        there, and a round trip to aiosqlite's thread costs little).
        """
        if self._sqlite_lock is not None:
            async with self.session() as session:
                yield session
        else:
            async with self._autocommit() as session:
                yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


# A pooled connection unused for this long is tested before it is handed out.
IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Test a connection before use only if it sat idle for a while (after a restart of
    PostgreSQL, those are the ones that are dead).

    SQLAlchemy's `pool_pre_ping` tests every connection at every checkout, and with asyncpg a
    test is three round trips (BEGIN, a query, ROLLBACK); a webhook update checks out four or
    five connections, so that was a third of all the database's work. A connection in steady
    use needs no test: if it breaks anyway, the error invalidates the whole pool and the next
    checkout opens a fresh one. Raising `DisconnectionError` here makes the pool retry with a
    new connection (SQLAlchemy's documented custom pessimistic ping)."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            raise DisconnectionError("connection found dead after being idle") from error


def _configure_sqlite(engine: AsyncEngine) -> None:
    # The stdlib driver opens transactions lazily with a plain BEGIN, so a read-then-write
    # transaction can fail with "database is locked" whatever the busy timeout. Asking it for
    # IMMEDIATE makes that lazy BEGIN take the write lock up front instead; and since the driver
    # issues it inside the first write's own call, it costs no extra round trip to aiosqlite's
    # thread (each costs about as much as the statement). Every update's transaction starts
    # with a write (the update-id claim), and `Database.session` keeps this process's
    # transactions one at a time, so no read escapes its transaction's lock.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()
        dbapi_connection.isolation_level = "IMMEDIATE"
