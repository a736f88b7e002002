"""Tests of the fake Bot API, driven through python-telegram-bot itself."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import os
import sys
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.fakebotapi import MAX_DOWNLOAD_SIZE, FakeBotAPI, Upload
from tests.simulated import free_port
from tests.updates import Resident, entity_for, utf16_len

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    """A running fake server."""
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    """A PTB Bot talking to the fake over HTTP."""
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.file_url) as client:
        yield client


def _with_id(update: dict[str, Any], update_id: int = 1) -> dict[str, Any]:
    return {"update_id": update_id, **update}


def _seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


async def test_get_me(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.username == "tinbao_test_bot"
    assert me.is_bot
    assert not me.supports_inline_queries
    # Bot.__aenter__ already called getMe once; method names are canonical in the log.
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]
    assert fake.sent() == []


async def test_send_message_is_recorded(fake: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Có", callback_data="yes")]])
    first = await bot.send_message(chat_id=42, text="Xin chào 👋", reply_markup=markup)
    second = await bot.send_message(
        chat_id="42", text="123", reply_markup=ReplyKeyboardMarkup([["A"]])
    )
    await bot.send_message(chat_id=-100777, text="to a group")

    assert (first.message_id, second.message_id) == (1000, 1001)
    assert first.chat.id == 42 and first.chat.type == "private"
    assert first.from_user is not None and first.from_user.username == "tinbao_test_bot"
    assert first.text == "Xin chào 👋"
    assert first.reply_markup == markup
    # Reply keyboards are not part of a Message, as with the real API.
    assert second.reply_markup is None

    calls = fake.sent(42)
    assert [c.method for c in calls] == ["sendMessage", "sendMessage"]
    assert calls[0].params["chat_id"] == 42
    assert calls[0].params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Có", "callback_data": "yes"}]]
    }
    # Numeric-looking text must stay text.
    assert calls[1].params["text"] == "123"
    assert calls[0].result["message_id"] == 1000
    assert fake.texts(42) == ["Xin chào 👋", "123"]
    assert fake.texts(-100777) == ["to a group"]
    assert fake.sent(method="sendMessage", chat_id=-100777)[0].result["chat"]["type"] == (
        "supergroup"
    )


async def test_long_poll_delivers_pushed_update_and_offset_confirms(
    fake: FakeBotAPI, bot: Bot
) -> None:
    resident = Resident(5001, "Lan")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda c: c.method == "getUpdates")
    started = time.monotonic()
    update_id = fake.push_update(resident.text("Có người lừa tôi"))
    updates = await poll
    assert time.monotonic() - started < 1.0
    assert [u.update_id for u in updates] == [update_id]
    message = updates[0].message
    assert message is not None and message.text == "Có người lừa tôi"
    assert message.chat.id == 5001
    assert fake.pending_updates == 1

    # Without a higher offset the update is delivered again.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [update_id]

    second = fake.push_update(resident.text("thêm"))
    assert second == update_id + 1
    rest = await bot.get_updates(offset=update_id + 1, timeout=0)
    assert [u.update_id for u in rest] == [second]
    assert fake.pending_updates == 1
    assert await bot.get_updates(offset=second + 1, timeout=0) == ()
    assert fake.pending_updates == 0


async def test_long_poll_times_out_empty(fake: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.3)) == ()
    assert 0.25 <= time.monotonic() - started < 2.0
    assert fake.sent() == []


async def test_stop_releases_pending_long_poll() -> None:
    server = FakeBotAPI()
    await server.start()
    async with Bot(server.token, base_url=server.base_url) as client:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        await server.wait_for(lambda c: c.method == "getUpdates")
        started = time.monotonic()
        await server.stop()
        assert await asyncio.wait_for(poll, 5) == ()
        assert time.monotonic() - started < 2.0


async def test_limit_and_explicit_update_ids(fake: FakeBotAPI, bot: Bot) -> None:
    resident = Resident(5002)
    assert fake.push_update(_with_id(resident.text("a"), 50)) == 50
    ids = [fake.push_update(resident.text(str(n))) for n in range(3)]
    assert ids == [51, 52, 53]
    got = await bot.get_updates(limit=2, timeout=0)
    assert [u.update_id for u in got] == [50, 51]


def _roundtrip(update: dict[str, Any], bot: Bot) -> Update:
    parsed = Update.de_json(_with_id(update), bot)
    assert parsed.update_id == 1
    return parsed


async def test_builders_roundtrip_through_ptb(bot: Bot) -> None:
    r = Resident(7001, "Minh", language_code="vi")

    text = _roundtrip(r.text("Chào 🙂 xem http://lua.vn", entities=None), bot).message
    assert text is not None and text.from_user is not None
    assert text.from_user.language_code == "vi" and text.chat.type == "private"

    body = "🙂 vào https://scam.example ngay"
    linked = _roundtrip(r.text(body, entities=[entity_for(body, "https://scam.example")]), bot)
    assert linked.message is not None
    assert list(linked.message.parse_entities().values()) == ["https://scam.example"]

    cmd = _roundtrip(r.command("report", "👮 lừa đảo"), bot).message
    assert cmd is not None and cmd.text == "/report 👮 lừa đảo"
    assert cmd.parse_entity(cmd.entities[0]) == "/report"

    cb = _roundtrip(r.callback("lang:vi", message_id=1005, message_text="Chọn"), bot)
    query = cb.callback_query
    assert query is not None and query.data == "lang:vi" and query.from_user.id == 7001
    assert query.message is not None and query.message.message_id == 1005
    assert cb.effective_chat is not None and cb.effective_chat.id == 7001

    photo = _roundtrip(r.photo("PH", "PU", size=300_000, caption="ảnh 📸"), bot).message
    assert photo is not None and len(photo.photo) == 3
    assert photo.photo[-1].file_id == "PH" and photo.photo[-1].file_size == 300_000
    assert len({p.file_id for p in photo.photo}) == 3
    assert photo.caption == "ảnh 📸"

    doc = _roundtrip(
        r.document("D", "DU", file_name="hd.pdf", mime_type="application/pdf", file_size=9),
        bot,
    ).message
    assert doc is not None and doc.document is not None
    assert (doc.document.file_name, doc.document.file_size) == ("hd.pdf", 9)

    voice = _roundtrip(r.voice("V", "VU", duration=3), bot).message
    assert voice is not None and voice.voice is not None
    assert voice.voice.mime_type == "audio/ogg"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _seconds(voice.voice.duration) == 3

    video = _roundtrip(r.video("VI", "VIU", media_group_id="g1"), bot).message
    assert video is not None and video.video is not None and video.media_group_id == "g1"

    sticker = _roundtrip(r.sticker(), bot).message
    assert sticker is not None and sticker.sticker is not None and sticker.sticker.emoji == "😀"

    loc = _roundtrip(r.location(21.03, 105.85), bot).message
    assert loc is not None and loc.location is not None and loc.location.latitude == 21.03

    contact = _roundtrip(r.contact("+84901234567", "Hùng"), bot).message
    assert contact is not None and contact.contact is not None
    assert contact.contact.phone_number == "+84901234567"

    origins = {
        "user": MessageOriginUser,
        "hidden_user": MessageOriginHiddenUser,
        "channel": MessageOriginChannel,
        "chat": MessageOriginChat,
    }
    for kind, cls in origins.items():
        fwd = _roundtrip(r.forwarded_text("Trúng thưởng!", origin=kind), bot).message  # type: ignore[arg-type]
        assert fwd is not None and isinstance(fwd.forward_origin, cls), kind
    hidden = _roundtrip(r.forwarded_text("x", origin="hidden_user", sender_name="Bí ẩn"), bot)
    assert hidden.message is not None
    assert isinstance(hidden.message.forward_origin, MessageOriginHiddenUser)
    assert hidden.message.forward_origin.sender_user_name == "Bí ẩn"

    tl = _roundtrip(r.text_link("bấm đây", "https://evil.example/x", before="🎁 "), bot).message
    assert tl is not None and tl.text == "🎁 bấm đây"
    assert tl.entities[0].offset == 3  # the emoji is two UTF-16 units
    assert tl.entities[0].url == "https://evil.example/x"
    assert tl.parse_entity(tl.entities[0]) == "bấm đây"

    group = _roundtrip(r.group_text(-4001, "hello"), bot).message
    assert group is not None and group.chat.type == "group" and group.chat.id == -4001


def test_utf16_len() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("🙂") == 2
    assert utf16_len("lừa đảo") == 7


async def test_download_registered_file(fake: FakeBotAPI, bot: Bot) -> None:
    content = os.urandom(4096)
    file_id, unique_id = fake.add_file(content)
    file = await bot.get_file(file_id)
    assert file.file_unique_id == unique_id
    assert file.file_size == 4096
    assert bytes(await file.download_as_bytearray()) == content


async def test_too_big_and_unknown_files_are_bad_requests(fake: FakeBotAPI, bot: Bot) -> None:
    big_id, _ = fake.add_file(b"tiny", file_size=25 * 1024 * 1024)
    edge_id, _ = fake.add_file(b"edge", file_size=MAX_DOWNLOAD_SIZE)
    with pytest.raises(BadRequest, match=r"(?i)file is too big"):
        await bot.get_file(big_id)
    assert (await bot.get_file(edge_id)).file_size == MAX_DOWNLOAD_SIZE
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")


async def test_injected_429_is_retry_after(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendmessage", retry_after=3, chat_id=9)
    # Other chats are unaffected by a chat-scoped failure.
    await bot.send_message(8, "ok")
    with pytest.raises(RetryAfter) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        await bot.send_message(9, "first try")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert _seconds(caught.value.retry_after) == 3
    await bot.send_message(9, "second try")
    assert fake.texts(9) == ["second try"]
    attempts = fake.sent(9, include_failed=True)
    assert [(c.status, c.result is None) for c in attempts] == [(429, True), (200, False)]


async def test_injected_error_without_retry_after(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next(
        "editMessageText", status=400, description="Bad Request: message is not modified"
    )
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("x", chat_id=1, message_id=1000)
    fake.fail_next("sendMessage", status=502, times=2)
    for _ in range(2):
        with pytest.raises(Exception, match="Bad Gateway"):
            await bot.send_message(1, "x")
    await bot.send_message(1, "finally")


async def test_blocked_chat_is_forbidden(fake: FakeBotAPI, bot: Bot) -> None:
    fake.block_chat(77)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(77, "hi")
    with pytest.raises(Forbidden):
        await bot.send_photo(77, b"\x89PNG fake")
    assert fake.sent(77) == []
    assert len(fake.sent(77, include_failed=True)) == 2
    await bot.send_message(78, "not blocked")
    fake.unblock_chat(77)
    await bot.send_message(77, "back")
    assert fake.texts(77) == ["back"]


async def test_edits_return_the_edited_message(fake: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Gửi", callback_data="send")]])
    sent = await bot.send_message(5, "Bước 1", reply_markup=markup)
    edited = await bot.edit_message_text("Bước 2", chat_id=5, message_id=sent.message_id)
    assert not isinstance(edited, bool)
    assert edited.text == "Bước 2" and edited.message_id == sent.message_id
    assert edited.reply_markup is None and edited.edit_date is not None
    remarked = await bot.edit_message_reply_markup(
        chat_id=5, message_id=sent.message_id, reply_markup=markup
    )
    assert not isinstance(remarked, bool) and remarked.reply_markup == markup
    assert fake.texts(5) == ["Bước 1", "Bước 2"]
    assert [c.method for c in fake.sent(5)] == [
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
    ]


async def test_uploads_media_groups_and_copies(fake: FakeBotAPI, bot: Bot) -> None:
    data = os.urandom(2 * 1024 * 1024)  # above aiohttp's default body limit
    photo_msg = await bot.send_photo(6, data, caption="bằng chứng")
    call = fake.sent(6, "sendPhoto")[0]
    assert isinstance(call.params["photo"], Upload) and call.params["photo"].data == data
    downloaded = await (await bot.get_file(photo_msg.photo[-1].file_id)).download_as_bytearray()
    assert bytes(downloaded) == data

    group = await bot.send_media_group(
        6, [InputMediaPhoto(b"one", caption="1"), InputMediaPhoto(b"two")]
    )
    assert len(group) == 2 and group[0].media_group_id == group[1].media_group_id
    media = fake.sent(6, "sendMediaGroup")[0].params["media"]
    assert [m["media"].data for m in media] == [b"one", b"two"]

    copied = await bot.copy_message(-1009, from_chat_id=6, message_id=photo_msg.message_id)
    assert fake.message(-1009, copied.message_id) is not None
    forwarded = await bot.forward_message(-1009, from_chat_id=6, message_id=photo_msg.message_id)
    assert isinstance(forwarded.forward_origin, MessageOriginUser)
    assert fake.texts(6) == ["bằng chứng", "1"]


async def test_misc_methods(fake: FakeBotAPI, bot: Bot) -> None:
    from telegram import BotCommand

    assert await bot.delete_webhook() is True
    assert await bot.send_chat_action(3, "typing") is True
    assert await bot.set_my_commands([BotCommand("report", "Báo cáo")]) is True
    assert [c.command for c in await bot.get_my_commands()] == ["report"]
    assert await bot.get_my_commands(language_code="en") == ()
    assert await bot.answer_callback_query("123", text="ok") is True
    assert fake.calls[-1].params == {"callback_query_id": "123", "text": "ok"}
    chat = await bot.get_chat(3)
    assert chat.id == 3 and chat.type == "private"


async def test_unknown_token_and_method(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(InvalidToken):
        async with Bot("999:WRONG", base_url=fake.base_url):
            pass
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    async with aiohttp.ClientSession() as http:
        # Real API method names are case-insensitive and GET works too.
        async with http.get(f"{fake.base_url}{fake.token}/GETME") as resp:
            assert (await resp.json())["result"]["username"] == "tinbao_test_bot"
        async with http.get(f"{fake.base_url}{fake.token}/nope") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_wait_helpers(fake: FakeBotAPI, bot: Bot) -> None:
    start = fake.mark()

    async def later() -> None:
        await asyncio.sleep(0.05)
        await bot.send_message(11, "đang xử lý")
        await bot.send_message(11, "Mã hồ sơ: TB-1")

    task = asyncio.create_task(later())
    call = await fake.wait_for_text(11, after=start, contains="Mã hồ sơ", timeout=5)
    assert call.params["text"] == "Mã hồ sơ: TB-1"
    await task
    with pytest.raises(AssertionError, match=r"sendMessage.*đang xử lý"):
        await fake.wait_for_text(11, after=start, contains="never", timeout=0.1)


async def test_real_application_polling(fake: FakeBotAPI) -> None:
    """The whole PTB Application lifecycle (initialize, polling, stop) works against the fake."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("OK", callback_data="ok")]])
        await update.message.reply_text(
            f"Chào {update.message.from_user.first_name}",  # type: ignore[union-attr]
            reply_markup=markup,
        )

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer()
        await query.edit_message_text("Đã xác nhận")

    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.base_url)
        .base_file_url(fake.file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    resident = Resident(3003, "Hoa")
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))
        mark = fake.mark()
        fake.push_update(resident.command("start"))
        reply = await fake.wait_for_text(3003, after=mark, contains="Chào Hoa", timeout=5)
        fake.push_update(resident.callback("ok", message_id=reply.result["message_id"]))
        await fake.wait_for_text(3003, after=mark, contains="Đã xác nhận", timeout=5)
        await app.updater.stop()
        await app.stop()
    methods = {c.method for c in fake.calls}
    assert {"getMe", "deleteWebhook", "getUpdates", "answerCallbackQuery"} <= methods
    # Stopping the updater confirms what it consumed.
    assert fake.pending_updates == 0


