"""Officers work the review queue on Telegram, end to end: the real PTB Application over HTTP.

A report is filed by a resident through the real flow; its card reaches the officers' group;
officers claim it (exactly one wins), move it along the workflow, ask the reporter questions,
and the reporter hears back in their own language at every step that concerns them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select
from telegram import BotCommandScopeChat

from handlers.i18n import VIETNAM
from storage import queue
from storage.models import Attachment, Report, ReportCard, ReportEvent, User
from tests.conftest import Harness, running_bot
from tests.fakebotapi import Call
from tests.test_report_flow import JPEG, agree, joined, press, press_all
from tests.updates import Resident

GROUP_ID = -1001234567890
GROUP = {"id": GROUP_ID, "type": "supergroup", "title": "PA05 – tin báo"}
ADMIN = Resident(7001, "Nguyễn Thị Admin", language_code="en")
OFFICER = Resident(7002, "Trần Văn Bình", language_code="en")
OFFICER_VI = Resident(7003, "Lê Thị Cúc", language_code="vi")


@pytest.fixture
async def queue_bot(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    """The bot with an officers' group and one admin; two officers added by the admin."""
    async with running_bot(
        tmp_path, db_url, officer_chat_id=GROUP_ID, admin_ids=[ADMIN.user_id]
    ) as h:
        for person in (OFFICER, OFFICER_VI):
            calls = await h.send(ADMIN.command("canbo", f"them {person.user_id}"))
            assert f"Added officer {person.user_id}" in joined(calls)
        yield h


async def file_report(
    h: Harness,
    r: Resident,
    *,
    anonymous: bool = True,
    with_photo: bool = False,
    phone: str = "0912345678",
    again: bool = False,
    account: str = "Vietcombank 0123456789 NGUYEN VAN A",
    story: str = "Họ dụ tôi nạp tiền vào sàn đầu tư.",
) -> str:
    """A resident files a report through the real flow; returns its case code.

    `again`: the resident already agreed to the privacy notice (a second report).
    """
    if again:
        calls = await h.send(r.command("baocao"))
        calls = await press_all(h, r, calls, "Đầu tư, tiền ảo", "Có, tôi bị mất tiền")
    else:
        calls = await agree(h, r)
        calls = await press_all(h, r, calls, "🚨", "Đầu tư, tiền ảo", "Có, tôi bị mất tiền")
    calls = await h.send(r.text("50 triệu"))
    calls = await press(h, r, calls, "Hôm nay")
    calls = await h.send(r.text(account))
    calls = await press(h, r, calls, "Tiếp tục")
    calls = await h.send(r.text(f"Nó gọi từ số {phone}"))
    calls = await press(h, r, calls, "Tiếp tục")
    calls = await h.send(r.text(story))
    calls = await press(h, r, calls, "Tiếp tục")
    if with_photo:
        file_id, unique = h.fake.add_file(JPEG)
        calls = await h.send(r.photo(file_id, unique, size=len(JPEG)))
    calls = await press(h, r, calls, "Tiếp tục")
    if anonymous:
        calls = await press(h, r, calls, "ẩn danh")
    else:
        calls = await press(h, r, calls, "Có, cán bộ có thể liên hệ")
        calls = await h.send(r.text("0903123456"))
    calls = await press(h, r, calls, "Gửi báo cáo")
    match = re.search(r"TB-\d{4}-\d{4}", joined(calls))
    assert match, joined(calls)
    return match.group(0)


def card_calls(h: Harness, code: str, start: int = 0) -> list[Call]:
    """Messages sent to the officers' group that are cards of `code`."""
    return [
        c
        for c in h.fake.calls[start:]
        if c.method == "sendMessage"
        and c.ok
        and c.chat_id == GROUP_ID
        and code in str(c.params["text"])
    ]


def toasts(h: Harness, start: int = 0) -> list[str]:
    """Texts of the pop-ups answering button presses."""
    return [
        str(c.params.get("text", ""))
        for c in h.fake.calls[start:]
        if c.method == "answerCallbackQuery" and c.params.get("text")
    ]


def to_chat(h: Harness, chat_id: int, start: int = 0) -> list[str]:
    """Texts sent or edited in one chat since `start`."""
    return [
        str(c.params.get("text") or c.params.get("caption") or "")
        for c in h.fake.calls[start:]
        if c.chat_id == chat_id and c.ok and c.method != "answerCallbackQuery"
    ]


