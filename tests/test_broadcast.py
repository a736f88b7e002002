"""Scam warnings end to end: subscriptions, composing, sending at the rate limit, never twice.

Everything runs through the real PTB Application against the fake Bot API over HTTP; the
broadcast sender is the one `tinbao run` starts, and the fake answers 429, 403, 400 and 500
the way Telegram does.
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from storage import broadcasts
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Broadcast, BroadcastDelivery, Subscription, User, utcnow
from tests.conftest import Harness, running_bot
from tests.fakebotapi import Call, FakeBotAPI
from tests.test_cli import tinbao
from tests.test_crash import start_bot
from tests.test_officer_flow import file_report
from tests.test_report_flow import JPEG, agree, joined
from tests.updates import Resident, _now

ADMIN = Resident(8001, "Phạm Văn Quản", language_code="en")
ADMIN_2 = Resident(8002, "Đỗ Thị Duyệt", language_code="en")
FAST = {
    "broadcast_rate": 30.0,
    "broadcast_progress_seconds": 0.2,
    "broadcast_lease_seconds": 3.0,
}
WARNING = "Cảnh giác tin nhắn 'phạt nguội' giả mạo: không bấm vào đường link lạ."


@pytest.fixture
async def bot(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id], **FAST) as h:
        yield h


# ------------------------------------------------------------------------------- helpers


def sent_to(h: Harness, chat_id: int) -> list[Call]:
    """Warnings the fake Telegram accepted for a chat."""
    return [
        c
        for c in h.fake.calls
        if c.method in ("sendMessage", "sendPhoto")
        and c.ok
        and c.chat_id == chat_id
        and "⚠️" in str(c.params.get("text") or c.params.get("caption") or "")
    ]


def data_in(calls: list[Call], label_part: str) -> str:
    """The callback data of the newest button whose label contains `label_part`."""
    for call in reversed(calls):
        for label, data in Harness.buttons(call):
            if label_part in label:
                return data
    raise AssertionError(f"no button {label_part!r} in:\n{joined(calls)}")


async def tap(h: Harness, r: Resident, calls: list[Call], label_part: str) -> list[Call]:
    return await h.send(r.callback(data_in(calls, label_part)))


async def subscribe(h: Harness, r: Resident) -> None:
    calls = await agree(h, r)
    calls = await tap(h, r, calls, "🔔")
    assert "Mình sẽ gửi bạn cảnh báo" in joined(calls) or "I will send you" in joined(calls)


async def seed_subscribers(h: Harness, first: int, n: int, language: str = "vi") -> list[int]:
    """Subscribers written straight to the database (the flow itself is tested above)."""
    ids = list(range(first, first + n))
    async with h.services.db.session() as session:
        for chat in ids:
            user = User(
                channel="telegram",
                external_id=str(chat),
                language=language,
                consent_at=utcnow(),
                consent_version="2026-11",
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            await broadcasts.set_subscribed(session, user.id, True, utcnow())
    return ids


async def compose(h: Harness, admin: Resident, text: str) -> list[Call]:
    calls = await h.send(admin.command("canhbao"))
    assert "Send me the text residents should read" in joined(calls)
    return await h.send(admin.text(text))


async def wait_status(
    h: Harness, broadcast_id: int, *statuses: str, timeout: float = 30.0
) -> Broadcast:
    async def poll() -> Broadcast:
        while True:
            async with h.services.db.session() as session:
                found = await session.get(Broadcast, broadcast_id)
                assert found is not None
                # A finished broadcast is final once its sender has let it go.
                final = found.status not in ("cancelled", "done") or found.lease_owner is None
                if found.status in statuses and final:
                    return found
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def deliveries(h: Harness, broadcast_id: int) -> dict[str, str]:
    """Chat id → delivery state."""
    async with h.services.db.session() as session:
        rows = await session.execute(
            select(BroadcastDelivery.chat_id, BroadcastDelivery.state).where(
                BroadcastDelivery.broadcast_id == broadcast_id
            )
        )
        return {chat: state for chat, state in rows.all()}


async def subscribed(h: Harness, chat_id: int) -> bool | None:
    async with h.services.db.session() as session:
        row = await session.execute(
            select(Subscription.active)
            .join(User, col(User.id) == Subscription.user_id)
            .where(User.external_id == str(chat_id))
        )
        return row.scalar_one_or_none()


def my_chat_member(r: Resident, status: str) -> dict[str, Any]:
    """Telegram's update when a user blocks (`kicked`) or restarts (`member`) the bot."""
    return {
        "my_chat_member": {
            "chat": r.chat,
            "from": r.user,
            "date": _now(),
            "old_chat_member": {"status": "member", "user": r.bot},
            "new_chat_member": {
                "status": status,
                "user": r.bot,
                **({"until_date": 0} if status == "kicked" else {}),
            },
        }
    }


