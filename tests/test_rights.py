"""A resident's rights over their data, end to end through the real bot: see, export, delete,
withdraw consent, and be asked again when the privacy notice changes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel, select

from storage import identity
from storage.models import Attachment, AuditEvent, Dialogue, Report, User
from tests.conftest import Harness, running_bot
from tests.fakebotapi import Upload
from tests.test_officer_flow import ADMIN, GROUP_ID, OFFICER, claim, file_report, report_row
from tests.test_report_flow import JPEG, PNG, agree, joined, press
from tests.updates import Resident

# Distinctive, so that searching every table for them finds nothing else.
ERASED = Resident(913572468, "Xoavinh")
CONTACT = "0903123456"


@pytest.fixture
async def queue_bot(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    """The bot with an officers' group, an admin and one officer who works the reports."""
    async with running_bot(
        tmp_path, db_url, officer_chat_id=GROUP_ID, admin_ids=[ADMIN.user_id]
    ) as h:
        await h.send(ADMIN.command("canbo", f"them {OFFICER.user_id}"))
        yield h


async def audit_events(h: Harness, action: str) -> list[AuditEvent]:
    async with h.services.db.session() as session:
        result = await session.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(result.scalars())


async def user_row(h: Harness, r: Resident) -> User | None:
    async with h.services.db.session() as session:
        result = await session.execute(select(User).where(User.external_id == str(r.user_id)))
        return result.scalar_one_or_none()


async def every_row(h: Harness) -> list[str]:
    """Every row of every table, as text: what a search of the database would find."""
    rows = []
    async with h.services.db.session() as session:
        for table in SQLModel.metadata.sorted_tables:
            result = await session.execute(text(f'SELECT * FROM "{table.name}"'))
            rows += [f"{table.name}: {tuple(row)}" for row in result]
    return rows


async def answer_question(h: Harness, r: Resident, code: str, answer: str) -> None:
    await claim(h, OFFICER, code)
    await h.send(OFFICER.command("hoi", f"{code} Bạn chuyển tiền lúc mấy giờ?"))
    await h.send(r.text(answer))


async def start_draft_with_file(h: Harness, r: Resident) -> None:
    """An unfinished report with a picture (not the one of the submitted report)."""
    calls = await h.send(r.command("baocao"))
    calls = await press(h, r, calls, "Đầu tư, tiền ảo")
    file_id, unique = h.fake.add_file(PNG)
    await h.send(r.photo(file_id, unique, size=len(PNG)))


