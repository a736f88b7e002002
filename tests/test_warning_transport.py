"""The warning transport over HTTP against the fake Bot API: each answer sorted into what the
sender must do, and above all whether a failed send may have reached Telegram (never twice)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import TimedOut

from bot.channels.aiohttp_request import AiohttpRequest, NotSent
from bot.channels.telegram import TelegramWarnings
from handlers.core import Outbound, OutFile
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotAPI, Upload
from tests.test_report_flow import JPEG

CHAT = 4242


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    server = FakeBotAPI()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def transport(tmp_path: Path, fake: FakeBotAPI, **extra: object) -> TelegramWarnings:
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", fake, **extra)
    warnings = TelegramWarnings(settings)
    await warnings.start()
    return warnings


async def test_a_text_warning_is_sent_and_refusals_are_sorted(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    warnings = await transport(tmp_path, fake)
    try:
        message = Outbound("⚠️ Cảnh giác cuộc gọi giả danh công an <b>.")
        result = await warnings.send_warning(str(CHAT), message, None)
        assert result.outcome == "sent"
        [call] = fake.sent(CHAT)
        assert call.params["text"].startswith("⚠️ Cảnh giác")
        assert "&lt;b&gt;" in call.params["text"]  # escaped for Telegram's HTML
        assert "allow_paid_broadcast" not in call.params

        fake.block_chat(5001)
        assert (await warnings.send_warning("5001", message, None)).outcome == "blocked"
        fake.gone_chat(5002)
        assert (await warnings.send_warning("5002", message, None)).outcome == "blocked"
        fake.fail_next("sendMessage", status=429, retry_after=7)
        flood = await warnings.send_warning(str(CHAT), message, None)
        assert (flood.outcome, flood.retry_after) == ("retry", 7.0)
        fake.fail_next("sendMessage", status=500, description="Internal Server Error")
        assert (await warnings.send_warning(str(CHAT), message, None)).outcome == "retry"
        fake.fail_next("sendMessage", status=400, description="Bad Request: message is too long")
        assert (await warnings.send_warning(str(CHAT), message, None)).outcome == "failed"
    finally:
        await warnings.stop()


async def test_the_pacer_is_told_when_a_warning_goes_out_before_its_answer(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    warnings = await transport(tmp_path, fake)
    try:
        went_out: list[int] = []
        fake.hold()
        sending = asyncio.ensure_future(
            warnings.send_warning(
                str(CHAT), Outbound("⚠️ Cảnh báo"), None, lambda: went_out.append(len(fake.held))
            )
        )
        for _ in range(100):
            if went_out:
                break
            await asyncio.sleep(0.02)
        assert went_out == [0]  # written before Telegram had even received it
        assert not sending.done()  # and before any answer
        fake.release()
        assert (await sending).outcome == "sent"
        await warnings.bot.get_me()  # later requests of the same task do not call it
        assert went_out == [0]
    finally:
        await warnings.stop()


async def test_a_paid_broadcast_says_so_and_a_photo_is_uploaded_once(
    tmp_path: Path, fake: FakeBotAPI
) -> None:
    photo = tmp_path / "warning.jpg"
    photo.write_bytes(JPEG)
    warnings = await transport(tmp_path, fake, broadcast_rate=500.0, broadcast_paid=True)
    try:
        message = Outbound("⚠️ Ảnh tin nhắn lừa đảo", file=OutFile("photo", photo))
        first = await warnings.send_warning(str(CHAT), message, None)
        assert first.outcome == "sent" and first.photo_id
        upload = fake.sent(CHAT)[-1]
        assert upload.method == "sendPhoto" and upload.params["allow_paid_broadcast"] in (
            True,
            "true",
            "True",
        )
        assert isinstance(upload.params["photo"], Upload)
        assert upload.params["photo"].data == JPEG  # the multipart body arrived whole
        assert upload.params["caption"] == "⚠️ Ảnh tin nhắn lừa đảo"
        again = await warnings.send_warning("4243", message, first.photo_id)
        assert again.outcome == "sent"
        assert fake.sent(4243)[-1].params["photo"] == first.photo_id
    finally:
        await warnings.stop()


async def test_no_connection_is_safe_to_retry(tmp_path: Path, fake: FakeBotAPI) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = make_settings(
        tmp_path,
        "sqlite+aiosqlite://",
        fake,
        telegram_api_url=f"http://127.0.0.1:{port}/bot",
    )
    warnings = TelegramWarnings(settings)
    await warnings.bot.request.initialize()  # (initialize() would call getMe)
    try:
        result = await warnings.send_warning(str(CHAT), Outbound("⚠️ Cảnh báo"), None)
        assert result.outcome == "retry"
    finally:
        await warnings.stop()


async def test_no_answer_may_have_arrived_and_a_full_pool_did_not(fake: FakeBotAPI) -> None:
    request = AiohttpRequest(1, read_timeout=1.0, pool_timeout=0.2, connect_timeout=0.1)
    bot = Bot(fake.token, base_url=fake.base_url, request=request)
    await bot.initialize()
    try:
        fake.hold()
        waiting = asyncio.ensure_future(bot.send_message(CHAT, "một"))
        for _ in range(100):
            if fake.held:
                break
            await asyncio.sleep(0.02)
        # The only connection is busy: the second message never leaves.
        with pytest.raises(TimedOut) as full:
            await bot.send_message(CHAT, "hai")
        assert isinstance(full.value.__cause__, NotSent)
        # The first went out and was not answered: it may have been delivered.
        with pytest.raises(TimedOut) as late:
            await waiting
        assert not isinstance(late.value.__cause__, NotSent)
        assert [c.params["text"] for c in fake.held] == ["một"]
    finally:
        fake.release()
        await bot.shutdown()


async def test_the_environments_proxy_is_used_when_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    for name in ("http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://{host}:{port}")
    request = AiohttpRequest(1, trust_env=True)
    await request.initialize()
    try:
        target = "http://telegram.invalid/bot123:abc/getMe"
        for _ in range(2):  # the second request reuses the lookup
            status, _body = await request.do_request(target, "POST")
            assert status == 200
        assert seen == [target, target]
    finally:
        await request.shutdown()
        await runner.cleanup()
