"""Simulated Telegram and residents for the scale-out test and `bench/scale.py`.

`Telegram` plays Telegram's side of webhook mode against a load balancer: it posts each update
with the secret token and retries until it gets a 200 (as Telegram does), and can deliver an
update twice. The replies the bot sends go to the fake Bot API; `Telegram` indexes them per
chat so that hundreds of simulated residents can wait for their own replies cheaply.

`resident` walks one resident through a complete report as a person would: it reads the step of
each question from its buttons, answers, and waits for the next question. If no answer comes
(a process died after saving an answer but before replying), it does what a person does: sends
/baocao again and continues where the bot says it stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlmodel import col, func, select

from storage.engine import Database
from storage.models import Attachment, Indicator, Report, ReportIndicator
from tests.fakebotapi import Call, FakeBotAPI
from tests.test_crash import bot_env
from tests.test_report_flow import JPEG
from tests.updates import Resident

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_ports(count: int) -> list[int]:
    """`count` different ports free on this machine: all bound at once before any is let go
    (one at a time, the system may hand out the same port twice, and a second server started
    on it fails while the first answers in its place)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    return free_ports(1)[0]


def start_webhook(
    fake: FakeBotAPI,
    db_url: str,
    data_dir: Path,
    port: int,
    webhook_url: str,
    secret: str,
    log: Path | None = None,
    **settings: str,
) -> subprocess.Popen[bytes]:
    """`tinbao webhook` in its own process, as production starts it; every process shares the
    database and the data directory. Its log goes to `log` (a file: a full pipe that nobody
    reads would block the process)."""
    env = bot_env(
        fake,
        db_url,
        data_dir,
        **{
            "TINBAO_WEBHOOK_URL": webhook_url,
            "TINBAO_WEBHOOK_SECRET": secret,
            "TINBAO_LISTEN": f"127.0.0.1:{port}",
            "TINBAO_ALBUM_QUIET_SECONDS": "0.5",
            "TINBAO_TIMER_SECONDS": "3600",
            "TINBAO_TELEGRAM_MAX_RATE": "0",  # the fake Bot API has no limit to respect
            "TINBAO_FLOOD_MESSAGES": "1000",
            # The load is the pipeline's; reading text in 600 photos would only measure
            # tesseract (tests/test_screenshots.py tests it).
            "TINBAO_OCR": "false",
        }
        | settings,
    )
    with (log or Path(os.devnull)).open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "webhook"],
            cwd=data_dir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


async def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path | None = None, timeout: float = 60
) -> None:
    """Wait until a webhook process answers /readyz with 200 (fail if it exits first)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(timeout / 0.1)):
            if process.poll() is not None:
                why = await asyncio.to_thread(log.read_text, "utf-8", "replace") if log else ""
                raise AssertionError(f"{url} exited: {why}")
            try:
                async with http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never became ready")


class LoadBalancer:
    """Round robin over the backends; a backend that refuses the connection is skipped (as
    nginx's `proxy_next_upstream error` does)."""

    def __init__(self, backends: list[str]) -> None:
        self.backends = backends
        self.turn = itertools.count()
        self.session: aiohttp.ClientSession | None = None
        self.runner: web.AppRunner | None = None
        self.port = 0
        self.forwarded: dict[str, int] = defaultdict(int)

    async def start(self) -> str:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/{path:.*}", self.forward)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def forward(self, request: web.Request) -> web.Response:
        assert self.session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k == SECRET_HEADER}
        headers["Content-Type"] = "application/json"
        first = next(self.turn)
        for n in range(len(self.backends)):
            backend = self.backends[(first + n) % len(self.backends)]
            try:
                async with self.session.post(
                    f"{backend}{request.path}", data=body, headers=headers
                ) as resp:
                    self.forwarded[backend] += 1
                    return web.Response(status=resp.status, body=await resp.read())
            except (TimeoutError, aiohttp.ClientConnectionError):
                continue  # that process is gone: the next one
        return web.Response(status=502, text="no backend")


