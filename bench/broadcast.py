"""Broadcast benchmark: the real sender sends one scam warning to N subscribers through a fake
Telegram that enforces the rate limit, blocks some users and floods now and then.

Run from the repository root::

    python bench/broadcast.py [--engine sqlite|postgres|both] [--subscribers N] [--limits 30,1000]
    python -m bench.broadcast  ...

For each engine and each limit the script migrates a fresh database (a temporary SQLite file;
a scratch PostgreSQL database created next to ``--postgres-url``'s and dropped afterwards) and
seeds, untimed and in bulk, N residents (channel ``telegram``, external id = chat id, consent
given, language 85 % ``vi``, 10 % ``en``, 5 % unset) with an active subscription, and one admin.
It writes a text warning (audience ``all``) and starts it with ``storage.broadcasts.
start_sending``, the admin's chat receiving the progress message.

Telegram is the fake Bot API (``tests/fakebotapi.py``) in its own process, so that it does not
compete with the sender for this process's GIL at 1,000 messages/s, started as::

    python -m tests.fakebotapi --port 0 --rate-limit L --blocked-file … --gone-file … \\
        --flood-every 60 --flood-retry-after 1 --seed S

- **The limit**: at most L messages (sends and edits, the progress message's included) accepted
  in any sliding second; beyond, 429 "retry after 1" ("enforced" 429s). Refused messages (403,
  400, 429) do not count against it.
- **Blocked users**: ``--blocked`` of the subscribers (2 %), drawn at random; a quarter of them
  (``--gone-share``) answer 400 "chat not found", the others 403 "bot was blocked by the user".
- **Occasional 429s**: Telegram's flood wait stops the whole bot, not one message, so they are
  injected as flood-wait periods at random times, a Poisson process in time: on average one
  every ``--flood-every`` seconds (60), each answering every message 429 "retry after R" for R
  seconds (``--flood-retry-after``, 1). A run at 30/s (12-13 min) sees a dozen or so, one at
  1,000/s (20-40 s) none or one: they come per minute, not per message.

In this process the real ``handlers.sender.Sender`` sends through the real
``bot.channels.telegram.TelegramWarnings`` (its own PTB ``Bot`` on an aiohttp pool) and edits the
admin's progress message through a ``TelegramOutbox`` on a bot built like the application's
(``ExtBot`` with ``AIORateLimiter(overall_max_rate=TINBAO_TELEGRAM_MAX_RATE, max_retries=3)``,
as ``build_application`` makes it), with ``TINBAO_BROADCAST_RATE`` = ``--headroom`` × L
(0.98 L) and ``TINBAO_BROADCAST_PAID`` for L above 30. ``Sender.run_once()`` takes the broadcast
and sends it to the end; it is timed (wall and CPU of this process, CPU of the fake's).

Afterwards the fake's record of every delivery call (``GET /_control/sends``) gives:

- **msg/s**: accepted warnings ÷ (time of the last accepted − time of the first accepted), the
  fake's arrival stamps (``time.monotonic()``, one clock for both processes on Linux); **of
  limit** = msg/s ÷ L. Goal (from the issue): at least 0.95. Two more views of the same run:
  **handled** = warnings answered other than 429 (accepted or refused: subscribers dealt with)
  per second ÷ L, and **allowed** = accepted ÷ (span − time in injected flood waits) ÷ L, the
  share of the limit used while Telegram let the bot send at all.
- **duplicates**: subscribers who accepted more than one warning. Goal: 0.
- **losses**: subscribers who accepted none and are not blocked / gone in the fake's
  configuration. Goal: 0.
- the 429s: answered during a flood wait / by the enforced limit (counted by the fake over all
  its delivery calls), and how many flood waits fell inside the send;
- the database's side: delivery states (sent / blocked / failed / unknown / still pending),
  that the ``sent`` rows are exactly the chats the fake accepted, that the blocked users (and
  only they) were unsubscribed, and the broadcast's status ``done``.

docs/benchmarks.md explains the figures. The exit code is 1 when a correctness check fails (a
duplicate, a loss, or the database disagreeing with the fake), 2 when ``--engine postgres``
could not reach the server, else 0: a missed speed goal is printed, not an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import math
import os
import platform
import pstats
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, insert, select
from sqlmodel import col
from telegram.constants import ParseMode
from telegram.ext import AIORateLimiter, Defaults, ExtBot
from telegram.request import HTTPXRequest

# `python bench/broadcast.py` puts bench/ (not the repository root) on sys.path.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scratch import PostgresUnavailable, postgres_url, sqlite_url  # noqa: E402
from bot.channels.telegram import TelegramOutbox, TelegramWarnings  # noqa: E402
from bot.settings import FREE_BROADCAST_RATE, Settings  # noqa: E402
from handlers.sender import Sender  # noqa: E402
from handlers.services import Services  # noqa: E402
from storage import broadcasts  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import (  # noqa: E402
    Broadcast,
    BroadcastDelivery,
    Subscription,
    User,
    utcnow,
)

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_ENV = "TINBAO_BENCH_POSTGRES_URL"
CHANNEL = "telegram"
TOKEN = "123456:BENCH-TOKEN"
HOST = "127.0.0.1"
ADMIN_CHAT = 7_000_000_001
FIRST_CHAT = 100_000_001  # subscribers' chat ids are FIRST_CHAT, FIRST_CHAT + 1, …
SEED_BATCH = 5_000  # rows per INSERT executemany
WARNING_METHODS = ("sendMessage", "sendPhoto")
TEXT = (
    'Cảnh giác: đối tượng giả danh công an gọi điện báo "liên quan đường dây rửa tiền", yêu '
    'cầu chuyển tiền vào "tài khoản tạm giữ" để xác minh. Công an không bao giờ làm việc qua '
    "điện thoại hay yêu cầu chuyển tiền. Gặp trường hợp này, hãy dập máy và báo cho tinbao."
)


# --------------------------------------------------------------------------- seeding


@dataclass
class Population:
    """The subscribers (by chat id) and which of them the fake refuses."""

    chats: list[int]
    blocked: set[int]  # 403 "bot was blocked by the user"
    gone: set[int]  # 400 "chat not found"
    admin_id: int

    @property
    def refused(self) -> set[int]:
        """Chats that can never receive the warning."""
        return self.blocked | self.gone


async def seed(db: Database, n: int, args: argparse.Namespace) -> Population:
    """`n` consenting residents with an active subscription, and one admin (untimed)."""
    rng = random.Random(args.seed)
    now = utcnow()
    chats = list(range(FIRST_CHAT, FIRST_CHAT + n))
    async with db.session() as session:
        admin = User(
            channel=CHANNEL,
            external_id=str(ADMIN_CHAT),
            role="admin",
            language="vi",
            display_name="Bench admin",
            consent_at=now,
            consent_version="bench",
            created_at=now,
        )
        session.add(admin)
        await session.flush()
        assert admin.id is not None
        admin_id = admin.id
    languages = ["vi"] * 85 + ["en"] * 10 + [None] * 5
    for start in range(0, n, SEED_BATCH):
        rows = [
            {
                "channel": CHANNEL,
                "external_id": str(chat),
                "language": rng.choice(languages),
                "role": "resident",
                "consent_at": now,
                "consent_version": "bench",
                "created_at": now,
            }
            for chat in chats[start : start + SEED_BATCH]
        ]
        async with db.session() as session:
            await session.execute(insert(User), rows)
    async with db.session() as session:
        ids = (
            await session.execute(select(col(User.id)).where(col(User.role) == "resident"))
        ).scalars()
        subscriptions = [
            {"user_id": user_id, "active": True, "offered_at": now, "changed_at": now}
            for user_id in ids
        ]
        for start in range(0, len(subscriptions), SEED_BATCH):
            await session.execute(insert(Subscription), subscriptions[start : start + SEED_BATCH])
    refused = rng.sample(chats, round(n * args.blocked))
    gone_count = round(len(refused) * args.gone_share)
    return Population(chats, set(refused[gone_count:]), set(refused[:gone_count]), admin_id)


async def start_broadcast(db: Database, admin_id: int) -> tuple[int, int]:
    """A text warning to everyone, started as an admin starts it; (its id, recipients)."""
    now = utcnow()
    async with db.session() as session:
        draft = await broadcasts.new_draft(session, CHANNEL, admin_id, now)
        draft.text = TEXT
        draft.awaiting = None
        await session.flush()
        assert draft.id is not None
        total = await broadcasts.start_sending(
            session, draft.id, ("draft",), now, approver_id=None, progress_chat=str(ADMIN_CHAT)
        )
        assert total is not None
        return draft.id, total


# --------------------------------------------------------------------------- the fake


@dataclass
class FakeServer:
    """The fake Bot API process and its URLs."""

    process: asyncio.subprocess.Process
    port: int

    @property
    def api_url(self) -> str:
        """Base URL of the Bot API methods (PTB appends the token)."""
        return f"http://{HOST}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """Base URL of file downloads."""
        return f"http://{HOST}:{self.port}/file/bot"

    async def sends(self) -> dict[str, Any]:
        """The fake's record of delivery calls and its 429 counters."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://{HOST}:{self.port}/_control/sends") as response,
        ):
            response.raise_for_status()
            data: dict[str, Any] = await response.json()
            return data


