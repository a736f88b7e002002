"""Intake benchmark: tinbao's full Telegram pipeline against a bare python-telegram-bot echo bot.

Run from the repository root::

    python bench/intake.py [--residents N] [--rate R] [--duration S]
    python -m bench.intake  ...

A fake Telegram Bot API (``tests/fakebotapi.py``) runs in a separate process on 127.0.0.1. Both
bots poll it exactly as they would poll Telegram. For each bot the script measures

* throughput: N simulated residents at once, each sending its next update as soon as the bot
  has handled the previous one (closed loop, no think time);
* latency at a fixed offered rate: one update every 1/R seconds for S seconds (open loop), from
  the push to the fake to the first ``sendMessage`` the bot sends back to that chat.

It prints figures and never asserts on them; docs/benchmarks.md explains every figure. The exit
code is 0 whether or not the goal is met and non-zero only when the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import cProfile
import io
import logging
import math
import os
import platform
import pstats
import signal
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from telegram import Update
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

# `python bench/intake.py` puts bench/ (not the repository root) on sys.path, and the fake
# server and update builders live in the tests package, which is not installed.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot import polling  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.updates import Resident, entity_for  # noqa: E402

TOKEN = "123456:TEST-TOKEN"  # the fake's default token
HOST = "127.0.0.1"

# One complete report, every step as a resident would do it. Callback data is what tinbao's own
# buttons carry, so pressing them needs no parsing of the previous reply.
SCRIPT: tuple[tuple[str, str], ...] = (
    ("command", "start"),
    ("callback", "consent:yes:vi:menu"),
    ("command", "baocao"),
    ("callback", "r:category:investment"),
    ("callback", "r:lost:yes"),
    ("text", "khoảng 5 triệu"),
    ("text", "hôm qua"),
    ("text", "Vietcombank 0123456789 NGUYEN VAN A"),
    ("callback", "r:accounts:done"),
    ("text", "nó gọi từ số 0912 345 678, gửi link https://vcb-xacthuc.com/login"),
    ("callback", "r:contacts:done"),
    ("text", "Họ dụ tôi nạp tiền vào sàn đầu tư, hứa lãi cao."),
    ("callback", "r:description:done"),
    ("callback", "r:evidence:done"),
    ("callback", "r:contact:anon"),
    ("callback", "r:summary:send"),
)
STEPS = len(SCRIPT)

# Distinct user-id ranges per bot and phase, so replies in the fake's call log can be attributed
# to one phase by chat id alone.
USERS = {
    ("echo", "warmup"): 1_000_000,
    ("echo", "throughput"): 1_100_000,
    ("echo", "latency"): 1_200_000,
    ("tinbao", "warmup"): 2_000_000,
    ("tinbao", "throughput"): 2_100_000,
    ("tinbao", "latency"): 2_200_000,
}


def make_update(resident: Resident, step: int) -> dict[str, Any]:
    """The update dict for ``step`` of the scripted report, as Telegram would send it."""
    kind, value = SCRIPT[step]
    if kind == "command":
        return resident.command(value)
    if kind == "callback":
        # A real button press carries the message it sits under, keyboard included; tinbao then
        # removes that keyboard (one more API call), so leaving it out would flatter tinbao.
        markup = {"inline_keyboard": [[{"text": "…", "callback_data": value}]]}
        return resident.callback(value, reply_markup=markup)
    if "https://" in value:
        url = value[value.index("https://") :]
        return resident.text(value, entities=[entity_for(value, url)])
    return resident.text(value)


# --------------------------------------------------------------------------- fake server


@dataclass
class FakeServer:
    """The fake Bot API process and its URLs."""

    process: asyncio.subprocess.Process
    port: int

    @property
    def api_url(self) -> str:
        """Base URL of the Bot API methods (the token is appended by PTB)."""
        return f"http://{HOST}:{self.port}/bot"

    @property
    def file_url(self) -> str:
        """Base URL of file downloads."""
        return f"http://{HOST}:{self.port}/file/bot"

    @property
    def control_url(self) -> str:
        """Base URL of the control API."""
        return f"http://{HOST}:{self.port}/_control"


@asynccontextmanager
async def fake_server(startup_timeout: float = 20.0) -> AsyncIterator[FakeServer]:
    """Run ``python -m tests.fakebotapi`` in its own process; always terminate it afterwards."""
    # --port 0 lets the fake bind a free port itself and report it on its READY line, which
    # avoids the race of probing for a free port here and binding it there.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakebotapi",
        "--port",
        "0",
        "--token",
        TOKEN,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), startup_timeout)
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


class Control:
    """The fake's control API over one keep-alive HTTP session."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    async def push(self, updates: list[dict[str, Any]]) -> list[int]:
        """Queue updates for getUpdates; returns the update ids the fake assigned."""
        async with self.session.post(f"{self.base_url}/updates", json=updates) as response:
            response.raise_for_status()
            ids: list[int] = await response.json()
            return ids

    async def calls(self, since: int = 0) -> list[dict[str, Any]]:
        """Every Bot API call the fake received from index ``since`` on."""
        async with self.session.get(f"{self.base_url}/calls", params={"since": since}) as resp:
            resp.raise_for_status()
            calls: list[dict[str, Any]] = await resp.json()
            return calls

    async def state(self) -> dict[str, Any]:
        """Number of calls recorded and updates not yet confirmed by the bot."""
        async with self.session.get(f"{self.base_url}/state") as response:
            response.raise_for_status()
            state: dict[str, Any] = await response.json()
            return state

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait until the control API answers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.state()
                return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)