@dataclass
class Telegram:
    """Posts updates to the webhook like Telegram, and sorts the bot's replies by chat."""

    fake: FakeBotAPI
    url: str
    secret: str
    duplicate_share: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100_000))
    by_chat: dict[int, list[Call]] = field(default_factory=lambda: defaultdict(list))
    chat_of: dict[int, int] = field(default_factory=dict)  # update id -> the chat it came from
    seen: int = 0
    posted: int = 0
    retried: int = 0
    duplicated: int = 0
    latencies: list[float] = field(default_factory=list)
    session: aiohttp.ClientSession | None = None
    # One event per chat, set when that chat gets a message: a waiting resident wakes only
    # for its own chat (300 residents woken by every message cost more than the bot did).
    changed: dict[int, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    # Telegram opens at most `max_connections` (40 by default) to a bot's webhook at once.
    connections: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(40))
    _indexer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        self._indexer = asyncio.get_running_loop().create_task(self._index())

    async def stop(self) -> None:
        if self._indexer is not None:
            self._indexer.cancel()
        if self.session is not None:
            await self.session.close()

    async def _index(self) -> None:
        while True:
            calls = self.fake.calls
            if self.seen < len(calls):
                for call in calls[self.seen :]:
                    if call.chat_id is not None and call.ok:
                        self.by_chat[call.chat_id].append(call)
                        self.changed.pop(call.chat_id, asyncio.Event()).set()
                self.seen = len(calls)
            await asyncio.sleep(0.01)

    def stamp(self, update: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": next(self.ids), **update}

    async def post(self, update: dict[str, Any]) -> None:
        """Deliver one update: retried until the webhook says 200; sometimes delivered twice."""
        assert self.session is not None
        self.posted += 1
        sent = update.get("message") or update.get("callback_query", {}).get("message") or {}
        if "chat" in sent:
            self.chat_of[update["update_id"]] = sent["chat"]["id"]
        copies = 2 if self.rng.random() < self.duplicate_share else 1
        if copies == 2:
            self.duplicated += 1
        await asyncio.gather(*(self._deliver(update) for _ in range(copies)))

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self.session is not None
        delay = 0.2
        for _ in range(100):
            try:
                async with (
                    self.connections,
                    self.session.post(
                        self.url, json=update, headers={SECRET_HEADER: self.secret}
                    ) as resp,
                ):
                    if resp.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError):
                pass
            self.retried += 1
            await asyncio.sleep(delay)
            delay = min(2.0, delay * 2)
        raise AssertionError(f"update {update['update_id']} was never accepted")

    async def next_reply(
        self, chat_id: int, after: int, want: Any, timeout: float
    ) -> tuple[int, Call] | None:
        """The first reply to `chat_id` from index `after` on for which `want(call)` holds."""
        deadline = time.monotonic() + timeout
        while True:
            replies = self.by_chat[chat_id]
            for index in range(after, len(replies)):
                if want(replies[index]):
                    return index, replies[index]
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            event = self.changed[chat_id]
            try:
                await asyncio.wait_for(event.wait(), min(left, 0.5))
            except TimeoutError:
                pass


def _buttons(call: Call) -> list[tuple[str, str]]:
    markup = call.params.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


def _step(call: Call) -> str | None:
    for _, data in _buttons(call):
        if data.startswith("r:"):
            return data.split(":")[1]
    return None


def _is_question(call: Call) -> bool:
    return _step(call) is not None or "TB-" in str(call.params.get("text", ""))


@dataclass
class Outcome:
    """What one simulated resident went through."""

    chat_id: int
    code: str | None = None
    recoveries: int = 0
    answers: list[float] = field(default_factory=list)  # seconds from update to reply


