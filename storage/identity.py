"""Reporter identity, kept apart from reports (docs/privacy.md).

Identity is who a reporter is: the app and the app's user id, a name, the phone they gave for
contact. It lives in `user` (channel, external id, name) and `reportercontact` (phone, per
report). Officers work with a pseudonymous handle instead (`NB-7K3QXM`): random, not derived
from anything about the person, the same on all of a reporter's named reports. Only an admin
reveals the identity behind a report, with a reason that goes to the audit log.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Report, ReporterContact, User
from storage.sql import insert

PREFIX = "NB-"  # "người báo": the reporter
# No 0/O, 1/I/L: a handle is read aloud and typed by officers.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 6  # 31**6 ≈ 887 million handles


def new_handle() -> str:
    """A fresh random handle (from the OS's secure random source, so it cannot be guessed)."""
    return PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def looks_like_handle(text: str) -> bool:
    """Whether `text` has the shape of a handle."""
    body = text.upper().removeprefix(PREFIX)
    return (
        text.upper().startswith(PREFIX) and len(body) == LENGTH and all(c in ALPHABET for c in body)
    )


async def handle_for(session: AsyncSession, user: User) -> str:
    """The user's handle, given now if they have none yet.

    One conditional write (`WHERE handle IS NULL`), so two processes giving a handle at once
    agree on one; a clash with another user's handle (rare) is avoided by looking first.
    """
    if user.handle:
        return user.handle
    assert user.id is not None
    while True:
        candidate = new_handle()
        taken = await session.execute(select(User.id).where(col(User.handle) == candidate))
        if taken.first() is None:
            break
    await session.execute(
        update(User)
        .where(col(User.id) == user.id, col(User.handle).is_(None))
        .values(handle=candidate)
    )
    stored = (await session.execute(select(User.handle).where(col(User.id) == user.id))).scalar()
    assert stored is not None
    user.handle = stored
    return stored


async def reporter_handle(session: AsyncSession, report: Report) -> str | None:
    """The handle officers see for a report's reporter: None if anonymous or erased."""
    if report.anonymous or report.reporter_id is None:
        return None
    reporter = await session.get(User, report.reporter_id)
    if reporter is None:
        return None
    return await handle_for(session, reporter)


async def give_handles(session: AsyncSession) -> int:
    """Give a handle to every reporter of a named report who has none (before an export, which
    only reads); returns how many were given."""
    missing = await session.execute(
        select(User)
        .join(Report, col(Report.reporter_id) == User.id)
        .where(
            col(User.handle).is_(None),
            col(Report.anonymous).is_(False),
            col(Report.status) != "draft",
        )
        .distinct()
    )
    users = list(missing.scalars())
    for user in users:
        await handle_for(session, user)
    return len(users)


async def named_count(session: AsyncSession) -> int:
    """How many submitted reports name a reporter (what an identity export reveals)."""
    result = await session.execute(
        select(func.count())
        .select_from(Report)
        .join(User, col(User.id) == Report.reporter_id)
        .where(col(Report.anonymous).is_(False), col(Report.status) != "draft")
    )
    return int(result.scalar_one())


async def save_contact(session: AsyncSession, report_id: int, phone: str, now: datetime) -> None:
    """Keep the phone a reporter gave for contact on a report (replacing an earlier one)."""
    statement = (
        insert(session, ReporterContact)
        .values(report_id=report_id, phone=phone, created_at=now)
        .on_conflict_do_update(index_elements=["report_id"], set_={"phone": phone})
    )
    await session.execute(statement)


async def contact_for(session: AsyncSession, report_id: int) -> str | None:
    """The phone the reporter gave for contact on a report (for the reveal and the resident's
    own data only)."""
    row = await session.get(ReporterContact, report_id)
    return row.phone if row is not None else None


async def erase_contacts(session: AsyncSession, report_ids: Sequence[int]) -> int:
    """Delete the contact phones of these reports (a resident erasing their identity);
    returns how many were deleted."""
    if not report_ids:
        return 0
    result = await session.execute(
        delete(ReporterContact).where(col(ReporterContact.report_id).in_(list(report_ids)))
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class Identity:
    """Who made a report, as an admin's reveal shows it.

    `state`: "shown" (the fields are filled), "anonymous" (the resident chose not to be
    known: nothing is revealed) or "erased" (their identity is gone).
    """

    state: str
    channel: str | None = None
    external_id: str | None = None
    name: str | None = None
    phone: str | None = None
    handle: str | None = None


async def reveal(session: AsyncSession, report: Report) -> Identity:
    """The identity behind a report. The caller records the reveal in the audit log."""
    if report.anonymous:
        return Identity("anonymous")
    reporter = await session.get(User, report.reporter_id) if report.reporter_id else None
    if reporter is None:
        return Identity("erased")
    assert report.id is not None
    return Identity(
        "shown",
        channel=reporter.channel,
        external_id=reporter.external_id,
        name=reporter.display_name,
        phone=await contact_for(session, report.id),
        handle=await handle_for(session, reporter),
    )