async def until(predicate: Any, timeout: float = 20.0) -> None:
    """Wait until `predicate()` holds (for what the fake has received so far)."""

    async def poll() -> None:
        while True:
            if predicate():
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)


def progress_edits(h: Harness, chat_id: int) -> list[str]:
    return [
        str(c.params.get("text", ""))
        for c in h.fake.calls
        if c.method == "editMessageText" and c.chat_id == chat_id and c.ok
    ]


# ------------------------------------------------------------------------- subscriptions


async def test_residents_are_offered_warnings_once_and_can_stop_and_restart(bot: Harness) -> None:
    h, r = bot, Resident(8101, "Lan")
    calls = await agree(h, r)
    assert "Bạn có muốn mình báo cho bạn khi có chiêu lừa đảo mới không?" in joined(calls)
    assert "🚨" in calls[-1].params["reply_markup"]["inline_keyboard"][0][0]["text"]  # menu last
    calls = await tap(h, r, calls, "Không, cảm ơn")
    assert "mình sẽ không gửi cảnh báo" in joined(calls)
    assert await subscribed(h, r.user_id) is False
    # The offer is made once: not again at the next /start.
    calls = await h.send(r.command("start"))
    assert "Bạn có muốn mình báo cho bạn" not in joined(calls)
    calls = await h.send(r.command("nhancanhbao"))
    assert "Mình sẽ gửi bạn cảnh báo khi có chiêu lừa đảo mới" in joined(calls)
    assert await subscribed(h, r.user_id) is True
    calls = await h.send(r.command("subscribe"))
    assert "Bạn đang nhận cảnh báo lừa đảo rồi" in joined(calls)
    calls = await h.send(r.command("huynhan"))
    assert "Bạn sẽ không nhận cảnh báo lừa đảo nữa" in joined(calls)
    assert await subscribed(h, r.user_id) is False
    calls = await h.send(r.command("unsubscribe"))
    assert "Bạn chưa nhận cảnh báo lừa đảo" in joined(calls)
    # The help lists both commands.
    calls = await h.send(r.command("trogiup"))
    assert "/nhancanhbao" in joined(calls) and "/huynhan" in joined(calls)


async def test_subscribing_before_consent_asks_consent_first_then_subscribes(
    bot: Harness,
) -> None:
    h, r = bot, Resident(8102, "Minh", language_code="en")
    calls = await h.send(r.command("subscribe"))
    assert "Do you agree?" in joined(calls)
    assert await subscribed(h, r.user_id) is None  # nothing stored before consent
    calls = await tap(h, r, calls, "✅")
    assert "I will send you warnings about new scams" in joined(calls)
    assert await subscribed(h, r.user_id) is True


async def test_a_resident_who_came_to_report_is_offered_warnings_after_the_report(
    bot: Harness,
) -> None:
    h, r = bot, Resident(8103, "Hoa")
    calls = await h.send(r.command("baocao"))  # agreeing in order to report: no offer yet
    calls = await tap(h, r, calls, "✅")
    assert "Bạn có muốn mình báo cho bạn" not in joined(calls) and "Chuyện gì đã xảy ra" in joined(
        calls
    )
    await h.send(r.callback("cancel:yes"))
    start = h.fake.mark()
    await file_report(h, r, again=True)
    texts = [str(c.params.get("text", "")) for c in h.fake.calls[start:] if c.chat_id == r.user_id]
    offers = [i for i, text in enumerate(texts) if "Bạn có muốn mình báo cho bạn" in text]
    submitted = [i for i, text in enumerate(texts) if "TB-" in text]
    assert len(offers) == 1 and submitted and offers[0] > submitted[0], texts
    await h.send(r.callback("sub:yes"))
    assert await subscribed(h, r.user_id) is True
    # A second report brings no second offer.
    start = h.fake.mark()
    await file_report(h, r, again=True)
    assert "Bạn có muốn mình báo cho bạn" not in joined(h.fake.calls[start:])