# --------------------------------------------------------------------------- completion tracking


class Completions:
    """Which updates a bot has finished handling, and when (fed by the bot's observer hook)."""

    def __init__(self) -> None:
        self.at: dict[int, float] = {}
        self._events: dict[int, asyncio.Event] = {}

    def observe(self, update_id: int | None) -> None:
        """Called by the bot once an update's replies are sent."""
        if update_id is None:
            return
        self.at[update_id] = time.monotonic()
        self._events.setdefault(update_id, asyncio.Event()).set()

    async def wait(self, update_id: int, timeout: float) -> bool:
        """Whether ``update_id`` was handled within ``timeout`` seconds."""
        if update_id in self.at:
            return True
        # The bot may handle an update before the push request even returns its id, so the
        # event is created by whichever side gets there first.
        event = self._events.setdefault(update_id, asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), max(timeout, 0.0))
        except TimeoutError:
            # wait_for yields while cancelling, so the update may have been handled meanwhile.
            return update_id in self.at
        finally:
            self._events.pop(update_id, None)
        return True


class BatchPusher:
    """Sends every update queued since the previous POST in one POST.

    In the throughput phase hundreds of residents push at once; one request per update would
    make the driver, which shares the event loop with the bot, a large part of what is measured.
    """

    def __init__(self, control: Control) -> None:
        self.control = control
        self.first_post_at: float | None = None
        self.posts = 0
        self._queue: list[tuple[dict[str, Any], asyncio.Future[int]]] = []
        self._wake = asyncio.Event()

    async def push(self, update: dict[str, Any]) -> int:
        """Queue one update; returns its update id once it has been posted."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append((update, future))
        self._wake.set()
        return await future

    async def run(self) -> None:
        """Post batches until cancelled."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            if self.first_post_at is None:
                self.first_post_at = time.monotonic()
            self.posts += 1
            try:
                ids = await self.control.push([update for update, _ in batch])
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), update_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(update_id)


# --------------------------------------------------------------------------- bots


@dataclass
class BotUnderTest:
    """A running bot: its name and, for tinbao, a way to count submitted reports."""

    name: str
    count_reports: Callable[[], Awaitable[int]] | None = None


