"""`/thongke` and `tinbao stats`: the figures written out for staff, or as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.cards import STATUS_NAMES
from handlers.core import Outbound
from handlers.i18n import Translator
from handlers.texts import CATEGORIES, category_label
from handlers.warnings import AUDIENCE_NAMES
from handlers.warnings import STATUS_NAMES as WARNING_STATUS
from storage import stats
from storage.stats import Figures


async def message(session: AsyncSession, t: Translator, now: datetime) -> Outbound:
    """The statistics as a chat message."""
    return Outbound(text(t, await stats.figures(session, now)), title=t._("📊 Statistics"))


def text(t: Translator, figures: Figures) -> str:
    """The statistics in plain text: the last 7 and 30 days, subscribers, recent warnings."""
    lines: list[str] = []
    for period in figures.periods:
        lines.append(
            t.ngettext(
                "Last {days} day: {n} reports",
                "Last {days} days: {n} reports",
                period.days,
            ).format(days=period.days, n=t.number(period.reports))
        )
        for status in STATUS_NAMES:
            if period.by_status.get(status):
                lines.append(
                    f"  • {t._(STATUS_NAMES[status])}: {t.number(period.by_status[status])}"
                )
        if period.by_category:
            lines.append("  " + t._("By kind of scam:"))
            ordered = sorted(period.by_category.items(), key=lambda item: (-item[1], item[0]))
            for category, n in ordered:
                label = category_label(t, category if category in CATEGORIES else "other")
                lines.append(f"    – {label}: {t.number(n)}")
        lines.append(
            "  "
            + t.ngettext(
                "Money reported lost: {money} (in {n} report)",
                "Money reported lost: {money} (in {n} reports)",
                period.with_loss,
            ).format(money=t.money(period.money_lost_vnd), n=t.number(period.with_loss))
        )
        lines.append("")
    total = sum(figures.subscribers.values())
    parts = ", ".join(
        f"{language}: {t.number(n)}" for language, n in sorted(figures.subscribers.items())
    )
    lines.append(
        t._("Receiving scam warnings: {n}").format(n=t.number(total))
        + (f" ({parts})" if parts else "")
    )
    if figures.warnings:
        lines.append(t._("Recent warnings:"))
        for item in figures.warnings:
            started = t.when(item.started_at) if item.started_at else "–"
            lines.append(
                t._(
                    "  #{id} {started} – {status}, {audience}: sent {sent} of {total}, "
                    "blocked {blocked}, failed {failed}"
                ).format(
                    id=item.id,
                    started=started,
                    status=t._(WARNING_STATUS.get(item.status, item.status)),
                    audience=t._(AUDIENCE_NAMES.get(item.audience, item.audience)),
                    sent=t.number(item.sent),
                    total=t.number(item.total),
                    blocked=t.number(item.blocked),
                    failed=t.number(item.failed),
                )
            )
    else:
        lines.append(t._("No warning has been sent yet."))
    return "\n".join(lines).strip()


def as_json(figures: Figures) -> dict[str, Any]:
    """The statistics for machines (`tinbao stats --json`)."""
    return {
        "at": figures.at.isoformat(),
        "periods": [
            {
                "days": p.days,
                "reports": p.reports,
                "by_status": p.by_status,
                "by_category": p.by_category,
                "money_lost_vnd": p.money_lost_vnd,
                "reports_with_loss": p.with_loss,
            }
            for p in figures.periods
        ],
        "subscribers": figures.subscribers,
        "warnings": [
            {
                "id": w.id,
                "status": w.status,
                "audience": w.audience,
                "started_at": w.started_at.isoformat() if w.started_at else None,
                "finished_at": w.finished_at.isoformat() if w.finished_at else None,
                "total": w.total,
                "sent": w.sent,
                "blocked": w.blocked,
                "failed": w.failed,
            }
            for w in figures.warnings
        ],
    }