async def test_a_resident_who_blocks_the_bot_is_unsubscribed(bot: Harness) -> None:
    h, r = bot, Resident(8104, "Tuấn")
    await subscribe(h, r)
    start = h.fake.mark()
    update_id = h.fake.push_update(my_chat_member(r, "kicked"))
    await asyncio.wait_for(h._event(update_id).wait(), 10)
    assert await subscribed(h, r.user_id) is False
    assert not [c for c in h.fake.calls[start:] if c.chat_id == r.user_id]  # nothing said


# ----------------------------------------------------------------------------- composing


async def test_an_admin_composes_previews_edits_and_sends_a_warning(bot: Harness) -> None:
    h = bot
    people = [Resident(8110 + i, f"Dân {i}") for i in range(3)]
    for r in people:
        await subscribe(h, r)
    english = Resident(8119, "Anna", language_code="en")
    await subscribe(h, english)
    calls = await compose(h, ADMIN, "Bản nháp đầu tiên")
    preview = calls[0].params["text"]
    assert "⚠️ Cảnh báo lừa đảo" in preview and "Bản nháp đầu tiên" in preview
    assert "Muốn ngừng nhận, hãy gửi /huynhan" in preview
    assert "exactly as residents will receive it" in joined(calls)
    assert "everyone subscribed (4 people now)" in joined(calls)
    # Edit the text: the preview follows.
    calls = await tap(h, ADMIN, calls, "Change the text")
    assert "Send the new text" in joined(calls)
    calls = await h.send(ADMIN.text(WARNING))
    preview = str(calls[0].params["text"])
    assert "phạt nguội" in preview and "Bản nháp" not in preview
    # Choose the Vietnamese-speaking subscribers only.
    calls = await tap(h, ADMIN, calls, "Tiếng Việt")
    assert "subscribers who use Vietnamese (3 people now)" in joined(calls)
    calls = await tap(h, ADMIN, calls, "Send to 3")
    assert "Warning #1: starting to send to 3 people" in joined(calls)
    done = await wait_status(h, 1, "done")
    assert (done.total, done.sent, done.blocked, done.failed) == (3, 3, 0, 0)
    async with h.services.db.session() as session:
        admin = (
            await session.execute(select(User).where(User.external_id == str(ADMIN.user_id)))
        ).scalar_one()
    assert done.author_id == admin.id and done.approver_id is None and done.text == WARNING
    for r in people:
        (got,) = sent_to(h, r.user_id)
        assert got.params["text"] == preview  # exactly what the admin saw
        assert got.params.get("link_preview_options", {}).get("is_disabled", True)
    assert sent_to(h, english.user_id) == []  # not in the audience
    # The progress message was edited in place, then a summary was sent.
    edits = progress_edits(h, ADMIN.user_id)
    assert any("Warning #1 sent" in text and "100%" in text for text in edits), edits
    summary = await h.fake.wait_for_text(ADMIN.user_id, contains="was sent in", timeout=10)
    assert "Received it: 3 of 3." in str(summary.params["text"])


async def test_a_warning_with_a_photo_goes_by_its_file_id_and_too_long_text_is_refused(
    bot: Harness,
) -> None:
    h = bot
    ids = await seed_subscribers(h, 8200, 4)
    await h.send(ADMIN.command("canhbao"))
    file_id, unique = h.fake.add_file(JPEG)
    calls = await h.send(ADMIN.photo(file_id, unique, size=len(JPEG)))
    assert "Photo added. Now send the text" in joined(calls)
    calls = await h.send(ADMIN.text("x " * 500))
    assert "with a photo, a warning can have at most 800" in joined(calls)
    calls = await h.send(ADMIN.text(WARNING))
    previews = [c for c in h.fake.calls if c.method == "sendPhoto" and c.chat_id == ADMIN.user_id]
    assert previews[-1].params["photo"] == file_id  # the admin's own photo, as residents see it
    assert "phạt nguội" in str(previews[-1].params["caption"])
    # Telegram refuses the id once: the photo is uploaded, and its new id used from then on.
    h.fake.fail_next(
        "sendPhoto", status=400, description="Bad Request: wrong file identifier", chat_id=ids[0]
    )
    await tap(h, ADMIN, calls, "Send to 4")
    await wait_status(h, 1, "done")
    to_them = [c for c in h.fake.calls if c.method == "sendPhoto" and c.chat_id in ids and c.ok]
    uploads = [c for c in to_them if not isinstance(c.params["photo"], str)]
    assert len(uploads) == 1 and len(to_them) == 4
    for chat in ids:
        (got,) = sent_to(h, chat)
        assert "phạt nguội" in str(got.params["caption"])


