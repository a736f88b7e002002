"""The retention rule (docs/privacy.md, "Retention"): what is purged, and when.

A report closed, rejected or marked spam more than `TINBAO_RETENTION_DAYS` ago keeps the
facts of the case and the scammers' phone numbers, accounts and links (what the police keep
for prevention), and loses what is about the reporter: the story they wrote, their contact
phone, the link to their user, their answers to officers' questions, and the evidence files
(the attachment rows keep hash, type and size as the chain of custody's record).

An unfinished draft whose dialogue saw no activity for `TINBAO_DRAFT_DAYS` is abandoned: the
draft, its files and the dialogue are deleted. The dialogue row becomes a small marker without
content, so the resident who comes back is told what happened (`handlers.intake`).

Raw traffic (the webhook inbox, processed update ids, once-marks that name users, expired
pending input) is kept only days.

`plan` only reads, so `tinbao purge --dry-run` and the real run count the same things; `apply`
does the writes in the caller's transaction and returns the files to delete once it commits.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import identity
from storage.models import (
    Attachment,
    Broadcast,
    Dialogue,
    InboxUpdate,
    OnceMark,
    PendingInput,
    ProcessedUpdate,
    Report,
    ReportEvent,
    UTCDateTime,
)
from storage.queue import DONE

# The flow of a dialogue row left behind by an expired draft: it holds only the draft's
# lifetime in days, to tell the resident, and is forgotten after `MARKER_DAYS`.
EXPIRED_FLOW = "expired"
MARKER_DAYS = 180
# Raw traffic: handled webhook updates (kept a little for inspection), unhandled ones that
# no process could handle (Telegram itself gives up on an update after a day), the ids of
# processed updates (Telegram re-delivers within hours) and once-marks (albums, daily jobs).
INBOX_KEEP = timedelta(days=2)
INBOX_STALE = timedelta(days=7)
UPDATE_IDS_KEEP = timedelta(days=7)
MARKS_KEEP = timedelta(days=7)
# Statements take ids in slices of this size (bound parameters have limits).
CHUNK = 500

T = TypeVar("T")


@dataclass(frozen=True)
class ExpiredDialogue:
    """A report dialogue past its expiry, as read (the write is conditional on `version`)."""

    user_id: int
    version: int
    report_id: int | None
    days: int


@dataclass
class Plan:
    """What a purge run does now: ids to act on, and how much raw traffic is due."""

    reports: list[int] = field(default_factory=list)
    expired: list[ExpiredDialogue] = field(default_factory=list)
    drafts: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    markers: int = 0
    inbox: int = 0
    update_ids: int = 0
    marks: int = 0

    def counts(self) -> dict[str, int]:
        """The figures of the run (what the audit event, the log and the CLI show)."""
        return {
            "reports": len(self.reports),
            "files": len(self.files),
            "drafts": len(self.drafts),
            "inbox": self.inbox,
            "update_ids": self.update_ids,
        }

    @property
    def empty(self) -> bool:
        """Nothing to do (expired markers and once-marks alone are housekeeping)."""
        return not any(self.counts().values())


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def closed_at() -> Any:
    """When a report last entered a final status (its latest event into closed/rejected/spam),
    or its last update for reports without such an event."""
    last = (
        select(func.max(ReportEvent.created_at))
        .where(col(ReportEvent.report_id) == col(Report.id), col(ReportEvent.to_status).in_(DONE))
        .correlate(Report)
        .scalar_subquery()
    )
    return func.coalesce(last, col(Report.updated_at), type_=UTCDateTime)


async def plan(session: AsyncSession, now: datetime, retention_days: int, draft_days: int) -> Plan:
    """Read what is due for purging at `now`; changes nothing."""
    result = Plan()
    due = await session.execute(
        select(Report.id)
        .where(
            col(Report.status).in_(DONE),
            col(Report.purged_at).is_(None),
            closed_at() < now - timedelta(days=retention_days),
        )
        .order_by(col(Report.id))
    )
    result.reports = [int(rid) for rid in due.scalars() if rid is not None]

    expired = await session.execute(
        select(Dialogue).where(col(Dialogue.flow) == "report", col(Dialogue.expires_at) <= now)
    )
    for dialogue in expired.scalars():
        report_id = dialogue.data.get("report_id") if isinstance(dialogue.data, dict) else None
        lifetime = dialogue.expires_at - dialogue.updated_at
        result.expired.append(
            ExpiredDialogue(
                dialogue.user_id,
                dialogue.version,
                report_id if isinstance(report_id, int) else None,
                max(1, round(lifetime / timedelta(days=1))),
            )
        )
    result.drafts = await _abandoned_drafts(session, now, draft_days, result.expired)
    result.files = await _unused_files(session, [*result.reports, *result.drafts])
    result.markers = await _count(
        session,
        Dialogue,
        col(Dialogue.flow) == EXPIRED_FLOW,
        col(Dialogue.expires_at) <= now,
    )
    result.inbox = await _count(session, InboxUpdate, *_inbox_due(now))
    result.update_ids = await _count(
        session, ProcessedUpdate, col(ProcessedUpdate.processed_at) < now - UPDATE_IDS_KEEP
    )
    result.marks = await _count(session, OnceMark, col(OnceMark.created_at) < now - MARKS_KEEP)
    return result


async def _abandoned_drafts(
    session: AsyncSession, now: datetime, draft_days: int, expired: list[ExpiredDialogue]
) -> list[int]:
    """Drafts no live dialogue continues: those of expired dialogues, and older drafts that
    lost their dialogue (a crash between steps, a user deleted)."""
    found = {e.report_id for e in expired if e.report_id is not None}
    old = await session.execute(
        select(Report.id, Report.reporter_id).where(
            col(Report.status) == "draft",
            col(Report.created_at) < now - timedelta(days=draft_days),
        )
    )
    candidates = {int(rid): reporter for rid, reporter in old.all() if rid is not None}
    reporters = sorted({r for r in candidates.values() if r is not None})
    live: set[int] = set()
    for part in _chunks(reporters):
        rows = await session.execute(
            select(Dialogue.data).where(
                col(Dialogue.user_id).in_(part),
                col(Dialogue.flow) == "report",
                col(Dialogue.expires_at) > now,
            )
        )
        for data in rows.scalars():
            if isinstance(data, dict) and isinstance(data.get("report_id"), int):
                live.add(data["report_id"])
    found |= set(candidates) - live
    if not found:
        return []
    drafts: list[int] = []
    for part in _chunks(sorted(found)):
        rows = await session.execute(
            select(Report.id).where(col(Report.id).in_(part), col(Report.status) == "draft")
        )
        drafts += [int(rid) for rid in rows.scalars() if rid is not None]
    return sorted(drafts)


async def _unused_files(session: AsyncSession, report_ids: list[int]) -> list[str]:
    """Stored files of these reports that nothing else uses: no other report's file still kept
    (the store keeps one copy per content), no warning's photo."""
    paths: set[str] = set()
    for ids in _chunks(report_ids):
        found = await session.execute(
            select(Attachment.stored_path).where(
                col(Attachment.report_id).in_(ids), col(Attachment.purged_at).is_(None)
            )
        )
        paths.update(found.scalars())
    if not paths:
        return []
    targets = set(report_ids)
    kept: set[str] = set()
    for part in _chunks(sorted(paths)):
        rows = await session.execute(
            select(Attachment.stored_path, Attachment.report_id).where(
                col(Attachment.stored_path).in_(part), col(Attachment.purged_at).is_(None)
            )
        )
        kept.update(path for path, rid in rows.all() if rid not in targets)
        photos = await session.execute(
            select(Broadcast.photo_path).where(col(Broadcast.photo_path).in_(part))
        )
        kept.update(p for p in photos.scalars() if p is not None)
    return sorted(paths - kept)


