"""Scam warnings: who subscribed, the broadcasts, and one delivery row per recipient.

A broadcast's recipients are fixed when its sending starts (one `broadcastdelivery` row each),
and every change of a delivery's state is a conditional write, so a sender that crashes, or a
second process, can never send one recipient the same warning twice (see `handlers.sender`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, or_, update
from sqlalchemy import insert as sa_insert
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Ban, Broadcast, BroadcastDelivery, Subscription, User
from storage.sql import insert

# What a broadcast can be, and which of them are finished.
STATUSES = ("draft", "approval", "sending", "paused", "cancelled", "done")
FINISHED = ("cancelled", "done")
# Delivery states; "unknown" is a send the sender may have made just before it stopped.
STATES = ("pending", "sending", "sent", "blocked", "failed", "unknown")


# ---------------------------------------------------------------------------- subscriptions


async def set_subscribed(
    session: AsyncSession, user_id: int, active: bool, now: datetime, reason: str = "user"
) -> bool:
    """Subscribe or unsubscribe; True if that changed anything."""
    statement = (
        insert(session, Subscription)
        .values(user_id=user_id, active=active, offered_at=now, changed_at=now, reason=reason)
        .on_conflict_do_update(
            index_elements=["user_id"],
            set_={"active": active, "changed_at": now, "reason": reason},
            where=col(Subscription.active) != active,
        )
        .returning(col(Subscription.user_id))
    )
    return (await session.execute(statement)).first() is not None


async def take_offer(session: AsyncSession, user_id: int, now: datetime) -> bool:
    """True once per user: the moment to offer warnings (never again after, whatever they chose)."""
    inserted = await session.execute(
        insert(session, Subscription)
        .values(user_id=user_id, active=False, offered_at=now)
        .on_conflict_do_nothing()
        .returning(col(Subscription.user_id))
    )
    if inserted.first() is not None:
        return True
    updated = await session.execute(
        update(Subscription)
        .where(col(Subscription.user_id) == user_id, col(Subscription.offered_at).is_(None))
        .values(offered_at=now)
        .returning(col(Subscription.user_id))
    )
    return updated.first() is not None


async def unsubscribe_chats(
    session: AsyncSession, channel: str, chat_ids: Iterable[str], now: datetime, reason: str
) -> int:
    """Unsubscribe the users of these private chats (they blocked the bot); how many changed."""
    ids = list(chat_ids)
    if not ids:
        return 0
    users = select(col(User.id)).where(col(User.channel) == channel, col(User.external_id).in_(ids))
    result = await session.execute(
        update(Subscription)
        .where(col(Subscription.user_id).in_(users), col(Subscription.active).is_(True))
        .values(active=False, changed_at=now, reason=reason)
        .returning(col(Subscription.user_id))
    )
    return len(result.all())


def _audience(channels: Collection[str], audience: str) -> list[Any]:
    banned = sa_select(col(Ban.id)).where(
        col(Ban.user_id) == col(User.id), col(Ban.lifted_at).is_(None)
    )
    where: list[Any] = [
        col(Subscription.active).is_(True),
        col(User.channel).in_(list(channels)),
        col(User.consent_at).is_not(None),
        ~banned.exists(),  # a banned user receives no warnings (their subscription is kept)
    ]
    if audience != "all":
        where.append(func.coalesce(col(User.language), "vi") == audience)
    return where


async def subscribers(session: AsyncSession, channel: str | None = None) -> dict[str, int]:
    """Active subscribers per language (of one channel, or all)."""
    language = func.coalesce(col(User.language), "vi")
    query = (
        select(language, func.count())
        .select_from(Subscription)
        .join(User, col(User.id) == col(Subscription.user_id))
        .where(col(Subscription.active).is_(True), col(User.consent_at).is_not(None))
        .group_by(language)
    )
    if channel is not None:
        query = query.where(col(User.channel) == channel)
    return {str(lang): int(n) for lang, n in (await session.execute(query)).all()}


async def audience_size(
    session: AsyncSession, channel: str, audience: str, others: Collection[str] = ()
) -> int:
    """How many people a broadcast to `audience` ("all" or a language) would reach now: its
    channel's subscribers and those of the `others` channels it can also be sent on."""
    query = (
        select(func.count())
        .select_from(Subscription)
        .join(User, col(User.id) == col(Subscription.user_id))
        .where(*_audience({channel, *others}, audience))
    )
    return int((await session.execute(query)).scalar_one())