async def test_only_admins_can_write_warnings_and_nobody_to_send_to_is_said(bot: Harness) -> None:
    h = bot
    r = Resident(8120, "Lan")
    await agree(h, r)
    calls = await h.send(r.command("canhbao"))
    assert "chỉ dành cho cán bộ" in joined(calls)
    calls = await h.send(r.callback("bc:send:1"))
    assert any("chỉ dành cho cán bộ" in str(c.params.get("text", "")) for c in h.fake.calls[-3:])
    composed = await compose(h, ADMIN, WARNING)
    calls = await tap(h, ADMIN, composed, "Send to 0")
    assert "Nobody in this audience receives warnings yet" in joined(calls)
    async with h.services.db.session() as session:
        b = await session.get(Broadcast, 1)
    assert b is not None and b.status == "draft"  # kept for when people subscribe
    calls = await tap(h, ADMIN, composed, "Cancel")
    assert "Warning #1 cancelled; nothing was sent." in joined(calls)


async def test_two_admins_one_writes_the_other_approves(tmp_path: Path, db_url: str) -> None:
    admins = [ADMIN.user_id, ADMIN_2.user_id]
    async with running_bot(
        tmp_path, db_url, admin_ids=admins, broadcast_approval=True, **FAST
    ) as h:
        await h.send(ADMIN_2.command("start"))  # the second admin opened a chat with the bot
        ids = await seed_subscribers(h, 8300, 3)
        calls = await compose(h, ADMIN, WARNING)
        assert "Another admin must approve it before it is sent." in joined(calls)
        calls = await tap(h, ADMIN, calls, "Ask another admin")
        assert "waiting for approval from" in joined(calls)
        asks = [c for c in h.fake.calls if c.chat_id == ADMIN_2.user_id and c.ok]
        assert any("phạt nguội" in str(c.params.get("text", "")) for c in asks)  # the preview
        # The second admin never chose a language: Vietnamese, the default.
        assert any("đề nghị đồng chí duyệt" in str(c.params.get("text", "")) for c in asks)
        # The author cannot approve their own warning.
        await h.send(ADMIN.callback(data_in(asks, "Duyệt và gửi")))
        toast = [c for c in h.fake.calls if c.method == "answerCallbackQuery"][-1]
        assert "Another admin must approve" in str(toast.params.get("text"))
        # The second admin does not approve: it goes back to its author.
        calls = await h.send(ADMIN_2.callback(data_in(asks, "Không duyệt")))
        told = await h.fake.wait_for_text(ADMIN.user_id, contains="did not approve", timeout=5)
        assert "/canhbao" in str(told.params["text"])
        assert not any(sent_to(h, chat) for chat in ids)
        # The author asks again; this time it is approved and sent.
        calls = await h.send(ADMIN.command("canhbao"))
        calls = await tap(h, ADMIN, calls, "Ask another admin")
        asks = [c for c in h.fake.calls if c.chat_id == ADMIN_2.user_id and c.ok]
        calls = await h.send(ADMIN_2.callback(data_in(asks, "Duyệt và gửi")))
        assert "starting to send to 3 people" in joined(calls)
        await h.fake.wait_for_text(ADMIN.user_id, contains="approved warning #1", timeout=5)
        done = await wait_status(h, 1, "done")
        async with h.services.db.session() as session:
            approver = (
                await session.execute(select(User).where(User.external_id == str(ADMIN_2.user_id)))
            ).scalar_one()
        assert done.approver_id == approver.id and done.approved_at is not None
        assert done.sent == 3 and all(len(sent_to(h, chat)) == 1 for chat in ids)


