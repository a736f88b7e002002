"""The same bot on Zalo, end to end: `tinbao webhook` receives signed Zalo OA events on `/zalo`,
answers through a fake OA API (tests/fakezalo.py), and officers work the reports on Telegram
(the fake Bot API), in the same queue.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import select

from bot.channels.zalo import events, signature
from bot.channels.zalo.api import ZaloApi
from bot.channels.zalo.outbox import render, split
from handlers.core import Button, Outbound
from handlers.i18n import VIETNAM
from storage.engine import Database
from storage.models import Attachment, InboxUpdate, Report, ZaloChat, ZaloHeld, ZaloToken, utcnow
from tests.conftest import make_settings, migrated
from tests.fakebotapi import FakeBotAPI
from tests.fakezalo import (
    APP_ID,
    APP_SECRET,
    OA_ID,
    OA_SECRET,
    FakeZalo,
    ZaloUser,
    signed,
)
from tests.test_officer_flow import GROUP, GROUP_ID
from tests.test_report_flow import JPEG, PNG
from tests.test_webhook import Hook, replies_to, running_webhook
from tests.updates import Resident

OFFICER = Resident(7101, "Phạm Văn Dũng", language_code="vi")


def zalo_settings(zalo: FakeZalo) -> dict[str, Any]:
    return {
        "zalo_app_id": APP_ID,
        "zalo_app_secret": APP_SECRET,
        "zalo_oa_secret": OA_SECRET,
        "zalo_oa_id": OA_ID,
        "zalo_access_token": zalo.access_token,
        "zalo_refresh_token": zalo.refresh_token,
        "zalo_api_url": zalo.url,
        "zalo_oauth_url": zalo.url,
    }


@dataclass
class Bench:
    hook: Hook
    zalo: FakeZalo

    async def post(self, body: bytes, headers: dict[str, str] | None = None) -> int:
        """Post an event to /zalo as Zalo does; returns the HTTP status."""
        async with self.hook.http.post(
            f"{self.hook.url}/zalo", data=body, headers=signed(body) if headers is None else headers
        ) as response:
            return response.status

    async def handled(self, body: bytes, timeout: float = 15.0) -> None:
        """Wait until the event's handling (its replies included) is finished."""
        event = events.event_id(json.loads(body))

        async def done() -> bool:
            async with self.hook.db.session() as session:
                row = await session.execute(
                    select(InboxUpdate.handled_at).where(
                        InboxUpdate.channel == "zalo", InboxUpdate.update_id == event
                    )
                )
                return row.scalar_one_or_none() is not None

        async def until() -> None:
            # `serve()` builds its own services, so the inbox row is the signal to wait on.
            while not await done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)

        await asyncio.wait_for(until(), timeout)

    async def say(self, user: ZaloUser, body: bytes) -> list[str]:
        """Send one event and return what the bot answered to it."""
        before = len(self.zalo.texts_to(user.user_id))
        assert await self.post(body) == 200
        await self.handled(body)
        return self.zalo.texts_to(user.user_id)[before:]

    async def press(self, user: ZaloUser, shown: list[str], label: str) -> list[str]:
        """Type the number the bot showed for the button labelled `label`."""
        for text in reversed(shown):
            for line in text.splitlines():
                match = re.fullmatch(r"(\d+)\. (.*)", line)
                if match and label in match.group(2):
                    return await self.say(user, user.text(match.group(1)))
        raise AssertionError(f"no numbered button {label!r} in {shown}")

    def cards(self, code: str) -> list[Any]:
        fake = self.hook.fake
        return [
            c
            for c in fake.calls
            if c.method == "sendMessage" and c.chat_id == GROUP_ID and code in str(c.params["text"])
        ]


@asynccontextmanager
async def zalo_bot(tmp_path: Path, db_url: str) -> AsyncIterator[Bench]:
    """`tinbao webhook` with Zalo on, an officers' group on Telegram, one officer."""
    async with FakeBotAPI() as telegram, FakeZalo() as zalo:
        extra = zalo_settings(zalo) | {
            "officer_chat_id": GROUP_ID,
            "admin_ids": [OFFICER.user_id],
            "inbox_reorder_ms": 0,
            # A few workers per channel are plenty here, and keep the connections few on a
            # PostgreSQL server other test runs share.
            "inbox_workers": 4,
        }
        async with running_webhook(tmp_path, db_url, telegram, **extra) as hook:
            yield Bench(hook, zalo)