@asynccontextmanager
async def echo_bot(fake: FakeServer, done: Completions) -> AsyncIterator[BotUnderTest]:
    """A bare PTB bot that answers every message and button press with one message."""

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            message = update.effective_message
            if message is not None:
                await context.bot.send_message(message.chat.id, f"echo: {message.text or '…'}")
        finally:
            done.observe(update.update_id)

    async def on_callback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        try:
            query = update.callback_query
            if query is not None:
                await query.answer()
                chat_id = query.message.chat.id if query.message else query.from_user.id
                await context.bot.send_message(chat_id, f"pressed: {query.data}")
        finally:
            done.observe(update.update_id)

    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(fake.api_url)
        .base_file_url(fake.file_url)
        .concurrent_updates(True)
        .build()
    )
    app.add_handler(CallbackQueryHandler(on_callback))
    app.add_handler(MessageHandler(filters.ALL, on_message))
    assert app.updater is not None
    await app.initialize()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await app.start()
    try:
        yield BotUnderTest("echo bot (baseline)")
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


@asynccontextmanager
async def tinbao_bot(
    fake: FakeServer,
    done: Completions,
    data_dir: Path,
    *,
    max_rate: float,
    database_url: str | None = None,
) -> AsyncIterator[BotUnderTest]:
    """tinbao's production Application (same factory as `tinbao run`) on a fresh SQLite file.

    `max_rate` is TINBAO_TELEGRAM_MAX_RATE: 0 measures the pipeline under the same conditions
    as the echo bot (no overall cap); 30 is production, where Telegram's limit decides.
    """
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_token=TOKEN,
        telegram_api_url=fake.api_url,
        telegram_file_url=fake.file_url,
        telegram_max_rate=max_rate,
        data_dir=data_dir,
        database_url=database_url,
        # Simulated residents type far faster than people; the flood guard would drop them.
        flood_messages=100_000,
    )
    db = Database(settings.effective_database_url)
    await upgrade(db)

    async def count_reports() -> int:
        async with db.session() as session:
            result = await session.execute(text("SELECT count(*) FROM report WHERE status='new'"))
            return int(result.scalar_one())

    # `tinbao run` itself: bot/polling.py fetches, stores each batch in the durable inbox,
    # confirms it, and the inbox's workers handle it.
    stop = asyncio.Event()
    running = asyncio.get_running_loop().create_task(
        polling.run(
            settings, stop, prepare=lambda services: services.observers.append(done.observe)
        )
    )
    try:
        name = "tinbao pipeline" if not max_rate else f"tinbao at {max_rate:g} msg/s cap"
        yield BotUnderTest(name, count_reports)
    finally:
        # Measurement is over: what an overloaded phase left in the inbox is finished (or
        # given back) by the same shutdown as `tinbao run`'s.
        stop.set()
        await running
        await db.dispose()


# --------------------------------------------------------------------------- phases


