"""Scratch PostgreSQL databases for the tests, made ahead of time in a background thread.

Half the tests run on PostgreSQL, each on a database of its own. Making one (`CREATE DATABASE`,
then a copy of the migrated template) waits on the server's disk for a tenth of a second or
more, and dropping it again as long: together more than the test itself in most cases. A thread
with its own event loop keeps a few empty and a few migrated databases ready and drops the used
ones, so a test only takes one from a queue, and a migrated copy replaces an empty database by a
rename. Every database it makes commits without waiting for the disk (`synchronous_commit =
off`: nothing in the tests crashes the server, only the bot's processes, so this loses nothing
the tests look at).
"""

from __future__ import annotations

import asyncio
import atexit
import os
import queue
import threading
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from storage.engine import Database
from storage.migrate import upgrade

# Databases kept ready of each kind: enough to cover a test that takes a couple at once while
# the thread makes the next ones.
DEPTH = 2
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
        self._prefix = f"tinbao_test_{os.getpid()}"
        self._template = f"{self._prefix}_template"
        self._empty: queue.Queue[str] = queue.Queue()
        self._migrated: queue.Queue[str] = queue.Queue()
        self._drop: queue.Queue[str] = queue.Queue()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._error: BaseException | None = None
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
        """Make `name` a database at the newest schema: a ready migrated copy takes its place."""
        ready = await self._take(self._migrated)
        admin = await asyncpg.connect(self._admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.execute(f'ALTER DATABASE "{ready}" RENAME TO "{name}"')
        finally:
            await admin.close()

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
        admin = await asyncpg.connect(self._admin_dsn)
        try:
            await self._create(admin, self._template)
            template = Database(self.url(self._template))
            await upgrade(template)
            await template.dispose()
            while not self._stopping.is_set():
                await self._step(admin)
            await self._drain(admin)
        finally:
            await admin.close()

    async def _step(self, admin: asyncpg.Connection) -> None:
        try:
            used = self._drop.get_nowait()
        except queue.Empty:
            used = None
        if used is not None:
            await admin.execute(f'DROP DATABASE IF EXISTS "{used}" WITH (FORCE)')
        elif self._empty.qsize() < DEPTH:
            self._empty.put(await self._create(admin, self._new_name()))
        elif self._migrated.qsize() < DEPTH:
            name = self._new_name()
            self._migrated.put(await self._create(admin, name, template=self._template))
        else:
            self._wake.clear()
            await asyncio.to_thread(self._wake.wait, 0.5)

    async def _create(self, admin: asyncpg.Connection, name: str, template: str = "") -> str:
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


_pools: dict[str, DatabasePool] = {}


def pool_for(base_url: str) -> DatabasePool:
    """The pool for the server of `base_url`, started on first use."""
    if base_url not in _pools:
        _pools[base_url] = DatabasePool(base_url)
    return _pools[base_url]