# ------------------------------------------------------------------------------- broadcasts


async def draft_of(session: AsyncSession, author_id: int) -> Broadcast | None:
    """The author's warning still being composed, if any."""
    result = await session.execute(
        select(Broadcast)
        .where(col(Broadcast.author_id) == author_id, col(Broadcast.status) == "draft")
        .order_by(col(Broadcast.id).desc())
        .limit(1)
    )
    return result.scalars().first()


async def new_draft(
    session: AsyncSession, channel: str, author_id: int, now: datetime
) -> Broadcast:
    """A new, empty warning waiting for its text."""
    broadcast = Broadcast(
        channel=channel, author_id=author_id, awaiting="text", created_at=now, status="draft"
    )
    session.add(broadcast)
    await session.flush()
    return broadcast


async def move(
    session: AsyncSession,
    broadcast_id: int,
    seen: Sequence[str],
    to: str,
    now: datetime,
    **values: object,
) -> bool:
    """Change the status if it is still one of `seen` (one conditional write); False if not."""
    changes: dict[str, object] = {"status": to, **values}
    if to == "approval":
        changes.setdefault("submitted_at", now)
    if to in FINISHED:
        changes.setdefault("finished_at", now)
    # The lease stays: a sender still working on it notices the new status, finishes what is
    # on its way, records it and lets go.
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status).in_(seen))
        .values(**changes)
        .returning(col(Broadcast.id))
    )
    return result.first() is not None


async def start_sending(
    session: AsyncSession,
    broadcast_id: int,
    seen: Sequence[str],
    now: datetime,
    *,
    approver_id: int | None,
    progress_chat: str,
    others: Collection[str] = (),
) -> int | None:
    """Fix the recipients and start sending; how many there are, or None if it was not in `seen`.

    The status change and the recipients' rows are one transaction: a broadcast is either not
    started, or started with every subscriber of that moment (later subscribers wait for the
    next warning).
    """
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None or broadcast.status not in seen:
        return None
    values: dict[str, object] = {
        "started_at": now,
        "awaiting": None,
        "progress_chat": progress_chat,
    }
    if approver_id is not None:
        values |= {"approver_id": approver_id, "approved_at": now}
    if not await move(session, broadcast_id, seen, "sending", now, **values):
        return None
    language = func.coalesce(col(User.language), "vi")
    recipients = (
        sa_select(  # sqlmodel's select takes at most four columns
            literal(broadcast_id),
            col(User.id),
            col(User.external_id),
            language,
            literal("pending"),
            literal(0),
            col(User.channel),
        )
        .select_from(Subscription)
        .join(User, col(User.id) == col(Subscription.user_id))
        .where(*_audience({broadcast.channel, *others}, broadcast.audience))
    )
    await session.execute(
        sa_insert(BroadcastDelivery).from_select(
            ["broadcast_id", "user_id", "chat_id", "language", "state", "attempts", "channel"],
            recipients,
        )
    )
    total = await session.execute(
        select(func.count())
        .select_from(BroadcastDelivery)
        .where(col(BroadcastDelivery.broadcast_id) == broadcast_id)
    )
    count = int(total.scalar_one())
    await session.execute(
        update(Broadcast).where(col(Broadcast.id) == broadcast_id).values(total=count)
    )
    return count