async def resident(
    tg: Telegram,
    r: Resident,
    *,
    phone: str,
    account: str,
    patience: float = 10.0,
    think: tuple[float, float] = (0.0, 0.0),
) -> Outcome:
    """One complete report, as a person makes it (see the module docstring). Before each
    message the person reads and types for `think` seconds (a random span within it)."""
    outcome = Outcome(r.user_id)
    mark = len(tg.by_chat[r.user_id])
    rng = random.Random(r.user_id)

    async def send(update: dict[str, Any], want: Any = _is_question) -> Call | None:
        nonlocal mark
        if think[1] > 0:
            await asyncio.sleep(rng.uniform(*think))
        started = time.monotonic()
        await tg.post(tg.stamp(update))
        found = await tg.next_reply(r.user_id, mark, want, patience)
        if found is None:
            return None
        outcome.answers.append(time.monotonic() - started)
        index, call = found
        # Later messages of the same answer (a note, then the question) come together.
        await asyncio.sleep(0.05)
        replies = tg.by_chat[r.user_id]
        questions = [c for c in replies[index:] if _is_question(c)]
        mark = len(replies)
        return questions[-1] if questions else call

    def has(data: str) -> Any:
        return lambda c: any(d.startswith(data) for _, d in _buttons(c))

    question = await send(r.command("baocao"), has("consent:yes"))
    for _ in range(5):
        if question is not None:
            break
        # No answer (a bot killed before it handled the message): ask again, as a person would.
        outcome.recoveries += 1
        question = await send(r.command("baocao"), has("consent:yes"))
    assert question is not None, f"{r.user_id}: no privacy notice"
    consent = next(d for _, d in _buttons(question) if d.startswith("consent:yes"))
    question = await send(r.callback(consent))
    done: set[str] = set()
    for _ in range(60):
        if question is None:
            # No answer came: ask where things stand, as a person would.
            outcome.recoveries += 1
            question = await send(r.command("baocao"), lambda c: bool(_buttons(c)))
            if question is not None and has("resume:go")(question):
                question = await send(r.callback("resume:go"))
            elif question is not None and _step(question) == "category" and "summary" in done:
                return outcome  # it was sent; only the confirmation was lost
            continue
        if has("consent:yes")(question):
            # The agreement was lost in a kill; the notice came again: agree again.
            again = next(d for _, d in _buttons(question) if d.startswith("consent:yes"))
            question = await send(r.callback(again))
            continue
        text = str(question.params.get("text", ""))
        if "TB-" in text and _step(question) is None:
            outcome.code = text[text.index("TB-") : text.index("TB-") + 12]
            return outcome
        step = _step(question)
        if step == "category":
            question = await send(r.callback("r:category:investment"))
        elif step == "lost":
            question = await send(r.callback("r:lost:yes"))
        elif step == "amount":
            question = await send(r.text("50 triệu"))
        elif step == "when":
            question = await send(r.callback("r:when:today"))
        elif step in ("accounts", "contacts", "description") and step not in done:
            done.add(step)
            answer = {
                "accounts": account,
                "contacts": f"Nó gọi từ số {phone}",
                "description": "Họ dụ tôi nạp tiền vào sàn đầu tư, rồi khoá tài khoản.",
            }[step]
            question = await send(r.text(answer))
        elif step == "account_bank":
            question = await send(r.text("Vietcombank"))
        elif step == "evidence" and "evidence" not in done:
            done.add("evidence")
            album = f"album-{r.user_id}"
            photos = []
            for _n in range(2):
                file_id, unique = tg.fake.add_file(JPEG + str(r.user_id).encode() + bytes([_n]))
                photos.append(
                    tg.stamp(r.photo(file_id, unique, size=len(JPEG) + 8, media_group_id=album))
                )
            # Delivered in the wrong order, as a busy load balancer may.
            await tg.post(photos[1])
            question = await send(photos[0], has("r:evidence:done"))
        elif step == "contact":
            question = await send(r.callback("r:contact:anon"))
        elif step == "summary":
            done.add("summary")
            question = await send(r.callback("r:summary:send"))
        elif step is not None:
            question = await send(r.callback(f"r:{step}:done"))
        else:
            question = None
    raise AssertionError(f"{r.user_id}: never finished (last: {question})")


async def reports_made(
    db: Database,
) -> tuple[list[Report], dict[int, int], dict[int, list[str]]]:
    """The submitted reports, with their evidence files counted and their indicators listed
    (`kind:value`) per report."""
    async with db.session() as session:
        reports = list(
            (await session.execute(select(Report).where(col(Report.status) != "draft"))).scalars()
        )
        files = dict(
            (
                await session.execute(
                    select(Attachment.report_id, func.count()).group_by(Attachment.report_id)
                )
            ).all()
        )
        links: dict[int, list[str]] = defaultdict(list)
        rows = await session.execute(
            select(ReportIndicator.report_id, Indicator.kind, Indicator.value).join(
                Indicator, col(Indicator.id) == col(ReportIndicator.indicator_id)
            )
        )
        for report_id, kind, value in rows.all():
            links[report_id].append(f"{kind}:{value}")
    return reports, files, links


def check_complete(report: Report, files: dict[int, int], links: dict[int, list[str]]) -> None:
    """A simulated resident's report has every answer and all its evidence."""
    found = links.get(report.id or 0, [])
    about = f"{report.code}: {found}, story {report.description!r}"
    assert report.status == "new" and report.category == "investment", about
    assert report.amount_lost_vnd == 50_000_000 and report.occurred_at is not None, about
    assert report.description and "sàn đầu tư" in report.description, about
    assert files.get(report.id) == 2, about  # both photos of the album
    kinds = {item.split(":", 1)[0] for item in found}
    assert {"bank_account", "phone"} <= kinds, about  # the account and the phone


async def until(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (it reads counters other tasks update)."""
    while not condition():  # noqa: ASYNC110 (counters, not events, tell)
        await asyncio.sleep(0.05)
