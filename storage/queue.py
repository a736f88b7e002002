"""The officers' review queue: staff roles, claims, status changes, cards, timers.

Every race-sensitive write is one conditional statement (DESIGN.md): a claim is
`UPDATE … WHERE status = 'new'`, a status change `UPDATE … WHERE status = <what the officer saw>`,
so when several officers or processes act at once exactly one of them wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import audit
from storage.models import (
    DashboardSession,
    DashboardToken,
    Indicator,
    PendingInput,
    Report,
    ReportCard,
    ReportEvent,
    ReportIndicator,
    User,
)
from storage.sql import insert

STAFF = ("officer", "admin")
# Statuses a report can be in once submitted; "draft" reports are never shown to officers.
OPEN = ("new", "in_review", "needs_info", "verified", "forwarded")
DONE = ("closed", "rejected", "spam")


# ---------------------------------------------------------------------------------------- staff


async def staff(session: AsyncSession, channel: str | None = None) -> list[User]:
    """Officers and admins, admins first, then in the order they were added."""
    query = select(User).where(col(User.role).in_(STAFF))
    if channel is not None:
        query = query.where(User.channel == channel)
    result = await session.execute(query.order_by(col(User.role), col(User.id)))
    return list(result.scalars())


async def find_user(session: AsyncSession, channel: str, external_id: str) -> User | None:
    """The user with this channel id, whether or not they ever consented."""
    result = await session.execute(
        select(User).where(User.channel == channel, User.external_id == external_id)
    )
    return result.scalar_one_or_none()


async def set_role(
    session: AsyncSession,
    channel: str,
    external_id: str,
    role: str,
    *,
    now: datetime,
    name: str | None = None,
    by: audit.Actor = audit.SYSTEM,
) -> User:
    """Give a user a role, creating the user row if they never talked to the bot.

    A change of role is an audit event of `by` (an admin, the command line, or the system
    applying `TINBAO_ADMIN_IDS`).
    """
    user = await find_user(session, channel, external_id)
    if user is None:
        user = User(channel=channel, external_id=external_id, created_at=now)
        before = None
    else:
        before = user.role
    user.role = role
    if name and role in STAFF:
        user.display_name = name[:128]
    if role not in STAFF:
        user.display_name = None  # residents' names are not kept
    session.add(user)
    await session.flush()
    if before != role and (before in STAFF or role in STAFF):
        _role_changed(session, user, before, role, by, now)
    if before in STAFF and role not in STAFF:
        # No longer staff: their dashboard sessions and unused login links end now.
        await session.execute(
            delete(DashboardSession).where(col(DashboardSession.user_id) == user.id)
        )
        await session.execute(delete(DashboardToken).where(col(DashboardToken.user_id) == user.id))
    return user


def _role_changed(
    session: AsyncSession,
    user: User,
    before: str | None,
    after: str,
    by: audit.Actor,
    now: datetime,
) -> None:
    audit.record(
        session,
        by,
        "user.role",
        "user",
        user.id,
        now,
        {"channel": user.channel, "from": before, "to": after},
    )


async def sync_admins(
    session: AsyncSession, channel: str, external_ids: Sequence[str], now: datetime
) -> None:
    """Make the configured admins admins, and former admins no longer in the list officers."""
    wanted = set(external_ids)
    for external_id in sorted(wanted):
        await set_role(session, channel, external_id, "admin", now=now)
    former = [col(User.channel) == channel, col(User.role) == "admin"]
    if wanted:
        former.append(col(User.external_id).not_in(wanted))
    demoted = await session.execute(
        update(User).where(*former).values(role="officer").returning(col(User.id))
    )
    for (user_id,) in demoted.all():
        audit.record(
            session,
            audit.SYSTEM,
            "user.role",
            "user",
            user_id,
            now,
            {"channel": channel, "from": "admin", "to": "officer"},
        )


async def remember_staff(
    session: AsyncSession, user: User, name: str | None, language: str | None
) -> None:
    """Keep a staff member's display name current (shown to other officers only), and keep the
    language their app reports until they choose one, so timers write to them in it too."""
    changed = False
    if name and user.role in STAFF and user.display_name != name[:128]:
        user.display_name = name[:128]
        changed = True
    if language and user.role in STAFF and user.language is None:
        user.language = language
        changed = True
    if changed:
        session.add(user)
        await session.flush()


async def users_by_id(session: AsyncSession, ids: set[int]) -> dict[int, User]:
    """Users by their row id."""
    if not ids:
        return {}
    result = await session.execute(select(User).where(col(User.id).in_(ids)))
    return {user.id: user for user in result.scalars() if user.id is not None}


# --------------------------------------------------------------------------------- reports


async def by_code(session: AsyncSession, code: str) -> Report | None:
    """The submitted report with this case code (case-insensitive)."""
    result = await session.execute(
        select(Report).where(Report.code == code.strip().upper())  # codes are stored upper-case
    )
    return result.scalar_one_or_none()


async def claim(session: AsyncSession, report_id: int, officer_id: int, now: datetime) -> bool:
    """Claim a new report for an officer; False if someone else already has it.

    One conditional write (`UPDATE … WHERE status = 'new'`): of officers pressing at once,
    exactly one wins.
    """
    return await reassign(session, report_id, officer_id, now, seen="new", holder=None)


async def move(
    session: AsyncSession,
    report_id: int,
    *,
    seen: str,
    to: str,
    now: datetime,
    assignee_id: Any = ...,
) -> bool:
    """Change a report's status if it is still `seen`; False if it changed meanwhile.

    `assignee_id` (None to unassign) changes the assignee too. A report going back to the
    queue starts its waiting time afresh.
    """
    values: dict[str, Any] = {"status": to, "updated_at": now, "last_action_at": now}
    if assignee_id is not ...:
        values["assignee_id"] = assignee_id
        if assignee_id is not None:
            values["claimed_at"] = now
    if to == "new":
        values |= {"assignee_id": None, "queued_at": now, "escalated_at": None, "claimed_at": None}
    result = await session.execute(
        update(Report)
        .where(col(Report.id) == report_id, col(Report.status) == seen)
        .values(**values)
        .returning(col(Report.id))
    )
    return result.first() is not None


async def touch(session: AsyncSession, report_id: int, now: datetime) -> None:
    """Record officer activity on a report (keeps a claim from expiring)."""
    await session.execute(
        update(Report).where(col(Report.id) == report_id).values(last_action_at=now, updated_at=now)
    )


@dataclass
class Removed:
    """What removing an officer did: reports back in the queue, and reports still theirs."""

    released: list[int]
    kept: list[Report]  # verified or forwarded: an admin reassigns them, nothing is undone


async def remove_officer(
    session: AsyncSession, officer: User, now: datetime, by: audit.Actor
) -> Removed:
    """Make an officer a resident again: their reports in review go back to the queue, and
    the cards in their private chat are forgotten, so no report reaches them any more.
    `by` (who removed them) is the actor of the audit events."""
    assert officer.id is not None
    released = await _release_all(session, officer, now, by)
    kept = [r for r in await assigned_to(session, officer.id, limit=10_000) if r.status in OPEN]
    await session.execute(delete(ReportCard).where(col(ReportCard.chat_id) == officer.external_id))
    await set_role(session, officer.channel, officer.external_id, "resident", now=now, by=by)
    return Removed(released, kept)


async def _release_all(
    session: AsyncSession, officer: User, now: datetime, by: audit.Actor
) -> list[int]:
    """Return an officer's reports in review to the queue; returns their ids."""
    assert officer.id is not None
    released = []
    for report in await assigned_to(session, officer.id, limit=10_000):
        assert report.id is not None
        seen = report.status
        if seen in ("in_review", "needs_info") and await move(
            session, report.id, seen=seen, to="new", now=now
        ):
            await add_event(
                session,
                report.id,
                actor_id=None,
                action="released",
                from_status=seen,
                to_status="new",
                now=now,
                audit_actor=by,
            )
            released.append(report.id)
    return released