@dataclass
class Throughput:
    """Outcome of the closed-loop saturation phase."""

    residents: int
    pushed: int = 0
    handled: int = 0
    finished: int = 0
    seconds: float = 0.0
    stuck: int = 0  # residents stopped by the time limit
    posts: int = 0
    left_over: int = 0  # updates still unhandled after the drain that follows the phase

    @property
    def updates_per_s(self) -> float:
        """Handled updates per second of wall clock."""
        return self.handled / self.seconds if self.seconds > 0 else 0.0

    @property
    def reports_per_s(self) -> float:
        """Completed reports (residents through the whole script) per second."""
        return self.finished / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Latency:
    """Outcome of the open-loop fixed-rate phase."""

    offered: float
    pushed: int = 0
    answered: int = 0
    handled: int = 0
    finished: int = 0
    residents: int = 0
    achieved: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # inf = no reply seen

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in ms; unanswered updates count as infinitely late."""
        if not self.latencies_ms:
            return math.nan
        ordered = sorted(self.latencies_ms)
        rank = max(1, math.ceil(q / 100 * len(ordered)))
        return ordered[rank - 1]


async def warm_up(control: Control, done: Completions, user_id: int, timeout: float) -> bool:
    """One resident through the whole script, unmeasured (first-use costs, caches, SQLite file)."""
    resident = Resident(user_id)
    deadline = time.monotonic() + timeout
    for step in range(STEPS):
        [update_id] = await control.push([make_update(resident, step)])
        if not await done.wait(update_id, deadline - time.monotonic()):
            return False
    return True


async def throughput_phase(
    control: Control,
    done: Completions,
    residents: int,
    first_user: int,
    time_limit: float,
    drain: float,
) -> Throughput:
    """N residents at once, each sending its next update as soon as the previous was handled."""
    result = Throughput(residents)
    pusher = BatchPusher(control)
    pusher_task = asyncio.create_task(pusher.run())
    deadline = time.monotonic() + time_limit
    last_done = 0.0
    unhandled: list[int] = []

    async def resident(user_id: int) -> None:
        nonlocal last_done
        person = Resident(user_id)
        for step in range(STEPS):
            if time.monotonic() >= deadline:
                result.stuck += 1
                return
            update_id = await pusher.push(make_update(person, step))
            result.pushed += 1
            if not await done.wait(update_id, deadline - time.monotonic()):
                result.stuck += 1
                unhandled.append(update_id)
                return
            result.handled += 1
            last_done = max(last_done, done.at[update_id])
        result.finished += 1

    try:
        await asyncio.gather(*(resident(first_user + i) for i in range(residents)))
    finally:
        pusher_task.cancel()
        with suppress(asyncio.CancelledError):
            await pusher_task
    start = pusher.first_post_at or time.monotonic()
    # Stopped by the limit: the window is the whole limit, and what was handled in it counts.
    end = last_done if result.stuck == 0 else deadline
    result.seconds = max(end - start, 1e-9)
    result.posts = pusher.posts
    # Updates still queued inside the bot would be handled during the next phase and distort
    # it, so wait for them (unmeasured, bounded).
    drain_deadline = time.monotonic() + drain
    for update_id in unhandled:
        if not await done.wait(update_id, drain_deadline - time.monotonic()):
            result.left_over += 1
    return result


@dataclass
class _Walker:
    resident: Resident
    step: int = 0


async def latency_phase(
    control: Control,
    done: Completions,
    rate: float,
    duration: float,
    first_user: int,
    drain: float,
) -> Latency:
    """Release one update every 1/rate s from a ready resident; time push → first reply."""
    result = Latency(offered=rate)
    mark = int((await control.state())["calls"])
    total = max(1, round(rate * duration))
    ready: deque[_Walker] = deque()
    pushes: list[tuple[int, float]] = []  # (chat id, monotonic time just before the POST)
    tasks: set[asyncio.Task[None]] = set()
    errors: list[BaseException] = []
    wait_budget = duration + drain + 5.0

    async def send(walker: _Walker) -> None:
        try:
            update = make_update(walker.resident, walker.step)
            pushed_at = time.monotonic()
            [update_id] = await control.push([update])
            pushes.append((walker.resident.user_id, pushed_at))
            if not await done.wait(update_id, wait_budget):
                return
            result.handled += 1
            walker.step += 1
            if walker.step == STEPS:
                result.finished += 1
            else:
                ready.append(walker)
        except Exception as error:
            errors.append(error)

    start = time.monotonic()
    for k in range(total):
        # Absolute schedule: a late wake-up is followed by the next release on time, so the
        # offered rate does not drift down when the event loop is busy.
        delay = start + k / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        if ready:
            walker = ready.popleft()
        else:
            walker = _Walker(Resident(first_user + result.residents))
            result.residents += 1
        task = asyncio.create_task(send(walker))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=drain)
    for task in list(tasks):
        task.cancel()
    if errors:
        raise errors[0]
    result.pushed = len(pushes)
    if len(pushes) > 1:
        times = sorted(at for _, at in pushes)
        result.achieved = (len(times) - 1) / max(times[-1] - times[0], 1e-9)

    # CLOCK_MONOTONIC is system-wide on Linux, so the fake's Call.at and our push times share
    # one clock. A resident's next update is pushed only after the previous one was handled
    # (replies sent), so the first sendMessage to its chat after a push answers that push.
    replies: dict[int, list[float]] = {}
    for call in await control.calls(mark):
        if call["method"] != "sendMessage" or call["status"] != 200:
            continue
        chat_id = call["params"].get("chat_id")
        if isinstance(chat_id, int):
            replies.setdefault(chat_id, []).append(float(call["at"]))
    for chat_id, pushed_at in pushes:
        times = sorted(replies.get(chat_id, []))
        index = bisect.bisect_left(times, pushed_at)
        if index < len(times):
            result.latencies_ms.append((times[index] - pushed_at) * 1000)
            result.answered += 1
        else:
            result.latencies_ms.append(math.inf)
    return result


# --------------------------------------------------------------------------- running it all


@dataclass
class BotResult:
    """Both phases of one bot."""

    name: str
    warmed_up: bool
    throughput: Throughput
    latency: Latency
    throughput_usage: Usage
    latency_usage: Usage
    reports_in_db: int | None = None
    expected_reports: int | None = None
    profile: str | None = None


@dataclass
class Usage:
    """Wall and CPU seconds of one phase: this process (bot + driver) and the fake's process."""

    wall: float = 0.0
    cpu_here: float = 0.0
    cpu_fake: float | None = None

    def describe(self) -> str:
        """One line for the details section."""
        fake = f"{self.cpu_fake:.1f} s" if self.cpu_fake is not None else "n/a"
        return (
            f"{self.wall:.1f} s wall; CPU {self.cpu_here:.1f} s in bot+driver process, "
            f"{fake} in fake Bot API"
        )