@asynccontextmanager
async def fake_server(
    limit: float, population: Population, args: argparse.Namespace, tmp: Path
) -> AsyncIterator[FakeServer]:
    """Run ``python -m tests.fakebotapi`` in its own process; always terminate it afterwards."""
    blocked_file, gone_file = tmp / "blocked.txt", tmp / "gone.txt"
    blocked_file.write_text("".join(f"{chat}\n" for chat in sorted(population.blocked)))
    gone_file.write_text("".join(f"{chat}\n" for chat in sorted(population.gone)))
    command = [
        *("-m", "tests.fakebotapi", "--port", "0", "--token", TOKEN),
        *("--rate-limit", f"{limit:g}", "--seed", str(args.seed)),
        *("--blocked-file", str(blocked_file), "--gone-file", str(gone_file)),
        *("--flood-every", f"{args.flood_every:g}"),
        *("--flood-retry-after", str(args.flood_retry_after)),
    ]
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20.0)
        words = line.decode().split()
        if len(words) < 2 or words[0] != "READY":
            raise RuntimeError(f"fake Bot API did not start (said {line!r})")
        yield FakeServer(process, int(words[1]))
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5.0)
            except TimeoutError:
                process.kill()
                await process.wait()


def load_average() -> float:
    """The machine's 1-minute load average (NaN where there is none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan


def process_cpu(pid: int) -> float | None:
    """utime + stime of another process (Linux /proc; None elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    """One broadcast at one limit on one engine: what the fake saw, what the database says."""

    engine: str
    limit: float
    rate: float  # the sender's configured rate
    subscribers: int
    refused: int  # blocked + gone in the fake's configuration
    wall: float = 0.0
    cpu_here: float = 0.0
    cpu_fake: float | None = None
    finished: bool = False  # run_once returned (not timed out)
    # The fake's record of the warnings.
    accepted: int = 0
    span: float = 0.0  # last accepted − first accepted, seconds
    attempts: int = 0  # warnings answered with anything but a 429
    blocked_answers: int = 0  # 403 and 400 "chat not found"
    other_errors: int = 0  # any other refusal
    warning_429s: int = 0
    flood_429s: int = 0  # over all delivery calls, progress included
    limit_429s: int = 0
    floods_in_send: int = 0
    flood_seconds: float = 0.0  # of the span, spent in injected flood waits
    floods_total: int = 0
    sender_floods: int = 0  # 429s the sender's pacer was told of
    progress_calls: int = 0
    max_per_second: int = 0  # most accepted delivery calls in any sliding second
    duplicates: int = 0  # chats that accepted more than one warning
    extra_copies: int = 0
    losses: int = 0
    refused_delivered: int = 0  # accepted by a chat configured as refused (impossible)
    strangers: int = 0  # accepted by a chat that is no subscriber
    # The database's side.
    status: str = ""
    states: dict[str, int] = field(default_factory=dict)
    db_sent_not_accepted: int = 0
    accepted_not_db_sent: int = 0
    unsubscribed: int = 0
    unsubscribed_wrongly: int = 0  # unsubscribed but not refused by the fake
    refused_still_subscribed: int = 0
    problems: list[str] = field(default_factory=list)
    profile: str | None = None
    load: list[float] = field(default_factory=list)  # 1-min load average before, after

    @property
    def per_second(self) -> float:
        """Accepted warnings ÷ their span."""
        return self.accepted / self.span if self.span > 0 else 0.0

    @property
    def of_limit(self) -> float:
        """`per_second` as a fraction of the limit."""
        return self.per_second / self.limit

    @property
    def of_allowed(self) -> float:
        """`of_limit` over the time Telegram allowed sending (the span less its flood waits)."""
        allowed = self.span - self.flood_seconds
        return self.accepted / allowed / self.limit if allowed > 0 else 0.0

    @property
    def attempts_per_second(self) -> float:
        """Warnings answered other than 429 (accepted or blocked), per second of the span."""
        return self.attempts / self.span if self.span > 0 else 0.0

    @property
    def ceiling(self) -> float:
        """The best `of_limit` the sender's rate allows (a refused warning gives its slot
        back, so blocked users cost none)."""
        return self.rate / self.limit

    @property
    def db_disagrees(self) -> bool:
        """The database's record differs from what the fake saw."""
        unfinished = sum(self.states.get(s, 0) for s in ("pending", "sending"))
        return bool(
            self.status != "done"
            or unfinished
            or self.states.get("failed", 0)
            or self.states.get("unknown", 0)
            or self.states.get("blocked", 0) != self.refused
            or self.db_sent_not_accepted
            or self.accepted_not_db_sent
            or self.unsubscribed_wrongly
            or self.refused_still_subscribed
        )

    @property
    def ok(self) -> bool:
        """Every subscriber got the warning once, or was refused; the database agrees."""
        return (
            self.finished
            and self.duplicates == 0
            and self.losses == 0
            and self.refused_delivered == 0
            and self.strangers == 0
            and not self.db_disagrees
        )

    @property
    def goal_met(self) -> bool:
        """The issue's goal: ≥ 0.95 of the limit, no duplicate, no loss."""
        return self.ok and self.of_limit >= 0.95


def max_in_window(times: Sequence[float], width: float = 1.0) -> int:
    """The most events in any half-open window of `width` seconds (times sorted)."""
    best = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - width:
            start += 1
        best = max(best, end - start + 1)
    return best


def analyse(run: Run, data: dict[str, Any], population: Population) -> None:
    """Fill in the fake's side of `run` from its record of delivery calls."""
    sends: list[list[Any]] = data["sends"]
    warnings = [s for s in sends if s[0] in WARNING_METHODS and s[1] != ADMIN_CHAT]
    run.progress_calls = sum(1 for s in sends if s[1] == ADMIN_CHAT)
    accepted = [s for s in warnings if s[3] == 200]
    run.accepted = len(accepted)
    if accepted:
        times = [s[2] for s in accepted]
        run.span = max(times) - min(times)
    run.warning_429s = sum(1 for s in warnings if s[3] == 429)
    run.attempts = len(warnings) - run.warning_429s
    run.blocked_answers = sum(
        1 for s in warnings if s[3] in (400, 403) and s[1] in population.refused
    )
    run.other_errors = len(warnings) - run.accepted - run.warning_429s - run.blocked_answers
    run.flood_429s = int(data["flood_429s"])
    run.limit_429s = int(data["limit_429s"])
    floods: list[list[float]] = data["floods"]
    run.floods_total = len(floods)
    if warnings:
        first, last = min(s[2] for s in warnings), max(s[2] for s in warnings)
        run.floods_in_send = sum(1 for start, end in floods if end > first and start < last)
        run.flood_seconds = sum(
            max(0.0, min(end, last) - max(start, first)) for start, end in floods
        )
    run.max_per_second = max_in_window(sorted(s[2] for s in sends if s[3] == 200))
    per_chat = Counter(s[1] for s in accepted)
    run.duplicates = sum(1 for n in per_chat.values() if n > 1)
    run.extra_copies = sum(n - 1 for n in per_chat.values() if n > 1)
    subscribers = set(population.chats)
    run.strangers = sum(1 for chat in per_chat if chat not in subscribers)
    run.refused_delivered = sum(1 for chat in per_chat if chat in population.refused)
    run.losses = sum(
        1 for chat in population.chats if chat not in per_chat and chat not in population.refused
    )
    accepted_chats = set(per_chat)
    run.problems += [f"chat {c} accepted {n} warnings" for c, n in per_chat.items() if n > 1][:5]
    lost = [c for c in population.chats if c not in accepted_chats and c not in population.refused]
    run.problems += [f"chat {c} never accepted the warning" for c in lost[:5]]


async def check_database(
    run: Run, db: Database, broadcast_id: int, data: dict[str, Any], population: Population
) -> None:
    """Fill in the database's side of `run` and compare it with the fake's record."""
    accepted = {
        s[1]
        for s in data["sends"]
        if s[0] in WARNING_METHODS and s[3] == 200 and s[1] != ADMIN_CHAT
    }
    async with db.session() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        assert broadcast is not None
        run.status = broadcast.status
        run.states = await broadcasts.counts(session, broadcast_id)
        sent_rows = await session.execute(
            select(col(BroadcastDelivery.chat_id)).where(
                col(BroadcastDelivery.broadcast_id) == broadcast_id,
                col(BroadcastDelivery.state) == "sent",
            )
        )
        db_sent = {int(chat) for chat in sent_rows.scalars()}
        off = await session.execute(
            select(col(User.external_id))
            .join(Subscription, col(Subscription.user_id) == col(User.id))
            .where(col(Subscription.active).is_(False), col(Subscription.reason) == "blocked")
        )
        unsubscribed = {int(chat) for chat in off.scalars()}
        still = await session.execute(
            select(func.count())
            .select_from(Subscription)
            .join(User, col(User.id) == col(Subscription.user_id))
            .where(
                col(Subscription.active).is_(True),
                col(User.external_id).in_([str(c) for c in population.refused]),
            )
        )
        run.refused_still_subscribed = int(still.scalar_one())
        if broadcast.status == "done" and broadcast.sent != run.states.get("sent", 0):
            run.problems.append(
                f"broadcast.sent {broadcast.sent} ≠ {run.states.get('sent', 0)} sent rows"
            )
    run.db_sent_not_accepted = len(db_sent - accepted)
    run.accepted_not_db_sent = len(accepted - db_sent)
    run.unsubscribed = len(unsubscribed)
    run.unsubscribed_wrongly = len(unsubscribed - population.refused)
    if run.db_sent_not_accepted:
        run.problems.append(f"{run.db_sent_not_accepted} rows 'sent' the fake never accepted")


class ProblemLog(logging.Handler):
    """Keeps the warnings and errors logged during a run."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the record."""
        self.records.append(record)


async def measure(engine: str, url: str, limit: float, args: argparse.Namespace) -> Run:
    """Seed a fresh database, send one broadcast through the fake, check what happened."""
    db = Database(url)
    problems = ProblemLog()
    logging.getLogger().addHandler(problems)
    try:
        await upgrade(db)
        population = await seed(db, args.subscribers, args)
        broadcast_id, total = await start_broadcast(db, population.admin_id)
        rate = round(args.headroom * limit, 3)
        run = Run(engine, limit, rate, total, len(population.refused))
        with tempfile.TemporaryDirectory(prefix="tinbao-broadcast-") as tmp:
            async with fake_server(limit, population, args, Path(tmp)) as server:
                settings = Settings(
                    _env_file=None,  # type: ignore[call-arg]
                    telegram_token=TOKEN,
                    telegram_api_url=server.api_url,
                    telegram_file_url=server.file_url,
                    database_url=url,
                    data_dir=Path(tmp) / "data",
                    broadcast_rate=rate,
                    broadcast_paid=limit > FREE_BROADCAST_RATE,
                    broadcast_progress_seconds=args.progress_seconds,
                )
                await send(run, server, settings, db, args)
                data = await server.sends()
        if args.dump:
            name = f"broadcast-{engine.lower()}-{limit:g}.json"
            dump = Path(args.dump) / name
            dump.parent.mkdir(parents=True, exist_ok=True)
            dump.write_text(json.dumps({**data, "admin_chat": ADMIN_CHAT, "rate": rate}))
            run.problems.append(f"the fake's record was written to {dump}")
        analyse(run, data, population)
        await check_database(run, db, broadcast_id, data, population)
        run.problems += [
            f"logged {r.levelname}: {r.getMessage()}"
            + (f" ({r.exc_info[1]!r})" if r.exc_info and r.exc_info[1] else "")
            for r in problems.records[:5]
        ]
        if len(problems.records) > 5:
            run.problems.append(f"… {len(problems.records) - 5} more warnings/errors logged")
        return run
    finally:
        logging.getLogger().removeHandler(problems)
        await db.dispose()


async def send(
    run: Run, server: FakeServer, settings: Settings, db: Database, args: argparse.Namespace
) -> None:
    """The timed part: the real sender and transport send the broadcast to the end."""
    services = Services.create(settings, db)
    transport = TelegramWarnings(settings)
    await transport.start()
    # Built like the application's bot (`build_application`), whose outbox the sender uses in
    # production: its rate limiter waits out a 429 and retries an edit up to three times.
    progress_bot = ExtBot(
        TOKEN,
        base_url=server.api_url,
        base_file_url=server.file_url,
        defaults=Defaults(parse_mode=ParseMode.HTML),
        rate_limiter=AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=3),
        request=HTTPXRequest(connection_pool_size=32, pool_timeout=30.0),
    )
    await progress_bot.initialize()
    sender = Sender(services, transport, TelegramOutbox(progress_bot), CHANNEL)
    expected = run.subscribers / settings.broadcast_rate
    timeout = args.timeout or 5 * expected + 300
    profiler = cProfile.Profile() if args.profile else None
    pid = server.process.pid
    run.load = [load_average()]
    fake_before, cpu_before, began = process_cpu(pid), time.process_time(), time.monotonic()
    task = asyncio.get_running_loop().create_task(sender.run_once())
    try:
        if profiler is not None:
            profiler.enable()
        try:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if done:
                run.finished = task.result()
            else:
                # Stopped as the bot stops it on shutdown: the sends in flight are recorded.
                run.problems.append(f"the sender had not finished after {timeout:.0f} s")
                sender.stop()
                await asyncio.wait_for(task, 60)
        finally:
            if profiler is not None:
                profiler.disable()
        run.wall = time.monotonic() - began
        run.load.append(load_average())
        run.cpu_here = time.process_time() - cpu_before
        fake_after = process_cpu(pid)
        if fake_before is not None and fake_after is not None:
            run.cpu_fake = fake_after - fake_before
        run.sender_floods = sender.pacer.floods
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await transport.stop()
        await progress_bot.shutdown()
    if profiler is not None:
        run.profile = profile_text(profiler)