# ----------------------------------------------------------------------------- delivery


async def test_blocked_and_vanished_users_are_unsubscribed_and_a_refusal_is_not_retried(
    bot: Harness,
) -> None:
    h = bot
    ids = await seed_subscribers(h, 8400, 6)
    h.fake.block_chat(ids[0])
    h.fake.gone_chat(ids[1])
    h.fake.fail_next("sendMessage", status=400, description="Bad Request: odd", chat_id=ids[2])
    calls = await compose(h, ADMIN, WARNING)
    await tap(h, ADMIN, calls, "Send to 6")
    done = await wait_status(h, 1, "done")
    assert (done.sent, done.blocked, done.failed) == (3, 2, 1)
    states = await deliveries(h, 1)
    assert states[str(ids[0])] == states[str(ids[1])] == "blocked"
    assert states[str(ids[2])] == "failed"
    assert await subscribed(h, ids[0]) is False and await subscribed(h, ids[1]) is False
    assert await subscribed(h, ids[2]) is True  # a refused message is not a blocked user
    refused = [c for c in h.fake.calls if c.method == "sendMessage" and c.chat_id == ids[2]]
    assert len(refused) == 1
    summary = await h.fake.wait_for_text(ADMIN.user_id, contains="was sent in", timeout=10)
    assert "Blocked the bot: 2" in str(summary.params["text"])
    assert "Could not be reached: 1." in str(summary.params["text"])


async def test_server_errors_are_retried_with_backoff_and_arrive_once(bot: Harness) -> None:
    h = bot
    ids = await seed_subscribers(h, 8450, 3)
    h.fake.fail_next("sendMessage", status=500, times=1, chat_id=ids[1])
    calls = await compose(h, ADMIN, WARNING)
    await tap(h, ADMIN, calls, "Send to 3")
    done = await wait_status(h, 1, "done", timeout=20)
    assert done.sent == 3
    tries = [c for c in h.fake.calls if c.method == "sendMessage" and c.chat_id == ids[1]]
    assert [c.status for c in tries] == [500, 200]
    assert tries[1].at - tries[0].at >= 1.5  # waited before trying again
    assert all(len(sent_to(h, chat)) == 1 for chat in ids)


async def test_a_429_storm_is_ridden_out_and_nobody_gets_the_warning_twice(
    bot: Harness,
) -> None:
    h = bot
    ids = await seed_subscribers(h, 8500, 40)
    h.fake.rate_limit = 10  # Telegram takes 10 a second here; the sender tries 30
    calls = await compose(h, ADMIN, WARNING)
    h.fake.flood_wait(1.5, retry_after=1)  # and a flood wait right at the start
    await tap(h, ADMIN, calls, "Send to 40")
    done = await wait_status(h, 1, "done", timeout=60)
    assert h.fake.limited > 0
    assert done.sent == 40
    counts = Counter(c.chat_id for c in h.fake.calls if c.method == "sendMessage" and c.ok)
    assert all(counts[chat] == 1 for chat in ids), counts
    async with h.services.db.session() as session:
        attempts = await session.execute(
            select(BroadcastDelivery.attempts).where(BroadcastDelivery.broadcast_id == 1)
        )
        assert max(attempts.scalars()) > 1  # some were refused with 429 and sent again
    assert any("asked to slow down" in text for text in progress_edits(h, ADMIN.user_id))


