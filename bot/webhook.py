"""`tinbao webhook`: Telegram posts updates to our aiohttp server; several processes may share
one PostgreSQL database behind a load balancer (docs/deploy.md).

Each update is written to the durable inbox (`storage.inbox`) before Telegram is answered, so an
update Telegram considers delivered is never lost, even if this process dies a moment later. Every
process's workers then take updates from the inbox: one user's updates one at a time and in order,
whichever process received them; a duplicate is stored once and handled once. The server also
answers `/healthz` (the process is up), `/readyz` (it can take updates: database reachable,
webhook registered, not shutting down) and `/metrics` (Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy import func, text
from sqlmodel import col, select
from telegram import Bot, Update
from telegram.ext import Application

from bot.channels.telegram import (
    ALLOWED_UPDATES,
    CHANNEL,
    TelegramOutbox,
    _on_start,
    _on_stop,
    build_application,
)
from bot.channels.zalo import CHANNEL as ZALO
from bot.channels.zalo import events as zalo_events
from bot.channels.zalo import signature as zalo_signature
from bot.channels.zalo.channel import ZaloChannel
from bot.settings import Settings
from bot.web.app import Dashboard
from handlers.services import Services
from storage import inbox
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Broadcast, BroadcastDelivery, Report
from storage.retention import INBOX_KEEP

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Where Zalo posts the Official Account's events (DESIGN.md).
ZALO_PATH = "/zalo"
# Webhook requests storing their update at once (the rest wait their turn in aiohttp).
STORERS = 8
# Seconds between tries of marking an update handled (None: the last try).
MARK_RETRIES: tuple[float | None, ...] = (0.1, 0.5, 2.0, None)
# Idle workers look at the inbox at least this often (seconds, with jitter).
POLL = 0.5
# Handled updates are kept this long (for inspection), then pruned: hourly here, and by the
# daily retention job (storage/retention.py) in every deployment.
KEEP = INBOX_KEEP
# Parts of an update that say who it comes from, in the order they are looked for.
_SOURCES = (
    "message",
    "edited_message",
    "callback_query",
    "my_chat_member",
    "channel_post",
    "edited_channel_post",
    "chat_member",
    "chat_join_request",
    "inline_query",
    "chosen_inline_result",
    "pre_checkout_query",
    "shipping_query",
    "poll_answer",
    "message_reaction",
)


def user_key(data: dict[str, Any]) -> str:
    """Whose update this is: its sender (or chat); one key's updates are handled in order."""
    for source in _SOURCES:
        part = data.get(source)
        if not isinstance(part, dict):
            continue
        for field in ("from", "user"):
            person = part.get(field)
            if isinstance(person, dict) and isinstance(person.get("id"), int):
                return f"user:{person['id']}"
        chat = part.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), int):
            return f"chat:{chat['id']}"
    return f"update:{data.get('update_id')}"


class Metrics:
    """What `/metrics` shows: counters kept by this process, gauges read from the database."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "tinbao_updates_received",
            "Webhook requests, by what became of them",
            ["result"],
            registry=self.registry,
        )
        self.handled = Counter(
            "tinbao_updates_handled", "Updates handled by this process", registry=self.registry
        )
        self.latency = Histogram(
            "tinbao_update_handling_seconds",
            "Time to handle one update, replies included",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "tinbao_inbox_depth", "Updates received and not yet handled", registry=self.registry
        )
        self.reports = Gauge(
            "tinbao_reports", "Reports by status", ["status"], registry=self.registry
        )
        self.claimed = Gauge(
            "tinbao_reports_claimed", "Reports an officer is working on", registry=self.registry
        )
        self.broadcast = Gauge(
            "tinbao_broadcast_recipients",
            "Recipients of warnings being sent, by state",
            ["state"],
            registry=self.registry,
        )

    async def refresh(self, db: Database) -> None:
        """Read the gauges from the database (one short transaction)."""
        async with db.session() as session:
            self.queue_depth.set(await inbox.depth(session))
            rows = await session.execute(
                select(col(Report.status), func.count()).group_by(col(Report.status))
            )
            for status, n in rows.all():
                self.reports.labels(status=status).set(n)
            claimed = await session.execute(
                select(func.count())
                .select_from(Report)
                .where(col(Report.assignee_id).is_not(None), col(Report.status) == "in_review")
            )
            self.claimed.set(claimed.scalar_one())
            sending = await session.execute(
                select(col(BroadcastDelivery.state), func.count())
                .join(Broadcast, col(Broadcast.id) == col(BroadcastDelivery.broadcast_id))
                .where(col(Broadcast.status).in_(("sending", "paused")))
                .group_by(col(BroadcastDelivery.state))
            )
            self.broadcast.clear()
            for state, n in sending.all():
                self.broadcast.labels(state=state).set(n)


def telegram_processor(application: Application) -> Callable[[str], Awaitable[None]]:
    """How an inbox worker handles a stored Telegram update: through PTB's application."""

    async def process(payload: str) -> None:
        update = Update.de_json(json.loads(payload), application.bot)
        await application.process_update(update)

    return process