def _process_cpu(pid: int) -> float | None:
    # utime + stime of another process; /proc is Linux-only, elsewhere the figure is omitted.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@asynccontextmanager
async def usage(pid: int) -> AsyncIterator[Usage]:
    """Measure the wall and CPU time spent inside the block."""
    used = Usage()
    wall, here, fake = time.monotonic(), time.process_time(), _process_cpu(pid)
    try:
        yield used
    finally:
        used.wall = time.monotonic() - wall
        used.cpu_here = time.process_time() - here
        fake_after = _process_cpu(pid)
        if fake is not None and fake_after is not None:
            used.cpu_fake = fake_after - fake


class ProblemLog(logging.Handler):
    """Keeps warnings and errors (with tracebacks) so they can be reported after the table."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Remember the record."""
        self.records.append(record)


async def measure(
    name: str,
    bot: Callable[[Completions], Any],
    control: Control,
    fake_pid: int,
    args: argparse.Namespace,
) -> BotResult:
    """Warm one bot up, then run the throughput and latency phases against it."""
    done = Completions()
    pending = int((await control.state())["pending_updates"])
    if pending:
        print(f"warning: {pending} updates still queued in the fake before {name}", file=sys.stderr)
    async with bot(done) as running:
        warmed = await warm_up(control, done, USERS[(name, "warmup")], timeout=60.0)
        if not warmed:
            print(f"warning: warm-up resident of {running.name} got stuck", file=sys.stderr)
        profiler = cProfile.Profile() if args.profile and name == "tinbao" else None
        async with usage(fake_pid) as throughput_usage:
            if profiler is not None:
                profiler.enable()
            try:
                throughput = await throughput_phase(
                    control,
                    done,
                    args.residents,
                    USERS[(name, "throughput")],
                    args.time_limit,
                    # A whole closed loop of residents may be queued; that takes longer than
                    # the stragglers of the latency phase.
                    2 * args.drain,
                )
            finally:
                if profiler is not None:
                    profiler.disable()
        async with usage(fake_pid) as latency_usage:
            latency = await latency_phase(
                control, done, args.rate, args.duration, USERS[(name, "latency")], args.drain
            )
        result = BotResult(
            running.name,
            warmed,
            throughput,
            latency,
            throughput_usage,
            latency_usage,
            profile=_profile_text(profiler) if profiler is not None else None,
        )
        if running.count_reports is not None:
            result.reports_in_db = await running.count_reports()
            result.expected_reports = int(warmed) + throughput.finished + latency.finished
    return result


