"""A resident reports a scam on Telegram, end to end: the real PTB Application over HTTP."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import datetime, timedelta
from typing import Any

from PIL import Image
from sqlmodel import select

from handlers.i18n import VIETNAM
from handlers.texts import CATEGORIES
from storage import identity
from storage.models import Attachment, Dialogue, Report, ReportEvent, User
from storage.reports import export_reports, report_indicators
from tests.conftest import Harness
from tests.fakebotapi import Call
from tests.updates import Resident, entity_for


def picture(fmt: str, size: tuple[int, int] = (8, 8)) -> bytes:
    """A small real picture: pictures are opened with Pillow before they are kept."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, fmt)
    return buffer.getvalue()


PNG = picture("PNG")
JPEG = picture("JPEG")
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n" + b"x" * 100
APK = b"PK\x03\x04" + b"\x00" * 100


def data_of(call: Call, label_part: str) -> str:
    """The callback data of the button whose label contains `label_part`."""
    for label, data in Harness.buttons(call):
        if label_part in label:
            return data
    raise AssertionError(f"no button with {label_part!r} in {Harness.buttons(call)}")


def last_with_buttons(calls: list[Call]) -> Call:
    """The last reply that carries buttons (the current question)."""
    for call in reversed(calls):
        if Harness.buttons(call):
            return call
    raise AssertionError("no reply with buttons")


async def press(h: Harness, r: Resident, calls: list[Call], label_part: str) -> list[Call]:
    """Press the button labelled `label_part` on the latest question in this person's chat
    (the timers may message an admin's chat at the same moment)."""
    mine = [c for c in calls if c.chat_id == r.user_id]
    return await h.send(r.callback(data_of(last_with_buttons(mine), label_part)))


async def press_all(h: Harness, r: Resident, calls: list[Call], *labels: str) -> list[Call]:
    """Press a series of buttons, each on the question the previous press brought."""
    for label in labels:
        calls = await press(h, r, calls, label)
    return calls


# From the accounts question to the summary, skipping everything optional and staying anonymous.
SKIP_TO_SUMMARY = ("bỏ qua", "Bỏ qua", "Bỏ qua", "Tiếp tục", "ẩn danh")


async def agree(h: Harness, r: Resident) -> list[Call]:
    """First contact: /start, then accept the privacy notice."""
    calls = await h.send(r.command("start"))
    return await press(h, r, calls, "✅")


async def stored_reports(h: Harness) -> list[Report]:
    async with h.services.db.session() as session:
        result = await session.execute(select(Report).where(Report.status != "draft"))
        return list(result.scalars())


def joined(calls: list[Call]) -> str:
    return "\n".join(str(c.params.get("text", "")) for c in calls)


async def test_first_contact_asks_consent_and_stores_nothing_when_declined(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1001)
    calls = await h.send(r.command("start"))
    assert "Bạn có đồng ý không?" in joined(calls)
    assert "91/2025/QH15" in joined(calls)
    calls = await press(h, r, calls, "không đồng ý")
    assert "Mình không lưu bất cứ thông tin nào về bạn" in joined(calls)
    assert "canhbao.khonggianmang.vn" in joined(calls)
    async with h.services.db.session() as session:
        assert (await session.execute(select(User))).first() is None
    # Still no silence and no storage: a report command asks for consent again.
    calls = await h.send(r.command("baocao"))
    assert "Bạn có đồng ý không?" in joined(calls)