async def reassign(
    session: AsyncSession,
    report_id: int,
    officer_id: int,
    now: datetime,
    *,
    seen: str,
    holder: int | None,
) -> bool:
    """Give an open report to another officer, if it is still `seen` and held by `holder`.

    One conditional write, like a claim: False if the report changed meanwhile (claimed,
    closed or given to someone else), and then nothing is changed.
    """
    if seen not in OPEN:
        return False
    result = await session.execute(
        update(Report)
        .where(
            col(Report.id) == report_id,
            col(Report.status) == seen,
            col(Report.assignee_id).is_(None)
            if holder is None
            else col(Report.assignee_id) == holder,
        )
        .values(
            status="in_review" if seen == "new" else seen,
            assignee_id=officer_id,
            claimed_at=now,
            last_action_at=now,
            updated_at=now,
        )
        .returning(col(Report.id))
    )
    return result.first() is not None


async def add_event(
    session: AsyncSession,
    report_id: int,
    *,
    actor_id: int | None,
    action: str,
    now: datetime,
    from_status: str | None = None,
    to_status: str | None = None,
    note: str | None = None,
    notify: bool = False,
    audit_actor: audit.Actor | None = None,
    audit_detail: dict[str, audit.Scalar] | None = None,
) -> ReportEvent:
    """Append to a report's timeline, and record it in the audit log.

    The audit event is `report.<action>` by `audit_actor` (default: the user `actor_id`, in
    their stored role; the system when None), with the case code and the statuses, never
    the note, which may hold anything; `audit_detail` adds identifiers.
    """
    event = ReportEvent(
        report_id=report_id,
        actor_id=actor_id,
        action=action,
        from_status=from_status,
        to_status=to_status,
        note=note,
        created_at=now,
        notify=notify,
    )
    session.add(event)
    await session.flush()
    if audit_actor is None:
        user = await session.get(User, actor_id) if actor_id is not None else None
        audit_actor = audit.actor(user)
    await audit.report_event(session, event, audit_actor, audit_detail)
    return event