def button(call: Call, prefix: str) -> str:
    """The callback data starting with `prefix` on a sent message."""
    for _, data in Harness.buttons(call):
        if data.startswith(prefix):
            return data
    raise AssertionError(f"no {prefix!r} button in {Harness.buttons(call)}")


async def report_row(h: Harness, code: str) -> Report:
    async with h.services.db.session() as session:
        result = await session.execute(select(Report).where(Report.code == code))
        return result.scalar_one()


async def events(h: Harness, code: str) -> list[ReportEvent]:
    report = await report_row(h, code)
    async with h.services.db.session() as session:
        result = await session.execute(
            select(ReportEvent)
            .where(ReportEvent.report_id == report.id)
            .order_by(col(ReportEvent.id))
        )
        return list(result.scalars())


async def claim(h: Harness, officer: Resident, code: str) -> list[Call]:
    card = card_calls(h, code)[-1]
    return await h.send(officer.callback(button(card, "o:claim:"), chat=GROUP))


async def test_a_submitted_report_reaches_the_group_as_a_card(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2001, "Lan")
    code = await file_report(h, r, with_photo=True)
    cards = card_calls(h, code)
    assert len(cards) == 1
    text = str(cards[0].params["text"])
    assert "Đầu tư, tiền ảo" in text  # category, in the group's language (Vietnamese)
    assert "50.000.000" in text  # money lost
    assert "Vietcombank 0123456789" in text and "0912 345 678" in text  # key indicators
    assert "1 tệp" in text or "1 evidence file" in text
    datas = [data for _, data in Harness.buttons(cards[0])]
    report = await report_row(h, code)
    assert datas == [f"o:claim:{report.id}", f"o:spam:{report.id}", f"o:view:{report.id}"]
    assert report.announced_at is not None
    async with h.services.db.session() as session:
        posted = (await session.execute(select(ReportCard))).scalars().all()
    assert [(p.chat_id, p.message_id) for p in posted] == [
        (str(GROUP_ID), str(cards[0].result["message_id"]))
    ]


async def test_a_second_report_sharing_a_phone_is_marked_as_linked(queue_bot: Harness) -> None:
    h = queue_bot
    await file_report(h, Resident(2002, "An"))
    code = await file_report(h, Resident(2003, "Bảo"))
    text = str(card_calls(h, code)[-1].params["text"])
    assert "Trùng thông tin với 1 tin báo khác" in text  # the group reads Vietnamese


async def test_twenty_officers_press_claim_at_once_and_exactly_one_wins(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2010, "Lan")
    officers = [Resident(7100 + n, f"Cán bộ {n}", language_code="en") for n in range(20)]
    for person in officers:
        await h.send(ADMIN.command("canbo", f"them {person.user_id}"))
    code = await file_report(h, r)
    data = button(card_calls(h, code)[-1], "o:claim:")
    start = h.fake.mark()
    await asyncio.gather(*(h.send(o.callback(data, chat=GROUP)) for o in officers))
    popups = toasts(h, start)
    won = [p for p in popups if p.startswith("You claimed")]
    lost = [p for p in popups if "is already taken by" in p]
    assert len(won) == 1 and len(lost) == 19
    report = await report_row(h, code)
    async with h.services.db.session() as session:
        winner = await session.get(User, report.assignee_id)
    assert report.status == "in_review" and winner is not None
    assert all(winner.display_name in p for p in lost)  # the others see who has it
    claimed = [e for e in await events(h, code) if e.action == "claimed"]
    assert len(claimed) == 1 and claimed[0].actor_id == winner.id
    # The card in the group now shows who has it, and no longer offers Claim.
    edits = [c for c in h.fake.calls[start:] if c.method == "editMessageText"]
    assert edits and str(winner.display_name) in str(edits[-1].params["text"])
    assert not any(d.startswith("o:claim:") for _, d in Harness.buttons(edits[-1]))
    # The reporter is told once, in Vietnamese, without any officer's name.
    told = to_chat(h, r.user_id, start)
    assert len([t for t in told if code in t]) == 1
    assert not any(o.first_name in t for o in officers for t in told)