def _profile_text(profiler: cProfile.Profile) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    # Grouped before strip_dirs(), which throws away the paths the grouping needs.
    by_package: dict[str, float] = {}
    for (filename, _line, name), entry in stats.stats.items():  # type: ignore[attr-defined]
        package = _package_of(filename, name)
        by_package[package] = by_package.get(package, 0.0) + entry[2]
    stats.strip_dirs().sort_stats("cumulative").print_stats(15)
    total = sum(by_package.values()) or 1.0
    out.write("Self time by package (main thread only; aiosqlite's worker thread is not seen):\n")
    for package, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:15]:
        out.write(f"  {seconds:7.2f} s {100 * seconds / total:5.1f}%  {package}\n")
    return out.getvalue()


def _package_of(filename: str, name: str) -> str:
    if filename == "~":
        # The event loop's epoll wait is idle time, not work; keep it apart.
        return "idle (epoll wait)" if "epoll" in name else "C built-ins"
    if filename.startswith("<frozen importlib"):
        return "importlib (imports, e.g. httpcore's failing 'import sniffio')"
    path = Path(filename)
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    with suppress(ValueError):
        return path.relative_to(ROOT).parts[0].removesuffix(".py")
    if "python3" in "".join(parts[:-1]) and len(parts) > 1:
        base = next((p for p in parts if p.startswith("python3")), "")
        rest = parts[parts.index(base) + 1 :] if base else parts[-1:]
        return f"stdlib {rest[0].removesuffix('.py')}"
    return filename


def _ms(value: float) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "timeout"
    return f"{value:.1f}"


def report(args: argparse.Namespace, results: list[BotResult], problems: ProblemLog) -> None:
    """Print the table, the details behind it, the goal verdict and any problems seen."""
    cpus = os.cpu_count() or 0
    py = ".".join(platform.python_version_tuple()[:2])
    print()
    engine = "PostgreSQL" if "postgres" in (args.database_url or "") else "SQLite"
    print(
        f"tinbao intake benchmark — {args.residents} residents × {STEPS} updates, {engine}, "
        f"Python {py}, {cpus} CPUs"
    )
    print(
        f"{'':24}{'updates/s':>10}{'reports/s':>11}{'p50 ms':>10}{'p95 ms':>10}"
        f"{'p99 ms':>10}{'max ms':>10}  (at {args.rate:g} upd/s offered)"
    )
    for r in results:
        t, lat = r.throughput, r.latency
        reports = f"{t.reports_per_s:.1f}" if r.reports_in_db is not None else "—"
        print(
            f"{r.name:24}{t.updates_per_s:>10.1f}{reports:>11}{_ms(lat.percentile(50)):>10}"
            f"{_ms(lat.percentile(95)):>10}{_ms(lat.percentile(99)):>10}"
            f"{_ms(max(lat.latencies_ms, default=math.nan)):>10}"
        )
    echo, tinbao = results[0], results[-1]
    ratio = (
        tinbao.throughput.updates_per_s / echo.throughput.updates_per_s
        if echo.throughput.updates_per_s
        else math.nan
    )
    print(f"{'ratio (tinbao/echo)':24}{ratio:>10.2f}")
    print()
    for r in results:
        t, lat = r.throughput, r.latency
        print(f"{r.name}:")
        limit = (
            f"; {t.stuck} residents stopped by the {args.time_limit:g} s limit" if t.stuck else ""
        )
        left = f", {t.left_over} still unhandled after the drain" if t.left_over else ""
        print(
            f"  throughput: {t.handled}/{t.residents * STEPS} updates handled and "
            f"{t.finished}/{t.residents} residents finished in {t.seconds:.2f} s "
            f"({t.posts} push requests){limit}{left}"
        )
        if r.reports_in_db is not None and not t.finished:
            print(
                f"    no resident finished inside the window: {t.updates_per_s:.1f} updates/s "
                f"÷ {STEPS} = {t.updates_per_s / STEPS:.2f} report-equivalents/s"
            )
        print(f"    {r.throughput_usage.describe()}")
        answered = [ms for ms in lat.latencies_ms if not math.isinf(ms)]
        median = f"{sorted(answered)[len(answered) // 2]:.1f} ms" if answered else "—"
        print(
            f"  latency: {lat.pushed} updates pushed at {lat.achieved:.1f}/s "
            f"({lat.offered:g}/s offered) by {lat.residents} residents; {lat.answered} answered "
            f"(median of those {median}), {lat.pushed - lat.answered} without a reply within "
            f"{args.drain:g} s after pacing ended; {lat.finished} residents finished"
        )
        print(f"    {r.latency_usage.describe()}")
        if r.reports_in_db is not None:
            print(
                f"  reports in the database with status 'new': {r.reports_in_db} "
                f"(residents who finished, warm-up included: {r.expected_reports})"
            )
        if not r.warmed_up:
            print("  the warm-up resident did not finish")
    p95 = tinbao.latency.percentile(95)
    met = ratio >= 0.5 and p95 < 100
    print()
    print(
        f"goal: ratio >= 0.5 and tinbao p95 < 100 ms at {args.rate:g} upd/s  ->  "
        f"{'MET' if met else 'NOT MET'}"
        + (
            f"  (tinbao capped at {args.telegram_max_rate:g} msg/s, the echo bot uncapped)"
            if args.telegram_max_rate
            else ""
        )
    )
    if problems.records:
        print()
        print(f"{len(problems.records)} warnings/errors were logged; the first ones:")
        for record in problems.records[:3]:
            print(f"  {record.levelname} {record.name}: {record.getMessage()}")
            if record.exc_info:
                print("    " + "".join(traceback.format_exception(*record.exc_info)).strip())
    for r in results:
        if r.profile:
            print()
            print(f"cProfile of the {r.name} throughput phase (figures above are slowed by it):")
            print(r.profile)


