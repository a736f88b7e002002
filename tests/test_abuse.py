"""Abuse resistance, through the real bot over HTTP: the flood limit, reports per day, bans,
hostile pictures, disguised names and filenames, and logs without message text, phone or
account numbers or the token."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import col, select

from bot import logs
from handlers import evidence
from handlers.i18n import translator
from handlers.names import safe_filename, safe_name
from handlers.services import FloodGuard
from storage import audit, broadcasts
from storage import bans as ban_store
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import (
    Attachment,
    AuditEvent,
    Ban,
    BroadcastDelivery,
    Dialogue,
    Report,
    User,
    utcnow,
)
from tests.conftest import Harness, running_bot
from tests.fakebotapi import Call
from tests.test_broadcast import FAST, WARNING, compose, sent_to, tap, wait_status
from tests.test_cli import tinbao
from tests.test_officer_flow import file_report
from tests.test_report_flow import (
    JPEG,
    PDF,
    SKIP_TO_SUMMARY,
    agree,
    joined,
    picture,
    press,
    press_all,
)
from tests.updates import Resident

ADMIN = Resident(9001, "Phạm Văn Quản", language_code="en")
ADMIN_VI = Resident(9003, "Lê Thị Quyên", language_code="vi")
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
FILLERS = "\u115f\u1160\u3164\uffa0\u2800"
HIDDEN = BIDI + ZERO_WIDTH + FILLERS
# A JPEG's first bytes followed by rubbish: it claims to be a picture and is not one.
FAKE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 200


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG of `width`×`height` black pixels: about 50 KB that would open as 400 Mpx."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + one bit per pixel
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


async def to_summary(h: Harness, r: Resident, category: str = "Vay tiền") -> list[Call]:
    """A report with every optional question skipped, up to its summary (not sent)."""
    calls = await h.send(r.command("baocao"))
    calls = await press_all(h, r, calls, category, "Không", "Tôi không nhớ")
    calls = await press_all(h, r, calls, *SKIP_TO_SUMMARY[1:])
    assert "Bạn kiểm tra lại báo cáo giúp mình" in joined(calls)
    return calls


async def texts_to(h: Harness, r: Resident, update: dict[str, Any]) -> list[str]:
    """Deliver an update from `r`; the texts the bot sent to `r` (not to others meanwhile)."""
    return [str(c.params.get("text", "")) for c in await h.send(update) if c.chat_id == r.user_id]


async def user_row(h: Harness, r: Resident) -> User:
    async with h.services.db.session() as session:
        found = await session.execute(select(User).where(User.external_id == str(r.user_id)))
        return found.scalar_one()


async def drafts_of(h: Harness, user: User) -> list[Report]:
    async with h.services.db.session() as session:
        found = await session.execute(
            select(Report).where(Report.reporter_id == user.id, Report.status == "draft")
        )
        return list(found.scalars())


def evidence_files(h: Harness) -> list[Path]:
    root = h.services.settings.evidence_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# ---------------------------------------------------------------------- names and filenames


def test_bidi_controls_and_zero_width_characters_are_taken_out_of_names() -> None:
    assert safe_name("hoadon\u202egpj.exe") == "hoadongpj.exe"
    assert safe_name("Vietcom\u200bbank") == "Vietcombank"
    assert safe_name("\u2067Công an\u2069 \ufeffHà Nội\u2060") == "Công an Hà Nội"
    assert safe_name("a\tb\nc\u2028d\x00e\x1b[0m") == "a b c de[0m"
    assert safe_name("\u3164\u3164 \u2800") == ""  # a name of fillers shows as none
    assert safe_name(None) == "" and safe_name("") == ""
    assert safe_name("x" * 300, 20) == "x" * 19 + "…"


def test_vietnamese_diacritics_are_kept_and_composed() -> None:
    name = "Nguyễn Thị Ánh Đào"
    assert safe_name(name) == name
    assert safe_name(unicodedata.normalize("NFD", name)) == name
    # A mark cut off from its letter by a zero-width space joins it again.
    assert safe_name("Nguye\u0302\u200b\u0303n") == "Nguyễn"


def test_filenames_lose_paths_and_take_the_extension_of_their_bytes() -> None:
    assert safe_filename("hoadon\u202efdp.exe", "pdf") == "hoadonfdp.exe.pdf"
    assert safe_filename("sao kê tháng 11.PDF", ".pdf") == "sao kê tháng 11.PDF"
    cleaned = safe_filename("../../etc/passwd")
    assert "/" not in cleaned and not cleaned.startswith(".")
    assert safe_filename("\u200b\u202e", "jpg") == ""
    long = safe_filename("a" * 300 + ".pdf", "pdf")
    assert len(long) <= 100 and long.endswith(".pdf")


@given(
    st.text(
        alphabet=st.one_of(st.characters(), st.sampled_from(HIDDEN + "\n\t\x00\u0301")),
        max_size=200,
    )
)
def test_no_hidden_or_control_character_survives_any_name(text: str) -> None:
    shown = safe_name(text)
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in shown)
    assert not set(shown) & set(FILLERS)
    assert shown == unicodedata.normalize("NFC", shown)
    assert shown == shown.strip() and "  " not in shown and len(shown) <= 128
    assert safe_name(shown) == shown  # cleaning twice changes nothing
    name = safe_filename(text, "pdf")
    assert "/" not in name and "\\" not in name and not name.startswith(".")


async def test_officers_see_names_and_filenames_without_hidden_characters(
    tmp_path: Path, db_url: str
) -> None:
    sly = Resident(9602, "Bình\u202e\u200b", last_name="Trần", language_code="en")
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id]) as h:
        await h.send(ADMIN.command("canbo", f"them {sly.user_id}"))
        r = Resident(9601)
        await agree(h, r)
        calls = await h.send(r.command("baocao"))
        await press(h, r, calls, "Vay tiền")
        disguised = "Ngân\u200bhàng\u202e VCB"
        await h.send(
            r.forwarded_text("Chuyển khoản ngay", origin="hidden_user", sender_name=disguised)
        )
        file_id, unique = h.fake.add_file(PDF)
        name = "sao\u202efdp.exe"
        calls = await h.send(
            r.document(file_id, unique, file_name=name, mime_type="application/pdf")
        )
        calls = await press_all(h, r, calls, "Không", "Tôi không nhớ", *SKIP_TO_SUMMARY[1:])
        calls = await press(h, r, calls, "Gửi báo cáo")
        code = re.search(r"TB-\d{4}-\d{4}", joined(calls))
        assert code is not None
        async with h.services.db.session() as session:
            report = (
                await session.execute(select(Report).where(Report.code == code.group(0)))
            ).scalar_one()
        start = h.fake.mark()
        await h.send(sly.callback(f"o:claim:{report.id}"))
        await h.send(ADMIN.callback(f"o:files:{report.id}"))
        staff = [c for c in h.fake.calls[start:] if c.chat_id in (ADMIN.user_id, sly.user_id)]
        shown = []
        for call in staff:
            for key in ("text", "caption"):
                shown.append(str(call.params.get(key) or ""))
            upload = call.params.get("document")
            if hasattr(upload, "filename"):
                shown.append(upload.filename)
        everything = "\n".join(shown)
        assert not set(everything) & set(HIDDEN), everything
        assert "Bình Trần" in everything  # the claiming officer, on the card
        assert "Ngânhàng VCB" in everything  # who the forwarded message came from
        uploads = [c.params["document"] for c in staff if c.method == "sendDocument"]
        assert "saofdp.exe.pdf" in [u.filename for u in uploads if hasattr(u, "filename")]


# -------------------------------------------------------------------------------- pictures


def test_pictures_are_opened_only_as_what_they_are_and_bombs_are_refused() -> None:
    bomb = bomb_png()
    assert len(bomb) < 200_000 and evidence.sniff(bomb) == "image/png"
    assert evidence.check_image(bomb, "image/png") == "too_large"
    assert evidence.check_image(bomb_png(9_000, 9_000), "image/png") == "too_large"
    assert evidence.check_image(FAKE_JPEG, evidence.sniff(FAKE_JPEG)) == "not_an_image"
    for fmt, mime in (("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")):
        assert evidence.check_image(picture(fmt), mime) == "ok", fmt
    assert evidence.check_image(picture("GIF"), "image/gif") == "ok"
    # Each file is opened only by the decoder of the type its bytes announce.
    assert evidence.check_image(picture("PNG"), "image/jpeg") == "not_an_image"
    assert evidence.check_image(picture("PNG")[:45], "image/png") == "not_an_image"  # truncated
    assert evidence.check_image(b"BM" + b"\x00" * 100, "image/bmp") == "not_an_image"
    assert evidence.claims_image("document", "application/octet-stream", "bien-lai.JPG")
    assert evidence.claims_image("photo", None, None)
    assert not evidence.claims_image("document", "application/pdf", "sao-ke.pdf")


async def test_a_decompression_bomb_and_files_posing_as_pictures_are_refused_and_not_kept(
    harness: Harness,
) -> None:
    h, r = harness, Resident(9101)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    await press(h, r, calls, "Vay tiền")
    bomb = bomb_png()
    file_id, unique = h.fake.add_file(bomb)
    calls = await h.send(
        r.document(file_id, unique, file_name="chuyen-khoan.png", mime_type="image/png")
    )
    assert "Ảnh này quá lớn, mình không mở được" in joined(calls)
    assert "Bạn có bị mất tiền không?" in joined(calls)  # the question is asked again
    file_id, unique = h.fake.add_file(FAKE_JPEG)
    calls = await h.send(r.photo(file_id, unique, size=len(FAKE_JPEG)))
    assert "Tệp này ghi là ảnh, nhưng mình không mở được" in joined(calls)
    text = b"day khong phai la anh\n"
    file_id, unique = h.fake.add_file(text)
    calls = await h.send(
        r.document(file_id, unique, file_name="bien-lai.jpg", mime_type="image/jpeg")
    )
    assert "Tệp này ghi là ảnh" in joined(calls)
    # A real picture is still welcome.
    file_id, unique = h.fake.add_file(JPEG)
    calls = await h.send(r.photo(file_id, unique, size=len(JPEG)))
    assert "Báo cáo này hiện có 1 tệp" in joined(calls)
    async with h.services.db.session() as session:
        rows = (await session.execute(select(Attachment))).scalars().all()
    assert [(a.mime, a.size) for a in rows] == [("image/jpeg", len(JPEG))]
    assert [p.read_bytes() for p in evidence_files(h)] == [JPEG]  # nothing else on disk


# ---------------------------------------------------------------------------- flood limit


def test_the_flood_guard_forgets_quiet_users_and_still_limits() -> None:
    guard = FloodGuard(2, 10.0)
    for n in range(500):
        guard.check(f"telegram:{n}", now=1000.0)
    assert len(guard) == 500
    assert guard.check("telegram:late", now=1011.0) == "ok"
    assert len(guard) == 1  # the 500 quiet users are forgotten
    verdicts = [guard.check("telegram:x", now=2000.0 + n / 10) for n in range(5)]
    assert verdicts == ["ok", "ok", "warn", "drop", "drop"]


async def test_buttons_photos_and_albums_count_and_the_warning_is_in_the_users_language(
    harness: Harness,
) -> None:
    h = harness
    r = Resident(9102, "Lan", language_code="vi")  # the app is in Vietnamese…
    await agree(h, r)
    await h.send(r.callback("lang:en"))  # …but she chose English in the bot
    h.services.flood = FloodGuard(2, 60.0)
    start = h.fake.mark()
    replies = [await h.texts(r.callback("menu:help"))]
    for n in range(3):
        file_id, unique = h.fake.add_file(JPEG + bytes([n]))
        replies.append(await h.texts(r.photo(file_id, unique, media_group_id="album-1")))
    replies.append(await h.texts(r.text("alo")))
    warned = [text for batch in replies for text in batch if "very quickly" in text]
    assert len(warned) == 1 and "skipped some" in warned[0]
    assert any("very quickly" in t for t in replies[2]), replies  # the 3rd message: an album part
    # The rest is skipped quietly (the album's own acknowledgement may come meanwhile).
    assert all("album" in text for batch in replies[3:] for text in batch), replies
    # Skipped album parts are not even downloaded.
    assert len([c for c in h.fake.calls[start:] if c.method == "getFile"]) == 1


# ------------------------------------------------------------------------ reports per day


async def test_reports_per_day_are_limited_kindly_across_a_restart(
    tmp_path: Path, db_url: str
) -> None:
    r = Resident(9103)
    async with running_bot(tmp_path, db_url, reports_per_day=2) as h:
        await file_report(h, r)
        await file_report(h, r, again=True)
    # Counted in the database: a restarted (or another) process knows.
    async with running_bot(tmp_path, db_url, reports_per_day=2) as h:
        user = await user_row(h, r)
        async with h.services.db.session() as session:
            first = (
                (
                    await session.execute(
                        select(Report.submitted_at)
                        .where(Report.reporter_id == user.id)
                        .order_by(col(Report.submitted_at))
                    )
                )
                .scalars()
                .first()
            )
        assert first is not None
        # (A new fake Telegram: its update ids go on after the first one's.)
        calls = await h.send({**r.command("baocao"), "update_id": 10_000})
        text = joined(calls)
        assert "Bạn đã gửi 2 báo cáo trong 24 giờ qua" in text
        when = translator("vi").when(first + timedelta(hours=24))
        assert f"Bạn có thể gửi báo cáo mới từ {when}." in text
        assert "gọi 113" in text and "đồn công an gần nhất" in text
        assert await drafts_of(h, user) == []  # no report was opened
        # Evidence sent on its own would start a report: it is not kept either.
        photo = picture("JPEG", (9, 9))
        file_id, unique = h.fake.add_file(photo)
        calls = await h.send(r.photo(file_id, unique, size=len(photo)))
        assert "Bạn đã gửi 2 báo cáo" in joined(calls)
        assert await drafts_of(h, user) == []
        assert photo not in [p.read_bytes() for p in evidence_files(h)]
        # A day after the first report, one more fits.
        h.offset = timedelta(hours=24, minutes=1)
        calls = await h.send(r.command("baocao"))
        assert "Bạn đã gửi" not in joined(calls)
        labels = [label for c in calls for label, _ in Harness.buttons(c)]
        assert any(label.startswith("Đầu tư, tiền ảo") for label in labels), labels


async def test_a_report_begun_before_the_limit_is_kept_and_sent_once_it_allows(
    tmp_path: Path, db_url: str
) -> None:
    async with running_bot(tmp_path, db_url, reports_per_day=2, admin_ids=[ADMIN_VI.user_id]) as h:
        r = Resident(9104)
        await file_report(h, r)
        calls = await to_summary(h, r)
        # The operator lowers the limit while the report waits at its summary.
        h.services.settings.reports_per_day = 1
        calls = await press(h, r, calls, "Gửi báo cáo")
        assert "Báo cáo này vẫn được giữ nguyên" in joined(calls) and "113" in joined(calls)
        user = await user_row(h, r)
        (kept,) = await drafts_of(h, user)
        async with h.services.db.session() as session:
            dialogue = await session.get(Dialogue, user.id)
        assert dialogue is not None and dialogue.step == "summary"
        # Starting another instead does not throw the kept one away.
        calls = await h.send(r.callback("resume:new"))
        assert "Báo cáo bạn đang viết dở vẫn được giữ" in joined(calls)
        assert [d.id for d in await drafts_of(h, user)] == [kept.id]
        h.offset = timedelta(hours=24, minutes=1)
        calls = await h.send(r.callback("r:summary:send"))
        assert re.search(r"Mã hồ sơ của bạn là TB-\d{4}-\d{4}", joined(calls))
        assert await drafts_of(h, user) == []
        # Officers and admins are not limited.
        calls = await h.send(ADMIN_VI.command("baocao"))
        await press(h, ADMIN_VI, calls, "✅")
        await h.send(ADMIN_VI.callback("cancel:yes"))
        for _ in range(2):
            assert await file_report(h, ADMIN_VI, again=True)


# ----------------------------------------------------------------------------------- bans


async def test_an_admin_bans_a_reporter_who_then_gets_one_notice_and_no_warnings(
    tmp_path: Path, db_url: str
) -> None:
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id], **FAST) as h:
        r, other = Resident(9201), Resident(9202)
        code = await file_report(h, r)
        await h.send(r.command("nhancanhbao"))
        await agree(h, other)
        await h.send(other.command("nhancanhbao"))
        await to_summary(h, r)  # a second report, waiting to be sent
        calls = await h.send(ADMIN.command("cam", code))
        assert f"Ban the reporter of {code}?" in joined(calls)
        calls = await tap(h, ADMIN, calls, "Flooding")
        assert f"Banned: the reporter of {code}. Reason: Flooding the bot" in joined(calls)
        assert f"/bocam {code}" in joined(calls)
        user, admin = await user_row(h, r), await user_row(h, ADMIN)
        async with h.services.db.session() as session:
            (ban,) = (await session.execute(select(Ban))).scalars().all()
        assert (ban.user_id, ban.banned_by, ban.reason, ban.via) == (
            user.id,
            admin.id,
            "flood",
            code,
        )
        assert ban.source == "bot" and ban.lifted_at is None
        assert abs((ban.banned_at - h.now()).total_seconds()) < 60
        # Their draft is not sent: one short notice, then silence.
        first = await texts_to(h, r, r.callback("r:summary:send"))
        assert len(first) == 1 and "hiện mình không nhận tin nhắn của bạn được" in first[0]
        assert "113" in first[0]
        assert len(await drafts_of(h, user)) == 1
        assert await texts_to(h, r, r.text("alo alo")) == []
        assert await texts_to(h, r, r.command("baocao")) == []
        start = h.fake.mark()
        file_id, unique = h.fake.add_file(picture("JPEG", (7, 7)))
        assert await texts_to(h, r, r.photo(file_id, unique)) == []
        assert not [c for c in h.fake.calls[start:] if c.method == "getFile"]  # not downloaded
        # No warnings for them.
        calls = await compose(h, ADMIN, WARNING)
        assert "everyone subscribed (1 people now)" in joined(calls)
        await tap(h, ADMIN, calls, "Send to 1")
        await wait_status(h, 1, "done")
        await h.fake.wait_for_text(ADMIN.user_id, contains="was sent in", timeout=10)
        assert sent_to(h, other.user_id) and not sent_to(h, r.user_id)
        # A day later they are told once more.
        h.offset = timedelta(hours=25)
        assert len(await texts_to(h, r, r.text("?"))) == 1
        assert await texts_to(h, r, r.text("??")) == []
        # The list of bans, then lifting it.
        calls = await h.send(ADMIN.command("cam"))
        assert f"the reporter of {code}" in joined(calls) and "Flooding" in joined(calls)
        calls = await h.send(ADMIN.command("bocam", code))
        assert f"Lift the ban on the reporter of {code}" in joined(calls)
        calls = await tap(h, ADMIN, calls, "Lift the ban")
        assert "is lifted" in joined(calls)
        calls = await h.send(r.command("tinbao"))
        assert code in joined(calls)  # handled again
        async with h.services.db.session() as session:
            lifted = await session.get(Ban, ban.id)
            # Both are in the audit chain, naming the ban and the admin, not the reporter.
            events = [
                e
                for e in (await session.execute(select(AuditEvent))).scalars()
                if e.object_kind == "ban"
            ]
            verdict = await audit.verify(session)
        assert lifted is not None and lifted.lifted_by == admin.id and lifted.lifted_at
        assert [(e.action, e.object_id, e.actor_id) for e in events] == [
            ("ban.imposed", str(ban.id), admin.id),
            ("ban.lifted", str(ban.id), admin.id),
        ]
        assert events[0].detail == {"reason": "flood"}
        assert verdict.ok


async def test_only_admins_ban_nobody_bans_themselves_and_staff_cannot_be_banned(
    tmp_path: Path, db_url: str
) -> None:
    officer = Resident(9302, "Trần Văn Bình", language_code="en")
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id]) as h:
        await h.send(ADMIN.command("canbo", f"them {officer.user_id}"))
        r = Resident(9301)
        code = await file_report(h, r)
        user = await user_row(h, r)
        calls = await h.send(officer.command("ban", code))
        assert "Only admins can ban users or lift bans." in joined(calls)
        start = h.fake.mark()
        await h.send(officer.callback(f"ban:flood:{user.id}:{code}"))  # a forged button
        assert any(
            "Only admins" in str(c.params.get("text"))
            for c in h.fake.calls[start:]
            if c.method == "answerCallbackQuery"
        )
        calls = await h.send(r.command("cam", code))
        assert "chỉ dành cho cán bộ" in joined(calls)
        calls = await h.send(ADMIN.command("cam", str(officer.user_id)))
        assert "is an officer or an admin and cannot be banned" in joined(calls)
        calls = await h.send(ADMIN.command("cam", str(ADMIN.user_id)))
        assert "You cannot ban yourself." in joined(calls)
        staff = await user_row(h, officer)
        await h.send(ADMIN.callback(f"ban:abuse:{staff.id}:id"))  # a button can't do it either
        calls = await h.send(ADMIN.command("cam", "123"))
        assert "Nobody with the id 123 has used the bot." in joined(calls)
        calls = await h.send(ADMIN.command("cam", "TB-2611-9999"))
        assert "No report has the code TB-2611-9999." in joined(calls)
        async with h.services.db.session() as session:
            assert (await session.execute(select(Ban))).scalars().all() == []
        # Two presses of the same confirmation make one ban.
        data = f"ban:other:{user.id}:{code}"
        await asyncio.gather(h.send(ADMIN.callback(data)), h.send(ADMIN.callback(data)))
        async with h.services.db.session() as session:
            assert len((await session.execute(select(Ban))).scalars().all()) == 1


async def test_a_ban_drops_warnings_queued_for_the_user_and_holds_once(db: Database) -> None:
    now = utcnow()
    async with db.session() as session:
        people = [
            User(channel="telegram", external_id=str(n), consent_at=now, consent_version="v")
            for n in (701, 702)
        ]
        session.add_all(people)
        await session.flush()
        for person in people:
            assert person.id is not None
            await broadcasts.set_subscribed(session, person.id, True, now)
        draft = await broadcasts.new_draft(session, "telegram", people[0].id or 0, now)
        assert draft.id is not None
        total = await broadcasts.start_sending(
            session, draft.id, ["draft"], now, approver_id=None, progress_chat="1"
        )
        assert total == 2
    banned = people[0]
    assert banned.id is not None
    async with db.session() as session:
        ban = await ban_store.impose(session, banned.id, reason="abuse", via="id 701", now=now)
        assert ban is not None and ban.id is not None
        again = await ban_store.impose(session, banned.id, reason="x", via="id 701", now=now)
        assert again is None  # one ban in force per user
        assert await broadcasts.audience_size(session, "telegram", "all") == 1
    async with db.session() as session:
        states = dict(
            (
                await session.execute(select(BroadcastDelivery.chat_id, BroadcastDelivery.state))
            ).all()
        )
        assert states == {"701": "failed", "702": "pending"}
        assert await ban_store.take_notice(session, ban.id, now, timedelta(hours=24))
        assert not await ban_store.take_notice(session, ban.id, now, timedelta(hours=24))
        lifted = await ban_store.lift(session, banned.id, now=now, source="cli:test")
        assert lifted is not None and lifted.lift_source == "cli:test"
        assert await ban_store.lift(session, banned.id, now=now) is None
        # A new ban after a lifted one is allowed; the lifted one stays as history.
        assert await ban_store.impose(session, banned.id, reason="x", via="v", now=now)
        assert len((await session.execute(select(Ban))).scalars().all()) == 2


def test_the_command_line_bans_lists_and_lifts(tmp_path: Path, db_url: str) -> None:
    async def seed() -> None:
        db = Database(db_url)
        await upgrade(db)
        async with db.session() as session:
            session.add(User(channel="telegram", external_id="555", consent_at=utcnow()))
            session.add(User(channel="telegram", external_id="556", role="officer"))
        await db.dispose()

    asyncio.run(seed())
    banned = tinbao("user", "ban", "555", "--reason", "gửi tin rác", cwd=tmp_path, db_url=db_url)
    assert banned.returncode == 0, banned.stderr
    assert banned.stdout.strip() == "telegram:555: banned"
    listed = tinbao("user", "list", cwd=tmp_path, db_url=db_url)
    (line,) = listed.stdout.strip().splitlines()
    via, _, by, reason = line.split("\t")
    assert (via, reason) == ("telegram:555", "gửi tin rác") and by.startswith("cli")
    again = tinbao("user", "ban", "555", "--reason", "x", cwd=tmp_path, db_url=db_url)
    assert again.returncode == 1 and "already banned" in again.stderr
    staff = tinbao("user", "ban", "556", "--reason", "x", cwd=tmp_path, db_url=db_url)
    assert staff.returncode == 1 and "officer or an admin" in staff.stderr
    nobody = tinbao("user", "ban", "999", "--reason", "x", cwd=tmp_path, db_url=db_url)
    assert nobody.returncode == 1 and "nobody with the id 999" in nobody.stderr
    lifted = tinbao("user", "unban", "555", cwd=tmp_path, db_url=db_url)
    assert lifted.returncode == 0 and "ban lifted" in lifted.stdout
    assert tinbao("user", "list", cwd=tmp_path, db_url=db_url).stdout.strip() == ""


# ----------------------------------------------------------------------------------- logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger and the libraries' levels back after `logs.configure`."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logs.LIBRARY_LEVELS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def test_log_lines_have_tokens_and_secrets_blanked() -> None:
    token = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"
    redact = logs.Redactor(["s3cret-webhook-value"])
    line = redact(f"GET https://api.telegram.org/bot{token}/getMe s3cret-webhook-value")
    assert token not in line and "s3cret" not in line and line.count(logs.REDACTED) == 2
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", (token,), None)
    assert token not in logs.JsonFormatter(redact).format(record)


async def test_logs_carry_no_message_text_phone_account_or_token_even_at_debug(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture, restore_logging: None
) -> None:
    output = io.StringIO()
    # Everything at DEBUG, as `tinbao` sets it up, from before the bot starts. No secrets are
    # given to blank: what is checked is that nothing logs them in the first place.
    caplog.set_level(logging.DEBUG)
    logs.configure(logging.DEBUG, "json", stream=output)
    logging.getLogger().addHandler(caplog.handler)  # configure() replaced pytest's
    async with running_bot(tmp_path, db_url, admin_ids=[ADMIN.user_id], **FAST) as h:
        settings = h.services.settings
        r = Resident(9501, "Hoa")
        await file_report(
            h,
            r,
            anonymous=False,
            phone="0987650001",
            account="Techcombank 19035551234567 TRAN THI HOA",
        )
        await h.send(r.command("kiemtra", "https://vcb-xacthuc-taikhoan.com"))
        await h.send(r.command("nhancanhbao"))
        calls = await compose(h, ADMIN, WARNING)
        await tap(h, ADMIN, calls, "Send to 1")
        await wait_status(h, 1, "done")
        assert sent_to(h, r.user_id)
        token = settings.telegram_token
    assert token
    secrets = [
        token,
        token.partition(":")[2],
        "0987650001",
        "+84987650001",
        "19035551234567",
        "TRAN THI HOA",
        "0903123456",  # the contact phone file_report gives
        "+84903123456",
        "Họ dụ tôi nạp tiền",  # the story
        "50 triệu",
        "vcb-xacthuc-taikhoan",
        WARNING[:25],
    ]
    formatter = logging.Formatter()
    assert caplog.records, "nothing was logged at all"
    for record in caplog.records:
        text = record.getMessage()
        if record.exc_info:
            text += formatter.formatException(record.exc_info)
        for secret in secrets:
            assert secret not in text, (secret, record.name, text[:300])
    written = output.getvalue()
    assert written
    for secret in secrets:
        assert secret not in written, secret