async def test_my_data_shows_account_reports_answers_and_draft(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(4101, "Lan")
    code = await file_report(h, r, anonymous=False, with_photo=True)
    await answer_question(h, r, code, "Khoảng 9 giờ sáng hôm qua")
    await start_draft_with_file(h, r)
    calls = await h.send(r.command("dulieucuatoi"))
    shown = joined(calls)
    assert "Dữ liệu của bạn trong tinbao" in shown
    assert "Tài khoản: Telegram, mã 4101" in shown
    assert "Tên: không lưu" in shown
    assert "phiên bản 2026-11" in shown
    assert code in shown
    assert "Đầu tư, tiền ảo" in shown
    assert "50.000.000" in shown
    assert "0123456789" in shown  # the account the money went to
    assert "Họ dụ tôi nạp tiền vào sàn đầu tư." in shown
    assert "Câu trả lời của bạn: «Khoảng 9 giờ sáng hôm qua»" in shown
    assert "Câu hỏi của cán bộ: «Bạn chuyển tiền lúc mấy giờ?»" in shown
    assert "1 tệp" in shown
    assert "903123456" in shown  # the contact phone they gave
    assert "Báo cáo đang làm dở:" in shown
    labels = [label for label, _ in Harness.buttons(calls[-1])]
    assert labels == ["📄 Gửi dưới dạng tệp", "🗑 Xóa dữ liệu của tôi"]
    # The English alias works the same.
    assert code in joined(await h.send(r.command("mydata")))


async def test_a_long_summary_is_split_within_telegram_limits(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(4102, "Lan")
    code = await file_report(h, r)
    long_answer = "Tôi đã chuyển tiền nhiều lần. " * 150 + "HẾT"  # about 4,500 characters
    await answer_question(h, r, code, long_answer)
    calls = await h.send(r.command("dulieucuatoi"))
    assert len(calls) >= 2 and all(c.ok for c in calls)
    assert all(len(str(c.params["text"])) <= 4096 for c in calls)
    assert "HẾT" in joined(calls)
    assert Harness.buttons(calls[-1])  # the buttons come with the last part


async def test_nothing_is_stored_about_someone_who_never_agreed(harness: Harness) -> None:
    h, r = harness, Resident(4103)
    for command in ("dulieucuatoi", "xoadulieu", "rutlaidongy"):
        assert "Mình không lưu gì về bạn" in joined(await h.send(r.command(command)))
    assert await user_row(h, r) is None


async def test_export_sends_a_json_file_with_only_this_residents_data(
    queue_bot: Harness,
) -> None:
    h, r, other = queue_bot, Resident(4104, "Lan"), Resident(4105, "Mai")
    mine = await file_report(h, r, anonymous=False, with_photo=True)
    theirs = await file_report(h, other, phone="0987654321", account="ACB 99887766 TRAN B")
    start = h.fake.mark()
    await h.send(r.callback("me:file"))
    sent = [c for c in h.fake.calls[start:] if c.method == "sendDocument" and c.ok]
    assert len(sent) == 1 and sent[0].chat_id == r.user_id
    upload = sent[0].params["document"]
    assert isinstance(upload, Upload) and upload.filename.endswith(".json")
    raw = upload.data.decode("utf-8")
    assert "Họ dụ tôi nạp tiền" in raw  # readable UTF-8, not \u escapes
    data: dict[str, Any] = json.loads(raw)
    assert data["account"]["id"] == "4104"
    assert data["account"]["consent_version"] == "2026-11"
    assert [report["code"] for report in data["reports"]] == [mine]
    report = data["reports"][0]
    assert report["amount_lost_vnd"] == 50_000_000
    assert report["contact_phone"] == "+84903123456"
    assert {i["kind"] for i in report["indicators"]} >= {"phone", "bank_account"}
    (file,) = report["files"]
    assert file["type"] == "image/jpeg" and file["size"] == len(JPEG)
    assert len(file["sha256"]) == 64
    assert "SHA-256" in data["about_files"]
    assert theirs not in raw and "4105" not in raw and "987654321" not in raw
    (event,) = await audit_events(h, "data.exported")
    assert event.actor_role == "resident" and event.actor_id is None
    assert event.detail["reports"] == 1


async def test_delete_erases_identity_keeps_the_report_anonymous(queue_bot: Harness) -> None:
    h, r = queue_bot, ERASED
    code = await file_report(h, r, anonymous=False, with_photo=True)
    await h.send(r.command("nhancanhbao"))
    await answer_question(h, r, code, "Khoảng 9 giờ")
    await h.send(OFFICER.command("hoi", f"{code} Bạn còn ảnh nào không?"))  # left unanswered
    await start_draft_with_file(h, r)
    async with h.services.db.session() as session:
        draft_files = list((await session.execute(select(Attachment))).scalars())
    draft_file = next(a for a in draft_files if a.mime == "image/png")
    stored = h.services.settings.evidence_dir / draft_file.stored_path
    assert stored.exists()

    calls = await h.send(r.command("xoadulieu"))
    shown = joined(calls)
    assert "Nếu bạn xác nhận, mình sẽ xóa:" in shown
    assert "báo cáo đang làm dở" in shown
    assert code in shown and "ẩn danh" in shown
    assert await user_row(h, r) is not None  # nothing happens before the confirmation
    calls = await press(h, r, calls, "Đồng ý xóa")
    shown = joined(calls)
    assert "Xong: dữ liệu của bạn đã được xóa." in shown
    assert "1 báo cáo của bạn vẫn được công an giữ lại" in shown

    for row in await every_row(h):
        assert str(r.user_id) not in row, row
        assert r.first_name not in row, row
        assert CONTACT[1:] not in row, row
    report = await report_row(h, code)
    assert report.reporter_id is None and report.anonymous
    async with h.services.db.session() as session:
        assert report.id is not None and await identity.contact_for(session, report.id) is None
        kept = list((await session.execute(select(Attachment))).scalars())
        drafts = (await session.execute(select(Report).where(Report.status == "draft"))).all()
        dialogues = (await session.execute(select(Dialogue))).all()
    assert [a.mime for a in kept] == ["image/jpeg"]  # the report's evidence stays
    assert not drafts and not dialogues and not stored.exists()
    (event,) = await audit_events(h, "data.erased")
    assert event.actor_role == "resident" and event.actor_id is None
    assert event.detail["reports"] == 1 and event.detail["drafts"] == 1
    assert event.detail["files"] == 1 and event.detail["subscriptions"] == 1
    assert event.detail["questions"] == 1

    # Officers see an anonymous report they can no longer ask anything.
    details = joined(await h.send(OFFICER.command("xem", code)))
    assert "the reporter can no longer be reached" in details
    assert "the reporter deleted their personal data" in details
    assert str(r.user_id) not in details
    asked = joined(await h.send(OFFICER.command("hoi", f"{code} Còn ai liên quan không?")))
    assert "can no longer be reached" in asked
    # Coming back, the resident is a stranger again: the notice, as on first contact.
    calls = await h.send(r.command("start"))
    assert "Bạn có đồng ý không?" in joined(calls)
    assert "đã thay đổi" not in joined(calls)


async def test_keep_my_data_cancels_the_deletion(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(4106, "Lan")
    code = await file_report(h, r, anonymous=False)
    calls = await h.send(r.command("deletemydata"))
    calls = await press(h, r, calls, "Giữ dữ liệu của tôi")
    assert "mình không xóa gì cả" in joined(calls)
    user = await user_row(h, r)
    assert user is not None
    report = await report_row(h, code)
    assert report.reporter_id == user.id and report.id is not None
    async with h.services.db.session() as session:
        assert await identity.contact_for(session, report.id) == "+84903123456"
    assert not await audit_events(h, "data.erased")


async def test_withdrawing_consent_erases_and_stops_processing(queue_bot: Harness) -> None:
    h, r = queue_bot, Resident(4107, "Lan")
    code = await file_report(h, r)
    calls = await h.send(r.command("rutlaidongy"))
    assert "Rút lại sự đồng ý nghĩa là" in joined(calls)
    calls = await press(h, r, calls, "Đồng ý rút lại")
    shown = joined(calls)
    assert "bạn đã rút lại sự đồng ý" in shown
    assert "không lưu hay dùng bất cứ thông tin nào của bạn" in shown
    assert "/baocao" in shown
    assert await user_row(h, r) is None
    assert (await report_row(h, code)).reporter_id is None
    (event,) = await audit_events(h, "consent.withdrawn")
    assert event.actor_role == "resident" and event.detail["reports"] == 1
    # A photo sent now is not kept: the notice comes first.
    file_id, unique = h.fake.add_file(PNG)
    calls = await h.send(r.photo(file_id, unique, size=len(PNG)))
    assert "Bạn có đồng ý không?" in joined(calls)
    async with h.services.db.session() as session:
        mimes = [a.mime for a in (await session.execute(select(Attachment))).scalars()]
    assert "image/png" not in mimes
    assert await user_row(h, r) is None
    # The withdraw command's English alias, once erased, says nothing is stored.
    assert "Mình không lưu gì về bạn" in joined(await h.send(r.command("withdraw")))


async def test_staff_cannot_erase_themselves_while_staff(queue_bot: Harness) -> None:
    h = queue_bot
    calls = await h.send(OFFICER.command("xoadulieu"))
    assert "registered as an officer or admin" in joined(calls)
    calls = await h.send(OFFICER.callback("er:yes:erase"))  # a forged or old button
    assert "registered as an officer or admin" in joined(calls)
    assert await user_row(h, OFFICER) is not None


async def test_a_changed_notice_is_shown_again_and_the_draft_is_kept(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h, r = harness, Resident(4108, "Lan")
    calls = await agree(h, r)
    calls = await press(h, r, calls, "🚨")
    calls = await press(h, r, calls, "Đầu tư, tiền ảo")
    monkeypatch.setattr("handlers.context.CONSENT_VERSION", "2099-01")
    calls = await h.send(r.text("50 triệu"))
    shown = joined(calls)
    assert "Thông báo về quyền riêng tư đã thay đổi" in shown
    assert "Bạn có đồng ý không?" in shown
    file_id, unique = h.fake.add_file(PNG)
    await h.send(r.photo(file_id, unique, size=len(PNG)))
    async with h.services.db.session() as session:
        assert not (await session.execute(select(Attachment))).all()  # nothing new stored
        (dialogue,) = (await session.execute(select(Dialogue))).scalars()
    assert dialogue.data.get("amount_vnd") is None and dialogue.data["category"] == "investment"
    user = await user_row(h, r)
    assert user is not None and user.consent_version == "2026-11"
    # Agreeing records the new version; the unfinished report is offered as it was.
    calls = await h.send(r.command("start"))
    calls = await press(h, r, calls, "✅")
    assert "Bạn có một báo cáo đang làm dở" in joined(calls)
    user = await user_row(h, r)
    assert user is not None and user.consent_version == "2099-01"
    calls = await press(h, r, calls, "Làm tiếp")
    assert "mất tiền" in joined(calls)  # the report goes on at the question it had reached