async def test_full_report_in_vietnamese_is_stored_and_exported_field_by_field(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1002)
    calls = await agree(h, r)
    calls = await press(h, r, calls, "Báo cáo lừa đảo")
    assert "Mình rất tiếc" in joined(calls)
    calls = await press(h, r, calls, "Đầu tư, tiền ảo")
    assert "Bạn có bị mất tiền không?" in joined(calls)
    calls = await press(h, r, calls, "Có, tôi bị mất tiền")
    calls = await h.send(r.text("khoảng 1 tỷ 2"))
    assert "1.200.000.000" in joined(calls)
    calls = await h.send(r.text("14h30 20/11/2026"))
    assert "Bạn đã chuyển tiền vào tài khoản nào?" in joined(calls)
    calls = await h.send(r.text("Vietcombank 0123456789 NGUYEN VAN A"))
    assert "Vietcombank 0123456789 – NGUYEN VAN A" in joined(calls)
    calls = await h.send(r.text("0987654321"))  # a second account, bank asked separately
    assert "ở ngân hàng hay ví điện tử nào" in joined(calls)
    calls = await h.send(r.text("Techcom"))
    assert "Techcombank 0987654321" in joined(calls)
    calls = await press(h, r, calls, "Tiếp tục")
    assert "Kẻ gian đã liên lạc với bạn qua đâu?" in joined(calls)
    calls = await h.send(
        r.text("Nó gọi từ số 0912.345.678 và gửi link https://vcb-xacthuc.com/login")
    )
    text = joined(calls)
    assert "091 234 56 78" in text or "0912 345 678" in text
    assert "vcb-xacthuc[.]com" in text  # shown defanged, never as a tappable link
    calls = await press(h, r, calls, "Tiếp tục")
    calls = await h.send(r.text("Họ mời tôi vào nhóm đầu tư tiền ảo, hứa lãi 30%."))
    assert "Mình đã ghi lại" in joined(calls)
    calls = await press(h, r, calls, "Tiếp tục")
    assert "ảnh chụp màn hình" in joined(calls)
    file_id, unique = h.fake.add_file(JPEG)
    calls = await h.send(r.photo(file_id, unique, size=len(JPEG)))
    assert "Báo cáo này hiện có 1 tệp" in joined(calls)
    calls = await press(h, r, calls, "Tiếp tục")
    calls = await press(h, r, calls, "Có, cán bộ có thể liên hệ")
    calls = await h.send(r.text("số của tôi là 0903 123 456"))
    summary = joined(calls)
    assert "Bạn kiểm tra lại báo cáo giúp mình" in summary
    assert "Đầu tư, tiền ảo, sàn giao dịch" in summary
    assert "1.200.000.000" in summary and "14:30 20/11/2026" in summary
    assert "1 tệp" in summary
    calls = await press(h, r, calls, "Gửi báo cáo")
    done = joined(calls)
    match = re.search(r"TB-\d{4}-(\d{4})", done)
    assert match and match.group(1) == "0001"
    assert "phong tỏa giao dịch" in done and "113" in done

    reports = await stored_reports(h)
    assert len(reports) == 1
    report = reports[0]
    assert report.code == match.group(0)
    assert report.status == "new" and report.category == "investment"
    assert report.amount_lost_vnd == 1_200_000_000
    assert report.occurred_at is not None
    assert report.occurred_at.isoformat() == "2026-11-20T07:30:00+00:00"  # 14:30 in Vietnam
    assert report.description == "Họ mời tôi vào nhóm đầu tư tiền ảo, hứa lãi 30%."
    assert report.contact_allowed and not report.anonymous
    async with h.services.db.session() as session:
        assert report.id is not None
        # The phone is kept apart from the report, as identity (docs/privacy.md).
        assert await identity.contact_for(session, report.id) == "+84903123456"
        indicators = await report_indicators(session, report.id)
        attachments = (
            (await session.execute(select(Attachment).where(Attachment.report_id == report.id)))
            .scalars()
            .all()
        )
        events = (
            (await session.execute(select(ReportEvent).where(ReportEvent.report_id == report.id)))
            .scalars()
            .all()
        )
        dialogue = (await session.execute(select(Dialogue))).first()
        exported = [row async for row in export_reports(session)]
        with_identity = [row async for row in export_reports(session, with_identity=True)]
    assert set(indicators) == {
        ("bank_account", "VCB:0123456789"),
        ("bank_account", "TCB:0987654321"),
        ("phone", "+84912345678"),
        ("url", "https://vcb-xacthuc.com/login"),
        ("domain", "vcb-xacthuc.com"),
    }
    assert len(attachments) == 1
    photo = attachments[0]
    assert photo.mime == "image/jpeg" and photo.size == len(JPEG) and photo.kind == "photo"
    stored = h.services.settings.evidence_dir / photo.stored_path
    assert stored.read_bytes() == JPEG
    import hashlib

    assert photo.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("submitted", "draft", "new")
    ]
    assert dialogue is None  # the finished conversation is gone
    row = exported[0]
    assert row["code"] == report.code and row["status"] == "new"
    assert row["category"] == "investment" and row["amount_lost_vnd"] == 1_200_000_000
    assert row["channel"] == "telegram" and row["assignee"] is None
    assert row["occurred_at"] == "2026-11-20T07:30:00+00:00"
    assert {(i["kind"], i["value"]) for i in row["indicators"]} == set(indicators)
    assert row["attachments"] == [
        {"sha256": photo.sha256, "mime": "image/jpeg", "size": len(JPEG), "purged_at": None}
    ]
    # A plain export names the reporter by handle only; the identity is there when asked for.
    assert set(row["reporter"]) == {"handle", "contact_allowed"}
    assert row["reporter"]["handle"].startswith("NB-") and row["reporter"]["contact_allowed"]
    assert with_identity[0]["reporter"]["contact_phone"] == "+84903123456"
    assert with_identity[0]["reporter"]["external_id"] == str(r.user_id)


async def quick_report(h: Harness, r: Resident, category_label: str) -> list[Call]:
    """The shortest complete report: every optional question skipped."""
    calls = await h.send(r.command("baocao"))
    # No money lost, so the accounts question is not asked.
    calls = await press_all(h, r, calls, category_label, "Không", "Tôi không nhớ")
    calls = await press_all(h, r, calls, *SKIP_TO_SUMMARY[1:])
    assert "Bạn kiểm tra lại báo cáo giúp mình" in joined(calls)
    return await press(h, r, calls, "Gửi báo cáo")


