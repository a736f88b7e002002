"""Figures for `/thongke` and `tinbao stats`: reports, money lost, subscribers, warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import broadcasts
from storage.models import Report

# Reports whose amounts count as money reported lost (spam and rejected reports do not).
LOSS_STATUSES = ("new", "in_review", "needs_info", "verified", "forwarded", "closed")


@dataclass(frozen=True)
class Period:
    """Reports submitted in the last `days` days."""

    days: int
    reports: int
    by_status: dict[str, int]
    by_category: dict[str, int]
    money_lost_vnd: int
    with_loss: int  # reports that said how much was lost


@dataclass(frozen=True)
class Warning:
    """One broadcast as the statistics show it."""

    id: int
    status: str
    audience: str
    started_at: datetime | None
    finished_at: datetime | None
    total: int
    sent: int
    blocked: int
    failed: int


@dataclass(frozen=True)
class Figures:
    """Everything `/thongke` shows."""

    at: datetime
    periods: list[Period]
    subscribers: dict[str, int]
    warnings: list[Warning] = field(default_factory=list)


async def _period(session: AsyncSession, now: datetime, days: int) -> Period:
    since = now - timedelta(days=days)
    submitted = [col(Report.submitted_at) >= since, col(Report.status) != "draft"]
    statuses = await session.execute(
        select(col(Report.status), func.count()).where(*submitted).group_by(col(Report.status))
    )
    category = func.coalesce(col(Report.category), "other")
    categories = await session.execute(
        select(category, func.count()).where(*submitted).group_by(category)
    )
    money = await session.execute(
        select(func.coalesce(func.sum(col(Report.amount_lost_vnd)), 0), func.count()).where(
            *submitted,
            col(Report.status).in_(LOSS_STATUSES),
            col(Report.amount_lost_vnd) > 0,
        )
    )
    by_status = {str(s): int(n) for s, n in statuses.all()}
    total, with_loss = money.one()
    return Period(
        days=days,
        reports=sum(by_status.values()),
        by_status=by_status,
        by_category={str(c): int(n) for c, n in categories.all()},
        money_lost_vnd=int(total or 0),
        with_loss=int(with_loss),
    )


async def figures(session: AsyncSession, now: datetime, recent: int = 5) -> Figures:
    """The figures as they stand at `now`, for the last 7 and 30 days."""
    periods = [await _period(session, now, days) for days in (7, 30)]
    warnings: list[Warning] = []
    for item in await broadcasts.recent(session, recent):
        assert item.id is not None
        sent, blocked, failed = item.sent, item.blocked, item.failed + item.unknown
        if item.status in ("sending", "paused"):
            live = await broadcasts.counts(session, item.id)
            sent, blocked = live.get("sent", 0), live.get("blocked", 0)
            failed = live.get("failed", 0) + live.get("unknown", 0)
        warnings.append(
            Warning(
                item.id,
                item.status,
                item.audience,
                item.started_at,
                item.finished_at,
                item.total,
                sent,
                blocked,
                failed,
            )
        )
    return Figures(now, periods, await broadcasts.subscribers(session), warnings)