async def set_progress_message(session: AsyncSession, broadcast_id: int, message_id: str) -> None:
    """Remember the message that shows the progress, to edit it."""
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id)
        .values(progress_message=message_id)
    )


async def set_photo_id(session: AsyncSession, broadcast_id: int, file_id: str) -> None:
    """Remember the platform's id of the uploaded photo, so it is uploaded once."""
    await session.execute(
        update(Broadcast).where(col(Broadcast.id) == broadcast_id).values(photo_file_id=file_id)
    )


async def recent(session: AsyncSession, limit: int = 5) -> list[Broadcast]:
    """The latest broadcasts that were sent or are being sent, newest first."""
    result = await session.execute(
        select(Broadcast)
        .where(col(Broadcast.started_at).is_not(None))
        .order_by(col(Broadcast.started_at).desc(), col(Broadcast.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


# ------------------------------------------------------------------------------ the sender


async def take_lease(
    session: AsyncSession, owner: str, now: datetime, lease: timedelta
) -> int | None:
    """Become the sender of a broadcast in `sending` whose lease is free or expired (or ours)."""
    free = and_(
        col(Broadcast.status) == "sending",
        or_(
            col(Broadcast.lease_until).is_(None),
            col(Broadcast.lease_until) < now,
            col(Broadcast.lease_owner) == owner,
        ),
    )
    candidate = (
        await session.execute(
            select(col(Broadcast.id)).where(free).order_by(col(Broadcast.id)).limit(1)
        )
    ).scalar_one_or_none()
    if candidate is None:
        return None
    taken = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == candidate, free)
        .values(lease_owner=owner, lease_until=now + lease)
        .returning(col(Broadcast.id))
    )
    return taken.scalar_one_or_none()


async def renew_lease(
    session: AsyncSession, broadcast_id: int, owner: str, now: datetime, lease: timedelta
) -> str | None:
    """Extend our lease; the broadcast's status, or None if the lease is no longer ours."""
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.lease_owner) == owner)
        .values(lease_until=now + lease)
        .returning(col(Broadcast.status))
    )
    return result.scalar_one_or_none()


async def release_lease(session: AsyncSession, broadcast_id: int, owner: str) -> None:
    """Let another sender take the broadcast at once (after a pause, or on shutdown)."""
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.lease_owner) == owner)
        .values(lease_owner=None, lease_until=None)
    )


async def mark_interrupted(session: AsyncSession, broadcast_id: int) -> int:
    """Deliveries a previous sender left in `sending`: they may have arrived, so they become
    `unknown` and are not sent again. How many there were."""
    result = await session.execute(
        update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.broadcast_id) == broadcast_id,
            col(BroadcastDelivery.state) == "sending",
        )
        .values(state="unknown", error="the sender stopped while sending")
        .returning(col(BroadcastDelivery.user_id))
    )
    return len(result.all())


@dataclass(frozen=True)
class Recipient:
    """One person to send the warning to."""

    user_id: int
    chat_id: str
    language: str
    attempts: int
    channel: str = "telegram"


async def claim_due(
    session: AsyncSession, broadcast_id: int, now: datetime, limit: int
) -> list[Recipient]:
    """Take up to `limit` pending recipients that are due, marking them `sending`.

    The mark is committed before anything is sent: after a crash they read as "may have
    arrived", never as "still to send".
    """
    due = (
        select(col(BroadcastDelivery.user_id))
        .where(
            col(BroadcastDelivery.broadcast_id) == broadcast_id,
            col(BroadcastDelivery.state) == "pending",
            or_(col(BroadcastDelivery.due_at).is_(None), col(BroadcastDelivery.due_at) <= now),
        )
        .order_by(col(BroadcastDelivery.user_id))
        .limit(limit)
    )
    ids = list((await session.execute(due)).scalars())
    if not ids:
        return []
    result = await session.execute(
        update(BroadcastDelivery)
        .where(
            col(BroadcastDelivery.broadcast_id) == broadcast_id,
            col(BroadcastDelivery.user_id).in_(ids),
            col(BroadcastDelivery.state) == "pending",
        )
        .values(state="sending", attempts=col(BroadcastDelivery.attempts) + 1)
        .returning(
            col(BroadcastDelivery.user_id),
            col(BroadcastDelivery.chat_id),
            col(BroadcastDelivery.language),
            col(BroadcastDelivery.attempts),
            col(BroadcastDelivery.channel),
        )
    )
    taken = [
        Recipient(int(u), str(c), str(lang), int(a), str(channel))
        for u, c, lang, a, channel in result.all()
    ]
    return sorted(taken, key=lambda r: r.user_id)