async def test_every_category_can_be_reported_with_every_optional_step_skipped(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1003)
    await agree(h, r)
    vi_labels = {
        "police": "Giả danh công an",
        "bank_sms": "Tin nhắn giả ngân hàng",
        "investment": "Đầu tư, tiền ảo",
        "job": "Việc làm online",
        "shopping": "Mua hàng online",
        "loan": "Vay tiền",
        "romance": "Làm quen, yêu đương",
        "hacked_account": "Tài khoản người quen bị chiếm",
        "deepfake": "deepfake",
        "recovery": "lấy lại tiền",
        "other": "Trường hợp khác",
    }
    assert set(vi_labels) == set(CATEGORIES)
    for label in vi_labels.values():
        calls = await quick_report(h, r, label)
        assert "Mã hồ sơ của bạn là TB-" in joined(calls)
        assert "phong tỏa" not in joined(calls)  # no money lost: no bank advice
    reports = await stored_reports(h)
    assert sorted(x.category for x in reports if x.category) == sorted(vi_labels)
    assert all(x.anonymous and x.amount_lost_vnd is None and x.occurred_at is None for x in reports)
    codes = sorted(x.code for x in reports if x.code)
    assert [c[-4:] for c in codes] == [f"{n:04d}" for n in range(1, 12)]
    async with h.services.db.session() as session:
        exported = [row async for row in export_reports(session)]
    assert all(row["reporter"] is None for row in exported)  # anonymous reports


async def test_back_returns_to_the_previous_question_and_keeps_answers(harness: Harness) -> None:
    h, r = harness, Resident(1004)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Vay tiền")
    calls = await press(h, r, calls, "Có, tôi bị mất tiền")
    calls = await h.send(r.text("500k"))
    assert "Chuyện xảy ra khi nào?" in joined(calls)
    calls = await press(h, r, calls, "Quay lại")
    assert "Bạn đã mất khoảng bao nhiêu tiền?" in joined(calls)
    calls = await press(h, r, calls, "Quay lại")
    assert "Bạn có bị mất tiền không?" in joined(calls)
    calls = await press(h, r, calls, "Có, tôi bị mất tiền")
    calls = await h.send(r.text("2,5 triệu"))
    calls = await press(h, r, calls, "Hôm qua")
    calls = await press_all(h, r, calls, *SKIP_TO_SUMMARY)
    summary = joined(calls)
    assert "Vay tiền, ứng dụng cho vay" in summary and "2.500.000" in summary
    yesterday = (datetime.now(VIETNAM) - timedelta(days=1)).strftime("%d/%m/%Y")
    assert f"Thời điểm: {yesterday}\n" in summary  # a day without a time shows no time


async def test_cancel_asks_first_then_deletes_the_draft_and_its_files(harness: Harness) -> None:
    h, r = harness, Resident(1005)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Mua hàng online")
    file_id, unique = h.fake.add_file(PNG)
    await h.send(r.photo(file_id, unique, size=len(PNG)))
    calls = await h.send(r.command("huy"))
    assert "Bạn có muốn hủy báo cáo này không?" in joined(calls)
    calls = await press(h, r, calls, "Không, làm tiếp")
    assert "Bạn có bị mất tiền không?" in joined(calls)  # nothing lost
    calls = await h.send(r.command("huy"))
    calls = await press(h, r, calls, "Có, hủy báo cáo")
    assert "Đã hủy báo cáo" in joined(calls)
    async with h.services.db.session() as session:
        assert (await session.execute(select(Report))).first() is None
        assert (await session.execute(select(Attachment))).first() is None
        assert (await session.execute(select(Dialogue))).first() is None
    assert not any(p.is_file() for p in h.services.settings.evidence_dir.rglob("*"))
    calls = await h.send(r.command("huy"))
    assert "Bạn không có báo cáo nào đang làm dở" in joined(calls)


async def test_a_field_corrected_from_the_summary_goes_straight_back_to_it(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1006)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Việc làm online")
    calls = await h.send(r.text("mất 5tr"))
    calls = await press(h, r, calls, "Hôm nay")
    calls = await press_all(h, r, calls, *SKIP_TO_SUMMARY)
    assert "5.000.000" in joined(calls)
    calls = await press(h, r, calls, "✏️ Số tiền")
    assert "Bạn đã mất khoảng bao nhiêu tiền?" in joined(calls)
    calls = await h.send(r.text("7.500.000đ"))
    summary = joined(calls)
    assert "Bạn kiểm tra lại báo cáo giúp mình" in summary and "7.500.000" in summary
    calls = await press(h, r, calls, "✏️ Loại")
    calls = await press(h, r, calls, "Vay tiền")
    assert "Vay tiền, ứng dụng cho vay" in joined(calls)
    calls = await press(h, r, calls, "✏️ Liên hệ")
    calls = await press(h, r, calls, "Có, cán bộ")
    calls = await press(h, r, calls, "Bỏ qua")
    assert "đồng ý, nhắn ở đây" in joined(calls)
    await press(h, r, calls, "Gửi báo cáo")
    (report,) = await stored_reports(h)
    assert report.amount_lost_vnd == 7_500_000 and report.category == "loan"
    assert report.contact_allowed and not report.anonymous
    async with h.services.db.session() as session:
        assert report.id is not None and await identity.contact_for(session, report.id) is None