async def events_of(session: AsyncSession, report_id: int) -> list[ReportEvent]:
    """A report's audit trail, oldest first."""
    result = await session.execute(
        select(ReportEvent)
        .where(ReportEvent.report_id == report_id)
        .order_by(col(ReportEvent.created_at), col(ReportEvent.id))
    )
    return list(result.scalars())


async def last_question(session: AsyncSession, report_id: int) -> ReportEvent | None:
    """The latest question an officer asked the reporter."""
    result = await session.execute(
        select(ReportEvent)
        .where(ReportEvent.report_id == report_id, ReportEvent.action == "question")
        .order_by(col(ReportEvent.id).desc())
        .limit(1)
    )
    return result.scalar_one_or_none()


async def unclaimed(session: AsyncSession, limit: int = 500) -> list[Report]:
    """Reports waiting in the queue, oldest first (the caller orders them by priority)."""
    result = await session.execute(
        select(Report)
        .where(Report.status == "new")
        .order_by(col(Report.submitted_at), col(Report.id))
        .limit(limit)
    )
    return list(result.scalars())


async def assigned_to(session: AsyncSession, officer_id: int, limit: int = 50) -> list[Report]:
    """An officer's open reports, most recently active first."""
    result = await session.execute(
        select(Report)
        .where(Report.assignee_id == officer_id, col(Report.status).in_(OPEN))
        .order_by(col(Report.last_action_at).desc(), col(Report.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


@dataclass(frozen=True)
class Linked:
    """One indicator of a report, and the other submitted reports that share it."""

    kind: str
    value: str
    holder: str | None
    others: list[str]


async def linked(session: AsyncSession, report_id: int) -> list[Linked]:
    """A report's indicators with the case codes of other reports sharing each one."""
    rows = (
        await session.execute(
            select(Indicator.id, Indicator.kind, Indicator.value, ReportIndicator.holder)
            .join(ReportIndicator, col(ReportIndicator.indicator_id) == Indicator.id)
            .where(ReportIndicator.report_id == report_id)
            .order_by(col(Indicator.id))
        )
    ).all()
    if not rows:
        return []
    other = select(ReportIndicator.indicator_id, Report.code).join(
        Report, col(Report.id) == ReportIndicator.report_id
    )
    shared = await session.execute(
        other.where(
            col(ReportIndicator.indicator_id).in_([row[0] for row in rows]),
            col(ReportIndicator.report_id) != report_id,
            col(Report.status) != "draft",
        ).order_by(col(Report.id))
    )
    codes: dict[int, list[str]] = {}
    for indicator_id, code in shared.all():
        codes.setdefault(indicator_id, []).append(code)
    return [
        Linked(kind, value, holder, codes.get(indicator_id, []))
        for indicator_id, kind, value, holder in rows
    ]


async def shared_counts(session: AsyncSession, report_ids: Sequence[int]) -> dict[int, int]:
    """For each report, how many other submitted reports share at least one indicator with it."""
    if not report_ids:
        return {}
    mine = ReportIndicator.__table__.alias("mine")  # type: ignore[attr-defined]
    theirs = ReportIndicator.__table__.alias("theirs")  # type: ignore[attr-defined]
    result = await session.execute(
        select(mine.c.report_id, func.count(func.distinct(theirs.c.report_id)))
        .select_from(mine)
        .join(
            theirs,
            and_(
                theirs.c.indicator_id == mine.c.indicator_id,
                theirs.c.report_id != mine.c.report_id,
            ),
        )
        .join(Report, col(Report.id) == theirs.c.report_id)
        .where(mine.c.report_id.in_(list(report_ids)), col(Report.status) != "draft")
        .group_by(mine.c.report_id)
    )
    return {int(report_id): int(count) for report_id, count in result.all()}


async def search_indicator(
    session: AsyncSession, kind: str, value: str, limit: int = 20
) -> list[Report]:
    """Submitted reports carrying an indicator; an account without a bank matches any bank."""
    condition = and_(col(Indicator.kind) == kind, col(Indicator.value) == value)
    if kind == "bank_account" and ":" not in value:
        condition = and_(
            col(Indicator.kind) == kind,
            or_(col(Indicator.value) == value, col(Indicator.value).like(f"%:{value}")),
        )
    result = await session.execute(
        select(Report)
        .join(ReportIndicator, col(ReportIndicator.report_id) == Report.id)
        .join(Indicator, col(Indicator.id) == ReportIndicator.indicator_id)
        .where(condition, col(Report.status) != "draft")
        .distinct()
        .order_by(col(Report.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


# ----------------------------------------------------------------------------------- cards


async def add_card(
    session: AsyncSession,
    report_id: int,
    chat_id: str,
    message_id: str,
    now: datetime,
    channel: str = "telegram",
) -> None:
    """Remember a posted card (in `chat_id` on `channel`) so it can be edited when the report
    changes."""
    session.add(
        ReportCard(
            report_id=report_id,
            chat_id=chat_id,
            message_id=message_id,
            created_at=now,
            channel=channel,
        )
    )
    await session.flush()


async def cards_of(session: AsyncSession, report_id: int) -> list[ReportCard]:
    """The cards posted for a report."""
    result = await session.execute(
        select(ReportCard).where(ReportCard.report_id == report_id).order_by(col(ReportCard.id))
    )
    return list(result.scalars())


# ---------------------------------------------------------------------------- pending input


async def set_pending(
    session: AsyncSession,
    user_id: int,
    action: str,
    report_id: int,
    *,
    expires_at: datetime,
    asker_id: int | None = None,
    armed: bool = False,
) -> None:
    """Wait for typed input from a user (replaces whatever they owed before)."""
    values = {
        "user_id": user_id,
        "action": action,
        "report_id": report_id,
        "asker_id": asker_id,
        "armed": armed,
        "expires_at": expires_at,
    }
    await session.execute(
        insert(session, PendingInput)
        .values(**values)
        .on_conflict_do_update(index_elements=["user_id"], set_=values)
    )


async def get_pending(session: AsyncSession, user_id: int, now: datetime) -> PendingInput | None:
    """What the user owes, unless it expired."""
    pending = await session.get(PendingInput, user_id)
    if pending is None or pending.expires_at <= now:
        return None
    return pending


async def clear_pending(session: AsyncSession, user_id: int) -> None:
    """Stop waiting for input from a user."""
    await session.execute(delete(PendingInput).where(col(PendingInput.user_id) == user_id))


# ---------------------------------------------------------------------------------- timers


async def expire_claims(
    session: AsyncSession, now: datetime, timeout: timedelta
) -> list[tuple[int, int | None]]:
    """Return claims idle longer than `timeout` to the queue: (report id, former assignee)."""
    stale = (
        await session.execute(
            select(Report.id, Report.assignee_id).where(
                Report.status == "in_review", col(Report.last_action_at) < now - timeout
            )
        )
    ).all()
    expired = []
    for report_id, assignee_id in stale:
        # Conditional on the same idle time, so a process that lost the race does nothing.
        result = await session.execute(
            update(Report)
            .where(
                col(Report.id) == report_id,
                col(Report.status) == "in_review",
                col(Report.last_action_at) < now - timeout,
            )
            .values(
                status="new",
                assignee_id=None,
                claimed_at=None,
                queued_at=now,
                escalated_at=None,
                updated_at=now,
            )
            .returning(col(Report.id))
        )
        if result.first() is not None:
            expired.append((int(report_id), assignee_id))
    return expired


async def escalate(session: AsyncSession, now: datetime, after: timedelta) -> list[int]:
    """Mark reports unclaimed longer than `after` as overdue, each once; returns their ids."""
    result = await session.execute(
        update(Report)
        .where(
            col(Report.status) == "new",
            col(Report.escalated_at).is_(None),
            func.coalesce(Report.queued_at, Report.submitted_at) < now - after,
        )
        .values(escalated_at=now)
        .returning(col(Report.id))
    )
    return sorted(int(row[0] or 0) for row in result.all())


async def take_unannounced(session: AsyncSession, now: datetime, grace: timedelta) -> list[int]:
    """Reports whose card never reached the officers (crash, outage); claimed for posting."""
    result = await session.execute(
        update(Report)
        .where(
            col(Report.announced_at).is_(None),
            col(Report.submitted_at) < now - grace,
            col(Report.status) != "draft",
        )
        .values(announced_at=now)
        .returning(col(Report.id))
    )
    return sorted(int(row[0] or 0) for row in result.all())


async def mark_announced(session: AsyncSession, report_id: int, now: datetime | None) -> None:
    """Record that a report's card was posted (None: posting failed, let the sweep retry)."""
    await session.execute(
        update(Report).where(col(Report.id) == report_id).values(announced_at=now)
    )


async def take_unsent_notices(
    session: AsyncSession,
    channel: str,
    now: datetime,
    grace: timedelta,
    max_age: timedelta = timedelta(days=3),
) -> list[ReportEvent]:
    """Reporter notices never sent (crash, outage) to reporters on `channel`; claimed to send.

    Notices older than `max_age` are left alone: news that late would confuse more than help.
    """
    on_channel = (
        select(Report.id)
        .join(User, col(User.id) == Report.reporter_id)
        .where(User.channel == channel)
    )
    result = await session.execute(
        update(ReportEvent)
        .where(
            col(ReportEvent.notify).is_(True),
            col(ReportEvent.notified_at).is_(None),
            col(ReportEvent.created_at) < now - grace,
            col(ReportEvent.created_at) > now - max_age,
            col(ReportEvent.report_id).in_(on_channel),
        )
        .values(notified_at=now)
        .returning(col(ReportEvent.id))
    )
    ids = [int(row[0] or 0) for row in result.all()]
    if not ids:
        return []
    events = await session.execute(
        select(ReportEvent).where(col(ReportEvent.id).in_(ids)).order_by(col(ReportEvent.id))
    )
    return list(events.scalars())


async def mark_notified(session: AsyncSession, event_id: int, now: datetime | None) -> None:
    """Record that the reporter was told of an event (None: sending failed, retry later)."""
    await session.execute(
        update(ReportEvent).where(col(ReportEvent.id) == event_id).values(notified_at=now)
    )


@dataclass(frozen=True)
class DayFigures:
    """The daily summary's figures."""

    new: int
    claimed: int
    closed: int
    waiting: int
    overdue: int
    open: int


async def day_figures(
    session: AsyncSession, since: datetime, now: datetime, overdue_after: timedelta
) -> DayFigures:
    """Reports submitted, claimed and finished since `since`, and the queue as it stands."""

    async def count(*conditions: Any) -> int:
        return int((await session.execute(select(func.count()).where(*conditions))).scalar_one())

    return DayFigures(
        new=await count(col(Report.submitted_at) >= since, col(Report.status) != "draft"),
        claimed=await count(
            col(ReportEvent.created_at) >= since, col(ReportEvent.action) == "claimed"
        ),
        closed=await count(
            col(ReportEvent.created_at) >= since, col(ReportEvent.to_status).in_(DONE)
        ),
        waiting=await count(col(Report.status) == "new"),
        overdue=await count(
            col(Report.status) == "new",
            func.coalesce(Report.queued_at, Report.submitted_at) < now - overdue_after,
        ),
        open=await count(col(Report.status).in_(OPEN)),
    )
