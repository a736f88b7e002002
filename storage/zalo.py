"""What the Zalo channel keeps: the Official Account's token pair, each resident's reply
window and last buttons, and messages held until the resident writes again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, delete, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import User, ZaloChat, ZaloHeld, ZaloToken
from storage.sql import insert


async def seed_token(
    session: AsyncSession, access_token: str, refresh_token: str, expires_at: datetime
) -> None:
    """Store the configured token pair, unless a pair is stored already (rotations since the
    first start live in the database, not in the settings)."""
    await session.execute(
        insert(session, ZaloToken)
        .values(id=1, access_token=access_token, refresh_token=refresh_token, expires_at=expires_at)
        .on_conflict_do_nothing()
    )


async def read_token(session: AsyncSession) -> ZaloToken | None:
    """The stored token pair, without locking it."""
    return await session.get(ZaloToken, 1)


async def lock_token(session: AsyncSession) -> ZaloToken | None:
    """The stored token pair, locked until this transaction ends.

    A write that changes nothing: on PostgreSQL it locks the row (a second rotator waits,
    then reads the pair the first one stored); on SQLite it takes the database's write lock.
    """
    result = await session.execute(
        update(ZaloToken)
        .where(col(ZaloToken.id) == 1)
        .values(id=col(ZaloToken.id))
        .returning(
            col(ZaloToken.access_token), col(ZaloToken.refresh_token), col(ZaloToken.expires_at)
        )
    )
    row = result.first()
    if row is None:
        return None
    token = ZaloToken(access_token=row[0], refresh_token=row[1], expires_at=row[2])
    # SQLite gives naive times back from RETURNING; the column stores UTC.
    if token.expires_at.tzinfo is None:
        token.expires_at = token.expires_at.replace(tzinfo=UTC)
    return token


async def store_token(
    session: AsyncSession,
    access_token: str,
    refresh_token: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Replace the pair (in the transaction that locked it)."""
    await session.execute(
        update(ZaloToken)
        .where(col(ZaloToken.id) == 1)
        .values(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=expires_at,
            rotated_at=now,
        )
    )


async def seen(session: AsyncSession, external_id: str, now: datetime) -> None:
    """The resident wrote: their reply window starts again, with no reply used yet."""
    await session.execute(
        insert(session, ZaloChat)
        .values(
            external_id=external_id,
            last_inbound_at=now,
            replies=0,
            following=True,
            warnings_sent=0,
        )
        .on_conflict_do_update(
            index_elements=["external_id"],
            # The buttons shown before are forgotten: a number typed now answers only the
            # buttons of the replies to this message.
            set_={"last_inbound_at": now, "replies": 0, "buttons": None, "following": True},
        )
    )


async def set_following(session: AsyncSession, external_id: str, following: bool) -> None:
    """Record a follow or an unfollow of the Official Account."""
    await session.execute(
        insert(session, ZaloChat)
        .values(external_id=external_id, replies=0, following=following, warnings_sent=0)
        .on_conflict_do_update(index_elements=["external_id"], set_={"following": following})
    )


async def take_reply(session: AsyncSession, external_id: str, since: datetime, limit: int) -> bool:
    """Use one of the resident's free replies: False if their window closed (last message
    before `since`), all `limit` replies are used, or they unfollowed. One conditional write,
    so processes sending at once never use more than `limit` between them."""
    result = await session.execute(
        update(ZaloChat)
        .where(
            col(ZaloChat.external_id) == external_id,
            col(ZaloChat.last_inbound_at) >= since,
            col(ZaloChat.replies) < limit,
            col(ZaloChat.following).is_(True),
        )
        .values(replies=col(ZaloChat.replies) + 1)
        .returning(col(ZaloChat.external_id))
    )
    return result.first() is not None


async def set_buttons(session: AsyncSession, external_id: str, buttons: str | None) -> None:
    """Remember the buttons last shown to the resident (JSON list of callback data)."""
    await session.execute(
        update(ZaloChat).where(col(ZaloChat.external_id) == external_id).values(buttons=buttons)
    )


async def get_buttons(session: AsyncSession, external_id: str) -> str | None:
    """The buttons last shown to the resident (JSON), if any."""
    result = await session.execute(
        select(col(ZaloChat.buttons)).where(col(ZaloChat.external_id) == external_id)
    )
    return result.scalar_one_or_none()


async def hold(session: AsyncSession, external_id: str, text: str, now: datetime) -> int:
    """Keep a message for the resident's next visit; returns its id."""
    held = ZaloHeld(external_id=external_id, text=text, created_at=now)
    session.add(held)
    await session.flush()
    assert held.id is not None
    return held.id


async def take_held(session: AsyncSession, external_id: str) -> list[str]:
    """The messages held for the resident, oldest first; taken (deleted) in this transaction."""
    result = await session.execute(
        delete(ZaloHeld)
        .where(col(ZaloHeld.external_id) == external_id)
        .returning(col(ZaloHeld.id), col(ZaloHeld.text))
    )
    return [text for _, text in sorted(result.all())]


async def prune_held(session: AsyncSession, before: datetime) -> int:
    """Drop held messages older than `before`: news that old, from a resident who has not
    written since, would confuse more than help (they can still ask with /tinbao)."""
    result = await session.execute(
        delete(ZaloHeld).where(col(ZaloHeld.created_at) < before).returning(col(ZaloHeld.id))
    )
    return len(result.all())


async def forget(session: AsyncSession, external_id: str) -> None:
    """Delete what is kept of a resident's Zalo chat (they deleted their data)."""
    await session.execute(delete(ZaloHeld).where(col(ZaloHeld.external_id) == external_id))
    await session.execute(delete(ZaloChat).where(col(ZaloChat.external_id) == external_id))


async def prune_strangers(session: AsyncSession, before: datetime) -> int:
    """Forget the chats of people who wrote before `before` and never agreed to the notice
    (no user row): their Zalo id was kept only to answer them within Zalo's window."""
    users = select(col(User.external_id)).where(col(User.channel) == "zalo")
    result = await session.execute(
        delete(ZaloChat)
        .where(
            col(ZaloChat.last_inbound_at) < before,
            col(ZaloChat.external_id).not_in(users),
        )
        .returning(col(ZaloChat.external_id))
    )
    return len(result.all())


async def take_warning(session: AsyncSession, external_id: str, month: str, quota: int) -> bool:
    """Count one scam warning to a follower in `month` (YYYY-MM); False if `quota` warnings
    reached them that month already (or they unfollowed). One conditional write, so
    concurrent senders never exceed the quota."""
    same = col(ZaloChat.warnings_month) == month
    result = await session.execute(
        update(ZaloChat)
        .where(
            col(ZaloChat.external_id) == external_id,
            col(ZaloChat.following).is_(True),
            or_(~same, col(ZaloChat.warnings_month).is_(None), col(ZaloChat.warnings_sent) < quota),
        )
        .values(
            warnings_sent=case((same, col(ZaloChat.warnings_sent) + 1), else_=1),
            warnings_month=month,
        )
        .returning(col(ZaloChat.external_id))
    )
    return result.first() is not None