def joined(texts: list[str]) -> str:
    return "\n".join(texts)


# ------------------------------------------------------------------------ small parts


def test_the_signature_is_sha256_of_app_id_body_timestamp_and_oa_secret() -> None:
    import hashlib

    body = b'{"app_id":"1","timestamp":"1700000000000","event_name":"user_send_text"}'
    expected = hashlib.sha256(b"1" + body + b"1700000000000" + b"secret").hexdigest()
    assert signature.sign("1", body, "1700000000000", "secret") == f"mac={expected}"
    header = f"mac={expected}"
    assert signature.verify(header, body, "secret")
    assert signature.verify(header, body, "secret", app_id="1")
    assert not signature.verify(header, body, "secret", app_id="2")  # another app's event
    assert not signature.verify(header, body, "other secret")
    assert not signature.verify(header, body.replace(b"text", b"link"), "secret")
    assert not signature.verify(None, body, "secret")
    assert not signature.verify(header, b"not json", "secret")
    assert not signature.verify(expected, body, "secret")  # the "mac=" prefix is part of it


def test_event_ids_are_stable_unique_and_in_time_order() -> None:
    user = ZaloUser("5521")
    first, second = json.loads(user.text("a")), json.loads(user.text("b"))
    assert events.event_id(first) == events.event_id(dict(first))
    assert events.event_id(first) < events.event_id(second) < 2**63
    same_time = dict(second, message={"msg_id": "other", "text": "b"})
    assert events.event_id(same_time) != events.event_id(second)


def test_events_become_the_same_inbound_messages_as_telegram_updates() -> None:
    async def fetch(url: str, limit: int) -> bytes:
        return b""

    def event(name: str, **extra: Any) -> dict[str, Any]:
        return {"app_id": APP_ID, "event_name": name, "timestamp": "1764500000000", **extra}

    sender = {"sender": {"id": "77"}, "recipient": {"id": OA_ID}}
    payload = {"url": "https://f.zdn.vn/a.pdf", "name": "hop_dong.pdf", "size": "2048"}
    file = events.to_inbound(
        event(
            "user_send_file",
            message={"msg_id": "m1", "attachments": [{"type": "file", "payload": payload}]},
            **sender,
        ),
        fetch,
        10,
    )
    assert file is not None and file.user_id == file.chat_id == "77"
    assert [(f.kind, f.name, f.size) for f in file.files] == [("document", "hop_dong.pdf", 2048)]
    place = events.to_inbound(
        event("user_send_location", message={"msg_id": "m2", "attachments": []}, **sender),
        fetch,
        10,
    )
    assert place is not None and place.unsupported == "location"
    command = events.to_inbound(
        event("user_send_text", message={"msg_id": "m3", "text": "/kiemtra 0912345678"}, **sender),
        fetch,
        10,
    )
    assert command is not None and (command.command, command.args) == ("kiemtra", "0912345678")
    gone = events.to_inbound(event("unfollow", follower={"id": "77"}), fetch, 10)
    assert gone is not None and gone.membership == "blocked"
    assert events.to_inbound(event("user_seen_message", **sender), fetch, 10) is None
    assert events.to_inbound(event("user_send_text", message={"text": "x"}), fetch, 10) is None


def test_messages_fit_zalo_with_buttons_as_a_numbered_list() -> None:
    message = Outbound("Chọn một:", [[Button("Có", "a:yes"), Button("Không", "a:no")]])
    assert render(message) == ["Chọn một:\n\n1. Có\n2. Không"]
    long = "\n".join(["dòng " + "x" * 90] * 60)
    parts = split(long)
    assert len(parts) == 3 and all(len(part) <= 2000 for part in parts)
    assert "".join(parts).replace("\n", "") == long.replace("\n", "")