async def run(args: argparse.Namespace) -> int:
    """Start the fake, measure both bots, print the figures."""
    began = time.monotonic()
    task = asyncio.current_task()
    if task is not None and sys.platform != "win32":  # Windows loops have no signal handlers
        # Without this a SIGTERM would kill us before the finally blocks stop the fake server.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    problems = ProblemLog()
    logging.basicConfig(level=logging.WARNING, handlers=[problems])
    async with fake_server() as fake:
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as session:
            control = Control(session, fake.control_url)
            await control.wait_ready()
            pid = fake.process.pid
            results = [await measure("echo", lambda d: echo_bot(fake, d), control, pid, args)]
            with tempfile.TemporaryDirectory(prefix="tinbao-bench-") as tmp:
                results.append(
                    await measure(
                        "tinbao",
                        lambda d: tinbao_bot(
                            fake,
                            d,
                            Path(tmp),
                            max_rate=args.telegram_max_rate,
                            database_url=args.database_url,
                        ),
                        control,
                        pid,
                        args,
                    )
                )
    report(args, results, problems)
    print(f"\ntotal run time {time.monotonic() - began:.0f} s")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=100, help="throughput phase residents")
    parser.add_argument("--rate", type=float, default=50.0, help="offered updates/s (latency)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency phase seconds")
    parser.add_argument(
        "--time-limit", type=float, default=40.0, help="cap on each throughput phase, seconds"
    )
    parser.add_argument(
        "--drain", type=float, default=10.0, help="seconds to wait for late replies after pacing"
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile tinbao's throughput phase (slows it)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="tinbao's database (default: a fresh SQLite file); give an empty PostgreSQL "
        "database, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/tinbao_bench",
    )
    parser.add_argument(
        "--telegram-max-rate",
        type=float,
        default=0.0,
        help="tinbao's TINBAO_TELEGRAM_MAX_RATE; 0 (default) measures it like the echo bot, "
        "without Telegram's overall cap; 30 is the production setting",
    )
    args = parser.parse_args(argv)
    if args.residents < 1 or args.rate <= 0 or args.duration <= 0 or args.time_limit <= 0:
        parser.error("--residents, --rate, --duration and --time-limit must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; the fake Bot API was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
