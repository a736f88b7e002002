"""Processed update ids, so that a re-delivered update has one effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate
from storage.sql import insert


async def claim_update(session: AsyncSession, channel: str, update_id: int, now: datetime) -> bool:
    """Record the update as processed; False if it already was (a duplicate to ignore).

    One conditional insert, so two processes receiving the same update cannot both win.
    Telegram may restart update ids after a week of silence, so membership is what counts,
    not "greater than the last one".
    """
    statement = (
        insert(session, ProcessedUpdate)
        .values(channel=channel, update_id=update_id, processed_at=now)
        .on_conflict_do_nothing()
        .returning(ProcessedUpdate.update_id)
    )
    result = await session.execute(statement)
    return result.first() is not None