async def test_an_album_of_three_photos_is_acknowledged_once(harness: Harness) -> None:
    h, r = harness, Resident(1007)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    await press(h, r, calls, "Đầu tư")
    start = h.fake.mark()
    for n in range(3):
        content = JPEG + bytes([n])
        file_id, unique = h.fake.add_file(content)
        album = r.photo(
            file_id,
            unique,
            size=len(content),
            media_group_id="album-1",
            caption="ảnh chuyển khoản" if n == 0 else None,
        )
        assert await h.send(album) == []  # nothing per photo
    ack = await h.fake.wait_for_text(r.user_id, after=start, contains="album")
    assert "Mình đã nhận đủ 3 tệp trong album của bạn" in ack.params["text"]
    assert "Bạn có bị mất tiền không?" in ack.params["text"]  # and back to the question
    texts = h.fake.texts(r.user_id)
    assert sum("album" in t for t in texts) == 1
    async with h.services.db.session() as session:
        rows = (await session.execute(select(Attachment))).scalars().all()
    assert len(rows) == 3 and {a.media_group_id for a in rows} == {"album-1"}


async def test_files_that_are_too_large_or_of_a_wrong_type_are_refused_kindly(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1008)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    await press(h, r, calls, "Vay tiền")
    big_id, big_unique = h.fake.add_file(b"x", file_size=25 * 1024 * 1024)
    calls = await h.send(
        r.document(
            big_id,
            big_unique,
            file_name="video.mp4",
            mime_type="video/mp4",
            file_size=25 * 1024 * 1024,
        )
    )
    assert "Tệp này lớn quá (25.0 MB)" in joined(calls)
    apk_id, apk_unique = h.fake.add_file(APK)
    calls = await h.send(
        r.document(
            apk_id,
            apk_unique,
            file_name="vay-nhanh.apk",
            mime_type="application/vnd.android.package-archive",
            file_size=len(APK),
        )
    )
    assert "đừng cài đặt" in joined(calls)
    pdf_id, pdf_unique = h.fake.add_file(PDF)
    calls = await h.send(r.document(pdf_id, pdf_unique, file_size=len(PDF)))
    assert "Báo cáo này hiện có 1 tệp" in joined(calls)
    assert "Bạn có bị mất tiền không?" in joined(calls)  # the question is asked again
    async with h.services.db.session() as session:
        rows = (await session.execute(select(Attachment))).scalars().all()
    assert [a.mime for a in rows] == ["application/pdf"]


async def test_a_forwarded_message_starts_a_report_with_it_as_evidence(harness: Harness) -> None:
    h, r = harness, Resident(1009)
    await agree(h, r)
    scam = (
        "[Cục Cảnh sát] Ông/bà liên quan đường dây rửa tiền. Liên hệ 0868 111 222 "
        "hoặc truy cập bocongan-xacminh.com để xác minh, chuyển 50 triệu vào STK 1903 5555 "
        "8888 Techcombank."
    )
    calls = await h.send(r.forwarded_text(scam, origin="hidden_user", sender_name="Cán bộ Hùng"))
    text = joined(calls)
    assert "Mình đã lưu tin nhắn chuyển tiếp làm bằng chứng" in text
    assert "bocongan-xacminh[.]com" in text
    assert "Mình đã mở một báo cáo mới" in text
    assert "Chuyện gì đã xảy ra với bạn?" in text
    async with h.services.db.session() as session:
        (attachment,) = (await session.execute(select(Attachment))).scalars().all()
    assert attachment.kind == "forward" and attachment.forwarded_from == "Cán bộ Hùng"
    stored = (h.services.settings.evidence_dir / attachment.stored_path).read_text("utf-8")
    assert "Forwarded from: Cán bộ Hùng" in stored and scam in stored
    # A second forward joins the same report.
    calls = await h.send(r.forwarded_text("Chuyển ngay kẻo bị bắt!", origin="user"))
    assert "Mình đã mở một báo cáo mới" not in joined(calls)
    calls = await press(h, r, calls, "Giả danh công an")
    assert "Mình thấy bạn có nhắc tới 50.000.000" in joined(calls)
    calls = await press(h, r, calls, "Có, tôi mất 50.000.000")  # confirmed, not asked again
    assert "Chuyện xảy ra khi nào?" in joined(calls)
    calls = await press(h, r, calls, "Hôm nay")
    assert "Techcombank 190355558888" in joined(calls)  # found earlier, shown to confirm
    await quick_finish(h, r, calls)
    (report,) = await stored_reports(h)
    async with h.services.db.session() as session:
        assert report.id is not None
        indicators = set(await report_indicators(session, report.id))
        files = (await session.execute(select(Attachment))).scalars().all()
    assert ("phone", "+84868111222") in indicators
    assert ("domain", "bocongan-xacminh.com") in indicators
    assert ("bank_account", "TCB:190355558888") in indicators
    assert len(files) == 2
    assert report.amount_lost_vnd == 50_000_000


