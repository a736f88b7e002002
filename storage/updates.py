"""Processed update ids, so that a re-delivered update has one effect."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ProcessedUpdate
from storage.sql import DIALECTS, dialect_of, insert_for

# Run for every update: built once per dialect, with bind parameters (building a statement and
# its cache key cost more CPU than running it), on the table (no ORM object is involved).
_processed = ProcessedUpdate.__table__  # type: ignore[attr-defined]
_CLAIM = {
    dialect: insert_for(dialect, _processed)
    .values(
        channel=bindparam("p_channel", type_=_processed.c.channel.type),
        update_id=bindparam("p_update_id", type_=_processed.c.update_id.type),
        processed_at=bindparam("p_now", type_=_processed.c.processed_at.type),
    )
    .on_conflict_do_nothing()
    .returning(_processed.c.update_id)
    for dialect in DIALECTS
}


async def claim_update(session: AsyncSession, channel: str, update_id: int, now: datetime) -> bool:
    """Record the update as processed; False if it already was (a duplicate to ignore).

    One conditional insert, so two processes receiving the same update cannot both win.
    Telegram may restart update ids after a week of silence, so membership is what counts,
    not "greater than the last one".
    """
    result = await session.execute(
        _CLAIM[dialect_of(session)],
        {"p_channel": channel, "p_update_id": update_id, "p_now": now},
    )
    return result.first() is not None
