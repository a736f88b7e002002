"""Bans: imposing, lifting and listing them; every change is one conditional statement.

A ban in force is a `ban` row with `lifted_at` empty; a partial unique index allows one per
user, so two admins banning the same person at once make one ban, and the second is told.
The user's row is read with their ban in the same query (`storage.users.get_user`), so an
update from anyone costs no extra round trip to find out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Ban, BroadcastDelivery, User
from storage.sql import insert


@dataclass(frozen=True)
class BanInForce:
    """A ban in force with the people it concerns (the banning admin may be gone: None)."""

    ban: Ban
    user: User
    banned_by: User | None


async def in_force(session: AsyncSession, user_id: int) -> Ban | None:
    """The user's ban in force, if any."""
    result = await session.execute(
        select(Ban).where(col(Ban.user_id) == user_id, col(Ban.lifted_at).is_(None))
    )
    return result.scalars().first()


async def impose(
    session: AsyncSession,
    user_id: int,
    *,
    reason: str,
    via: str,
    now: datetime,
    banned_by: int | None = None,
    source: str = "bot",
) -> Ban | None:
    """Ban a user; None if a ban of theirs is already in force (nothing changes then).

    Warnings already queued for them are dropped (marked failed, "banned"), so a ban stops a
    broadcast that is under way from reaching them too.
    """
    result = await session.execute(
        insert(session, Ban)
        .values(
            user_id=user_id,
            reason=reason,
            via=via[:64],
            source=source[:64],
            banned_by=banned_by,
            banned_at=now,
        )
        .on_conflict_do_nothing()
        .returning(col(Ban.id))
    )
    ban_id = result.scalar_one_or_none()
    if ban_id is None:
        return None
    await session.execute(
        update(BroadcastDelivery)
        .where(col(BroadcastDelivery.user_id) == user_id, col(BroadcastDelivery.state) == "pending")
        .values(state="failed", error="banned")
    )
    return await session.get(Ban, ban_id)


async def lift(
    session: AsyncSession,
    user_id: int,
    *,
    now: datetime,
    lifted_by: int | None = None,
    source: str = "bot",
) -> Ban | None:
    """Lift the user's ban; None if none was in force."""
    result = await session.execute(
        update(Ban)
        .where(col(Ban.user_id) == user_id, col(Ban.lifted_at).is_(None))
        .values(lifted_at=now, lifted_by=lifted_by, lift_source=source[:64])
        .returning(col(Ban.id))
    )
    ban_id = result.scalar_one_or_none()
    if ban_id is None:
        return None
    ban = await session.get(Ban, ban_id)
    if ban is not None:
        await session.refresh(ban)
    return ban


async def take_notice(session: AsyncSession, ban_id: int, now: datetime, every: timedelta) -> bool:
    """Whether to tell the banned user now: at most once per `every`, across processes."""
    result = await session.execute(
        update(Ban)
        .where(
            col(Ban.id) == ban_id,
            col(Ban.lifted_at).is_(None),
            or_(col(Ban.noticed_at).is_(None), col(Ban.noticed_at) < now - every),
        )
        .values(noticed_at=now)
        .returning(col(Ban.id))
    )
    return result.first() is not None


async def all_in_force(session: AsyncSession, channel: str | None = None) -> list[BanInForce]:
    """Every ban in force, newest first."""
    query = (
        select(Ban, User)
        .join(User, col(User.id) == col(Ban.user_id))
        .where(col(Ban.lifted_at).is_(None))
        .order_by(col(Ban.banned_at).desc(), col(Ban.id).desc())
    )
    if channel is not None:
        query = query.where(col(User.channel) == channel)
    rows = (await session.execute(query)).all()
    admins = {b.banned_by for b, _ in rows if b.banned_by is not None}
    people: dict[int, User] = {}
    if admins:
        found = await session.execute(select(User).where(col(User.id).in_(admins)))
        people = {u.id: u for u in found.scalars() if u.id is not None}
    return [
        BanInForce(ban, user, people.get(ban.banned_by) if ban.banned_by else None)
        for ban, user in rows
    ]
