"""Reports, their indicators, evidence and audit events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import audit, identity
from storage.models import (
    Attachment,
    Broadcast,
    CaseCounter,
    Indicator,
    OnceMark,
    Report,
    ReportEvent,
    ReportIndicator,
    User,
)
from storage.sql import insert

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


class StoredFileLike(Protocol):
    """A file in the evidence store: its hash and where it lies (`handlers.evidence`)."""

    @property
    def sha256(self) -> str: ...

    @property
    def path(self) -> str: ...


@dataclass(frozen=True)
class NewIndicator:
    """An indicator to link to a report at submission."""

    kind: str
    value: str
    raw: str = ""
    holder: str | None = None


@dataclass(frozen=True)
class ReportFields:
    """What the resident answered, written to the report at submission."""

    category: str
    description: str | None
    occurred_at: datetime | None
    amount_lost_vnd: int | None
    anonymous: bool
    contact_allowed: bool
    contact_phone: str | None


async def create_draft(
    session: AsyncSession, *, reporter_id: int, channel: str, now: datetime
) -> Report:
    """A new draft report, so evidence can be attached while the resident answers."""
    report = Report(
        reporter_id=reporter_id, channel=channel, status="draft", created_at=now, updated_at=now
    )
    session.add(report)
    await session.flush()
    return report


async def get_report(session: AsyncSession, report_id: int) -> Report | None:
    """The report with this id."""
    return await session.get(Report, report_id)


async def add_attachment(session: AsyncSession, attachment: Attachment) -> bool:
    """Attach evidence to a report; False if the same file (same SHA-256) is already there."""
    values = attachment.model_dump(exclude={"id"})
    statement = (
        insert(session, Attachment)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(Attachment.id)
    )
    result = await session.execute(statement)
    return result.first() is not None


async def evidence_totals(session: AsyncSession, report_id: int) -> tuple[int, int]:
    """How many evidence files a report has, and their total size in bytes."""
    result = await session.execute(
        select(func.count(), func.coalesce(func.sum(Attachment.size), 0)).where(
            Attachment.report_id == report_id
        )
    )
    count, total = result.one()
    return int(count), int(total)


async def list_attachments(session: AsyncSession, report_id: int) -> list[Attachment]:
    """A report's evidence, oldest first."""
    result = await session.execute(
        select(Attachment).where(Attachment.report_id == report_id).order_by(col(Attachment.id))
    )
    return list(result.scalars())


async def count_album(session: AsyncSession, report_id: int, media_group_id: str) -> int:
    """How many files of one album are attached to the report."""
    result = await session.execute(
        select(func.count()).where(
            Attachment.report_id == report_id, Attachment.media_group_id == media_group_id
        )
    )
    return int(result.scalar_one())


async def take_once(session: AsyncSession, key: str, now: datetime) -> bool:
    """True for exactly one caller per key, whichever process asks first (it does the thing)."""
    statement = (
        insert(session, OnceMark)
        .values(key=key, created_at=now)
        .on_conflict_do_nothing()
        .returning(OnceMark.key)
    )
    return (await session.execute(statement)).first() is not None


async def next_case_code(session: AsyncSession, now: datetime) -> str:
    """The next case code, `TB-<yymm>-<n>`, numbered per month in Vietnam time.

    A single upsert with RETURNING hands out each number once, even to concurrent processes.
    """
    period = now.astimezone(VIETNAM).strftime("%y%m")
    statement = (
        insert(session, CaseCounter)
        .values(period=period, last=1)
        .on_conflict_do_update(index_elements=["period"], set_={"last": CaseCounter.last + 1})
        .returning(CaseCounter.last)
    )
    number = (await session.execute(statement)).scalar_one()
    return f"TB-{period}-{number:04d}"


