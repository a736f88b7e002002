"""Shared fixtures: a database on each engine, and the real bot against a fake Bot API.

Every test that takes `db_url` (directly or through `harness`) runs on SQLite and again on
PostgreSQL. PostgreSQL runs when `TINBAO_TEST_POSTGRES_URL` is set (CI sets it, and then a
connection failure fails the test); otherwise those runs skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bot.channels.telegram import _on_start, _on_stop, build_application
from bot.settings import Settings
from handlers.services import Services
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import utcnow
from tests.fakebotapi import Call, FakeBotAPI
from tests.pgpool import pool_for

POSTGRES_ENV = "TINBAO_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tinbao.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL run skipped: set {POSTGRES_ENV}="
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test to run it"
        )
    async with scratch_postgres(base) as url:
        yield url


@asynccontextmanager
async def scratch_postgres(base: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database next to `base`'s, dropped afterwards (a failure to
    connect fails the test, as CI requires)."""
    pool = pool_for(base)
    name = await pool.empty()
    try:
        yield pool.url(name)
    finally:
        pool.release(name)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database on each engine."""
    database = await migrated(db_url)
    yield database
    await database.dispose()


# A SQLite database migrated once per test run that empty test databases are copies of
# (PostgreSQL's are made by tests/pgpool.py): running every migration for each of the suite's
# several hundred databases took minutes.
_templates: dict[str, str] = {}


async def migrated(url: str) -> Database:
    """A `Database` for `url` at the newest schema. An empty database is first made a copy of
    a template migrated once (a file copy on SQLite, a ready copy renamed into place on
    PostgreSQL); the migrations then run as ever and find nothing to do."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if parsed.database and _empty_file(path):
            shutil.copyfile(await _sqlite_template(), path)
    elif await _postgres_is_empty(url):
        await pool_for(_postgres_base()).replace_with_migrated(parsed.database or "")
    database = Database(url)
    await upgrade(database)
    return database


def _empty_file(path: Path) -> bool:
    return not path.exists() or path.stat().st_size == 0


async def _sqlite_template() -> str:
    if "sqlite" not in _templates:
        path = Path(tempfile.mkdtemp(prefix="tinbao-template-")) / "tinbao.db"
        template = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(template)
        async with template.engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await template.dispose()
        _templates["sqlite"] = str(path)
    return _templates["sqlite"]


def _postgres_base() -> str:
    return os.environ[POSTGRES_ENV]


def _dsn(url: str, database: str | None = None) -> str:
    """asyncpg's form of `url`, to `database` if given (the server's own `postgres` database
    for creating and dropping others)."""
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


async def _postgres_is_empty(url: str) -> bool:
    connection = await asyncpg.connect(_dsn(url))
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        )
    finally:
        await connection.close()
    return int(tables) == 0


def make_settings(
    tmp_path: Path, db_url: str, fake: FakeBotAPI | None = None, **extra: Any
) -> Settings:
    """Settings for a test: no `.env` file is read, everything lives under `tmp_path`."""
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "database_url": db_url,
        "album_quiet_seconds": 1.0,
        # Reading screenshots' text runs tesseract (about a second of CPU a photo) and is
        # tested on its own (tests/test_screenshots.py) and through the bot where it matters.
        "ocr": False,
        # Tests press buttons far faster than people, and file more reports than one person
        # may in a day; the tests of these limits set their own.
        "flood_messages": 10_000,
        "reports_per_day": 0,
    }
    if fake is not None:
        values |= {
            "telegram_token": fake.token,
            "telegram_api_url": fake.base_url,
            "telegram_file_url": fake.file_url,
        }
    values |= extra
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass(repr=False)
class Harness:
    """The production `Application` polling a fake Bot API, plus helpers to talk to it."""

    def __repr__(self) -> str:  # short: Hypothesis prints it with every failing example
        return f"Harness(fake on port {self.fake.port})"

    fake: FakeBotAPI
    services: Services
    application: Any
    handled: dict[int, asyncio.Event] = field(default_factory=dict)
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        """The bot's clock: real time moved forward by `offset`."""
        return utcnow() + self.offset

    async def tick(self, advance: timedelta = timedelta(0)) -> int:
        """Move the clock forward and run the timers once, as the loop does."""
        self.offset += advance
        from bot.channels.telegram import run_timers

        return await run_timers(self.application)

    def _event(self, update_id: int) -> asyncio.Event:
        return self.handled.setdefault(update_id, asyncio.Event())

    def observe(self, update_id: int | None) -> None:
        """Called by the router once an update's replies are sent."""
        if update_id is not None:
            self._event(update_id).set()

    async def send(self, update: dict[str, Any], timeout: float = 10.0) -> list[Call]:
        """Deliver an update and wait until the bot has handled it; returns what it sent."""
        start = self.fake.mark()
        update_id = self.fake.push_update(update)
        await asyncio.wait_for(self._event(update_id).wait(), timeout)
        return [c for c in self.fake.calls[start:] if c.method == "sendMessage"]

    async def texts(self, update: dict[str, Any]) -> list[str]:
        """Deliver an update and return the texts of the bot's replies."""
        return [str(c.params.get("text", "")) for c in await self.send(update)]

    @staticmethod
    def buttons(call: Call) -> list[tuple[str, str]]:
        """(label, callback data) of a sent message's inline keyboard."""
        markup = call.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@asynccontextmanager
async def running_bot(tmp_path: Path, db_url: str, **extra: Any) -> AsyncIterator[Harness]:
    """The real bot (same factory as `tinbao run`) polling a fake Bot API over HTTP.

    `extra` overrides settings (admins, the officers' group…). The bot's clock is the real one
    plus `Harness.offset`, so tests can move time forward for the review queue's timers.
    """
    async with FakeBotAPI() as fake:
        values: dict[str, Any] = {"timer_seconds": 3600.0} | extra
        settings = make_settings(tmp_path, db_url, fake, **values)
        database = await migrated(settings.effective_database_url)
        services = Services.create(settings, database)
        application = build_application(settings, services)
        bench = Harness(fake, services, application)
        services.clock = bench.now
        services.observers.append(bench.observe)
        await application.initialize()
        await _on_start(application)  # initialize() does not run post_init
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        await application.start()
        try:
            yield bench
        finally:
            await application.updater.stop()
            await application.stop()
            await _on_stop(application)
            await application.shutdown()


@pytest.fixture
async def harness(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    """The real bot polling a fake Bot API, with default settings."""
    async with running_bot(tmp_path, db_url) as bench:
        yield bench
