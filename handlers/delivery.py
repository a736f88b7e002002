"""Sending replies after their transaction committed, and recording what was delivered.

Cards and reporter notices carry a receipt: once sent, a card's message id is stored (so it
can be edited as the report changes) and a notice is marked sent; a broadcast's progress
message is remembered so the sender can edit it. What could not be delivered
is left for the timers to retry once (see `handlers.timers`).
"""

from __future__ import annotations

import logging
from datetime import datetime

from handlers.core import Inbound, Outbound, Outbox
from handlers.i18n import pick_language, translator
from handlers.names import safe_name
from handlers.services import Services
from storage import broadcasts, queue

log = logging.getLogger(__name__)


async def deliver(
    services: Services,
    outbox: Outbox,
    inbound: Inbound,
    replies: list[Outbound],
    *,
    retry: bool = True,
) -> None:
    """Send `replies` in order; one failure never stops the others.

    With `retry`, a card or notice that failed is marked unsent so the timers try it again;
    without (the timers' own second try), it stays marked and is only logged.
    """
    cards: dict[int, list[tuple[str, str, str]]] = {}
    notices: dict[int, bool] = {}
    progress: dict[int, str] = {}
    unreachable = False
    # A pop-up answers the button press: first, so the officer is not kept waiting while cards
    # are edited and files uploaded (Telegram also refuses an answer that comes too late).
    for reply in sorted(replies, key=lambda reply: not reply.toast):
        target: Outbox | None = outbox
        if reply.channel is not None and reply.channel != inbound.channel:
            # Someone on another channel: through that channel, if it runs in this process
            # (if not, the message is left unsent for that channel's own timers).
            target = services.outboxes.get(reply.channel)
        try:
            sent = await target.send(inbound, reply) if target is not None else None
        except Exception:
            log.exception("sending a message failed")
            sent = None
        if sent is not None and inbound.update_id is not None:
            # Which update each message answers: how a reply sent twice would be traced.
            log.debug("update %s: message %s sent", inbound.update_id, sent)
        if sent is None and _private_from_group(inbound, reply) and not unreachable:
            # Telegram lets a bot write to someone only after they opened a chat with it.
            unreachable = True
            await _say_unreachable(outbox, inbound)
        if reply.receipt is None:
            continue
        kind, row_id = reply.receipt
        if kind == "card":
            posted = cards.setdefault(row_id, [])
            if sent is not None:
                posted.append((reply.to or inbound.chat_id, sent, reply.channel or inbound.channel))
        elif kind == "notice":
            notices[row_id] = notices.get(row_id, False) or sent is not None
        elif kind == "progress" and sent is not None:
            progress[row_id] = sent
    if cards or notices or progress:
        await _record(services, cards, notices, progress, services.clock(), retry)


def _private_from_group(inbound: Inbound, reply: Outbound) -> bool:
    """An answer to a press or command in a group, sent to the officer's private chat."""
    return (
        inbound.chat_type != "private"
        and reply.to == inbound.user_id
        and not (reply.toast or reply.edit)
    )


async def _say_unreachable(outbox: Outbox, inbound: Inbound) -> None:
    t = translator(pick_language(None, inbound.language_hint))
    text = t._(
        "{name}, I cannot write to you privately yet. Please open a chat with me, press Start, "
        "and try again."
    ).format(name=safe_name(inbound.user_name) or t._("Officer"))
    try:
        await outbox.send(inbound, Outbound(text))
    except Exception:
        log.exception("sending a message failed")


async def _record(
    services: Services,
    cards: dict[int, list[tuple[str, str, str]]],
    notices: dict[int, bool],
    progress: dict[int, str],
    now: datetime,
    retry: bool,
) -> None:
    try:
        async with services.db.session() as session:
            for broadcast_id, message_id in progress.items():
                await broadcasts.set_progress_message(session, broadcast_id, message_id)
            for report_id, posted in cards.items():
                for chat_id, message_id, channel in posted:
                    await queue.add_card(session, report_id, chat_id, message_id, now, channel)
                if posted:
                    await queue.mark_announced(session, report_id, now)
                elif retry:
                    await queue.mark_announced(session, report_id, None)
                else:
                    log.error("the card of report %s could not be posted to any officer", report_id)
            for event_id, sent in notices.items():
                if sent:
                    await queue.mark_notified(session, event_id, now)
                elif retry:
                    await queue.mark_notified(session, event_id, None)
                else:
                    log.warning("the reporter could not be told of event %s", event_id)
    except Exception:
        log.exception("recording delivered cards and notices failed")