async def submit_report(
    session: AsyncSession,
    report: Report,
    fields: ReportFields,
    indicators: Sequence[NewIndicator],
    *,
    actor_id: int | None,
    now: datetime,
) -> str:
    """Turn a draft into a new report: fields, indicators, case code and the audit event."""
    report.category = fields.category
    report.description = fields.description
    report.occurred_at = fields.occurred_at
    report.amount_lost_vnd = fields.amount_lost_vnd
    report.anonymous = fields.anonymous
    report.contact_allowed = fields.contact_allowed
    report.code = await next_case_code(session, now)
    report.status = "new"
    report.submitted_at = now
    report.updated_at = now
    session.add(report)
    await session.flush()
    assert report.id is not None
    # The phone is identity: kept apart from the report, read only by an admin's reveal.
    if fields.contact_phone and not fields.anonymous:
        await identity.save_contact(session, report.id, fields.contact_phone, now)
    if not fields.anonymous:
        await identity.reporter_handle(session, report)
    seen: set[tuple[str, str]] = set()
    for item in indicators:
        if (item.kind, item.value) in seen:
            continue
        seen.add((item.kind, item.value))
        indicator_id = await _indicator_id(session, item.kind, item.value, now)
        session.add(
            ReportIndicator(
                report_id=report.id,
                indicator_id=indicator_id,
                raw=item.raw[:1024],
                holder=item.holder,
            )
        )
    event = ReportEvent(
        report_id=report.id,
        actor_id=actor_id,
        action="submitted",
        from_status="draft",
        to_status="new",
        created_at=now,
    )
    session.add(event)
    await session.flush()
    reporter = await session.get(User, actor_id) if actor_id is not None else None
    await audit.report_event(session, event, audit.actor(reporter))
    return report.code


async def _indicator_id(session: AsyncSession, kind: str, value: str, now: datetime) -> int:
    # Insert-or-get in one statement: DO UPDATE (a no-op) makes RETURNING give the existing id too.
    statement = (
        insert(session, Indicator)
        .values(kind=kind, value=value, first_seen_at=now)
        .on_conflict_do_update(index_elements=["kind", "value"], set_={"kind": kind})
        .returning(Indicator.id)
    )
    return int((await session.execute(statement)).scalar_one())


async def discard_draft(session: AsyncSession, report_id: int) -> list[str]:
    """Delete a draft and its evidence rows; returns stored paths no other report uses."""
    attachments = await list_attachments(session, report_id)
    await session.execute(delete(Report).where(col(Report.id) == report_id))
    orphans: list[str] = []
    for attachment in attachments:
        still_used = await session.execute(
            select(func.count()).where(
                Attachment.sha256 == attachment.sha256, Attachment.report_id != report_id
            )
        )
        if int(still_used.scalar_one()) == 0:
            orphans.append(attachment.stored_path)
    return orphans


async def unused_files(session: AsyncSession, stored: Sequence[StoredFileLike]) -> list[str]:
    """The stored paths of files just written that no attachment uses (to delete again)."""
    unused = []
    for item in stored:
        used = await session.execute(select(func.count()).where(Attachment.sha256 == item.sha256))
        if int(used.scalar_one()) == 0:
            unused.append(item.path)
    return unused


async def reports_of(session: AsyncSession, reporter_id: int, limit: int = 20) -> list[Report]:
    """A resident's submitted reports, newest first."""
    result = await session.execute(
        select(Report)
        .where(Report.reporter_id == reporter_id, Report.status != "draft")
        .order_by(col(Report.submitted_at).desc())
        .limit(limit)
    )
    return list(result.scalars())


async def submitted_since(
    session: AsyncSession, reporter_id: int, since: datetime
) -> list[datetime]:
    """When a resident submitted each of their reports after `since`, oldest first."""
    result = await session.execute(
        select(Report.submitted_at)
        .where(
            Report.reporter_id == reporter_id,
            col(Report.submitted_at).is_not(None),
            col(Report.submitted_at) > since,
        )
        .order_by(col(Report.submitted_at))
    )
    return [moment for moment in result.scalars() if moment is not None]