# --------------------------------------------------------------------------- profile


def profile_text(profiler: cProfile.Profile) -> str:
    """The top functions by own time, and own time by package."""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    by_package: dict[str, float] = {}
    for (filename, _line, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        package = package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + entry[2]
    stats.strip_dirs().sort_stats("tottime").print_stats(25)
    total = sum(by_package.values()) or 1.0
    out.write("Own time by package (main thread only; aiosqlite's worker thread is not seen):\n")
    for package, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:15]:
        out.write(f"  {seconds:7.2f} s {100 * seconds / total:5.1f}%  {package}\n")
    return out.getvalue()


def package_of(filename: str, name: str) -> str:
    """A profiled function's package, for grouping."""
    if filename == "~":
        return "idle (epoll wait)" if "epoll" in name else "C built-ins"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    with contextlib.suppress(ValueError):
        return Path(filename).relative_to(ROOT).parts[0].removesuffix(".py")
    base = next((p for p in parts if p.startswith("python3")), "")
    if base and parts.index(base) + 1 < len(parts):
        return f"stdlib {parts[parts.index(base) + 1].removesuffix('.py')}"
    return filename


# --------------------------------------------------------------------------- output


def describe(r: Run) -> None:
    """The figures of one run."""
    paid = " (paid broadcast)" if r.limit > FREE_BROADCAST_RATE else ""
    print(f"{r.engine}, limit {r.limit:g}/s{paid}: {r.subscribers:,} subscribers, "
          f"sender's rate {r.rate:g}/s, {r.refused} blocked or gone")  # fmt: skip
    fake_cpu = f"{r.cpu_fake:.1f} s" if r.cpu_fake is not None else "n/a"
    print(
        f"  wall {r.wall:.1f} s   CPU {r.cpu_here:.1f} s here, {fake_cpu} in the fake"
        f"   ({'finished' if r.finished else 'NOT finished'}); load average "
        f"{' → '.join(f'{x:.1f}' for x in r.load)}"
    )
    print(
        f"  accepted {r.accepted:,} warnings in {r.span:.1f} s = {r.per_second:.2f}/s = "
        f"{r.of_limit:.3f} of the limit ({r.per_second / r.rate:.3f} of the sender's rate); "
        f"answered non-429 {r.attempts_per_second:.2f}/s; ceiling at this rate "
        f"{r.ceiling:.3f}"
    )
    print(
        f"  refused: blocked/gone {r.blocked_answers:,}, other {r.other_errors}; 429s to "
        f"warnings {r.warning_429s} (sender saw {r.sender_floods}); fake: flood {r.flood_429s}, "
        f"enforced {r.limit_429s}; flood waits {r.floods_in_send} during the send "
        f"({r.floods_total} in all)"
    )
    print(f"  most accepted in any second {r.max_per_second}; progress calls {r.progress_calls}")
    states = ", ".join(f"{k} {v:,}" for k, v in sorted(r.states.items()))
    print(
        f"  database: status {r.status}; {states}; unsubscribed {r.unsubscribed} "
        f"(not refused {r.unsubscribed_wrongly}, refused still subscribed "
        f"{r.refused_still_subscribed}); sent rows the fake never accepted "
        f"{r.db_sent_not_accepted}, accepted but not 'sent' {r.accepted_not_db_sent}"
    )
    print(
        f"  duplicates {r.duplicates} ({r.extra_copies} extra copies), losses {r.losses}"
        f"   ->  {'OK' if r.ok else 'FAILED'}; goal (≥ 0.95 of the limit) "
        f"{'met' if r.goal_met else 'not met'}"
    )
    for problem in r.problems:
        print(f"  ! {problem}")
    if r.profile:
        print(r.profile)