async def test_pause_resume_and_stop_from_the_admins_chat(tmp_path: Path, db_url: str) -> None:
    async with running_bot(
        tmp_path, db_url, admin_ids=[ADMIN.user_id], **(FAST | {"broadcast_rate": 10.0})
    ) as h:
        ids = await seed_subscribers(h, 8600, 30)

        def delivered() -> int:
            return sum(len(sent_to(h, chat)) for chat in ids)

        calls = await compose(h, ADMIN, WARNING)
        calls = await tap(h, ADMIN, calls, "Send to 30")
        await until(lambda: delivered() >= 5)
        await tap(h, ADMIN, calls, "Pause")
        await wait_status(h, 1, "paused")
        await h.fake.wait_for(
            lambda c: c.method == "editMessageText" and "paused" in str(c.params.get("text")),
            timeout=5,
        )
        before = delivered()
        await asyncio.sleep(1.0)
        assert delivered() == before < 30  # nothing goes out while paused
        paused = [c for c in h.fake.calls if "paused" in str(c.params.get("text"))]
        await tap(h, ADMIN, paused, "Resume")
        done = await wait_status(h, 1, "done", timeout=20)
        assert done.sent == 30 and all(len(sent_to(h, chat)) == 1 for chat in ids)

        # A second warning is stopped halfway: the rest never receive it.
        calls = await compose(h, ADMIN, "Cảnh báo thứ hai về sàn đầu tư tiền ảo.")
        calls = await tap(h, ADMIN, calls, "Send to 30")

        def second() -> list[Call]:
            return [
                c
                for c in h.fake.calls
                if c.ok and "thứ hai" in str(c.params.get("text")) and c.chat_id in ids
            ]

        await until(lambda: len(second()) >= 4)
        calls = await tap(h, ADMIN, calls, "Stop")
        assert "Stop sending warning #2?" in joined(calls)
        calls = await tap(h, ADMIN, calls, "Yes, stop sending")
        stopped = await wait_status(h, 2, "cancelled", timeout=10)
        await asyncio.sleep(0.5)
        got = [c for c in h.fake.calls if c.ok and "thứ hai" in str(c.params.get("text"))]
        got = [c for c in got if c.chat_id != ADMIN.user_id]
        assert 4 <= len(got) == stopped.sent < 30
        summary = await h.fake.wait_for_text(
            ADMIN.user_id, contains="was stopped after", timeout=10
        )
        assert f"Not sent because it was stopped: {30 - stopped.sent}." in str(
            summary.params["text"]
        )


# -------------------------------------------------------------------------------- stats


async def test_officers_see_statistics_and_the_cli_prints_them(tmp_path: Path, db_url: str) -> None:
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id], **FAST) as h:
        await file_report(h, Resident(8700, "Lan"))  # 50 triệu lost, investment
        await seed_subscribers(h, 8710, 2)
        calls = await compose(h, ADMIN, WARNING)
        await tap(h, ADMIN, calls, "Send to 2")
        await wait_status(h, 1, "done")
        calls = await h.send(ADMIN.command("thongke"))
        text = joined(calls)
        assert "Last 7 days: 1 reports" in text or "Last 7 days: 1 report" in text
        assert "₫50,000,000" in text and "Investment" in text
        assert "Receiving scam warnings: 2" in text
        assert "#1" in text and "sent 2 of 2" in text
        calls = await h.send(Resident(8700, "Lan").command("thongke"))
        assert "chỉ dành cho cán bộ" in joined(calls)
    result = tinbao("stats", "--json", cwd=tmp_path, db_url=db_url)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    week = figures["periods"][0]
    assert week["days"] == 7 and week["reports"] == 1 and week["money_lost_vnd"] == 50_000_000
    assert week["by_category"] == {"investment": 1}
    assert figures["subscribers"] == {"vi": 2}
    assert figures["warnings"][0]["sent"] == 2
    text = tinbao("stats", cwd=tmp_path, db_url=db_url)
    assert "Đang nhận cảnh báo lừa đảo: 2 người" in text.stdout


async def test_recipients_are_fixed_when_sending_starts(bot: Harness) -> None:
    h = bot
    await seed_subscribers(h, 8800, 2)
    calls = await compose(h, ADMIN, WARNING)
    await tap(h, ADMIN, calls, "Send to 2")
    await wait_status(h, 1, "done")
    late = await seed_subscribers(h, 8810, 1)
    await asyncio.sleep(0.3)
    assert sent_to(h, late[0]) == []  # they receive the next warning, not this one again
    async with h.services.db.session() as session:
        first = await session.get(Broadcast, 1)
    assert first is not None and first.total == 2


# ------------------------------------------------------------------------- kill -9 halfway