async def quick_finish(h: Harness, r: Resident, calls: list[Call]) -> list[Call]:
    """From the accounts question to a sent report, continuing past each question."""
    calls = await press(h, r, calls, "Tiếp tục")  # accounts
    calls = await press(h, r, calls, "Tiếp tục")  # contacts
    calls = await press(h, r, calls, "Bỏ qua")  # story
    calls = await press(h, r, calls, "Tiếp tục")  # evidence
    calls = await press(h, r, calls, "ẩn danh")
    return await press(h, r, calls, "Gửi báo cáo")


async def test_an_english_speaking_resident_is_answered_in_english(harness: Harness) -> None:
    h, r = harness, Resident(1010, "John", language_code="en-GB")
    calls = await h.send(r.command("start"))
    assert "Do you agree?" in joined(calls)
    calls = await press(h, r, calls, "I agree")
    calls = await press(h, r, calls, "Report a scam")
    calls = await press(h, r, calls, "Romance or gifts")
    calls = await press(h, r, calls, "Yes, I lost money")
    calls = await h.send(r.text("about 2000000 VND"))
    assert "Noted: ₫2,000,000." in joined(calls)
    calls = await press_all(h, r, calls, "Yesterday", "skip", "Skip", "Skip", "Continue", "anon")
    assert "Please check your report" in joined(calls)
    calls = await press(h, r, calls, "Send the report")
    assert "Your case code is TB-" in joined(calls)
    calls = await h.send(r.command("myreports"))
    assert "Received, waiting for an officer" in joined(calls)


