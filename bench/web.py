"""Dashboard benchmark: p95 latency of the queue and report pages with 200,000 reports loaded.

Run from the repository root::

    python bench/web.py [--reports N] [--requests N] [--postgres-url URL]
    python -m bench.web ...

A fresh database (a temporary SQLite file; also a scratch PostgreSQL database next to
``--postgres-url``'s when given) is filled by bulk inserts, not through the bot: N reports
(default 200,000) over the last year with categories, statuses, amounts, officers, a story
each, a phone number each (one in ten shared with other reports), an account for half of them,
and their events. The dashboard is then served exactly as `tinbao web` serves it (aiohttp on
loopback, one signed-in session) and requested over HTTP one request at a time:

- the queue with the default filter (every report, newest first, page 1, with its count);
- the queue with one filter and a text search (status ``new`` and a word of the stories);
- the queue searching a phone number, as an officer types it (``0912 …``);
- a report page (a random report each time: facts, indicators with the reports sharing them,
  evidence, timeline; each view is written to the audit log, as in production).

It prints p50 / p95 / max per page. The goal is a p95 under 150 ms on SQLite.
``docs/benchmarks.md`` has the results.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web
from sqlalchemy import insert
from sqlmodel import col, select

from bench.scratch import PostgresUnavailable, postgres_url, sqlite_url
from bot.settings import Settings
from bot.web.app import COOKIE
from bot.web.serve import build_app
from handlers.services import Services
from storage import dashboard as store
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Indicator, Report, ReportEvent, ReportIndicator, User, utcnow

CATEGORIES = ("police", "bank_sms", "investment", "job", "shopping", "loan", "romance", "other")
STATUSES = (("new", 15), ("in_review", 20), ("needs_info", 5), ("verified", 10),
            ("forwarded", 5), ("closed", 35), ("rejected", 7), ("spam", 3))  # fmt: skip
WORDS = (
    "tôi bị lừa chuyển tiền vào tài khoản sàn đầu tư họ gọi điện tự xưng công an yêu cầu "
    "cài ứng dụng nhận việc làm online nạp tiền làm nhiệm vụ mua hàng đặt cọc vay tiền "
    "lãi suất thấp người yêu qua mạng gửi quà nick facebook bị hack nhờ chuyển khoản "
    "cuộc gọi video giả mạo lấy lại tiền đã mất ngân hàng mã OTP đường link tin nhắn"
).split()
CHUNK = 5_000


def table_of(model: Any) -> Any:
    """The table of a SQLModel class."""
    return model.__table__


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def load(db: Database, reports: int, seed: int = 7) -> int:
    """Fill the database by bulk inserts; returns the id of the signed-in officer."""
    rng = random.Random(seed)
    now = utcnow()
    async with db.session() as session:
        officers = [
            User(channel="telegram", external_id=str(9000 + i), role="officer",
                 display_name=f"Cán bộ {i}", created_at=now)
            for i in range(20)
        ]  # fmt: skip
        session.add_all(officers)
        await session.flush()
        officer_ids = [o.id for o in officers]
    weights = [w for _, w in STATUSES]
    names = [s for s, _ in STATUSES]
    shared_phones = [f"+8491{n:07d}" for n in range(reports // 50)]
    next_indicator = 1
    indicator_ids: dict[str, int] = {}
    for start in range(0, reports, CHUNK):
        rows: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        new_indicators: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for n in range(start, min(reports, start + CHUNK)):
            number = n + 1
            submitted = now - timedelta(seconds=(reports - n) * 365 * 86400 / reports)
            status = rng.choices(names, weights)[0]
            assignee = rng.choice(officer_ids) if status not in ("new",) else None
            rows.append(
                {
                    "id": number,
                    "code": f"TB-{submitted:%y%m}-{number:06d}",
                    "channel": "telegram",
                    "status": status,
                    "category": rng.choice(CATEGORIES),
                    "description": " ".join(rng.choices(WORDS, k=rng.randint(12, 60))),
                    "amount_lost_vnd": (
                        None if rng.random() < 0.3 else rng.randint(1, 500) * 1_000_000
                    ),
                    "anonymous": rng.random() < 0.5,
                    "contact_allowed": False,
                    "assignee_id": assignee,
                    "created_at": submitted,
                    "submitted_at": submitted,
                    "updated_at": submitted,
                    "queued_at": submitted,
                }
            )
            events.append({"report_id": number, "action": "submitted", "to_status": "new",
                           "created_at": submitted, "notify": False})  # fmt: skip
            if assignee is not None:
                events.append({"report_id": number, "actor_id": assignee, "action": "claimed",
                               "from_status": "new", "to_status": "in_review",
                               "created_at": submitted + timedelta(minutes=rng.randint(1, 600)),
                               "notify": True})  # fmt: skip
            values = [rng.choice(shared_phones) if rng.random() < 0.1 else f"+8498{number:07d}"]
            if rng.random() < 0.5:
                values.append(f"VCB:{rng.randint(10**9, 10**10 - 1)}")
            for value in values:
                if value not in indicator_ids:
                    indicator_ids[value] = next_indicator
                    new_indicators.append(
                        {"id": next_indicator, "kind": "phone" if value[0] == "+" else
                         "bank_account", "value": value, "first_seen_at": submitted}
                    )  # fmt: skip
                    next_indicator += 1
                raw = "0" + value[3:] if value[0] == "+" else value.split(":")[1]
                links.append({"report_id": number, "indicator_id": indicator_ids[value],
                              "raw": raw})  # fmt: skip
        async with db.session() as session:
            # Core inserts (executemany), not the ORM's: a few seconds for the whole load.
            await session.execute(insert(table_of(Report)), rows)
            if new_indicators:
                await session.execute(insert(table_of(Indicator)), new_indicators)
            await session.execute(insert(table_of(ReportIndicator)), links)
            await session.execute(insert(table_of(ReportEvent)), events)
    if db.engine.dialect.name == "postgresql":
        async with db.engine.begin() as connection:
            for table in ("report", "indicator", "reportevent"):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            await connection.exec_driver_sql("ANALYZE")
    else:
        async with db.engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE")
    assert officer_ids[0] is not None
    return officer_ids[0]


async def measure(label: str, url: str, reports: int, requests: int) -> None:
    db = Database(url)
    await upgrade(db)
    started = time.perf_counter()
    officer = await load(db, reports)
    print(f"{label}: loaded {reports:,} reports in {time.perf_counter() - started:.0f} s")
    with tempfile.TemporaryDirectory(prefix="tinbao-web-") as tmp:
        port = free_port()
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            database_url=url,
            data_dir=Path(tmp),
            public_url=f"http://127.0.0.1:{port}",
        )
        services = Services.create(settings, db)
        async with db.session() as session:
            sid = await store.start_session(session, officer, "vi", utcnow(), timedelta(hours=1))
            picked = random.Random(5).sample(range(1, reports + 1), min(reports, 1000))
            found = await session.execute(select(Report.code).where(col(Report.id).in_(picked)))
            codes = [code for (code,) in found.all()]
        runner = web.AppRunner(build_app(settings, services, None), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        rng = random.Random(11)
        jar = aiohttp.CookieJar(unsafe=True)
        try:
            async with aiohttp.ClientSession(cookie_jar=jar, cookies={COOKIE: sid}) as client:
                pages = {
                    "queue, default filter": lambda: f"{base}/",
                    "queue, status + text search": lambda: f"{base}/?status=new&q=đặt+cọc",
                    "queue, phone search": lambda: f"{base}/?q={_typed(rng)}",
                    "report page": lambda: f"{base}/reports/{rng.choice(codes)}",
                }
                for name, make in pages.items():
                    async with client.get(make()) as response:  # warm-up
                        assert response.status == 200, (name, response.status)
                        await response.read()
                    times = []
                    for _ in range(requests):
                        target = make()
                        begun = time.perf_counter()
                        async with client.get(target) as response:
                            await response.read()
                            assert response.status == 200, (name, target, response.status)
                        times.append((time.perf_counter() - begun) * 1000)
                    times.sort()
                    p95 = times[int(len(times) * 0.95) - 1]
                    print(
                        f"{label}: {name:<30} p50 {statistics.median(times):6.1f} ms  "
                        f"p95 {p95:6.1f} ms  max {times[-1]:6.1f} ms  ({requests} requests)"
                    )
        finally:
            await runner.cleanup()
            await db.dispose()


def _typed(rng: random.Random) -> str:
    """A shared phone number of the load as an officer types it: `0910 001 234`."""
    digits = f"091{rng.randint(0, 3999):07d}"
    return f"{digits[:4]}+{digits[4:7]}+{digits[7:]}"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres-url", default=None)
    args = parser.parse_args()
    async with sqlite_url("web") as url:
        await measure("sqlite", url, args.reports, args.requests)
    if args.postgres_url:
        try:
            async with postgres_url(args.postgres_url) as url:
                await measure("postgresql", url, args.reports, args.requests)
        except PostgresUnavailable as error:
            print(f"postgresql: skipped ({error})")


if __name__ == "__main__":
    asyncio.run(main())
