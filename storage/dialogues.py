"""Dialogues: where each user is in a flow, committed after every answered step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Dialogue


class StaleDialogue(Exception):
    """Another process or task changed the dialogue since it was read."""


async def load_dialogue(session: AsyncSession, user_id: int, now: datetime) -> Dialogue | None:
    """The user's dialogue, or None if there is none or it expired."""
    result = await session.execute(select(Dialogue).where(Dialogue.user_id == user_id))
    dialogue = result.scalar_one_or_none()
    if dialogue is None or dialogue.expires_at <= now:
        return None
    return dialogue


async def start_dialogue(
    session: AsyncSession,
    user_id: int,
    *,
    flow: str,
    step: str,
    data: dict[str, Any],
    now: datetime,
    lifetime: timedelta,
) -> Dialogue:
    """Start a new dialogue for the user, replacing any earlier one."""
    await session.execute(delete(Dialogue).where(col(Dialogue.user_id) == user_id))
    dialogue = Dialogue(
        user_id=user_id,
        flow=flow,
        step=step,
        data=data,
        version=1,
        created_at=now,
        updated_at=now,
        expires_at=now + lifetime,
    )
    session.add(dialogue)
    await session.flush()
    return dialogue


async def save_dialogue(
    session: AsyncSession,
    dialogue: Dialogue,
    *,
    step: str,
    data: dict[str, Any],
    now: datetime,
    lifetime: timedelta,
) -> None:
    """Store the next step, only if nobody else moved the dialogue on meanwhile.

    The version check makes a lost update impossible even with several bot processes: the
    second writer gets `StaleDialogue` instead of silently overwriting the first one's answer.
    """
    result = await session.execute(
        update(Dialogue)
        .where(col(Dialogue.user_id) == dialogue.user_id, col(Dialogue.version) == dialogue.version)
        .values(
            step=step,
            data=data,
            version=dialogue.version + 1,
            updated_at=now,
            expires_at=now + lifetime,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleDialogue(dialogue.user_id)
    dialogue.step = step
    dialogue.data = data
    dialogue.version += 1
    dialogue.updated_at = now
    dialogue.expires_at = now + lifetime


async def end_dialogue(session: AsyncSession, user_id: int) -> None:
    """Forget the user's dialogue (finished or cancelled)."""
    await session.execute(delete(Dialogue).where(col(Dialogue.user_id) == user_id))