async def test_a_token_refresh_under_concurrency_rotates_once(tmp_path: Path, db_url: str) -> None:
    async with FakeZalo() as zalo:
        settings = make_settings(tmp_path, db_url, **zalo_settings(zalo))
        db = await migrated(settings.effective_database_url)
        # Two processes' clients, as two `tinbao webhook` processes would have.
        apis = [ZaloApi(settings, db, utcnow), ZaloApi(settings, Database(db.url), utcnow)]
        try:
            for api in apis:
                await api.start()
            zalo.expire_token()  # the configured token died: every send must refresh first
            sends = [api.send("9001", {"text": f"tin {n}"}) for n in range(6) for api in apis]
            await asyncio.gather(*sends)
            assert len(zalo.refreshes) == 1 and zalo.refused_refreshes == 0
            assert len(zalo.sent) == 12
            async with db.session() as session:
                stored = await session.get(ZaloToken, 1)
            assert stored is not None
            assert (stored.access_token, stored.refresh_token) == (
                zalo.access_token,
                zalo.refresh_token,
            )
            assert stored.expires_at > utcnow() + timedelta(hours=24)
        finally:
            for api in apis:
                await api.stop()
            await apis[1].db.dispose()
            await db.dispose()


# ------------------------------------------------------------------------ end to end


async def test_a_complete_report_with_a_photo_reaches_the_officers_and_status_news_comes_back(
    tmp_path: Path, db_url: str
) -> None:
    async with zalo_bot(tmp_path, db_url) as bench:
        lan = ZaloUser("4417000000000000001")
        shown = await bench.say(lan, lan.follow())
        assert "Bạn có đồng ý không?" in joined(shown)
        shown = await bench.press(lan, shown, "✅")
        shown = await bench.press(lan, shown, "🚨")
        shown = await bench.press(lan, shown, "Đầu tư, tiền ảo")
        shown = await bench.press(lan, shown, "Có, tôi bị mất tiền")
        shown = await bench.say(lan, lan.text("50 triệu"))
        shown = await bench.press(lan, shown, "Hôm nay")
        shown = await bench.say(lan, lan.text("Vietcombank 0123456789 NGUYEN VAN A"))
        assert "Vietcombank 0123456789 – NGUYEN VAN A" in joined(shown)
        shown = await bench.press(lan, shown, "Tiếp tục")
        shown = await bench.say(lan, lan.link("https://vcb-xacthuc.com/login"))
        assert "vcb-xacthuc[.]com" in joined(shown)
        shown = await bench.press(lan, shown, "Tiếp tục")
        shown = await bench.say(lan, lan.text("Họ dụ tôi nạp tiền vào sàn đầu tư."))
        shown = await bench.press(lan, shown, "Tiếp tục")
        url = bench.zalo.serve_file("scam.jpg", JPEG)
        shown = await bench.say(lan, lan.image(url))
        assert "Báo cáo này hiện có 1 tệp" in joined(shown)
        shown = await bench.press(lan, shown, "Tiếp tục")
        shown = await bench.press(lan, shown, "ẩn danh")
        shown = await bench.press(lan, shown, "Gửi báo cáo")
        match = re.search(r"TB-\d{4}-\d{4}", joined(shown))
        assert match, shown
        code = match.group(0)
        assert "/tinbao" in shown[-1]  # the hint: status news may not be able to reach them
        assert all(len(text) <= 2000 for text in bench.zalo.texts_to(lan.user_id))

        # The card is in the officers' queue on Telegram at once, marked with its channel.
        card = bench.cards(code)[-1]
        assert "qua Zalo" in str(card.params["text"])
        async with bench.hook.db.session() as session:
            report = (await session.execute(select(Report).where(Report.code == code))).one()[0]
        assert report.channel == "zalo" and report.announced_at is not None
        async with bench.hook.db.session() as session:
            files = (
                (await session.execute(select(Attachment).where(Attachment.report_id == report.id)))
                .scalars()
                .all()
            )
        # Downloaded from Zalo's URL at once, and kept as received.
        assert [(f.mime, f.size) for f in files] == [("image/jpeg", len(JPEG))]

        # Inside the window, the officer's claim reaches the resident on Zalo at once.
        before = len(bench.zalo.texts_to(lan.user_id))
        claim = OFFICER.callback(f"o:claim:{report.id}", chat=GROUP)
        assert await bench.hook.post(claim) == 200
        texts = await bench.zalo.wait_for(lan.user_id, before + 1)
        assert code in texts[-1] and "cán bộ công an" in texts[-1].lower()

        # An officer's question reaches the resident on Zalo; the answer, text and photo,
        # reaches the officer on Telegram.
        await bench.hook.post(OFFICER.callback(f"o:ask:{report.id}"))
        await bench.hook.post(OFFICER.text("Ứng dụng đầu tư tên là gì?"))
        texts = await bench.zalo.wait_for(lan.user_id, before + 2)
        assert "Ứng dụng đầu tư tên là gì?" in texts[-1] and OFFICER.first_name not in texts[-1]
        shown = await bench.press(lan, texts[-1:], "Trả lời")
        shown = await bench.say(lan, lan.text("Ứng dụng tên là GoldenFX"))
        assert "chuyển câu trả lời" in joined(shown)
        relayed = await replies_to(bench.hook.fake, OFFICER.user_id, 3)
        assert any("GoldenFX" in text and code in text for text in relayed)
        shown = await bench.say(lan, lan.image(bench.zalo.serve_file("answer.jpg", PNG)))
        uploads = [
            c
            for c in bench.hook.fake.calls
            if c.method == "sendDocument" and c.chat_id == OFFICER.user_id
        ]
        assert len(uploads) == 1  # uploaded from the stored copy: Zalo's URL means nothing there
        # The queue lists it with its channel, and the detail view says it too.
        await bench.hook.post(OFFICER.command("cuatoi"))
        listed = await replies_to(bench.hook.fake, OFFICER.user_id, len(relayed) + 1)
        assert any(code in text and "· Zalo" in text for text in listed), listed
        relayed = listed
        # The officer's detail view says the report came through Zalo.
        await bench.hook.post(OFFICER.command("xem", code))
        details = await replies_to(bench.hook.fake, OFFICER.user_id, len(relayed) + 1)
        assert any(code in text and "qua Zalo" in text for text in details), details

        # Two days later the window has closed: the next notice is kept, not sent...
        async with bench.hook.db.session() as session:
            await session.execute(
                update(ZaloChat)
                .where(ZaloChat.external_id == lan.user_id)
                .values(last_inbound_at=utcnow() - timedelta(hours=49))
            )
        sent = len(bench.zalo.sent)
        assert (
            await bench.hook.post(OFFICER.callback(f"o:st:{report.id}:verified", chat=GROUP)) == 200
        )
        await held_for(bench.hook.db, lan.user_id)
        assert len(bench.zalo.sent) == sent
        # ...and delivered, before the answer, when the resident writes again.
        shown = await bench.say(lan, lan.text("/tinbao"))
        assert code in shown[0] and "xác minh" in shown[0]
        assert code in shown[-1]
        async with bench.hook.db.session() as session:
            assert (await session.execute(select(ZaloHeld))).first() is None


