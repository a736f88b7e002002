"""Dialogues: where each user is in a flow, committed after every answered step."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from storage.models import Dialogue

_dialogue = Dialogue.__table__  # type: ignore[attr-defined]
# Saving a step is the write of nearly every answer: built once, with bind parameters
# (building a statement and its cache key cost more CPU than running it), on the table (the
# loaded object is updated below, by hand).
_SAVE = (
    update(_dialogue)
    .where(
        _dialogue.c.user_id == bindparam("p_user_id", type_=_dialogue.c.user_id.type),
        _dialogue.c.version == bindparam("p_version", type_=_dialogue.c.version.type),
    )
    .values(
        {
            name: bindparam(f"p_new_{name}", type_=_dialogue.c[name].type)
            for name in ("step", "data", "version", "updated_at", "expires_at")
        }
    )
)


class StaleDialogue(Exception):
    """Another process or task changed the dialogue since it was read."""


async def load_dialogue(session: AsyncSession, user_id: int, now: datetime) -> Dialogue | None:
    """The user's dialogue, or None if there is none or it expired.

    Read through the session's identity map, so asking twice in one transaction costs one query.
    """
    dialogue = await session.get(Dialogue, user_id)
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
    dialogue = await session.get(Dialogue, user_id)
    if dialogue is None:
        dialogue = Dialogue(user_id=user_id, flow=flow, step=step, version=0)
        session.add(dialogue)
    dialogue.flow = flow
    dialogue.step = step
    dialogue.data = data
    dialogue.version += 1
    dialogue.created_at = now
    dialogue.updated_at = now
    dialogue.expires_at = now + lifetime
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
    values = {
        "step": step,
        "data": data,
        "version": dialogue.version + 1,
        "updated_at": now,
        "expires_at": now + lifetime,
    }
    result = await session.execute(
        _SAVE,
        {"p_user_id": dialogue.user_id, "p_version": dialogue.version}
        | {f"p_new_{name}": value for name, value in values.items()},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleDialogue(dialogue.user_id)
    # Mirror the row in the loaded object without marking it dirty: a dirty object would be
    # flushed again at commit, a second UPDATE without the version check.
    for name, value in values.items():
        set_committed_value(dialogue, name, value)


async def end_dialogue(session: AsyncSession, user_id: int) -> None:
    """Forget the user's dialogue (finished or cancelled)."""
    dialogue = await session.get(Dialogue, user_id)
    if dialogue is not None:
        await session.delete(dialogue)
        await session.flush()