def summary(runs: list[Run]) -> None:
    """One line per run, the figures the issue asks for."""
    py = ".".join(platform.python_version_tuple()[:2])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print()
    print(
        f"tinbao broadcast benchmark — Python {py}, {os.cpu_count() or 0} CPUs, "
        f"load average now {load}"
    )
    header = (
        f"{'engine':11}{'limit':>6}{'subs':>8}{'wall s':>8}{'accepted':>10}{'blocked':>9}"
        f"{'429 flood/enf':>15}{'floods':>8}{'msg/s':>9}{'of limit':>10}{'handled':>9}"
        f"{'allowed':>9}{'dup':>5}{'lost':>6}"
        f"  goal"
    )
    print(header)
    for r in runs:
        goal = "met" if r.goal_met else ("FAILED" if not r.ok else "missed")
        print(
            f"{r.engine:11}{r.limit:>6g}{r.subscribers:>8}{r.wall:>8.1f}{r.accepted:>10}"
            f"{r.blocked_answers:>9}{f'{r.flood_429s}/{r.limit_429s}':>15}{r.floods_in_send:>8}"
            f"{r.per_second:>9.2f}{r.of_limit:>10.3f}{r.attempts_per_second / r.limit:>9.3f}"
            f"{r.of_allowed:>9.3f}{r.duplicates:>5}{r.losses:>6}  {goal}"
        )


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> int:
    """Measure each requested engine and limit, print the figures; the exit code."""
    task = asyncio.current_task()
    if task is not None and sys.platform != "win32":  # Windows loops have no signal handlers
        # Without this a SIGTERM would kill us before the scratch database is dropped.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    runs: list[Run] = []
    code = 0
    for engine in engines:
        for limit in args.limits:
            if engine == "sqlite":
                async with sqlite_url("broadcast") as url:
                    runs.append(await measure("SQLite", url, limit, args))
            else:
                try:
                    async with postgres_url(args.postgres_url) as url:
                        runs.append(await measure("PostgreSQL", url, limit, args))
                except PostgresUnavailable as error:
                    if args.engine == "postgres":
                        print(f"PostgreSQL could not be reached: {error}", file=sys.stderr)
                        return 2
                    print(f"PostgreSQL skipped: could not be reached ({error})")
                    break
            describe(runs[-1])
            print(flush=True)
            if not runs[-1].ok:
                code = 1
    summary(runs)
    if code:
        print("\nFAILED: a subscriber got the warning twice or not at all, or the database "
              "disagrees with what Telegram accepted")  # fmt: skip
    return code


