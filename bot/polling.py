"""`tinbao run`: long polling through the same durable inbox as webhook mode.

python-telegram-bot's own poller confirms a batch of updates to Telegram (by asking for the
next offset) before its handlers have run, so a process killed in between lost those updates:
a resident's photo, their "I agree". Here every batch is written to the inbox
(`storage/inbox.py`) first and only then confirmed; the inbox's workers (`bot.webhook.Inbox`)
handle each update once, one user's in order, and a restarted process picks up whatever its
predecessor left unhandled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from typing import Any

from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.channels.telegram import ALLOWED_UPDATES, CHANNEL, _on_start, build_application
from bot.settings import Settings
from bot.webhook import STORERS, Inbox, Metrics, finish, telegram_processor, user_key
from handlers.services import Services
from storage import inbox
from storage.engine import Database
from storage.migrate import upgrade

log = logging.getLogger(__name__)

# Seconds Telegram holds a getUpdates request open when there is nothing to deliver.
LONG_POLL = 25


async def run(
    settings: Settings,
    stop: asyncio.Event | None = None,
    prepare: Callable[[Services], None] | None = None,
) -> None:
    """Poll Telegram until SIGTERM / SIGINT (or `stop` is set), then finish and exit.

    `prepare` sees the services before the first update (bench/intake.py counts replies)."""
    # getUpdates returns updates in order, so nothing needs to wait for a late earlier one.
    settings = settings.model_copy(update={"inbox_reorder_ms": 0})
    if settings.zalo_enabled:
        log.warning("Zalo is configured but needs `tinbao webhook` (Zalo posts events to /zalo)")
    db = Database(settings.effective_database_url, pool_size=settings.inbox_workers + STORERS)
    await upgrade(db)
    settings.evidence_dir.mkdir(parents=True, exist_ok=True)
    services = Services.create(settings, db)
    if prepare is not None:
        prepare(services)
    application = build_application(settings, services)
    await application.initialize()
    await _on_start(application)  # initialize() does not run post_init
    await application.start()
    async with db.session() as session:
        released = await inbox.release_all(session)
    if released:
        log.info("%s updates received before a restart are handled now", released)
    workers = Inbox(services, telegram_processor(application), Metrics())
    workers.start()
    workers.poke()
    await application.bot.delete_webhook(drop_pending_updates=False)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    fetching = loop.create_task(_fetch(application.bot, services, workers), name="tinbao-poll")
    waiting = loop.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait({fetching, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if fetching in done:
            fetching.result()  # a token Telegram refuses: raised to the command line
    finally:
        log.info("stopping: no new updates; finishing the ones being handled")
        for task in (fetching, waiting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await finish(workers, application)


async def _fetch(bot: Any, services: Services, workers: Inbox) -> None:
    """Take updates from Telegram, store them, and only then confirm them (the next offset)."""
    offset: int | None = None
    pause = 1.0
    while True:
        try:
            batch = await bot.do_api_request(
                "getUpdates",
                api_kwargs={
                    "offset": offset,
                    "timeout": LONG_POLL,
                    "allowed_updates": list(ALLOWED_UPDATES),
                },
                read_timeout=LONG_POLL + 10,
            )
        except InvalidToken:
            raise
        except RetryAfter as error:
            await asyncio.sleep(float(error.retry_after))  # type: ignore[arg-type]
            continue
        except Conflict:
            log.warning("another process is taking this bot's updates; waiting for it to stop")
            await asyncio.sleep(5.0)
            continue
        except (NetworkError, TimedOut) as error:
            log.warning("could not reach Telegram (%s); trying again in %.0f s", error, pause)
            await asyncio.sleep(pause)
            pause = min(30.0, pause * 2)
            continue
        pause = 1.0
        updates = [
            u for u in batch or [] if isinstance(u, dict) and isinstance(u.get("update_id"), int)
        ]
        if not updates:
            continue
        stored = 0
        while True:
            try:
                async with services.db.session() as session:
                    for data in updates:
                        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
                        stored += await inbox.store(
                            session,
                            CHANNEL,
                            data["update_id"],
                            user_key(data),
                            payload,
                            services.clock(),
                        )
                break
            except Exception:
                # Not confirmed to Telegram yet: it gives the same batch again; keep trying.
                log.exception("storing updates failed; trying again")
                stored = 0
                await asyncio.sleep(1.0)
        for _ in range(stored):
            workers.poke()
        offset = max(u["update_id"] for u in updates) + 1
