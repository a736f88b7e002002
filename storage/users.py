"""Users: looked up by channel and external id, created when they consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Ban, Dialogue, PendingInput, User

# Run for nearly every update: built once, with bind parameters (building a statement and its
# cache key cost more CPU than running it).
_GET_USER = (
    select(User, Dialogue, PendingInput, Ban)
    .outerjoin(Dialogue, col(Dialogue.user_id) == User.id)
    .outerjoin(PendingInput, col(PendingInput.user_id) == User.id)
    .outerjoin(Ban, and_(col(Ban.user_id) == User.id, col(Ban.lifted_at).is_(None)))
    .where(
        col(User.channel) == bindparam("p_channel"),
        col(User.external_id) == bindparam("p_external_id"),
    )
)


async def get_user(session: AsyncSession, channel: str, external_id: str) -> User | None:
    """The user with this channel id, or None if they never consented.

    Their dialogue, any typed input they owe (an answer to an officer's question, an officer's
    note) and their ban in force come in the same query and stay in the session
    (`session.info`), so the conversation needs no query of its own for them: one round trip
    less on every answer.
    """
    result = await session.execute(_GET_USER, {"p_channel": channel, "p_external_id": external_id})
    row = result.first()
    if row is None:
        return None
    user, dialogue, pending, ban = row
    # The identity map holds objects weakly: keep them alive for this transaction.
    if dialogue is not None:
        session.info["dialogue"] = dialogue
    session.info["pending"] = pending
    session.info["ban"] = ban
    return user


async def record_consent(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    language: str,
    version: str,
    at: datetime,
) -> User:
    """Create the user (or update an existing one) with the consent given now."""
    user = await get_user(session, channel, external_id)
    if user is None:
        user = User(channel=channel, external_id=external_id, created_at=at)
        session.add(user)
    user.language = language
    user.consent_at = at
    user.consent_version = version
    await session.flush()
    return user


async def set_language(session: AsyncSession, user: User, language: str) -> None:
    """Remember the user's language."""
    user.language = language
    session.add(user)
    await session.flush()