async def test_control_api_in_subprocess() -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fakebotapi",
        "--port",
        str(port),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        assert ready.startswith(f"READY {port} ")
        base = f"http://127.0.0.1:{port}"
        resident = Resident(4004, "Tú")
        async with (
            aiohttp.ClientSession() as http,
            Bot(
                "123456:TEST-TOKEN", base_url=f"{base}/bot", base_file_url=f"{base}/file/bot"
            ) as bot,
        ):
            async with http.post(
                f"{base}/_control/updates", json=[resident.text("một"), resident.text("hai")]
            ) as resp:
                ids = await resp.json()
            assert ids == [1, 2]
            updates = await bot.get_updates(timeout=1)
            assert [u.message.text for u in updates if u.message] == ["một", "hai"]

            async with http.post(f"{base}/_control/files", data=b"bytes!") as resp:
                stored = await resp.json()
            file = await bot.get_file(stored["file_id"])
            assert bytes(await file.download_as_bytearray()) == b"bytes!"

            async with http.get(f"{base}/_control/calls", params={"since": "0"}) as resp:
                calls = await resp.json()
            since = len(calls)

            async def send_later() -> None:
                await asyncio.sleep(0.05)
                await bot.send_message(4004, "đã nhận")

            task = asyncio.create_task(send_later())
            query = {
                "since": str(since),
                "method": "sendMessage",
                "chat_id": "4004",
                "timeout": "5",
            }
            async with http.get(f"{base}/_control/wait", params=query) as resp:
                assert resp.status == 200
                waited = await resp.json()
            await task
            assert waited["params"] == {"chat_id": 4004, "text": "đã nhận"}
            assert waited["result"]["message_id"] == 1000

            async with http.get(f"{base}/_control/calls", params={"since": "0"}) as resp:
                calls = await resp.json()
            assert [c["method"] for c in calls] == ["getMe", "getUpdates", "getFile", "sendMessage"]
            assert all(isinstance(c["at"], float) for c in calls)
            json.dumps(calls)

            query = {"since": str(len(calls)), "method": "sendMessage", "timeout": "0.1"}
            async with http.get(f"{base}/_control/wait", params=query) as resp:
                assert resp.status == 408
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 5)
    assert proc.returncode == 0


async def test_what_telegram_would_refuse_is_refused(fake: FakeBotAPI, bot: Bot) -> None:
    ok = await bot.send_message(
        1, "<b>Cảnh báo</b> &amp; <a href='https://x.vn/?a=1&amp;b=2'>x</a>", parse_mode="HTML"
    )
    assert ok.message_id
    for bad in ("a < b", "Tom & Jerry", "<b>chưa đóng", "<div>x</div>", "<b><i>x</b></i>"):
        with pytest.raises(BadRequest, match="parse entities"):
            await bot.send_message(1, bad, parse_mode="HTML")
    # Lengths count what is shown, after the markup, in UTF-16 units (an emoji counts two).
    await bot.send_message(1, "<b>" + "ừ" * 4096 + "</b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match="too long"):
        await bot.send_message(1, "🙂" * 2049)
    with pytest.raises(BadRequest, match="empty"):
        await bot.send_message(1, "<b> </b>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(
            1,
            "x",
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("x", callback_data="é" * 33)]]
            ),
        )
    assert [c.status for c in fake.calls if c.method == "sendMessage"] == [200] + [400] * 5 + [
        200,
        400,
        400,
        400,
    ]
