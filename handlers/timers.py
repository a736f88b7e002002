"""The review queue's timers: overdue reports, expired claims, the daily summary, retries,
and the daily retention purge (handlers/retention.py).

Their state lives in the database (the report's `queued_at`, `escalated_at`, `last_action_at`,
`announced_at`; a notice's `notified_at`; one `oncemark` row per daily summary), and each is
taken by one conditional write. So a restart loses none of them, and with several bot
processes each fires exactly once, in whichever process gets there first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import cards, followup, retention
from handlers.core import Button, Inbound, Outbound, Outbox
from handlers.delivery import deliver
from handlers.i18n import DEFAULT_LANGUAGE, N_, VIETNAM, Translator, translator
from handlers.services import Services
from storage import queue
from storage import reports as report_store
from storage.models import Report, User

log = logging.getLogger(__name__)

# How long the fast path (right after a commit) has to deliver before the timers retry.
GRACE = timedelta(minutes=2)
BACK_IN_QUEUE = N_("↩ Back in the queue: the claim expired without action")


async def tick(services: Services, outbox: Outbox, channel: str) -> int:
    """Run every timer that is due once; returns how many messages it sent."""
    settings = services.settings
    now = services.clock()
    replies: list[Outbound] = []
    async with services.db.session() as session:
        expired = await queue.expire_claims(
            session, now, timedelta(hours=settings.claim_timeout_hours)
        )
        for report_id, former in expired:
            report = await session.get(Report, report_id)
            if report is None:
                continue
            await queue.add_event(
                session,
                report_id,
                actor_id=None,
                action="expired",
                from_status="in_review",
                to_status="new",
                now=now,
            )
            replies += await cards.card_updates(session, settings, report, now)
            replies += await cards.new_cards(
                session, settings, channel, report, now, heading=BACK_IN_QUEUE
            )
            officer = await session.get(User, former) if former else None
            if officer is not None and officer.channel == channel:
                t = translator(officer.language or DEFAULT_LANGUAGE)
                replies.append(
                    Outbound(
                        t._(
                            "⌛ Your claim on {code} expired after {hours} hours without "
                            "action; it is back in the queue."
                        ).format(code=report.code, hours=f"{settings.claim_timeout_hours:g}"),
                        to=officer.external_id,
                    )
                )
        overdue = await queue.escalate(
            session, now, timedelta(minutes=settings.escalate_after_minutes)
        )
        for report_id in overdue:
            report = await session.get(Report, report_id)
            if report is not None:
                replies += await cards.new_cards(
                    session, settings, channel, report, now, overdue=True
                )
        for report_id in await queue.take_unannounced(session, now, GRACE):
            report = await session.get(Report, report_id)
            if report is not None:
                replies += await cards.new_cards(session, settings, channel, report, now)
        unsent = await queue.take_unsent_notices(session, channel, now, GRACE)
        replies += await followup.notices(session, unsent, channel)
        replies += await _daily_summary(services, session, channel)
    inbound = Inbound(channel=channel, user_id="", chat_id="")
    await deliver(services, outbox, inbound, replies, retry=False)
    try:
        await retention.daily(services)
    except Exception:
        # Its own transaction rolled back with the day's mark: the next tick tries again,
        # and the timers above and after it (the officers' menus) keep running meanwhile.
        log.exception("the daily retention purge failed; trying again at the next tick")
    return len(replies)


async def _daily_summary(services: Services, session: AsyncSession, channel: str) -> list[Outbound]:
    settings = services.settings
    hour = settings.daily_summary_hour
    now = services.clock()
    local = now.astimezone(VIETNAM)
    if hour < 0 or local.hour < hour:
        return []
    chats = await cards.officer_chats(session, settings, channel)
    if not chats or not await report_store.take_once(
        session, f"summary:{channel}:{local.date().isoformat()}", now
    ):
        return []
    figures = await queue.day_figures(
        session,
        now - timedelta(hours=24),
        now,
        timedelta(minutes=settings.escalate_after_minutes),
    )
    languages = await cards.chat_translators(session, chats)
    out = []
    for chat in chats:
        out.append(_summary(languages[chat], figures, now, chat))
    return out


def _summary(t: Translator, figures: queue.DayFigures, now: datetime, chat: str) -> Outbound:
    text = t._(
        "In the last 24 hours: {new} new reports, {claimed} claimed, {closed} closed.\n"
        "Waiting for an officer: {waiting}, of which {overdue} overdue.\n"
        "Open in all: {open}."
    ).format(
        new=figures.new,
        claimed=figures.claimed,
        closed=figures.closed,
        waiting=figures.waiting,
        overdue=figures.overdue,
        open=figures.open,
    )
    title = t._("📊 Daily summary, {day}").format(day=t.day(now))
    return Outbound(text, [[Button(t._("📋 Queue"), "o:queue")]], to=chat, title=title)


async def run_forever(services: Services, once: Callable[[], Awaitable[object]]) -> None:
    """Run `once` (the channel's timers: `tick` and what the channel adds) every
    `TINBAO_TIMER_SECONDS` until cancelled."""
    while True:
        try:
            await once()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the review queue's timers failed; trying again later")
        await asyncio.sleep(services.settings.timer_seconds)