async def test_each_status_change_tells_the_reporter_in_their_language(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    reporter = Resident(2020, "John", language_code="en")
    calls = await h.send(reporter.command("start"))
    calls = await press(h, reporter, calls, "I agree")
    calls = await press_all(h, reporter, calls, "Report a scam", "Romance", "Yes, I lost money")
    calls = await h.send(reporter.text("2000000"))
    calls = await press_all(h, reporter, calls, "Today", "skip", "Skip", "Skip", "Continue")
    calls = await press_all(h, reporter, calls, "anon", "Send the report")
    code = re.search(r"TB-\d{4}-\d{4}", joined(calls)).group(0)  # type: ignore[union-attr]
    report = await report_row(h, code)
    start = h.fake.mark()
    await claim(h, OFFICER, code)
    for status in ("verified", "forwarded", "closed"):
        await h.send(OFFICER.callback(f"o:st:{report.id}:{status}"))
    told = [t for t in to_chat(h, reporter.user_id, start) if code in t]
    assert len(told) == 4
    assert "started reviewing" in told[0]
    assert "verified" in told[1] and "forwarded to investigators" in told[2]
    assert "closed" in told[3]
    assert (await report_row(h, code)).status == "closed"
    trail = [(e.action, e.from_status, e.to_status) for e in await events(h, code)]
    assert trail == [
        ("submitted", "draft", "new"),
        ("claimed", "new", "in_review"),
        ("status", "in_review", "verified"),
        ("status", "verified", "forwarded"),
        ("status", "forwarded", "closed"),
    ]
    # Reopen brings it back to review, and the reporter hears that too.
    mark = h.fake.mark()
    await h.send(OFFICER.callback(f"o:st:{report.id}:in_review"))
    assert any("reopened" in t for t in to_chat(h, reporter.user_id, mark))
    assert (await report_row(h, code)).status == "in_review"


async def test_a_rejection_gives_the_reporter_the_reason_in_vietnamese(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2030, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    await claim(h, OFFICER_VI, code)
    calls = await h.send(OFFICER_VI.callback(f"o:rej:{report.id}"))
    reasons = [d for _, d in Harness.buttons(calls[-1]) if d.startswith("o:rj:")]
    assert len(reasons) == 4
    start = h.fake.mark()
    await h.send(OFFICER_VI.callback(f"o:rj:{report.id}:duplicate"))
    told = [t for t in to_chat(h, r.user_id, start) if code in t]
    assert len(told) == 1
    assert "đã được báo cáo" in told[0]  # the chosen reason, in the reporter's language
    stored = await report_row(h, code)
    assert stored.status == "rejected"


async def test_an_invalid_transition_is_refused_with_a_message(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2040, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    start = h.fake.mark()
    await h.send(OFFICER.callback(f"o:st:{report.id}:forwarded"))
    assert any("cannot become" in p for p in toasts(h, start))
    assert (await report_row(h, code)).status == "in_review"
    # Another officer cannot move someone else's report either.
    start = h.fake.mark()
    await h.send(OFFICER_VI.callback(f"o:st:{report.id}:verified"))
    assert (await report_row(h, code)).status == "in_review"
    assert toasts(h, start)


async def test_a_question_and_its_answer_travel_both_ways(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2050, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    calls = await h.send(OFFICER.callback(f"o:ask:{report.id}"))
    assert "Type your question" in joined(calls)
    start = h.fake.mark()
    await h.send(OFFICER.text("What was the name of the trading app?"))
    to_resident = [t for t in to_chat(h, r.user_id, start) if code in t]
    assert len(to_resident) == 1
    assert "What was the name of the trading app?" in to_resident[0]
    assert OFFICER.first_name not in to_resident[0]  # the officer's identity is never shown
    assert (await report_row(h, code)).status == "needs_info"

    start = h.fake.mark()
    await h.send(r.text("Ứng dụng tên là GoldenFX"))
    relayed = to_chat(h, OFFICER.user_id, start)
    assert any("Ứng dụng tên là GoldenFX" in t and code in t for t in relayed)
    assert any("chuyển câu trả lời" in t for t in to_chat(h, r.user_id, start))
    file_id, unique = h.fake.add_file(JPEG)
    start = h.fake.mark()
    await h.send(r.photo(file_id, unique, size=len(JPEG)))
    photos = [c for c in h.fake.calls[start:] if c.method == "sendPhoto"]
    assert [c.chat_id for c in photos] == [OFFICER.user_id]
    assert (await report_row(h, code)).status == "in_review"  # back to review on the answer
    answers = [e for e in await events(h, code) if e.action == "answer"]
    assert answers[0].note == "Ứng dụng tên là GoldenFX" and len(answers) == 2
    # The detail view's timeline holds the question and the answer.
    calls = await h.send(OFFICER.command("xem", code))
    detail = joined(calls)
    assert "question to the reporter" in detail and "GoldenFX" in detail
    assert "1 evidence file" in detail and "«📎 1»" in detail  # the photo answer, counted


async def test_an_anonymous_reporter_is_never_shown_to_officers(
    queue_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = queue_bot
    r = Resident(2060123, "Phương", last_name="Nguyễn", username="phuong_ng")
    code = await file_report(h, r, anonymous=True, with_photo=True)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    await h.send(OFFICER.command("xem", code))
    await h.send(OFFICER.callback(f"o:files:{report.id}"))
    await h.send(OFFICER.callback(f"o:ask:{report.id}"))
    await h.send(OFFICER.text("Bạn còn ảnh nào khác không?"))
    await h.send(r.text("Không, chỉ có vậy thôi"))
    await h.send(OFFICER.command("hangdoi"))
    officer_side = [
        c for c in h.fake.calls if c.chat_id in (GROUP_ID, OFFICER.user_id, OFFICER_VI.user_id)
    ]
    assert officer_side
    for call in officer_side:
        shown = repr(call.params)
        for secret in (str(r.user_id), "Phương", "Nguyễn", "phuong_ng"):
            assert secret not in shown, (secret, call.method, shown[:300])
    # Nor in the logs, even when the reporter blocked the bot and a notice fails twice.
    h.fake.block_chat(r.user_id)
    await h.send(OFFICER.callback(f"o:st:{report.id}:verified"))
    await h.tick(timedelta(minutes=3))
    assert "blocked the bot" in caplog.text
    for secret in (str(r.user_id), "Phương", "Nguyễn", "phuong_ng"):
        assert secret not in caplog.text, secret


async def test_a_contactable_reporter_is_shown_by_handle_and_revealed_only_to_an_admin(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2065, "Lan")
    code = await file_report(h, r, anonymous=False)
    calls = await h.send(OFFICER.command("xem", code))
    detail = joined(calls)
    handle = re.search(r"NB-[0-9A-Z]{6}", detail)
    assert handle and "agreed to be contacted" in detail
    assert str(r.user_id) not in detail and "0903 123 456" not in detail
    calls = await h.send(ADMIN.command("danhtinh", f"{code} she asked us to call her back"))
    shown = joined(calls)
    assert f"User id: {r.user_id}" in shown and "0903 123 456" in shown
    assert handle.group(0) in shown


async def test_a_resident_forging_an_officer_button_or_command_is_refused(
    queue_bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h, r = queue_bot, Resident(2070, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    mallory = Resident(2071, "Mallory", language_code="en")
    await agree(h, mallory)
    caplog.set_level(logging.WARNING)
    start = h.fake.mark()
    await h.send(mallory.callback(f"o:claim:{report.id}"))
    await h.send(mallory.callback(f"o:claim:{report.id}", chat=GROUP))
    assert toasts(h, start) == ["Sorry, this is only for police officers using tinbao."] * 2
    calls = await h.send(mallory.command("hangdoi"))
    assert "only for police officers" in joined(calls)
    calls = await h.send(mallory.command("canbo", f"them {mallory.user_id}"))
    assert "only for police officers" in joined(calls)
    stored = await report_row(h, code)
    assert stored.status == "new" and stored.assignee_id is None
    refused = [rec for rec in caplog.records if "refused" in rec.getMessage()]
    assert len(refused) == 4 and all(str(mallory.user_id) in rec.getMessage() for rec in refused)
    # An officer (not an admin) cannot manage officers either.
    calls = await h.send(OFFICER.command("canbo", "them 9999"))
    assert "only for police officers" in joined(calls)


async def test_an_expired_claim_returns_to_the_queue_and_the_group_is_told(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2080, "Lan")
    code = await file_report(h, r)
    await claim(h, OFFICER, code)
    start = h.fake.mark()
    await h.tick(timedelta(hours=23))  # not yet (the daily summary may be due: it names no code)
    assert (await report_row(h, code)).status == "in_review" and not card_calls(h, code, start)
    start = h.fake.mark()
    await h.tick(timedelta(hours=2))
    report = await report_row(h, code)
    assert report.status == "new" and report.assignee_id is None
    reposted = card_calls(h, code, start)
    assert len(reposted) == 1 and button(reposted[0], "o:claim:")
    assert "claim" in str(reposted[0].params["text"]).lower() or "nhận" in str(
        reposted[0].params["text"]
    )
    assert any("expired" in t for t in to_chat(h, OFFICER.user_id, start))
    assert [e.action for e in await events(h, code)][-1] == "expired"
    # Once only: the next tick does nothing more.
    start = h.fake.mark()
    await h.tick(timedelta(minutes=1))
    assert not card_calls(h, code, start)


async def test_an_unclaimed_report_is_announced_again_once_when_overdue(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2090, "Lan")
    code = await file_report(h, r)
    start = h.fake.mark()
    await h.tick(timedelta(minutes=30))
    assert not card_calls(h, code, start)
    await h.tick(timedelta(minutes=31))
    again = card_calls(h, code, start)
    assert len(again) == 1 and "⏰" in str(again[0].params["text"])
    await h.tick(timedelta(minutes=61))
    assert len(card_calls(h, code, start)) == 1


async def test_a_card_that_failed_to_post_is_posted_by_the_timers(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2095, "Lan")
    h.fake.block_chat(GROUP_ID)  # the group refuses (e.g. the bot was not yet added)
    code = await file_report(h, r)
    assert not card_calls(h, code)
    assert (await report_row(h, code)).announced_at is None
    h.fake.unblock_chat(GROUP_ID)
    await h.tick(timedelta(minutes=3))
    assert len(card_calls(h, code)) == 1
    assert (await report_row(h, code)).announced_at is not None


async def test_the_daily_summary_is_sent_once_a_day(queue_bot: Harness) -> None:
    h = queue_bot
    await file_report(h, Resident(2100, "Lan"))
    local = h.now().astimezone(VIETNAM)
    # Move to 07:30 tomorrow, Vietnam time: half an hour before the summary's hour (08:00).
    before = (local + timedelta(days=1)).replace(hour=7, minute=30, second=0, microsecond=0)
    start = h.fake.mark()
    await h.tick(before - local)
    assert not [t for t in to_chat(h, GROUP_ID, start) if "📊" in t]
    await h.tick(timedelta(minutes=45))
    await h.tick(timedelta(minutes=5))  # a second tick, or a second process, sends nothing more
    summaries = [t for t in to_chat(h, GROUP_ID, start) if "📊" in t]
    assert len(summaries) == 1
    assert re.search(r"\b1\b", summaries[0])  # the one report waiting


async def test_the_queue_lists_the_most_urgent_first_and_search_finds_reports(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    small = await file_report(h, Resident(2110, "An"), phone="0987000111")
    calls = await agree(h, Resident(2111, "Bình"))
    r2 = Resident(2111, "Bình")
    calls = await press_all(h, r2, calls, "🚨", "Giả danh công an", "Không")
    calls = await press_all(h, r2, calls, "Tôi không nhớ", "Bỏ qua", "Bỏ qua", "Tiếp tục")
    calls = await press_all(h, r2, calls, "ẩn danh", "Gửi báo cáo")
    no_money = re.search(r"TB-\d{4}-\d{4}", joined(calls)).group(0)  # type: ignore[union-attr]
    calls = await h.send(OFFICER.command("hangdoi"))
    listing = joined(calls)
    assert listing.index(small) < listing.index(no_money)  # money lost today comes first
    calls = await h.send(OFFICER.command("timkiem", "0987 000 111"))
    assert small in joined(calls) and no_money not in joined(calls)
    calls = await h.send(OFFICER.command("timkiem", "0123456789"))
    assert small in joined(calls)
    calls = await h.send(OFFICER.command("timkiem", "0999999999"))
    assert "No report matches" in joined(calls)
    calls = await h.send(OFFICER.text(small.lower()))  # a bare case code opens the report
    assert f"📄 {small}" in joined(calls) and "Timeline" in joined(calls)


async def test_notes_and_evidence_reach_the_officer(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2120, "Lan")
    code = await file_report(h, r, with_photo=True)
    report = await report_row(h, code)
    calls = await h.send(OFFICER.command("ghichu", f"{code} Đã gọi ngân hàng VCB"))
    assert "Note added" in joined(calls)
    start = h.fake.mark()
    await h.send(OFFICER.callback(f"o:files:{report.id}", chat=GROUP))
    photos = [c for c in h.fake.calls[start:] if c.method == "sendPhoto"]
    assert len(photos) == 1 and photos[0].chat_id == OFFICER.user_id  # privately, not in the group
    assert "SHA-256" in str(photos[0].params.get("caption"))
    calls = await h.send(OFFICER.command("xem", code))
    assert "Đã gọi ngân hàng VCB" in joined(calls)
    note = [e for e in await events(h, code) if e.action == "note"]
    assert note and note[0].note == "Đã gọi ngân hàng VCB"


async def test_release_and_reassign_by_an_admin(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2130, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    await h.send(OFFICER.callback(f"o:st:{report.id}:new"))
    assert (await report_row(h, code)).status == "new"
    await claim(h, OFFICER, code)
    calls = await h.send(ADMIN.callback(f"o:asg:{report.id}"))
    target = [
        d
        for label, d in Harness.buttons(calls[-1])
        if OFFICER_VI.first_name in label or str(OFFICER_VI.user_id) in label
    ]
    start = h.fake.mark()
    await h.send(ADMIN.callback(target[0]))
    stored = await report_row(h, code)
    async with h.services.db.session() as session:
        assignee = await session.get(User, stored.assignee_id)
    assert assignee is not None and assignee.external_id == str(OFFICER_VI.user_id)
    assert any(code in t for t in to_chat(h, OFFICER_VI.user_id, start))
    # An officer cannot reassign.
    start = h.fake.mark()
    await h.send(OFFICER.callback(target[0]))
    assert toasts(h, start) == ["Sorry, this is only for police officers using tinbao."]


async def test_removing_an_officer_returns_their_reports_to_the_queue(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2140, "Lan")
    code = await file_report(h, r)
    await claim(h, OFFICER, code)
    verified = await file_report(h, Resident(2141, "Hoa"))
    await claim(h, OFFICER, verified)
    await h.send(OFFICER.callback(f"o:st:{(await report_row(h, verified)).id}:verified"))
    calls = await h.send(ADMIN.command("canbo"))
    assert OFFICER.first_name in joined(calls)
    calls = await h.send(ADMIN.command("canbo", f"xoa {OFFICER.user_id}"))
    said = joined(calls)
    assert "no longer an officer" in said and "1 report they were reviewing went back" in said
    assert f"Still in their name (verified or forwarded): {verified}" in said
    assert (await report_row(h, code)).status == "new"
    assert (await report_row(h, verified)).status == "verified"  # nothing is undone
    calls = await h.send(OFFICER.command("hangdoi"))
    assert "only for police officers" in joined(calls)
    # The timeline still shows their steps as an officer's, not as the reporter's.
    calls = await h.send(ADMIN.command("xem", code))
    claimed = [line for line in joined(calls).splitlines() if line.endswith("· claimed")]
    assert claimed and "reporter" not in claimed[0]


async def test_the_reporter_sees_the_current_status_with_tinbao(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(2150, "Lan")
    code = await file_report(h, r)
    await claim(h, OFFICER, code)
    calls = await h.send(r.command("tinbao"))
    assert code in joined(calls)
    assert "đang xem xét" in joined(calls)


async def test_without_a_group_each_officer_gets_the_card_privately(
    tmp_path: Path, db_url: str
) -> None:
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id]) as h:
        await h.send(ADMIN.command("canbo", f"them {OFFICER.user_id}"))
        code = await file_report(h, Resident(2160, "Lan"))
        got = {
            c.chat_id
            for c in h.fake.calls
            if c.method == "sendMessage" and code in str(c.params.get("text"))
        }
        assert {ADMIN.user_id, OFFICER.user_id} <= got
        report = await report_row(h, code)
        start = h.fake.mark()
        await h.send(OFFICER.callback(f"o:claim:{report.id}"))
        edited = {c.chat_id for c in h.fake.calls[start:] if c.method == "editMessageText"}
        assert edited == {ADMIN.user_id, OFFICER.user_id}  # every copy shows who has it
        # Once removed, the officer's copy is no longer kept up to date with the report.
        start = h.fake.mark()
        await h.send(ADMIN.command("canbo", f"xoa {OFFICER.user_id}"))
        edited = {c.chat_id for c in h.fake.calls[start:] if c.method == "editMessageText"}
        assert edited == {ADMIN.user_id}


async def test_an_answer_during_another_report_needs_the_answer_button(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2170, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    await h.send(OFFICER.command("hoi", f"{code} Bạn chuyển tiền lúc mấy giờ?"))
    # The resident starts another report: their typing belongs to it, not to the answer.
    calls = await h.send(r.command("baocao"))
    start = h.fake.mark()
    await h.send(r.text("hôm qua tôi lại bị lừa"))
    assert not any("hôm qua tôi lại bị lừa" in t for t in to_chat(h, OFFICER.user_id, start))
    # /tinbao shows the question waiting, with an Answer button that routes the next message.
    calls = await h.send(r.command("tinbao"))
    answer = [d for _, d in Harness.buttons(calls[-1]) if d.startswith("ans:")]
    assert answer == [f"ans:{report.id}"]
    await h.send(r.callback(answer[0]))
    start = h.fake.mark()
    await h.send(r.text("Khoảng 9 giờ sáng"))
    assert any("Khoảng 9 giờ sáng" in t for t in to_chat(h, OFFICER.user_id, start))
    assert (await report_row(h, code)).status == "in_review"


async def test_with_two_open_questions_each_answer_goes_to_the_report_chosen(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2180, "Lan")
    first = await file_report(h, r)
    second = await file_report(h, r, again=True, phone="0987654321")
    for code, question in ((first, "Câu hỏi thứ nhất?"), (second, "Câu hỏi thứ hai?")):
        await claim(h, OFFICER, code)
        await h.send(OFFICER.command("hoi", f"{code} {question}"))
    # The resident answers the first question, asked before the second, with its own button.
    first_id = (await report_row(h, first)).id
    calls = await h.send(r.callback(f"ans:{first_id}"))
    assert "Please type your answer now" in joined(calls) or "nhập câu trả lời" in joined(calls)
    start = h.fake.mark()
    await h.send(r.text("Trả lời câu thứ nhất"))
    assert any(first in t for t in to_chat(h, r.user_id, start))  # the thanks names the report
    assert [e.note for e in await events(h, first) if e.action == "answer"] == [
        "Trả lời câu thứ nhất"
    ]
    assert not [e for e in await events(h, second) if e.action == "answer"]
    assert (await report_row(h, first)).status == "in_review"
    assert (await report_row(h, second)).status == "needs_info"


async def test_after_a_reassignment_the_answer_reaches_the_new_officer_too(
    queue_bot: Harness,
) -> None:
    h, r = queue_bot, Resident(2190, "Lan")
    code = await file_report(h, r)
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    await h.send(OFFICER.command("hoi", f"{code} Bạn còn ảnh nào không?"))
    async with h.services.db.session() as session:
        target = await queue.find_user(session, "telegram", str(OFFICER_VI.user_id))
    assert target is not None
    await h.send(ADMIN.callback(f"o:to:{report.id}:{target.id}"))
    start = h.fake.mark()
    await h.send(r.text("Không còn ảnh nào"))
    assert any("Không còn ảnh nào" in t for t in to_chat(h, OFFICER_VI.user_id, start))
    assert any("Không còn ảnh nào" in t for t in to_chat(h, OFFICER.user_id, start))  # who asked


async def test_reassigning_a_report_that_changed_meanwhile_changes_nothing(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    code = await file_report(h, Resident(2200, "Lan"))
    report = await report_row(h, code)
    async with h.services.db.session() as session:
        target = await queue.find_user(session, "telegram", str(OFFICER_VI.user_id))
        assert target is not None and report.id is not None
        # The admin saw it new and unclaimed; an officer claimed it just before the press.
        moved = await queue.reassign(
            session, report.id, target.id or 0, h.now(), seen="in_review", holder=None
        )
    assert moved is False
    assert (await report_row(h, code)).assignee_id is None
    await claim(h, OFFICER, code)
    start = h.fake.mark()
    calls = await h.send(ADMIN.callback(f"o:to:{report.id}:{target.id}"))
    assert code in joined(calls)
    stored = await report_row(h, code)
    assert stored.assignee_id == target.id and stored.status == "in_review"
    reassigned = [e for e in await events(h, code) if e.action == "reassigned"]
    assert len(reassigned) == 1 and reassigned[0].to_status == "in_review"
    assert any(code in t for t in to_chat(h, OFFICER_VI.user_id, start))


async def test_rejecting_always_asks_for_the_reason_and_the_timeline_shows_it_translated(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    code = await file_report(h, Resident(2210, "Lan"))
    report = await report_row(h, code)
    await claim(h, OFFICER_VI, code)
    # A hand-made "rejected" button shows the reasons instead of rejecting without one.
    calls = await h.send(OFFICER_VI.callback(f"o:st:{report.id}:rejected"))
    assert (await report_row(h, code)).status == "in_review"
    await h.send(OFFICER_VI.callback(button(calls[-1], f"o:rj:{report.id}:duplicate")))
    assert (await report_row(h, code)).status == "rejected"
    calls = await h.send(OFFICER_VI.command("xem", code))
    assert "«Vụ việc này đã được báo cáo trước đó.»" in joined(calls)


async def test_a_button_press_is_answered_before_the_other_messages(queue_bot: Harness) -> None:
    h = queue_bot
    code = await file_report(h, Resident(2220, "Lan"))
    card = card_calls(h, code)[-1]
    start = h.fake.mark()
    await h.send(OFFICER.callback(button(card, "o:claim:"), chat=GROUP))
    methods = [c.method for c in h.fake.calls[start:] if c.method != "getUpdates"]
    assert methods[0] == "answerCallbackQuery" and "editMessageText" in methods


async def test_an_answer_keeps_to_the_report_s_file_limit_and_says_so(
    tmp_path: Path, db_url: str
) -> None:
    async with running_bot(
        tmp_path,
        db_url,
        officer_chat_id=GROUP_ID,
        admin_ids=[OFFICER.user_id],
        max_files_per_report=1,
    ) as h:
        r = Resident(2230, "Lan")
        code = await file_report(h, r, with_photo=True)
        await claim(h, OFFICER, code)
        await h.send(OFFICER.command("hoi", f"{code} Bạn còn ảnh nào không?"))
        file_id, unique = h.fake.add_file(JPEG)
        start = h.fake.mark()
        await h.send(r.photo(file_id, unique, size=len(JPEG)))
        assert any("đã có 1 tệp" in t for t in to_chat(h, r.user_id, start))  # told, not lost
        assert not [c for c in h.fake.calls[start:] if c.method == "sendPhoto"]
        report = await report_row(h, code)
        async with h.services.db.session() as session:
            count = len(
                (
                    await session.execute(
                        select(Attachment).where(Attachment.report_id == report.id)
                    )
                ).all()
            )
        assert count == 1


async def test_an_officer_who_never_opened_a_private_chat_is_told_in_the_group(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    code = await file_report(h, Resident(2240, "Lan"))
    report = await report_row(h, code)
    h.fake.block_chat(OFFICER.user_id)  # as Telegram answers before they pressed Start
    start = h.fake.mark()
    await h.send(OFFICER.callback(f"o:view:{report.id}", chat=GROUP))
    said = to_chat(h, GROUP_ID, start)
    assert len(said) == 1 and "cannot write to you privately" in said[0]
    assert OFFICER.first_name in said[0] and code not in said[0]  # no report data in the group


async def test_officers_find_their_commands_in_their_private_menu(queue_bot: Harness) -> None:
    h = queue_bot
    await h.send(OFFICER.command("hangdoi"))  # the English-speaking officer's app says "en"
    await h.tick()
    bot = h.application.bot
    vi = [
        c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(OFFICER_VI.user_id))
    ]
    assert vi[:2] == ["baocao", "kiemtra"] and {"hangdoi", "xem", "hoi"} <= set(vi)
    en = [c.command for c in await bot.get_my_commands(scope=BotCommandScopeChat(OFFICER.user_id))]
    assert en[:2] == ["report", "check"] and {"queue", "view", "ask"} <= set(en)
    # A removed officer's menu goes back to the residents' one.
    await h.send(ADMIN.command("canbo", f"xoa {OFFICER.user_id}"))
    await h.tick()
    assert not await bot.get_my_commands(scope=BotCommandScopeChat(OFFICER.user_id))