def _inbox_due(now: datetime) -> tuple[Any, ...]:
    return (
        or_(
            col(InboxUpdate.handled_at) < now - INBOX_KEEP,
            col(InboxUpdate.received_at) < now - INBOX_STALE,
        ),
    )


async def _count(session: AsyncSession, table: Any, *conditions: Any) -> int:
    result = await session.execute(select(func.count()).select_from(table).where(*conditions))
    return int(result.scalar_one())


async def apply(session: AsyncSession, todo: Plan, now: datetime) -> list[str]:
    """Carry out a plan in the session's transaction; returns the stored files to delete once
    it commits (deleting them earlier would lose them if the transaction rolled back)."""
    for report_id in todo.reports:
        await purge_report(session, report_id, now)
    marker_life = timedelta(days=MARKER_DAYS)
    for item in todo.expired:
        # Conditional: a resident who came back meanwhile already moved the dialogue on.
        await session.execute(
            update(Dialogue)
            .where(
                col(Dialogue.user_id) == item.user_id,
                col(Dialogue.version) == item.version,
                col(Dialogue.flow) == "report",
                col(Dialogue.expires_at) <= now,
            )
            .values(
                flow=EXPIRED_FLOW,
                step="report",
                data={"days": item.days},
                version=item.version + 1,
                updated_at=now,
                expires_at=now + marker_life,
            )
            .execution_options(synchronize_session=False)
        )
    for part in _chunks(todo.drafts):
        await session.execute(
            delete(Report).where(col(Report.id).in_(part), col(Report.status) == "draft")
        )
    await session.execute(
        delete(Dialogue).where(col(Dialogue.flow) == EXPIRED_FLOW, col(Dialogue.expires_at) <= now)
    )
    await session.execute(delete(InboxUpdate).where(*_inbox_due(now)))
    await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < now - UPDATE_IDS_KEEP)
    )
    await session.execute(delete(OnceMark).where(col(OnceMark.created_at) < now - MARKS_KEEP))
    # Expired typed input owed to the bot (it ties a resident to a report, and is never used).
    await session.execute(delete(PendingInput).where(col(PendingInput.expires_at) <= now))
    return list(todo.files)