async def held_for(db: Database, user_id: str, timeout: float = 10.0) -> None:
    async def until() -> None:
        while True:
            async with db.session() as session:
                row = await session.execute(select(ZaloHeld).where(ZaloHeld.external_id == user_id))
                if row.first() is not None:
                    return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(until(), timeout)


async def test_checks_bad_signatures_duplicates_and_stickers_on_zalo(
    tmp_path: Path, db_url: str
) -> None:
    async with zalo_bot(tmp_path, db_url) as bench:
        minh = ZaloUser("4417000000000000002")
        # The instant check needs no consent: a link sent on its own is checked.
        shown = await bench.say(minh, minh.link("https://vcb-xacthuc.com/login"))
        assert "vcb-xacthuc[.]com" in joined(shown)
        shown = await bench.say(minh, minh.text("/kiemtra 0912345678"))
        assert "0912 345 678" in joined(shown) or "091 234 56 78" in joined(shown)

        # A forged event is refused and stores nothing.
        forged = minh.text("/kiemtra 0912345678")
        bad = signed(forged, secret="not the OA secret")
        assert await bench.post(forged, bad) == 403
        assert await bench.post(forged, {"Content-Type": "application/json"}) == 403
        async with bench.hook.db.session() as session:
            event = events.event_id(json.loads(forged))
            stored = await session.execute(
                select(InboxUpdate).where(InboxUpdate.update_id == event)
            )
            assert stored.first() is None

        # The same event delivered twice is answered once.
        twice = minh.text("/kiemtra 0987654321")
        first = await bench.say(minh, twice)
        assert first
        again = await bench.say(minh, twice)
        assert again == []

        # Stickers get the same polite answer as on Telegram (once the notice is agreed to).
        shown = await bench.say(minh, minh.sticker())
        shown = await bench.press(minh, shown, "✅")
        shown = await bench.say(minh, minh.sticker())
        assert "Mình chưa đọc được nhãn dán" in joined(shown), shown

        # Their data export cannot be attached on Zalo: they are told so, kindly.
        shown = await bench.say(minh, minh.text("/dulieucuatoi"))
        assert "Tài khoản: Zalo" in joined(shown)
        shown = await bench.press(minh, shown, "Gửi dưới dạng tệp")
        assert "Trên Zalo mình chưa gửi được tệp" in joined(shown), shown


