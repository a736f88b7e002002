"""The durable inbox: webhook updates are stored before Telegram hears "200 OK", then handled.

Any process may handle any update, but one user's updates are handled one at a time and in
`update_id` order, whichever process received them: only the oldest unhandled update of a
user can be claimed (the `NOT EXISTS` below), and a claim is held until `claimed_until`.
Each claim is one conditional write, so two processes never take the same update.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import InboxUpdate
from storage.sql import DIALECTS, dialect_of, insert_for

# The statements run for every update are built once (per dialect where they differ), with
# their values as bind parameters: building a statement and its cache key cost more CPU than
# running it. They are Core statements on the table, not ORM ones: no object of the inbox is
# ever loaded in the session, so the ORM's work on each (synchronising the session) is for
# nothing.
_inbox = InboxUpdate.__table__  # type: ignore[attr-defined]
_older = _inbox.alias("older")
_STORE = {
    dialect: insert_for(dialect, _inbox)
    .values(
        channel=bindparam("p_channel", type_=_inbox.c.channel.type),
        update_id=bindparam("p_update_id", type_=_inbox.c.update_id.type),
        user_key=bindparam("p_user_key", type_=_inbox.c.user_key.type),
        payload=bindparam("p_payload", type_=_inbox.c.payload.type),
        received_at=bindparam("p_now", type_=_inbox.c.received_at.type),
        attempts=0,
    )
    .on_conflict_do_nothing()
    .returning(_inbox.c.id)
    for dialect in DIALECTS
}


def _claim_statement(dialect: str) -> Any:
    now = bindparam("p_now", type_=_inbox.c.claimed_until.type)
    # The user's oldest unhandled update: one probe of the partial index `ix_inbox_user_head`.
    head = (
        select(func.min(_older.c.update_id))
        .where(
            _older.c.channel == _inbox.c.channel,
            _older.c.user_key == _inbox.c.user_key,
            _older.c.handled_at.is_(None),
        )
        .scalar_subquery()
    )
    free = or_(_inbox.c.claimed_until.is_(None), _inbox.c.claimed_until < now)
    candidate = (
        select(_inbox.c.id)
        .where(
            _inbox.c.channel == bindparam("p_channel", type_=_inbox.c.channel.type),
            _inbox.c.handled_at.is_(None),
            free,
            _inbox.c.received_at <= bindparam("p_ripe", type_=_inbox.c.received_at.type),
            _inbox.c.update_id == head,
        )
        .order_by(_inbox.c.id)
        .limit(1)
    )
    if dialect == "postgresql":
        # Processes claiming at once skip each other's rows instead of queueing on them.
        candidate = candidate.with_for_update(skip_locked=True)
    return (
        update(_inbox)
        .where(
            _inbox.c.id == candidate.scalar_subquery(),
            and_(_inbox.c.handled_at.is_(None), free),
        )
        .values(
            claimed_by=bindparam("p_owner", type_=_inbox.c.claimed_by.type),
            claimed_until=bindparam("p_until", type_=_inbox.c.claimed_until.type),
            attempts=_inbox.c.attempts + 1,
        )
        .returning(_inbox.c.id, _inbox.c.payload)
    )


_CLAIM = {dialect: _claim_statement(dialect) for dialect in DIALECTS}
_HANDLED = (
    update(_inbox)
    .where(
        _inbox.c.id == bindparam("p_id", type_=_inbox.c.id.type),
        _inbox.c.claimed_by == bindparam("p_owner", type_=_inbox.c.claimed_by.type),
    )
    .values(handled_at=bindparam("p_now", type_=_inbox.c.handled_at.type), claimed_until=None)
)


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
        _STORE[dialect_of(session)],
        {
            "p_channel": channel,
            "p_update_id": update_id,
            "p_user_key": user_key[:64],
            "p_payload": payload,
            "p_now": now,
        },
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
    result = await session.execute(
        _CLAIM[dialect_of(session)],
        {
            "p_channel": channel,
            "p_now": now,
            "p_ripe": ripe,
            "p_owner": owner,
            "p_until": now + lease,
        },
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
    await session.execute(_HANDLED, {"p_id": inbox_id, "p_owner": owner, "p_now": now})


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