class Inbox:
    """This process's workers over the shared inbox, for one channel's updates.

    `process` handles one stored payload (Telegram's through PTB, Zalo's through its channel).
    """

    def __init__(
        self,
        services: Services,
        process: Callable[[str], Awaitable[None]],
        metrics: Metrics,
        channel: str = CHANNEL,
    ) -> None:
        self.services = services
        self.process = process
        self.channel = channel
        self.metrics = metrics
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Idle workers wait for a token here; each new update wakes one of them (not all:
        # every wake-up is a claim query on the shared database).
        self.tokens: asyncio.Queue[None] = asyncio.Queue(maxsize=services.settings.inbox_workers)
        # Held by the idle worker that looks at the inbox on a timer (see `_idle`).
        self.watching = asyncio.Lock()
        self.stopping = False
        self.tasks: list[asyncio.Task[None]] = []
        self.last_prune = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for n in range(self.services.settings.inbox_workers):
            name = f"tinbao-inbox-{self.channel}-{n}"
            self.tasks.append(loop.create_task(self._work(), name=name))

    def poke(self, delay: float = 0.0) -> None:
        """An update may be ready (after `delay` seconds): wake one idle worker."""
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.poke)
            return
        with contextlib.suppress(asyncio.QueueFull):
            self.tokens.put_nowait(None)  # enough workers are awake already

    async def stop(self, timeout: float = 25.0) -> None:
        """Finish the updates being handled, then give back any claim left (draining)."""
        self.stopping = True
        for _ in self.tasks:
            self.poke()
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
        async with self.services.db.session() as session:
            released = await inbox.release(session, self.owner)
        if released:
            log.info("gave back %s unfinished updates to the other processes", released)

    async def _work(self) -> None:
        reorder = timedelta(milliseconds=self.services.settings.inbox_reorder_ms)
        claim = timedelta(seconds=self.services.settings.inbox_claim_seconds)
        while not self.stopping:
            try:
                now = self.services.clock()
                async with self.services.db.single() as session:
                    taken = await inbox.claim(
                        session, self.channel, self.owner, now, claim, now - reorder
                    )
            except Exception:
                log.exception("reading the inbox failed; trying again")
                await asyncio.sleep(1.0)
                continue
            if taken is None:
                await self._idle()
                continue
            await self._handle(*taken)
            self.poke()  # the same user's next update may be ready now: one more worker

    async def _idle(self) -> None:
        """Nothing is ready: wait to be woken by a new update. One idle worker at a time
        also looks again after a while (an update a dead process held becomes free; one
        stored by another process ripens): with every idle worker on a timer, an idle
        process sent the shared database a claim query every few dozen milliseconds."""
        if self.watching.locked():
            await self.tokens.get()
            return
        async with self.watching:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.tokens.get(), POLL + random.random() * POLL)
        await self._maybe_prune()

    async def _handle(self, inbox_id: int, payload: str) -> None:
        started = time.perf_counter()
        keeping = asyncio.get_running_loop().create_task(self._keep_claim(inbox_id))
        try:
            await self.process(payload)
        except Exception:
            # The router answers every failure kindly itself; reaching here is a bug. The
            # update is still marked handled: retrying it for ever would stall its user.
            log.exception("handling an update from the inbox failed")
        finally:
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeping
        # A database that refuses a connection for a moment (its connection limit reached)
        # must not leave the user's next messages waiting for the claim to expire.
        for pause in MARK_RETRIES:
            try:
                async with self.services.db.single() as session:
                    await inbox.handled(session, inbox_id, self.owner, self.services.clock())
                break
            except Exception:
                if pause is None:
                    log.exception("marking an update handled failed; its claim will expire")
                else:
                    log.warning("marking an update handled failed; trying again", exc_info=True)
                    await asyncio.sleep(pause)
        self.metrics.handled.inc()
        self.metrics.latency.observe(time.perf_counter() - started)

    async def _keep_claim(self, inbox_id: int) -> None:
        """While an update is being handled (OCR of an album, a slow Telegram), renew its claim
        every third of its length, so that no other process takes it over as if this one had
        died: that could reply twice, although the second handling has no effect."""
        seconds = self.services.settings.inbox_claim_seconds
        while True:
            await asyncio.sleep(seconds / 3)
            until = self.services.clock() + timedelta(seconds=seconds)
            try:
                async with self.services.db.single() as session:
                    kept = await inbox.renew(session, inbox_id, self.owner, until)
            except Exception:
                log.exception("renewing a claim on the inbox failed; trying again")
                continue
            if not kept:
                log.warning("another process took over an update this one is still handling")
                return

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self.last_prune < 3600:
            return
        self.last_prune = time.monotonic()
        try:
            async with self.services.db.session() as session:
                await inbox.prune(session, self.services.clock() - KEEP)
        except Exception:
            log.exception("pruning the inbox failed")