async def purge_report(session: AsyncSession, report_id: int, now: datetime) -> None:
    """Remove the reporter's personal data and evidence from one finished report, keeping the
    case's facts and indicators. The files themselves are deleted by the caller after commit."""
    report = await session.get(Report, report_id)
    if report is None or report.purged_at is not None:
        return
    reporter_id = report.reporter_id
    # The reporter's own words in the timeline: answers to questions, anything they did.
    by_reporter = [col(ReportEvent.action) == "answer"]
    if reporter_id is not None:
        by_reporter.append(col(ReportEvent.actor_id) == reporter_id)
    await session.execute(
        update(ReportEvent)
        .where(col(ReportEvent.report_id) == report_id, or_(*by_reporter))
        .values(note=None, actor_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Attachment)
        .where(col(Attachment.report_id) == report_id, col(Attachment.purged_at).is_(None))
        .values(
            purged_at=now,
            file_id=None,
            file_unique_id=None,
            original_name=None,
            forwarded_from=None,
            media_group_id=None,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(PendingInput).where(col(PendingInput.report_id) == report_id))
    await clear_contact(session, report)
    report.description = None
    report.reporter_id = None
    report.purged_at = now
    session.add(ReportEvent(report_id=report_id, actor_id=None, action="purged", created_at=now))
    await session.flush()


async def clear_contact(session: AsyncSession, report: Report) -> None:
    """Forget how the reporter can be reached: their contact row in the identity table."""
    assert report.id is not None
    await identity.erase_contacts(session, [report.id])
    report.contact_allowed = False