def parse_limits(text: str) -> list[float]:
    """ "30,1000" → [30.0, 1000.0]."""
    try:
        limits = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from error
    if not limits or any(not 0 < limit <= 1000 for limit in limits):
        raise argparse.ArgumentTypeError("limits must be in (0, 1000] messages/s")
    return limits


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine", choices=("sqlite", "postgres", "both"), default="sqlite", help="default sqlite"
    )
    parser.add_argument("--subscribers", type=int, default=20_000, help="default 20,000")
    parser.add_argument(
        "--limits",
        type=parse_limits,
        default=[30.0, 1000.0],
        help="the fake's limits in messages/s, one run each (default 30,1000)",
    )
    parser.add_argument(
        "--headroom",
        type=float,
        default=0.98,
        help="the sender's rate as a fraction of the limit (default 0.98)",
    )
    parser.add_argument(
        "--blocked", type=float, default=0.02, help="share of subscribers refused (default 0.02)"
    )
    parser.add_argument(
        "--gone-share",
        type=float,
        default=0.25,
        help="share of the refused answering 400 'chat not found' instead of 403 (default 0.25)",
    )
    parser.add_argument(
        "--flood-every",
        type=float,
        default=60.0,
        help="a flood wait on average every this many seconds, at random (0: none; default 60)",
    )
    parser.add_argument(
        "--flood-retry-after", type=int, default=1, help="each flood wait's seconds (default 1)"
    )
    parser.add_argument(
        "--progress-seconds",
        type=float,
        default=5.0,
        help="TINBAO_BROADCAST_PROGRESS_SECONDS (default 5, as in production)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the blocked users and floods")
    parser.add_argument(
        "--timeout", type=float, default=0, help="stop the sender after this many seconds "
        "(default: 5× the expected time + 5 min)"
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true", help="cProfile this process during the send (slows it)"
    )
    parser.add_argument(
        "--dump", metavar="DIR", help="write the fake's record of each run here, as JSON"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_URL,
        help=f"server and admin database for the scratch database (env {POSTGRES_ENV}, "
        f"default {DEFAULT_POSTGRES_URL})",
    )
    args = parser.parse_args(argv)
    if args.subscribers < 1:
        parser.error("--subscribers must be positive")
    if not 0 < args.headroom <= 1:
        parser.error("--headroom must be in (0, 1]")
    if not 0 <= args.blocked < 1 or not 0 <= args.gone_share <= 1:
        parser.error("--blocked must be in [0, 1) and --gone-share in [0, 1]")
    if args.flood_every < 0 or args.flood_retry_after < 1:
        parser.error("--flood-every must be ≥ 0 and --flood-retry-after ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; the temporary databases were removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
