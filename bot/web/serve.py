"""`tinbao web`: the dashboard alone, for deployments that run the bot by long polling.

The bot process (`tinbao run`) keeps handling Telegram; this process serves the dashboard and
uses a python-telegram-bot `Application` built by the same factory only to send what officers'
actions produce (card edits, notices to reporters). Without a token it still serves the pages;
a notice to a reporter is then left unsent in the database, where the bot's timers find it and
send it, and the cards catch up at the report's next change in the chat.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from bot.settings import Settings
from bot.web.app import Dashboard, OutboxFactory
from handlers.services import Services
from storage.engine import Database
from storage.migrate import upgrade

log = logging.getLogger(__name__)


def build_app(
    settings: Settings, services: Services, outbox: OutboxFactory | None
) -> web.Application:
    """An aiohttp application serving the dashboard and `/healthz`."""
    app = web.Application(client_max_size=1024 * 1024)
    Dashboard(settings, services, outbox).mount(app)
    app.router.add_get("/healthz", _healthz)
    return app


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Serve the dashboard on `TINBAO_LISTEN` until SIGTERM / SIGINT (or `stop` is set)."""
    db = Database(settings.effective_database_url, pool_size=8)
    await upgrade(db)
    services = Services.create(settings, db)
    application = None
    outbox: OutboxFactory | None = None
    if settings.telegram_token:
        from bot.channels.telegram import TelegramOutbox, build_application

        application = build_application(settings, services)
        await application.initialize()  # for sending only: no polling, no timers here
        bot = application.bot
        outbox = lambda: TelegramOutbox(bot)  # noqa: E731
    else:
        log.warning("TINBAO_TELEGRAM_TOKEN is not set: actions' messages wait for the bot")
    runner = web.AppRunner(build_app(settings, services, outbox), access_log=None)
    await runner.setup()
    host, port = settings.listen_host_port
    await web.TCPSite(runner, host, port, reuse_address=True).start()
    log.info("tinbao web: the dashboard is on %s:%s (%s)", host, port, settings.public_url)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        if application is not None:
            await application.shutdown()
        await db.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