async def test_zalo_is_off_without_its_settings(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url)
    assert not settings.zalo_enabled
    async with FakeBotAPI() as telegram, running_webhook(tmp_path, db_url, telegram) as hook:
        async with hook.http.post(f"{hook.url}/zalo", data=b"{}") as response:
            assert response.status in (404, 405)


async def test_free_replies_stop_at_zalo_limit_and_strangers_are_forgotten(db: Database) -> None:
    from storage import zalo as store
    from storage.models import User

    now = utcnow()
    async with db.session() as session:
        await store.seen(session, "111", now - timedelta(hours=1))
        await store.seen(session, "222", now - timedelta(hours=50))
        session.add(User(channel="zalo", external_id="222", consent_at=now))
    window = now - timedelta(hours=48)
    async with db.session() as session:
        taken = [await store.take_reply(session, "111", window, 8) for _ in range(9)]
        assert taken == [True] * 8 + [False]  # the ninth waits for the resident's next message
        assert not await store.take_reply(session, "222", window, 8)  # the window closed
        assert not await store.take_reply(session, "333", window, 8)  # never wrote
    async with db.session() as session:
        await store.seen(session, "111", now)  # they wrote again: a fresh window
        assert await store.take_reply(session, "111", now - timedelta(hours=48), 8)
        await store.set_following(session, "111", False)  # unfollowed: nothing more is sent
        assert not await store.take_reply(session, "111", now - timedelta(hours=48), 8)
    async with db.session() as session:
        await store.seen(session, "444", now - timedelta(hours=60))  # wrote, never agreed
        assert await store.prune_strangers(session, window) == 1
        left = (await session.execute(select(ZaloChat.external_id))).scalars().all()
        await store.hold(session, "222", "cũ", now - timedelta(days=31))
        await store.hold(session, "222", "mới", now - timedelta(days=1))
        assert await store.prune_held(session, now - timedelta(days=30)) == 1
        assert await store.take_held(session, "222") == ["mới"]
    assert sorted(left) == ["111", "222"]


async def test_a_warning_reaches_zalo_followers_within_their_monthly_quota(
    tmp_path: Path, db_url: str
) -> None:
    async with zalo_bot(tmp_path, db_url) as bench:
        fake = bench.hook.fake
        followers = [ZaloUser("4417000000000000010"), ZaloUser("4417000000000000011")]
        for user in followers:
            shown = await bench.say(user, user.follow())
            await bench.press(user, shown, "✅")
            shown = await bench.say(user, user.text("/nhancanhbao"))
            assert "Mình sẽ gửi bạn cảnh báo" in joined(shown)
        # The second follower already had this month's warnings.
        month = utcnow().astimezone(VIETNAM).strftime("%Y-%m")
        async with bench.hook.db.session() as session:
            await session.execute(
                update(ZaloChat)
                .where(ZaloChat.external_id == followers[1].user_id)
                .values(warnings_month=month, warnings_sent=4)
            )
        start = fake.mark()
        await bench.hook.post(OFFICER.command("canhbao"))
        await bench.hook.post(OFFICER.text("Cảnh giác với tin nhắn giả danh ngân hàng."))
        preview = await fake.wait_for(
            lambda c: "bc:send:1" in json.dumps(c.params.get("reply_markup") or {}), start=start
        )
        assert "2" in json.dumps(preview.params["reply_markup"], ensure_ascii=False)
        await bench.hook.post(OFFICER.callback("bc:send:1"))
        progress = await fake.wait_for_text(OFFICER.user_id, after=start, contains="100%")
        assert "Bỏ qua: 1 người" in str(progress.params["text"])
        # The summary counts the skipped follower apart from those who received it.
        summary = await fake.wait_for_text(OFFICER.user_id, after=start, contains="Đã nhận: 1/2")
        assert "Bỏ qua: 1 người" in str(summary.params["text"])
        got = [t for t in bench.zalo.texts_to(followers[0].user_id) if "giả danh ngân hàng" in t]
        assert len(got) == 1 and "/huynhan" in got[0]
        assert not [t for t in bench.zalo.texts_to(followers[1].user_id) if "ngân hàng" in t]