@dataclass(frozen=True)
class Outcome:
    """What became of one send: the new state, why, and when to try again (for `pending`)."""

    user_id: int
    state: str
    error: str | None = None
    due_at: datetime | None = None


async def record(
    session: AsyncSession, broadcast_id: int, outcomes: Sequence[Outcome], now: datetime
) -> int:
    """Store what became of sends (grouped: a few statements for hundreds of rows) and
    unsubscribe those who blocked the bot. Returns how many were unsubscribed."""
    groups: dict[tuple[str, str | None, datetime | None], list[int]] = {}
    for outcome in outcomes:
        groups.setdefault((outcome.state, outcome.error, outcome.due_at), []).append(
            outcome.user_id
        )
    for (state, error, due_at), ids in groups.items():
        values: dict[str, object] = {"state": state, "error": error, "due_at": due_at}
        if state == "sent":
            values["sent_at"] = now
        await session.execute(
            update(BroadcastDelivery)
            .where(
                col(BroadcastDelivery.broadcast_id) == broadcast_id,
                col(BroadcastDelivery.user_id).in_(ids),
                col(BroadcastDelivery.state) == "sending",
            )
            .values(**values)
        )
    blocked = [o.user_id for o in outcomes if o.state == "blocked"]
    if not blocked:
        return 0
    result = await session.execute(
        update(Subscription)
        .where(col(Subscription.user_id).in_(blocked), col(Subscription.active).is_(True))
        .values(active=False, changed_at=now, reason="blocked")
        .returning(col(Subscription.user_id))
    )
    return len(result.all())


async def counts(session: AsyncSession, broadcast_id: int) -> dict[str, int]:
    """Recipients per delivery state."""
    result = await session.execute(
        select(col(BroadcastDelivery.state), func.count())
        .where(col(BroadcastDelivery.broadcast_id) == broadcast_id)
        .group_by(col(BroadcastDelivery.state))
    )
    return {str(state): int(n) for state, n in result.all()}


async def pending(session: AsyncSession, broadcast_id: int) -> tuple[int, datetime | None]:
    """How many recipients are still pending, and when the earliest of those waiting to retry
    is due (None when some are due now or none wait)."""
    result = await session.execute(
        select(func.count(), func.min(col(BroadcastDelivery.due_at))).where(
            col(BroadcastDelivery.broadcast_id) == broadcast_id,
            col(BroadcastDelivery.state) == "pending",
        )
    )
    count, earliest = result.one()
    return int(count), earliest


async def store_counts(session: AsyncSession, broadcast_id: int) -> None:
    """Write the counts per state onto the broadcast (when it stops)."""
    figures = await counts(session, broadcast_id)
    await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id)
        .values(
            sent=figures.get("sent", 0),
            blocked=figures.get("blocked", 0),
            failed=figures.get("failed", 0),
            unknown=figures.get("unknown", 0),
        )
    )


async def finish(session: AsyncSession, broadcast_id: int, now: datetime) -> bool:
    """Mark a broadcast sent, with its final counts; False if it was no longer sending."""
    if not await move(session, broadcast_id, ("sending",), "done", now):
        return False
    await store_counts(session, broadcast_id)
    return True
