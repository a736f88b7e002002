"""The durable inbox: webhook updates are stored before Telegram hears "200 OK", then handled.

Any process may handle any update, but one user's updates are handled one at a time and in
`update_id` order, whichever process received them: only the oldest unhandled update of a
user can be claimed (the `NOT EXISTS` below), and a claim is held until `claimed_until`.
Each claim is one conditional write, so two processes never take the same update.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col, select

from storage.models import InboxUpdate
from storage.sql import insert


async def store(
    session: AsyncSession,
    channel: str,
    update_id: int,
    user_key: str,
    payload: str,
    now: datetime,
) -> bool:
    """Keep an update; False if it was already there (Telegram delivered it again)."""
    result = await session.execute(
        insert(session, InboxUpdate)
        .values(
            channel=channel,
            update_id=update_id,
            user_key=user_key[:64],
            payload=payload,
            received_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing()
        .returning(col(InboxUpdate.id))
    )
    return result.first() is not None


async def claim(
    session: AsyncSession,
    channel: str,
    owner: str,
    now: datetime,
    lease: timedelta,
    ripe: datetime,
) -> tuple[int, str] | None:
    """Take the next update to handle: (inbox id, payload), or None if none is ready.

    Ready means: not handled, not claimed by a live process, received before `ripe` (a short
    wait lets an earlier update that arrived late go first), and no older update of the same
    user still unhandled (that one goes first, wherever it is being handled).
    """
    older = aliased(InboxUpdate)
    # The user's oldest unhandled update: one probe of the partial index `ix_inbox_user_head`.
    head = (
        select(func.min(col(older.update_id)))
        .where(
            col(older.channel) == col(InboxUpdate.channel),
            col(older.user_key) == col(InboxUpdate.user_key),
            col(older.handled_at).is_(None),
        )
        .scalar_subquery()
    )
    free = or_(col(InboxUpdate.claimed_until).is_(None), col(InboxUpdate.claimed_until) < now)
    candidate = (
        select(col(InboxUpdate.id))
        .where(
            col(InboxUpdate.channel) == channel,
            col(InboxUpdate.handled_at).is_(None),
            free,
            col(InboxUpdate.received_at) <= ripe,
            col(InboxUpdate.update_id) == head,
        )
        .order_by(col(InboxUpdate.id))
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Processes claiming at once skip each other's rows instead of queueing on them.
        candidate = candidate.with_for_update(skip_locked=True)
    result = await session.execute(
        update(InboxUpdate)
        .where(
            col(InboxUpdate.id) == candidate.scalar_subquery(),
            and_(col(InboxUpdate.handled_at).is_(None), free),
        )
        .values(
            claimed_by=owner,
            claimed_until=now + lease,
            attempts=col(InboxUpdate.attempts) + 1,
        )
        .returning(col(InboxUpdate.id), col(InboxUpdate.payload))
    )
    row = result.first()
    if row is None:
        return None
    inbox_id, payload = row
    assert inbox_id is not None
    return int(inbox_id), str(payload)


async def renew(session: AsyncSession, inbox_id: int, owner: str, until: datetime) -> bool:
    """Extend this process's claim on an update it is still handling; False if it lost it."""
    result = await session.execute(
        update(InboxUpdate)
        .where(
            col(InboxUpdate.id) == inbox_id,
            col(InboxUpdate.claimed_by) == owner,
            col(InboxUpdate.handled_at).is_(None),
        )
        .values(claimed_until=until)
        .returning(col(InboxUpdate.id))
    )
    return result.first() is not None


async def handled(session: AsyncSession, inbox_id: int, owner: str, now: datetime) -> None:
    """Mark an update handled (the next update of its user becomes ready)."""
    await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.id) == inbox_id, col(InboxUpdate.claimed_by) == owner)
        .values(handled_at=now, claimed_until=None)
    )


async def release(session: AsyncSession, owner: str) -> int:
    """Give back this process's unfinished claims (on shutdown): others take them at once."""
    result = await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.claimed_by) == owner, col(InboxUpdate.handled_at).is_(None))
        .values(claimed_until=None, claimed_by=None)
        .returning(col(InboxUpdate.id))
    )
    return len(result.all())


async def release_all(session: AsyncSession) -> int:
    """Give back every unfinished claim. Only for long polling, where one process alone takes
    updates from Telegram: a claim still held at its start is a dead predecessor's."""
    result = await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.claimed_by).is_not(None), col(InboxUpdate.handled_at).is_(None))
        .values(claimed_until=None, claimed_by=None)
        .returning(col(InboxUpdate.id))
    )
    return len(result.all())


async def depth(session: AsyncSession) -> int:
    """Updates received and not yet handled."""
    result = await session.execute(
        select(func.count()).select_from(InboxUpdate).where(col(InboxUpdate.handled_at).is_(None))
    )
    return int(result.scalar_one())


async def prune(session: AsyncSession, before: datetime) -> int:
    """Forget updates handled before `before` (their ids stay in `processedupdate`)."""
    result = await session.execute(
        delete(InboxUpdate)
        .where(col(InboxUpdate.handled_at).is_not(None), col(InboxUpdate.handled_at) < before)
        .returning(col(InboxUpdate.id))
    )
    return len(result.all())