async def test_the_same_update_delivered_twice_has_one_effect(harness: Harness) -> None:
    h, r = harness, Resident(1011)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    press_update: dict[str, Any] = r.callback(data_of(last_with_buttons(calls), "Đầu tư"))
    press_update["update_id"] = 990_001
    first = await h.send(dict(press_update))
    second = await h.send(dict(press_update))
    assert "Bạn có bị mất tiền không?" in joined(first)
    assert second == []
    answer: dict[str, Any] = r.text("3 triệu")
    answer["update_id"] = 990_002
    await h.send(dict(answer))
    assert await h.send(dict(answer)) == []
    async with h.services.db.session() as session:
        (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    assert dialogue.step == "when" and dialogue.data["amount_vnd"] == 3_000_000


async def test_an_unfinished_report_is_offered_again(harness: Harness) -> None:
    h, r = harness, Resident(1012)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Tin nhắn giả ngân hàng")
    calls = await h.send(r.command("baocao"))
    assert "Bạn có một báo cáo đang làm dở" in joined(calls)
    calls = await press(h, r, calls, "Làm tiếp")
    assert "Bạn có bị mất tiền không?" in joined(calls)
    calls = await h.send(r.command("start"))
    calls = await press(h, r, calls, "Làm báo cáo mới")
    assert "Chuyện gì đã xảy ra với bạn?" in joined(calls)
    async with h.services.db.session() as session:
        drafts = (await session.execute(select(Report))).scalars().all()
    assert len(drafts) == 1  # the abandoned draft was replaced, not piled up


async def test_a_button_from_an_old_message_is_answered_without_acting(harness: Harness) -> None:
    h, r = harness, Resident(1013)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    category = last_with_buttons(calls)
    await press(h, r, calls, "Đầu tư")
    calls = await h.send(r.callback(data_of(category, "Vay tiền")))
    assert "Nút này thuộc một tin nhắn cũ" in joined(calls)
    assert "Bạn có bị mất tiền không?" in joined(calls)
    calls = await h.send(r.callback("r:nonsense:x"))
    assert "Nút này thuộc một tin nhắn cũ" in joined(calls)
    async with h.services.db.session() as session:
        (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    assert dialogue.data["category"] == "investment"


async def test_stickers_locations_unknown_commands_and_groups_get_polite_answers(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1014)
    await agree(h, r)
    assert "nhãn dán" in joined(await h.send(r.sticker()))
    assert "vị trí" in joined(await h.send(r.location(21.03, 105.85)))
    calls = await h.send(r.command("xyz"))
    assert "Mình không hiểu lệnh /xyz" in joined(calls)
    assert "Bạn muốn làm gì?" in joined(calls)
    calls = await h.send(r.text("alo"))
    assert "Mình là tinbao" in joined(calls)
    command = "/baocao@tinbao_test_bot"
    in_group = r.message(
        chat={"id": -5001, "type": "group", "title": "Tổ dân phố 5"},
        text=command,
        entities=[entity_for(command, command, "bot_command")],
    )
    calls = await h.send(in_group)
    assert "tin nhắn riêng" in joined(calls)
    assert await h.send(r.group_text(-5001, "chào cả nhà")) == []


async def test_flooding_gets_one_polite_warning_then_quiet(harness: Harness) -> None:
    h, r = harness, Resident(1015)
    await agree(h, r)
    h.services.flood.limit = 3
    replies = [await h.texts(r.text(f"tin {n}")) for n in range(8)]
    warnings = [t for batch in replies for t in batch if "Bạn đang gửi hơi nhanh" in t]
    assert len(warnings) == 1
    assert replies[-1] == []


async def test_a_hidden_link_target_is_extracted(harness: Harness) -> None:
    h, r = harness, Resident(1016)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Tin nhắn giả ngân hàng")
    calls = await press(h, r, calls, "Không")
    calls = await press(h, r, calls, "Hôm nay")
    calls = await h.send(
        r.text_link(
            "bấm vào đây",
            "http://vietcombank.com.vn.xacthuc-tk.top/dang-nhap",
            before="Tin nhắn bảo ",
        )
    )
    assert "xacthuc-tk[.]top" in joined(calls)


async def test_my_reports_lists_case_codes_and_status(harness: Harness) -> None:
    h, r = harness, Resident(1017)
    calls = await h.send(r.command("tinbao"))
    assert "Bạn chưa gửi báo cáo nào" in joined(calls)
    await agree(h, r)
    await quick_report(h, r, "Cuộc gọi video")
    calls = await h.send(r.command("tinbao"))
    text = joined(calls)
    assert re.search(r"TB-\d{4}-0001 – Cuộc gọi video giả mạo", text)
    assert "Đã tiếp nhận, đang chờ cán bộ xem" in text


async def test_language_can_be_changed_and_is_remembered(harness: Harness) -> None:
    h, r = harness, Resident(1018)
    await agree(h, r)
    calls = await h.send(r.command("ngonngu"))
    calls = await press(h, r, calls, "English")
    assert "I will speak English" in joined(calls)
    calls = await h.send(r.command("help"))
    assert "I help you report scams" in joined(calls)
    async with h.services.db.session() as session:
        (user,) = (await session.execute(select(User))).scalars().all()
    assert user.language == "en"


async def test_commands_are_registered_in_both_languages(harness: Harness) -> None:
    calls = [c for c in harness.fake.calls if c.method == "setMyCommands"]
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    vi = [c["command"] for c in by_language["vi"]]
    en = [c["command"] for c in by_language["en"]]
    assert vi == [
        "baocao", "kiemtra", "tinbao", "nhancanhbao", "huynhan", "huy", "ngonngu",
        "dulieucuatoi", "xoadulieu", "rutlaidongy", "trogiup",
    ]  # fmt: skip
    assert en == [
        "report", "check", "myreports", "subscribe", "unsubscribe", "cancel", "language",
        "mydata", "deletemydata", "withdraw", "help",
    ]  # fmt: skip
    assert by_language[None] == by_language["vi"]


async def test_a_rate_limited_reply_is_retried_and_arrives(harness: Harness) -> None:
    h, r = harness, Resident(1019)
    h.fake.fail_next("sendMessage", status=429, retry_after=1)
    calls = await h.send(r.command("start"))
    assert "Bạn có đồng ý không?" in joined(calls)
    assert any(not c.ok for c in calls)  # the first attempt was refused


async def test_user_text_is_escaped_in_html_replies(harness: Harness) -> None:
    h, r = harness, Resident(1020)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Trường hợp khác")
    calls = await press(h, r, calls, "Không")
    calls = await press(h, r, calls, "Tôi không nhớ")
    calls = await press(h, r, calls, "Bỏ qua")
    calls = await h.send(r.text("Kẻ gian viết <b>khẩn</b> & dọa"))
    assert "«Kẻ gian viết &lt;b&gt;khẩn&lt;/b&gt; &amp; dọa»" in joined(calls)


async def test_a_refused_file_outside_a_report_opens_no_empty_report(harness: Harness) -> None:
    h, r = harness, Resident(1021)
    await agree(h, r)
    apk_id, apk_unique = h.fake.add_file(APK)
    calls = await h.send(
        r.document(
            apk_id,
            apk_unique,
            file_name="app.apk",
            mime_type="application/vnd.android.package-archive",
            file_size=len(APK),
        )
    )
    text = joined(calls)
    assert "đừng cài đặt" in text and "Bạn muốn làm gì?" in text
    assert "Mình đã mở một báo cáo mới" not in text
    async with h.services.db.session() as session:
        assert (await session.execute(select(Report))).first() is None


async def test_a_photo_sent_before_consent_is_not_kept(harness: Harness) -> None:
    h, r = harness, Resident(1022)
    file_id, unique = h.fake.add_file(JPEG)
    calls = await h.send(r.photo(file_id, unique, size=len(JPEG)))
    text = joined(calls)
    assert "Bạn có đồng ý không?" in text
    assert "Những gì bạn vừa gửi chưa được lưu" in text
    assert not [c for c in h.fake.calls if c.method == "getFile"]  # not even downloaded
    calls = await press(h, r, calls, "✅")
    assert "Chuyện gì đã xảy ra với bạn?" in joined(calls)  # consent leads into the report


OGG = b"OggS\x00\x02" + b"\x00" * 22 + b"\x13OpusHead" + b"\x00" * 40
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 80


async def test_voice_notes_and_videos_are_kept_as_evidence(harness: Harness) -> None:
    h, r = harness, Resident(1023)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    await press(h, r, calls, "Cuộc gọi video")
    voice_id, voice_unique = h.fake.add_file(OGG)
    calls = await h.send(r.voice(voice_id, voice_unique, file_size=len(OGG)))
    assert "Báo cáo này hiện có 1 tệp" in joined(calls)
    video_id, video_unique = h.fake.add_file(MP4)
    calls = await h.send(
        r.video(video_id, video_unique, file_size=len(MP4), caption="cuộc gọi lúc 9h")
    )
    assert "Báo cáo này hiện có 2 tệp" in joined(calls)
    async with h.services.db.session() as session:
        rows = (await session.execute(select(Attachment))).scalars().all()
        (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    assert sorted((a.kind, a.mime) for a in rows) == [
        ("video", "video/mp4"),
        ("voice", "audio/ogg"),
    ]
    assert all(a.file_id and a.file_unique_id for a in rows)
    assert dialogue.data["description"] == "cuộc gọi lúc 9h"  # the caption is the resident's words


async def test_a_burst_from_one_user_is_applied_in_order_while_others_run_alongside(
    harness: Harness,
) -> None:
    h = harness
    residents = [Resident(1100 + n) for n in range(4)]
    for r in residents:
        await agree(h, r)
    burst = [
        lambda r: r.command("baocao"),
        lambda r: r.callback("r:category:job"),
        lambda r: r.callback("r:lost:yes"),
        lambda r: r.text("3 triệu"),
        lambda r: r.text("hôm qua"),
        lambda r: r.text("ACB 123456789"),
    ]
    # Everything is queued at once, interleaved across residents, before the bot can answer.
    ids = [h.fake.push_update(step(r)) for step in burst for r in residents]
    for update_id in ids:
        await asyncio.wait_for(h._event(update_id).wait(), 20)
    async with h.services.db.session() as session:
        dialogues = (await session.execute(select(Dialogue))).scalars().all()
    assert len(dialogues) == 4
    for dialogue in dialogues:
        assert dialogue.step == "accounts"
        assert dialogue.data["category"] == "job" and dialogue.data["amount_vnd"] == 3_000_000
        assert dialogue.data["indicators"][0]["value"] == "ACB:123456789"


async def test_every_message_has_link_previews_off_and_html_parse_mode(harness: Harness) -> None:
    h, r = harness, Resident(1024)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    await press(h, r, calls, "Tin nhắn giả ngân hàng")
    await h.send(r.text("link https://vcb-xacthuc.com/dang-nhap"))
    sent = [c for c in h.fake.calls if c.method == "sendMessage"]
    assert sent
    for call in sent:
        preview = call.params.get("link_preview_options")
        assert isinstance(preview, dict) and preview.get("is_disabled") is True
        assert call.params.get("parse_mode") == "HTML"


async def test_an_overlong_story_is_refused_kindly_and_what_was_written_is_kept(
    harness: Harness,
) -> None:
    h, r = harness, Resident(1025)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Trường hợp khác")
    calls = await press(h, r, calls, "Không")
    calls = await press(h, r, calls, "Tôi không nhớ")
    calls = await press(h, r, calls, "Bỏ qua")
    chunks = [f"Phần {n}: " + "kẻ gian nói rất nhiều. " * 170 for n in range(3)]
    assert all(len(chunk) < 4096 for chunk in chunks)
    for chunk in chunks[:2]:
        assert "Mình đã ghi lại" in joined(await h.send(r.text(chunk)))
    calls = await h.send(r.text(chunks[2]))
    assert "Lời kể của bạn đã rất dài" in joined(calls)
    async with h.services.db.session() as session:
        (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    assert dialogue.data["description"] == "\n".join(chunk.strip() for chunk in chunks[:2])


async def test_an_edited_message_gets_a_kind_answer_and_changes_nothing(harness: Harness) -> None:
    h, r = harness, Resident(1026)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Vay tiền")
    calls = await press(h, r, calls, "Có, tôi bị mất tiền")
    answer = r.text("5 triệu")
    await h.send(answer)
    edited = {"edited_message": dict(answer["message"], text="50 triệu", edit_date=1)}
    calls = await h.send(edited)
    assert "gửi nội dung đúng thành một tin nhắn mới" in joined(calls)
    async with h.services.db.session() as session:
        (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    assert dialogue.data["amount_vnd"] == 5_000_000 and dialogue.step == "when"


async def test_a_shared_contact_card_answers_the_phone_question(harness: Harness) -> None:
    h, r = harness, Resident(1027)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press_all(h, r, calls, "Làm quen", "Không", "Tôi không nhớ", "Bỏ qua")
    calls = await press_all(h, r, calls, "Bỏ qua", "Tiếp tục", "Có, cán bộ")
    assert "Cán bộ có thể gọi cho bạn theo số nào?" in joined(calls)
    calls = await h.send(r.contact("+84 903 123 456", "Lan"))
    assert "đồng ý, qua số 0903 123 456" in joined(calls)  # straight to the summary
    async with h.services.db.session() as session:
        (dialogue,) = (await session.execute(select(Dialogue))).scalars().all()
    assert dialogue.data["contact_phone"] == "+84903123456"
    assert dialogue.data["indicators"] == []  # the resident's own number is no scam indicator


async def test_typed_continue_words_work_like_the_buttons(harness: Harness) -> None:
    # Many residents type instead of pressing: "không có", "xong", "tiếp tục", "bỏ qua".
    h, r = harness, Resident(1030)
    await agree(h, r)
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Vay tiền")
    calls = await press(h, r, calls, "Có, tôi bị mất tiền")
    calls = await h.send(r.text("1 triệu"))
    calls = await press(h, r, calls, "Hôm nay")
    expected = [
        ("không có", "Kẻ gian đã liên lạc với bạn qua đâu?"),  # no account: on to contacts
        ("Xong", "Bạn kể lại chuyện đã xảy ra"),
        ("Nó bắt tôi đóng phí hồ sơ", "Mình đã ghi lại"),
        ("tiếp tục", "Bạn có ảnh chụp màn hình"),
        ("không", "Cán bộ có thể liên hệ với bạn"),
        ("có", "Cán bộ có thể gọi cho bạn theo số nào?"),
        ("bỏ qua", "Bạn kiểm tra lại báo cáo giúp mình"),
    ]
    for typed, question in expected:
        calls = await h.send(r.text(typed))
        assert question in joined(calls), (typed, joined(calls))
    summary = joined(calls)
    assert "Tài khoản nhận tiền: chưa có" in summary and "Kẻ gian liên lạc qua: chưa có" in summary
    assert "Lời kể: Nó bắt tôi đóng phí hồ sơ\n" in summary  # "xong" and "tiếp tục" not in it
    assert "Liên hệ: đồng ý, nhắn ở đây" in summary


async def _draft_indicators(h: Harness) -> list[str]:
    async with h.services.db.session() as session:
        dialogues = (await session.execute(select(Dialogue))).scalars().all()
    return [item["value"] for d in dialogues for item in d.data.get("indicators", [])]


async def test_a_vietqr_screenshot_is_read_and_added_only_when_confirmed(
    harness: Harness,
) -> None:
    from tests.test_screenshots import encode, qr_image, vietqr

    h = harness
    png = encode(qr_image(vietqr(account="0123400777", name="TRAN THI B")), "PNG")
    for person, answer in ((Resident(1041), "Có, thêm vào"), (Resident(1042), "Không")):
        await agree(h, person)
        calls = await h.send(person.command("baocao"))
        calls = await press(h, person, calls, "Vay tiền")
        before = (await _draft_indicators(h)).count("VCB:0123400777")
        file_id, unique = h.fake.add_file(png)
        calls = await h.send(person.photo(file_id, unique, size=len(png)))
        said = joined(calls)
        assert "mình đọc được" in said and "Vietcombank 0123400777 – TRAN THI B" in said
        assert (await _draft_indicators(h)).count("VCB:0123400777") == before  # not silently
        shown = next(c for c in calls if "mình đọc được" in str(c.params.get("text")))
        calls = await h.send(person.callback(data_of(shown, answer)))
        after = (await _draft_indicators(h)).count("VCB:0123400777")
        if answer == "Không":
            assert "không thêm vào" in joined(calls) and after == before
        else:
            assert "Đã thêm vào báo cáo" in joined(calls) and after == before + 1
        assert "Bạn có bị mất tiền không?" in joined(calls)  # and the report goes on
