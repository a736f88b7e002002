"""`tinbao run` killed with SIGKILL mid-report loses nothing: the resident goes on from there."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlmodel import select

from storage.engine import Database
from storage.models import Dialogue
from tests.fakebotapi import FakeBotAPI
from tests.updates import Resident

ROOT = Path(__file__).resolve().parent.parent


def bot_env(fake: FakeBotAPI, db_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a `tinbao` process pointed at the fake Bot API: this one's, without
    its `TINBAO_*` variables, plus `settings` (e.g. `TINBAO_BROADCAST_RATE="20"`)."""
    return (
        {key: value for key, value in os.environ.items() if not key.startswith("TINBAO_")}
        | {
            "TINBAO_TELEGRAM_TOKEN": fake.token,
            "TINBAO_TELEGRAM_API_URL": fake.base_url,
            "TINBAO_TELEGRAM_FILE_URL": fake.file_url,
            "TINBAO_DATABASE_URL": db_url,
            "TINBAO_DATA_DIR": str(data_dir),
            "PYTHONPATH": str(ROOT),
        }
        | settings
    )


def start_bot(
    fake: FakeBotAPI, db_url: str, data_dir: Path, **settings: str
) -> subprocess.Popen[bytes]:
    """`tinbao run` in its own process, pointed at the fake Bot API."""
    env = bot_env(fake, db_url, data_dir, **settings)
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=data_dir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def button(fake: FakeBotAPI, chat_id: int, after: int, label_part: str) -> str:
    """Callback data of a button the bot sent after call index `after`."""
    for call in fake.calls[after:]:
        markup = call.params.get("reply_markup") or {}
        for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
            for item in row:
                if label_part in item["text"] and int(call.params["chat_id"]) == chat_id:
                    return str(item["callback_data"])
    raise AssertionError(f"no button {label_part!r}:\n{fake.dump(after)}")


async def say(fake: FakeBotAPI, update: dict[str, object], chat_id: int, expect: str) -> int:
    """Send an update and wait for a reply containing `expect`; returns where replies began."""
    mark = fake.mark()
    fake.push_update(update)
    await fake.wait_for_text(chat_id, after=mark, contains=expect, timeout=30)
    return mark


async def test_a_report_survives_sigkill_and_continues_at_the_same_step(
    tmp_path: Path, db_url: str
) -> None:
    r = Resident(4242)
    async with FakeBotAPI() as fake:
        bot = start_bot(fake, db_url, tmp_path)
        try:
            mark = await say(fake, r.command("start"), r.user_id, "Bạn có đồng ý không?")
            agree = await button(fake, r.user_id, mark, "Tôi đồng ý")
            mark = await say(fake, r.callback(agree), r.user_id, "Bạn muốn làm gì?")
            mark = await say(fake, r.command("baocao"), r.user_id, "Chuyện gì đã xảy ra")
            invest = await button(fake, r.user_id, mark, "Đầu tư")
            mark = await say(fake, r.callback(invest), r.user_id, "Bạn có bị mất tiền không?")
            lost = await button(fake, r.user_id, mark, "Có, tôi bị mất tiền")
            await say(fake, r.callback(lost), r.user_id, "bao nhiêu tiền")
            await say(fake, r.text("5 triệu"), r.user_id, "Chuyện xảy ra khi nào?")
        finally:
            bot.send_signal(signal.SIGKILL)
            await asyncio.to_thread(bot.wait, 10)
        assert bot.returncode == -signal.SIGKILL

        # The resident answers while the bot is down; the answer waits at Telegram.
        mark = fake.mark()
        fake.push_update(r.text("hôm qua"))
        bot = start_bot(fake, db_url, tmp_path)
        try:
            reply = await fake.wait_for_text(
                r.user_id, after=mark, contains="Bạn đã chuyển tiền vào tài khoản nào?", timeout=30
            )
            assert reply.ok
            mark = await say(fake, r.text("MB 0123456789"), r.user_id, "MB Bank 0123456789")
        finally:
            bot.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.to_thread(bot.communicate, None, 20)
        assert bot.returncode == 0, stderr.decode()  # SIGTERM stops it gracefully
        assert b"Traceback" not in stderr

    database = Database(db_url)
    try:
        async with database.session() as session:
            (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    finally:
        await database.dispose()
    assert dialogue.step == "accounts"
    assert dialogue.data["category"] == "investment"
    assert dialogue.data["amount_vnd"] == 5_000_000
    assert dialogue.data["occurred_at"] is not None
    assert [(i["kind"], i["value"]) for i in dialogue.data["indicators"]] == [
        ("bank_account", "MB:0123456789")
    ]