async def test_a_sender_killed_halfway_resumes_and_everyone_gets_it_exactly_once(
    tmp_path: Path, db_url: str
) -> None:
    """`tinbao run` is killed with SIGKILL while warnings are on their way; a new process
    takes the broadcast over: every subscriber has the warning exactly once, and the ones that
    were on their way when it died are counted as "perhaps received", not sent again."""
    data = tmp_path / "data"
    data.mkdir()
    db = Database(db_url)
    await upgrade(db)
    ids = list(range(8900, 8960))
    now = utcnow()
    async with db.session() as session:
        for chat in ids:
            user = User(
                channel="telegram",
                external_id=str(chat),
                language="vi",
                consent_at=now,
                consent_version="2026-11",
            )
            session.add(user)
            await session.flush()
            assert user.id is not None
            await broadcasts.set_subscribed(session, user.id, True, now)
        admin = User(channel="telegram", external_id=str(ADMIN.user_id), role="admin")
        session.add(admin)
        await session.flush()
        assert admin.id is not None
        draft = await broadcasts.new_draft(session, "telegram", admin.id, now)
        draft.text = WARNING
        session.add(draft)
        await session.flush()
        assert draft.id is not None
        started = await broadcasts.start_sending(
            session, draft.id, ("draft",), now, approver_id=None, progress_chat=str(ADMIN.user_id)
        )
        assert started == len(ids)
    settings = {
        "TINBAO_ADMIN_IDS": str(ADMIN.user_id),
        "TINBAO_BROADCAST_RATE": "20",
        "TINBAO_BROADCAST_LEASE_SECONDS": "2",
        "TINBAO_BROADCAST_PROGRESS_SECONDS": "0.5",
    }

    def accepted(fake: FakeBotAPI) -> Counter[int | None]:
        return Counter(
            c.chat_id
            for c in fake.calls
            if c.method == "sendMessage" and c.ok and "⚠️" in str(c.params.get("text"))
        )

    async with FakeBotAPI() as fake:
        first = start_bot(fake, db_url, data, **settings)
        try:
            await asyncio.wait_for(_until(lambda: sum(accepted(fake).values()) >= 15), 60)
            fake.hold()  # Telegram stops answering: warnings are on their way, unanswered
            await asyncio.wait_for(_steady(lambda: len(fake.held)), 30)
            # Warnings only: the admin's progress message may be among the held calls too.
            on_their_way = {
                c.chat_id
                for c in fake.held
                if c.method == "sendMessage" and "⚠️" in str(c.params.get("text"))
            }
            assert on_their_way
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        finally:
            if first.poll() is None:
                first.kill()
        fake.release()  # Telegram delivers them after all: the sender never learns it
        await asyncio.sleep(0.3)
        second = start_bot(fake, db_url, data, **settings)
        try:
            await asyncio.wait_for(_until_done(db, draft.id), 60)
            summary = await fake.wait_for_text(ADMIN.user_id, contains="đã gửi xong", timeout=30)
        finally:
            second.terminate()
            second.wait(timeout=30)
    await db.dispose()
    got = accepted(fake)
    assert set(got) == set(ids)
    assert all(n == 1 for n in got.values()), got  # nobody twice
    db = Database(db_url)
    try:
        async with db.session() as session:
            states = Counter(
                (
                    await session.execute(
                        select(BroadcastDelivery.state).where(
                            BroadcastDelivery.broadcast_id == draft.id
                        )
                    )
                ).scalars()
            )
            done = await session.get(Broadcast, draft.id)
    finally:
        await db.dispose()
    assert states == {"sent": len(ids) - len(on_their_way), "unknown": len(on_their_way)}
    assert done is not None and done.unknown == len(on_their_way)
    assert f"Có thể đã nhận: {len(on_their_way)}" in str(summary.params["text"])


async def _until(predicate: Any) -> None:
    while True:
        if predicate():
            return
        await asyncio.sleep(0.05)


async def _steady(count: Any, quiet: float = 0.6) -> None:
    """Wait until `count()` is positive and has not changed for `quiet` seconds."""
    last, since = -1, asyncio.get_running_loop().time()
    while True:
        now, value = asyncio.get_running_loop().time(), count()
        if value != last:
            last, since = value, now
        elif value > 0 and now - since >= quiet:
            return
        await asyncio.sleep(0.05)


async def _until_done(db: Database, broadcast_id: int) -> None:
    while True:
        async with db.session() as session:
            found = await session.get(Broadcast, broadcast_id)
            if found is not None and found.status == "done" and found.lease_owner is None:
                return
        await asyncio.sleep(0.1)
