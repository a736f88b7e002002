"""Scratch PostgreSQL databases for the tests, made ahead of time in a background thread.

Half the tests run on PostgreSQL, each on a database of its own. Making one (`CREATE DATABASE`,
then a copy of the migrated template) waits on the server's disk for a tenth of a second or
more, and dropping it again as long: together more than the test itself in most cases. A thread
with its own event loop keeps a few empty and a few migrated databases ready, and empties used
ones again for the next test (or drops them), so a test only takes one from a queue, and a
migrated copy replaces an empty database by a rename. Every database it makes commits without
waiting for the disk (`synchronous_commit = off`: nothing in the tests crashes the server, only
the bot's processes, so this loses nothing the tests look at).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import queue
import socket
import threading
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import Database
from storage.migrate import upgrade

# Databases kept ready of each kind: enough to cover a test that takes a couple at once while
# the thread makes the next ones.
DEPTH = 3
# The pool's own statements need not wait for the disk either.
QUICK = {"synchronous_commit": "off"}
# How long a test waits for a database before it fails (the server is down, or far too slow).
TAKE_TIMEOUT = 120.0


class DatabasePool:
    """Empty and migrated scratch databases next to `base_url`'s, dropped when used or at exit.

    A failure to reach the server is raised to the test that asks for a database, so that
    the test fails, as CI requires when `TINBAO_TEST_POSTGRES_URL` is set.
    """

    def __init__(self, base_url: str) -> None:
        url = make_url(base_url)
        self._url = url
        self._admin_dsn = self.dsn(None, "postgres")
        self._prefix = f"{_HOST_PREFIX}_{os.getpid()}"
        self._template = f"{self._prefix}_template"
        self._empty: queue.Queue[str] = queue.Queue()
        self._migrated: queue.Queue[str] = queue.Queue()
        self._drop: queue.Queue[str] = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
        self._tables: set[str] = set()
        self._version: str | None = None
        self._seeds: dict[str, tuple[list[str], list[tuple[object, ...]]]] = {}
        self._thread = threading.Thread(target=self._run, name="pgpool", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def dsn(self, name: str | None, admin: str | None = None) -> str:
        """asyncpg's form of the URL of database `name` (or of the server's `admin` one)."""
        database = admin if admin is not None else name
        return self._url.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False
        )

    def url(self, name: str) -> str:
        """The SQLAlchemy URL of database `name`, as the bot is given it."""
        return self._url.set(database=name).render_as_string(hide_password=False)

    async def empty(self) -> str:
        """The name of a new, empty database."""
        return await self._take(self._empty)

    async def replace_with_migrated(self, name: str) -> None:
        """Make `name` a database at the newest schema: a ready migrated copy takes its place,
        and the empty one goes back to the pool."""
        ready = await self._take(self._migrated)
        spare = self._new_name()
        admin = await asyncpg.connect(self._admin_dsn, server_settings=QUICK)
        try:
            await _end_connections(admin, name)
            await admin.execute(f'ALTER DATABASE "{name}" RENAME TO "{spare}"')
            await admin.execute(f'ALTER DATABASE "{ready}" RENAME TO "{name}"')
        finally:
            await admin.close()
        self._empty.put(spare)

    def release(self, name: str) -> None:
        """Drop `name` in the background (its connections are ended first)."""
        self._drop.put(name)
        self._wake.set()

    def close(self) -> None:
        """Stop making databases and drop every one this pool made."""
        if not self._thread.is_alive():
            return
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=60)

    async def _take(self, ready: queue.Queue[str]) -> str:
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TAKE_TIMEOUT
        while True:
            if self._error is not None:
                raise RuntimeError(f"cannot make a PostgreSQL test database: {self._error!r}")
            try:
                return ready.get_nowait()
            except queue.Empty:
                if loop.time() > deadline:
                    raise TimeoutError("no PostgreSQL test database ready in time") from None
                await asyncio.sleep(0.005)

    def _run(self) -> None:
        try:
            asyncio.run(self._fill())
        except BaseException as error:  # handed to the tests, which fail with it
            self._error = error

    async def _fill(self) -> None:
        admin = await asyncpg.connect(self._admin_dsn, server_settings=QUICK)
        try:
            await _drop_abandoned(admin)
            await self._create(admin, self._template)
            template = Database(self.url(self._template))
            await upgrade(template)
            await template.dispose()
            await self._read_template()
            while not self._stopping.is_set():
                await self._step(admin)
            await self._drain(admin)
        finally:
            await admin.close()

    async def _read_template(self) -> None:
        """What a used database is compared with before it is reused, and the rows the
        migrations wrote (a reused database gets them back after it is emptied)."""
        connection = await asyncpg.connect(self.dsn(self._template))
        try:
            self._tables = await _tables(connection)
            self._version = await connection.fetchval("SELECT version_num FROM alembic_version")
            self._seeds = {}
            for table in self._tables - {"alembic_version"}:
                rows = await connection.fetch(f'SELECT * FROM "{table}"')
                if rows:
                    self._seeds[table] = (list(rows[0].keys()), [tuple(r) for r in rows])
        finally:
            await connection.close()

    async def _step(self, admin: asyncpg.Connection) -> None:
        try:
            used = self._drop.get_nowait()
        except queue.Empty:
            used = None
        if used is not None:
            # A used database is emptied for the next test rather than dropped: that is one
            # TRUNCATE instead of a DROP and a CREATE, both of which wait on the disk.
            if self._migrated.qsize() < DEPTH and await self._reused(admin, used):
                self._migrated.put(used)
            else:
                await admin.execute(f'DROP DATABASE IF EXISTS "{used}" WITH (FORCE)')
        elif self._empty.qsize() < DEPTH:
            self._empty.put(await self._create(admin, self._new_name()))
        elif self._migrated.qsize() < DEPTH:
            name = self._new_name()
            self._migrated.put(await self._create(admin, name, template=self._template))
        else:
            # (Not asyncio.to_thread: its executor refuses work once the interpreter is
            # shutting down, which is when `close` asks this loop to drop everything.)
            self._wake.clear()
            for _ in range(25):
                if self._wake.is_set():
                    break
                await asyncio.sleep(0.02)

    async def _reused(self, admin: asyncpg.Connection, name: str) -> bool:
        try:
            return await self._recycle(admin, name)
        except asyncpg.PostgresError:  # e.g. not allowed to bypass the audit log's trigger
            return False

    async def _recycle(self, admin: asyncpg.Connection, name: str) -> bool:
        """Empty a used database that still has the template's tables at its revision; False
        if it has not (a test migrated it up or down, or it was never migrated)."""
        await _end_connections(admin, name)
        connection = await asyncpg.connect(self.dsn(name), server_settings=QUICK)
        try:
            if await _tables(connection) != self._tables:
                return False
            version = await connection.fetchval("SELECT version_num FROM alembic_version")
            if version != self._version:
                return False
            emptied = ", ".join(f'"{t}"' for t in sorted(self._tables - {"alembic_version"}))
            async with connection.transaction():
                # The audit log refuses TRUNCATE by a trigger; replica mode (superusers only)
                # skips triggers for this emptying.
                await connection.execute("SET LOCAL session_replication_role = replica")
                await connection.execute(f"TRUNCATE {emptied} RESTART IDENTITY CASCADE")
                for table, (columns, rows) in self._seeds.items():
                    await connection.copy_records_to_table(table, records=rows, columns=columns)
            return True
        finally:
            await connection.close()

    async def _create(self, admin: asyncpg.Connection, name: str, template: str = "") -> str:
        # (Recycled databases keep this setting: it belongs to the database.)
        copy = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copy}')
        await admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
        return name

    async def _drain(self, admin: asyncpg.Connection) -> None:
        names = [self._template]
        for ready in (self._drop, self._empty, self._migrated):
            while not ready.empty():
                names.append(ready.get_nowait())
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _new_name(self) -> str:
        return f"{self._prefix}_{uuid.uuid4().hex[:12]}"


# Databases are named for this machine and the test process: those of a test run that was
# killed (no chance to drop its own) are found and dropped by the next run on this machine.
_HOST_PREFIX = "tinbao_test_" + hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


async def _drop_abandoned(admin: asyncpg.Connection) -> None:
    rows = await admin.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE $1", _HOST_PREFIX + "\\_%"
    )
    for (name,) in rows:
        pid = name[len(_HOST_PREFIX) + 1 :].split("_", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _tables(connection: asyncpg.Connection) -> set[str]:
    rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {str(row[0]) for row in rows}


async def _end_connections(admin: asyncpg.Connection, name: str) -> None:
    """End the connections a finished test left open to database `name`."""
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = $1 AND pid <> pg_backend_pid()",
        name,
    )


_pools: dict[str, DatabasePool] = {}


def pool_for(base_url: str) -> DatabasePool:
    """The pool for the server of `base_url`, started on first use."""
    if base_url not in _pools:
        _pools[base_url] = DatabasePool(base_url)
    return _pools[base_url]
