"""Users: looked up by channel and external id, created when they consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Dialogue, PendingInput, User


async def get_user(session: AsyncSession, channel: str, external_id: str) -> User | None:
    """The user with this channel id, or None if they never consented.

    Their dialogue, and any typed input they owe (an answer to an officer's question, an
    officer's note), come in the same query and stay in the session, so the conversation needs
    no query of its own for them: one round trip less on every answer.
    """
    result = await session.execute(
        select(User, Dialogue, PendingInput)
        .outerjoin(Dialogue, col(Dialogue.user_id) == User.id)
        .outerjoin(PendingInput, col(PendingInput.user_id) == User.id)
        .where(User.channel == channel, User.external_id == external_id)
    )
    row = result.first()
    if row is None:
        return None
    user, dialogue, pending = row
    # The identity map holds objects weakly: keep them alive for this transaction.
    if dialogue is not None:
        session.info["dialogue"] = dialogue
    session.info["pending"] = pending
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
