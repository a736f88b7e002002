"""The retention job: once a day across all processes, and `tinbao purge` on demand.

What is purged is decided in `storage.retention`; this module runs it in one transaction,
records an audit event with the counts when something was done, deletes the files once the
transaction committed, and logs the counts (never any content).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import evidence
from handlers.i18n import VIETNAM
from handlers.services import Services
from storage import audit, retention
from storage import reports as report_store

log = logging.getLogger(__name__)


async def purge(
    services: Services, *, dry_run: bool = False, who: audit.Actor = audit.SYSTEM
) -> dict[str, int]:
    """Purge what the retention rule says is due now; returns the counts (with `dry_run`,
    what would be purged, and nothing changes)."""
    settings = services.settings
    now = services.clock()
    async with services.db.session() as session:
        todo = await retention.plan(session, now, settings.retention_days, settings.draft_days)
        if dry_run:
            return todo.counts()
        files = await retention.apply(session, todo, now)
        _record(session, todo, who, now)
    return _finish(settings.evidence_dir, todo, files)


async def daily(services: Services) -> dict[str, int] | None:
    """The day's purge, done by whichever process's timers get there first (the once-mark is
    taken in the purge's own transaction, so a run that fails is tried again)."""
    settings = services.settings
    now = services.clock()
    day = now.astimezone(VIETNAM).date().isoformat()
    async with services.db.session() as session:
        if not await report_store.take_once(session, f"retention:{day}", now):
            return None
        todo = await retention.plan(session, now, settings.retention_days, settings.draft_days)
        files = await retention.apply(session, todo, now)
        _record(session, todo, audit.SYSTEM, now)
    return _finish(settings.evidence_dir, todo, files)


def _record(session: AsyncSession, todo: retention.Plan, who: audit.Actor, now: datetime) -> None:
    if todo.empty:
        return
    audit.record(session, who, "retention.purged", "retention", None, now, todo.counts())


def _finish(evidence_dir: Path, todo: retention.Plan, files: list[str]) -> dict[str, int]:
    evidence.remove(evidence_dir, files)
    counts = todo.counts()
    if not todo.empty:
        log.info(
            "retention: %d reports purged, %d files deleted, %d drafts deleted, "
            "%d inbox updates and %d update ids forgotten",
            counts["reports"],
            counts["files"],
            counts["drafts"],
            counts["inbox"],
            counts["update_ids"],
        )
    return counts
