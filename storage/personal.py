"""Everything stored about one person, gathered for them to see or take away (right of access).

One function builds a plain, JSON-ready structure; the chat summary and the exported file are
both made from it, so what the resident reads and what they download cannot drift apart.
Evidence files are listed (name, type, size, SHA-256), not included: the resident sent them and
still has them, and the hash lets anyone check a copy is the very file kept.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import identity
from storage.models import (
    Attachment,
    Dialogue,
    Indicator,
    PendingInput,
    Report,
    ReportEvent,
    ReportIndicator,
    Subscription,
    User,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def personal_data(session: AsyncSession, user: User) -> dict[str, Any]:
    """The person's account, warnings choice, reports (with their answers and files) and draft."""
    assert user.id is not None
    subscription = await session.get(Subscription, user.id)
    reports = (
        await session.execute(
            select(Report)
            .where(Report.reporter_id == user.id, Report.status != "draft")
            .order_by(col(Report.submitted_at), col(Report.id))
        )
    ).scalars()
    dialogue = await session.get(Dialogue, user.id)
    pending = await session.get(PendingInput, user.id)
    waiting = await session.get(Report, pending.report_id) if pending is not None else None
    return {
        "account": {
            "app": user.channel,
            "id": user.external_id,
            "name": user.display_name,
            "language": user.language,
            "role": user.role,
            "consent_at": _iso(user.consent_at),
            "consent_version": user.consent_version,
            "created_at": _iso(user.created_at),
        },
        "warnings": {
            "subscribed": bool(subscription and subscription.active),
            "changed_at": _iso(subscription.changed_at if subscription else None),
        },
        "reports": [await _report(session, report) for report in list(reports)],
        "draft": await _draft(session, dialogue),
        "question_waiting": (
            waiting.code
            if pending is not None and pending.action == "answer" and waiting is not None
            else None
        ),
    }


async def _report(session: AsyncSession, report: Report) -> dict[str, Any]:
    assert report.id is not None
    return {
        "code": report.code,
        "status": report.status,
        "category": report.category,
        "submitted_at": _iso(report.submitted_at),
        "occurred_at": _iso(report.occurred_at),
        "amount_lost_vnd": report.amount_lost_vnd,
        "description": report.description,
        "anonymous": report.anonymous,
        "contact_allowed": report.contact_allowed,
        "contact_phone": await identity.contact_for(session, report.id),
        "indicators": await _indicators(session, report.id),
        "messages": await _messages(session, report.id),
        "files": await _files(session, report.id),
    }


async def _indicators(session: AsyncSession, report_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Indicator.kind, Indicator.value, ReportIndicator.raw, ReportIndicator.holder)
        .join(ReportIndicator, col(ReportIndicator.indicator_id) == Indicator.id)
        .where(ReportIndicator.report_id == report_id)
        .order_by(col(Indicator.kind), col(Indicator.value))
    )
    return [
        {"kind": kind, "value": value, "as_written": raw, "holder": holder}
        for kind, value, raw, holder in rows
    ]


async def _messages(session: AsyncSession, report_id: int) -> list[dict[str, Any]]:
    """The officers' questions the resident received and the answers they gave (officers'
    internal notes are not theirs and are not shown)."""
    rows = await session.execute(
        select(ReportEvent)
        .where(
            ReportEvent.report_id == report_id,
            col(ReportEvent.action).in_(("question", "answer")),
        )
        .order_by(col(ReportEvent.created_at), col(ReportEvent.id))
    )
    return [
        {
            "from": "officer" if event.action == "question" else "you",
            "at": _iso(event.created_at),
            "text": event.note,
        }
        for event in rows.scalars()
    ]


async def _files(session: AsyncSession, report_id: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Attachment)
        .where(Attachment.report_id == report_id)
        .order_by(col(Attachment.received_at), col(Attachment.id))
    )
    return [
        {
            "name": item.original_name,
            "type": item.mime,
            "size": item.size,
            "sha256": item.sha256,
            "received_at": _iso(item.received_at),
        }
        for item in rows.scalars()
    ]


async def _draft(session: AsyncSession, dialogue: Dialogue | None) -> dict[str, Any] | None:
    """The unfinished report: the answers kept in the dialogue row, and its files so far."""
    if dialogue is None or dialogue.flow != "report":
        return None
    data = dialogue.data or {}
    report_id = data.get("report_id")
    files = await _files(session, report_id) if isinstance(report_id, int) else []
    indicators = data.get("indicators") or []
    return {
        "started_at": _iso(dialogue.created_at),
        "deleted_if_unfinished_at": _iso(dialogue.expires_at),
        "category": data.get("category"),
        "amount_lost_vnd": data.get("amount_vnd"),
        "occurred_at": data.get("occurred_at"),
        "description": data.get("description") or None,
        "contact_phone": data.get("contact_phone"),
        "indicators": [
            {"kind": i.get("kind"), "value": i.get("value")}
            for i in indicators
            if isinstance(i, dict)
        ],
        "files": files,
    }
