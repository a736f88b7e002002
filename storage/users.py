"""Users: looked up by channel and external id, created when they consent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from storage.models import User


async def get_user(session: AsyncSession, channel: str, external_id: str) -> User | None:
    """The user with this channel id, or None if they never consented."""
    result = await session.execute(
        select(User).where(User.channel == channel, User.external_id == external_id)
    )
    return result.scalar_one_or_none()


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
