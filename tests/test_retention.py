"""The retention purge (docs/privacy.md, "Retention"), end to end through the real bot.

Finished reports past `TINBAO_RETENTION_DAYS` lose their evidence files and the reporter's
personal data and keep the case's facts and indicators; unfinished drafts past
`TINBAO_DRAFT_DAYS` are deleted with their files, and the resident is told when they come
back; the daily job runs once a day across processes; `tinbao purge` does it on demand.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from handlers import retention
from handlers.i18n import VIETNAM
from handlers.services import Services
from storage import identity
from storage.engine import Database
from storage.models import (
    Attachment,
    AuditEvent,
    OnceMark,
    ProcessedUpdate,
    Report,
    ReportEvent,
    User,
)
from storage.reports import export_reports, report_indicators
from tests.conftest import Harness
from tests.test_cli import tinbao
from tests.test_officer_flow import (
    OFFICER,
    claim,
    file_report,
    queue_bot,
    report_row,
)
from tests.test_report_flow import JPEG, agree, joined, picture
from tests.updates import Resident

__all__ = ["queue_bot"]  # the fixture, used here by name


async def evidence_paths(h: Harness, report_id: int) -> list[Path]:
    async with h.services.db.session() as session:
        rows = await session.execute(
            select(Attachment.stored_path).where(Attachment.report_id == report_id)
        )
        return [h.services.settings.evidence_dir / p for p in rows.scalars()]


async def retention_events(h: Harness) -> list[AuditEvent]:
    async with h.services.db.session() as session:
        rows = await session.execute(
            select(AuditEvent)
            .where(AuditEvent.action == "retention.purged")
            .order_by(col(AuditEvent.id))
        )
        return list(rows.scalars())


async def drafts(h: Harness) -> list[Report]:
    async with h.services.db.session() as session:
        rows = await session.execute(select(Report).where(Report.status == "draft"))
        return list(rows.scalars())


async def start_draft(h: Harness, r: Resident, data: bytes) -> Report:
    """A resident agrees and sends a photo, which starts a report; returns the draft."""
    await agree(h, r)
    file_id, unique = h.fake.add_file(data)
    await h.send(r.photo(file_id, unique, size=len(data)))
    async with h.services.db.session() as session:
        rows = await session.execute(
            select(Report)
            .join(User, col(User.id) == Report.reporter_id)
            .where(User.external_id == str(r.user_id), Report.status == "draft")
        )
        return rows.scalar_one()


async def close(h: Harness, code: str, how: str = "closed") -> None:
    report = await report_row(h, code)
    await claim(h, OFFICER, code)
    if how == "closed":
        await h.send(OFFICER.callback(f"o:st:{report.id}:closed"))
    else:
        await h.send(OFFICER.callback(f"o:rj:{report.id}:no_info"))
    assert (await report_row(h, code)).status == how


async def test_a_closed_report_past_the_limit_is_purged_and_others_are_untouched(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    reporter = Resident(3001, "Hoa")
    old = await file_report(h, reporter, anonymous=False, with_photo=True)
    recent = await file_report(h, Resident(3002, "Minh"), phone="0987654321")
    still_open = await file_report(h, Resident(3003, "Tú"), phone="0977111222")
    old_row = await report_row(h, old)
    assert old_row.id is not None
    # An officer's question and the reporter's answer: the answer is the reporter's words.
    await claim(h, OFFICER, old)
    await h.send(OFFICER.callback(f"o:ask:{old_row.id}"))
    await h.send(OFFICER.text("What was the name of the trading app?"))
    await h.send(reporter.text("Ứng dụng tên là GoldenFX, tôi ở phường 5"))
    await h.send(OFFICER.callback(f"o:st:{old_row.id}:closed"))
    assert (await report_row(h, old)).status == "closed"
    (photo,) = await evidence_paths(h, old_row.id)
    assert photo.exists()

    h.offset += timedelta(days=2)
    await close(h, recent, "rejected")
    days = h.services.settings.retention_days
    assert days == 730
    # The old report was closed `days + 1` days ago, the recent one `days - 1` days ago; the
    # open one was filed more than `days` days ago.
    await h.tick(timedelta(days=days - 1))

    purged = await report_row(h, old)
    assert purged.purged_at is not None
    assert purged.description is None and purged.id is not None
    assert purged.reporter_id is None and not purged.contact_allowed
    assert not photo.exists()
    assert purged.code == old and purged.status == "closed" and purged.category == "investment"
    assert purged.amount_lost_vnd == 50_000_000 and purged.submitted_at is not None
    async with h.services.db.session() as session:
        assert await identity.contact_for(session, purged.id) is None
        kept = set(await report_indicators(session, old_row.id))
        attachment = (
            await session.execute(select(Attachment).where(Attachment.report_id == old_row.id))
        ).scalar_one()
        timeline = (
            (
                await session.execute(
                    select(ReportEvent)
                    .where(ReportEvent.report_id == old_row.id)
                    .order_by(col(ReportEvent.id))
                )
            )
            .scalars()
            .all()
        )
    assert ("phone", "+84912345678") in kept  # the scammer's number stays for prevention
    assert any(kind == "bank_account" for kind, _ in kept)
    assert attachment.purged_at is not None and attachment.file_id is None
    assert attachment.sha256 and attachment.size == len(JPEG) and attachment.mime == "image/jpeg"
    answers = [e for e in timeline if e.action == "answer"]
    assert answers and all(e.note is None and e.actor_id is None for e in answers)
    assert any(e.note == "What was the name of the trading app?" for e in timeline)
    assert timeline[-1].action == "purged"

    untouched = await report_row(h, recent)
    assert untouched.purged_at is None and untouched.description
    opened = await report_row(h, still_open)
    assert opened.purged_at is None and opened.description and opened.status == "new"

    (event,) = await retention_events(h)
    assert event.actor_role == "system" and event.object_kind == "retention"
    assert event.detail["reports"] == 1 and event.detail["files"] == 1
    assert "GoldenFX" not in str(event.detail)

    # An officer opening the purged report sees the retention note, not an error.
    start = h.fake.mark()
    await h.send(OFFICER.callback(f"o:view:{old_row.id}"))
    details = "\n".join(
        str(c.params.get("text", "")) for c in h.fake.calls[start:] if c.method == "sendMessage"
    )
    assert "deleted on" in details and "retention rule" in details
    assert "0123456789" in details  # the scammer's account
    assert "evidence files and the reporter's personal data deleted" in details
    assert "GoldenFX" not in details and "Họ dụ tôi" not in details
    start = h.fake.mark()
    await h.send(OFFICER.callback(f"o:files:{old_row.id}"))
    sent = [c for c in h.fake.calls[start:] if c.method.startswith("send")]
    assert [c.method for c in sent] == ["sendMessage"]  # no file: it is gone
    note = str(sent[0].params["text"])
    assert "deleted on" in note and "retention rule" in note and attachment.sha256 in note

    async with h.services.db.session() as session:
        exported = {row["code"]: row async for row in export_reports(session)}
    row = exported[old]
    assert row["purged_at"] is not None and row["description"] is None
    assert row["reporter"] is None
    assert row["attachments"] == [
        {
            "sha256": attachment.sha256,
            "mime": "image/jpeg",
            "size": len(JPEG),
            "purged_at": row["attachments"][0]["purged_at"],
        }
    ]
    assert row["attachments"][0]["purged_at"] is not None
    assert exported[recent]["purged_at"] is None and exported[recent]["description"]


async def test_an_open_report_is_never_purged_however_old(queue_bot: Harness) -> None:
    h = queue_bot
    code = await file_report(h, Resident(3010, "Lan"), with_photo=True)
    # The same screenshot in a report that gets closed: one stored copy serves both.
    closed = await file_report(h, Resident(3011, "Nam"), with_photo=True)
    await close(h, closed)
    report = await report_row(h, code)
    assert report.id is not None
    await claim(h, OFFICER, code)
    (photo,) = await evidence_paths(h, report.id)
    await h.tick(timedelta(days=3 * 730))
    kept = await report_row(h, code)
    assert kept.purged_at is None and kept.description
    assert kept.status in ("new", "in_review")
    assert (await report_row(h, closed)).purged_at is not None
    assert photo.exists()  # still the open report's evidence
    (event,) = await retention_events(h)
    assert event.detail["reports"] == 1 and event.detail["files"] == 0


async def test_an_expired_draft_is_deleted_with_its_files_and_the_resident_is_told(
    harness: Harness,
) -> None:
    h, r = harness, Resident(3101)
    draft = await start_draft(h, r, picture("JPEG", (9, 9)))
    assert draft.id is not None
    (photo,) = await evidence_paths(h, draft.id)
    assert photo.exists()
    days = h.services.settings.draft_days
    await h.tick(timedelta(days=days, hours=1))
    assert await drafts(h) == []
    assert not photo.exists()
    (event,) = await retention_events(h)
    assert event.detail["drafts"] == 1 and event.detail["files"] == 1

    said = "\n".join(await h.texts(r.command("baocao")))
    told = said.index(f"không được tiếp tục trong {days} ngày")
    assert told < said.index("Chuyện gì đã xảy ra với bạn?")  # then a new report starts
    # Told once: the next message is answered as usual.
    again = await h.texts(r.command("start"))
    assert not any("không được tiếp tục" in t for t in again)


async def test_a_resident_back_before_the_daily_job_is_told_and_the_draft_is_gone(
    harness: Harness,
) -> None:
    h, r = harness, Resident(3102)
    draft = await start_draft(h, r, picture("JPEG", (10, 10)))
    assert draft.id is not None
    (photo,) = await evidence_paths(h, draft.id)
    h.offset += timedelta(days=h.services.settings.draft_days, hours=1)  # no timers ran
    calls = await h.send(r.callback("r:category:investment"))
    said = joined(calls)
    assert "không được tiếp tục trong 30 ngày" in said
    assert "Chuyện gì đã xảy ra" not in said  # nothing to continue: the menu follows
    assert any(data == "menu:report" for c in calls for _, data in Harness.buttons(c))
    assert await drafts(h) == []
    assert not photo.exists()


async def test_the_daily_job_runs_once_a_day_across_processes(
    harness: Harness, db_url: str
) -> None:
    h = harness
    days = h.services.settings.draft_days
    base = h.now()
    # The first Vietnam midnight after base + `days`: both later ticks fall on that date.
    local = (base + timedelta(days=days)).astimezone(VIETNAM)
    midnight = datetime(local.year, local.month, local.day, tzinfo=VIETNAM) + timedelta(days=1)

    def at(moment: datetime) -> None:
        h.offset += moment - h.now()

    first = await start_draft(h, Resident(3201), picture("JPEG", (11, 11)))
    assert first.id is not None
    at(midnight + timedelta(hours=12) - timedelta(days=days))
    second = await start_draft(h, Resident(3202), picture("JPEG", (12, 12)))
    at(midnight + timedelta(hours=1))
    await h.tick()
    assert [d.id for d in await drafts(h)] == [second.id]  # the first expired, the second not

    at(midnight + timedelta(hours=23))  # the second has expired too, the same day
    await h.tick()
    other = Services.create(h.services.settings, Database(db_url))
    other.clock = h.now
    try:
        assert await retention.daily(other) is None  # another process: already done today
    finally:
        await other.db.dispose()
    assert [d.id for d in await drafts(h)] == [second.id]
    assert len(await retention_events(h)) == 1
    async with h.services.db.session() as session:
        keys = await session.execute(
            select(OnceMark.key).where(col(OnceMark.key).like("retention:%"))
        )
        marks = list(keys.scalars())
    assert f"retention:{midnight.date().isoformat()}" in marks

    at(midnight + timedelta(hours=25))  # the next day
    await h.tick()
    assert await drafts(h) == []
    assert len(await retention_events(h)) == 2


def counts(output: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in output.splitlines()[1:]:
        label, _, value = line.rpartition(": ")
        found[label] = int(value)
    return found


async def test_tinbao_purge_dry_run_changes_nothing_then_purge_does_it(
    queue_bot: Harness, tmp_path: Path, db_url: str
) -> None:
    h = queue_bot
    h.offset = -timedelta(days=800)  # everything below happened 800 days ago
    code = await file_report(h, Resident(3301, "Hà"), anonymous=False, with_photo=True)
    await close(h, code)
    await start_draft(h, Resident(3302), picture("PNG", (13, 13)))
    report = await report_row(h, code)
    assert report.id is not None
    (photo,) = await evidence_paths(h, report.id)
    h.offset = timedelta(0)

    dry = tinbao("purge", "--dry-run", cwd=tmp_path, db_url=db_url)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: nothing was changed" in dry.stdout
    planned: dict[str, Any] = counts(dry.stdout)
    assert planned["finished reports to purge"] == 1
    assert planned["evidence files to delete"] == 2
    assert planned["expired drafts to delete"] == 1
    assert planned["processed update ids to forget"] > 0
    assert photo.exists() and (await report_row(h, code)).description
    assert len(await drafts(h)) == 1 and await retention_events(h) == []

    done = tinbao("purge", cwd=tmp_path, db_url=db_url)
    assert done.returncode == 0, done.stderr
    figures = counts(done.stdout)
    assert figures["finished reports purged"] == 1 and figures["expired drafts deleted"] == 1
    assert figures["evidence files deleted"] == 2
    assert not photo.exists() and (await report_row(h, code)).description is None
    assert await drafts(h) == []
    (event,) = await retention_events(h)
    assert event.actor_role == "cli" and event.detail["reports"] == 1
    async with h.services.db.session() as session:
        old_ids = await session.execute(
            select(ProcessedUpdate).where(
                col(ProcessedUpdate.processed_at) < h.now() - timedelta(days=7)
            )
        )
        assert list(old_ids.scalars()) == []

    again = tinbao("purge", cwd=tmp_path, db_url=db_url)
    assert counts(again.stdout)["finished reports purged"] == 0
    assert len(await retention_events(h)) == 1  # a run that did nothing records nothing