async def report_indicators(session: AsyncSession, report_id: int) -> list[tuple[str, str]]:
    """(kind, value) of a report's indicators, in the order they were linked."""
    result = await session.execute(
        select(Indicator.kind, Indicator.value)
        .join(ReportIndicator, col(ReportIndicator.indicator_id) == Indicator.id)
        .where(ReportIndicator.report_id == report_id)
        .order_by(col(Indicator.id))
    )
    return [(kind, value) for kind, value in result.all()]


async def submitted_count(session: AsyncSession) -> int:
    """How many reports `export_reports` would write now."""
    result = await session.execute(
        select(func.count()).select_from(Report).where(Report.status != "draft")
    )
    return int(result.scalar_one())


async def export_reports(
    session: AsyncSession, *, with_identity: bool = False
) -> AsyncIterator[dict[str, Any]]:
    """Every submitted report in the export format of docs/export.md, oldest first.

    A named report's `reporter` is its handle and whether they may be contacted; anonymous
    (and erased) reporters are null. `with_identity` adds who they are (an admin's choice,
    audited by the caller). Handles must exist already (`identity.give_handles`): this only
    reads, while it streams.
    """
    result = await session.stream(
        select(Report, User)
        .outerjoin(User, col(User.id) == Report.reporter_id)
        .where(Report.status != "draft")
        .order_by(col(Report.submitted_at), col(Report.id))
    )
    async for report, reporter in result:
        assert report.id is not None
        assignee = await session.get(User, report.assignee_id) if report.assignee_id else None
        attachments = await list_attachments(session, report.id)
        yield {
            "code": report.code,
            "status": report.status,
            "category": report.category,
            "description": report.description,
            "occurred_at": _iso(report.occurred_at),
            "amount_lost_vnd": report.amount_lost_vnd,
            "channel": report.channel,
            "created_at": _iso(report.created_at),
            "submitted_at": _iso(report.submitted_at),
            "assignee": f"{assignee.channel}:{assignee.external_id}" if assignee else None,
            "indicators": [
                {"kind": kind, "value": value}
                for kind, value in await report_indicators(session, report.id)
            ],
            "attachments": [
                {
                    "sha256": a.sha256,
                    "mime": a.mime,
                    "size": a.size,
                    "purged_at": _iso(a.purged_at),
                }
                for a in attachments
            ],
            "reporter": None
            if report.anonymous or reporter is None
            else await _reporter(session, report, reporter, with_identity),
            "purged_at": _iso(report.purged_at),
        }


async def _reporter(
    session: AsyncSession, report: Report, reporter: User, with_identity: bool
) -> dict[str, Any]:
    shown: dict[str, Any] = {"handle": reporter.handle, "contact_allowed": report.contact_allowed}
    if with_identity:
        assert report.id is not None
        shown |= {
            "channel": reporter.channel,
            "external_id": reporter.external_id,
            "name": reporter.display_name,
            "contact_phone": await identity.contact_for(session, report.id),
        }
    return shown


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def recorded_files(session: AsyncSession) -> dict[str, str]:
    """Every stored file the database knows of (evidence, warnings' photos): its path under
    the evidence directory and the SHA-256 recorded when it was received."""
    # Files deleted under the retention rule are no longer expected on disk.
    files = {
        path: sha256
        for path, sha256 in (
            await session.execute(
                select(Attachment.stored_path, Attachment.sha256).where(
                    col(Attachment.purged_at).is_(None)
                )
            )
        ).all()
    }
    photos = await session.execute(
        select(Broadcast.photo_path, Broadcast.photo_sha256).where(
            col(Broadcast.photo_path).is_not(None), col(Broadcast.photo_sha256).is_not(None)
        )
    )
    for path, sha256 in photos.all():
        files[path] = sha256
    return files


async def count_reports(session: AsyncSession) -> tuple[int, int]:
    """How many reports there are, and how many of them were submitted."""
    total = await session.scalar(select(func.count()).select_from(Report))
    submitted = await session.scalar(
        select(func.count()).select_from(Report).where(col(Report.submitted_at).is_not(None))
    )
    return int(total or 0), int(submitted or 0)