class Server:
    """The aiohttp application: Telegram's webhook, health, readiness, metrics, dashboard."""

    def __init__(
        self,
        settings: Settings,
        services: Services,
        workers: Inbox,
        metrics: Metrics,
        bot: Bot,
        zalo_workers: Inbox | None = None,
    ) -> None:
        self.settings = settings
        self.services = services
        self.workers = workers
        self.zalo_workers = zalo_workers
        self.metrics = metrics
        self.ready = False
        self.storing = asyncio.Semaphore(STORERS)
        assert settings.webhook_secret
        self.secret = settings.webhook_secret.encode()
        self.app = web.Application(client_max_size=2 * 1024 * 1024)
        self.app.router.add_post(settings.webhook_path, self.telegram)
        if zalo_workers is not None:
            self.app.router.add_post(ZALO_PATH, self.zalo)
        self.app.router.add_get("/healthz", self.healthz)
        self.app.router.add_get("/readyz", self.readyz)
        self.app.router.add_get("/metrics", self.metrics_page)
        # The officers' dashboard under `/`, sending with this process's bot.
        Dashboard(settings, services, lambda: TelegramOutbox(bot)).mount(self.app)

    async def telegram(self, request: web.Request) -> web.Response:
        """Store the update, then say 200: Telegram considers it delivered only then."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self.secret):
            self.metrics.received.labels(result="forbidden").inc()
            log.warning("refused a webhook request without the right secret token")
            return web.Response(status=403, text="forbidden")
        if not self.ready:
            return web.Response(status=503, text="shutting down")  # Telegram will retry
        try:
            data = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            self.metrics.received.labels(result="malformed").inc()
            return web.Response(status=400, text="not an update")
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        async with self.storing, self.services.db.single() as session:
            stored = await inbox.store(
                session,
                CHANNEL,
                int(data["update_id"]),
                user_key(data),
                payload,
                self.services.clock(),
            )
        self.metrics.received.labels(result="stored" if stored else "duplicate").inc()
        if stored:
            self.workers.poke(self.settings.inbox_reorder_ms / 1000)
        return web.json_response({"ok": True})

    async def zalo(self, request: web.Request) -> web.Response:
        """Check the event's signature, store it, then say 200 (Zalo wants it within ~2 s)."""
        assert self.zalo_workers is not None and self.settings.zalo_oa_secret
        body = await request.read()
        given = request.headers.get(zalo_signature.HEADER)
        if not zalo_signature.verify(
            given, body, self.settings.zalo_oa_secret, self.settings.zalo_app_id
        ):
            self.metrics.received.labels(result="forbidden").inc()
            log.warning("refused a Zalo event without a valid signature")
            return web.Response(status=403, text="forbidden")
        if not self.ready:
            return web.Response(status=503, text="shutting down")
        data = json.loads(body)  # the signature check parsed it already
        oa_id = self.settings.zalo_oa_id
        recipient = data.get("recipient") if isinstance(data.get("recipient"), dict) else {}
        if not zalo_events.wanted(data) or (
            oa_id and str((recipient or {}).get("id", oa_id)) != oa_id
        ):
            # Events tinbao does not use (seen receipts, another OA's) are acknowledged.
            self.metrics.received.labels(result="ignored").inc()
            return web.json_response({"ok": True})
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        async with self.storing, self.services.db.session() as session:
            stored = await inbox.store(
                session,
                ZALO,
                zalo_events.event_id(data),
                f"user:{zalo_events.user_id(data)}",
                payload,
                self.services.clock(),
            )
        self.metrics.received.labels(result="stored" if stored else "duplicate").inc()
        if stored:
            self.zalo_workers.poke(self.settings.inbox_reorder_ms / 1000)
        return web.json_response({"ok": True})

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if not self.ready:
            return web.json_response({"status": "not ready"}, status=503)
        try:
            async with self.services.db.session() as session:
                await session.execute(text("SELECT 1"))
        except Exception:
            log.exception("the database is unreachable")
            return web.json_response({"status": "database unreachable"}, status=503)
        return web.json_response({"status": "ready"})

    async def metrics_page(self, request: web.Request) -> web.Response:
        try:
            await self.metrics.refresh(self.services.db)
        except Exception:
            log.exception("reading the metrics from the database failed")
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run `tinbao webhook` until SIGTERM / SIGINT (or `stop` is set), then drain and exit."""
    if not settings.webhook_url or not settings.webhook_secret:
        raise ValueError("TINBAO_WEBHOOK_URL and TINBAO_WEBHOOK_SECRET must be set")
    # Every inbox worker holds a connection while it handles an update; the webhook's stores,
    # the timers and the broadcast sender need a few more.
    # With Zalo, a second set of workers takes Zalo's events from the inbox.
    workers_count = settings.inbox_workers * (2 if settings.zalo_enabled else 1)
    db = Database(settings.effective_database_url, pool_size=workers_count + STORERS + 2)
    await upgrade(db)
    settings.evidence_dir.mkdir(parents=True, exist_ok=True)
    services = Services.create(settings, db)
    application = build_application(settings, services)
    metrics = Metrics()
    await application.initialize()
    await _on_start(application)  # initialize() does not run post_init
    await application.start()
    workers = Inbox(services, telegram_processor(application), metrics)
    zalo: ZaloChannel | None = None
    zalo_workers: Inbox | None = None
    if settings.zalo_enabled:
        zalo = ZaloChannel(services)
        await zalo.start()
        zalo_workers = Inbox(services, zalo.process, metrics, ZALO)
        log.info("the Zalo Official Account's events are served at %s", ZALO_PATH)
    server = Server(settings, services, workers, metrics, application.bot, zalo_workers)
    runner = web.AppRunner(server.app, access_log=None, shutdown_timeout=10.0)
    await runner.setup()
    host, port = settings.listen_host_port
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    workers.start()
    if zalo_workers is not None:
        zalo_workers.start()
        zalo_workers.poke()  # events a predecessor stored and did not handle
    await application.bot.set_webhook(
        settings.webhook_url,
        secret_token=settings.webhook_secret,
        max_connections=settings.webhook_max_connections,
        allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=False,
    )
    server.ready = True
    log.info("tinbao is serving webhooks on %s:%s (path %s)", host, port, settings.webhook_path)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # webhook mode runs on Linux (docs/deploy.md)
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping: no new updates; finishing the ones being handled")
        server.ready = False
        await runner.cleanup()  # stop accepting; requests under way finish
        if zalo_workers is not None and zalo is not None:
            await zalo_workers.stop()
            await zalo.stop()
        await finish(workers, application)


async def finish(workers: Inbox, application: Application) -> None:
    """The end of `tinbao webhook` and `tinbao run` alike: let the inbox's workers finish
    (giving back what they hold), then stop the bot and its timers; the signals go back to
    their defaults."""
    await workers.stop()
    await application.stop()
    await _on_stop(application)
    await application.shutdown()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(sig)
