"""Closing the loop with the reporter: status notices, and officers' questions and their answers.

The reporter hears, in their own language, when their report is taken into review, verified,
forwarded, closed or rejected. An officer's question reaches them through the bot; whatever
they send back (text or files) is attached to the report and relayed to the officer. The
officer's identity is never shown to the resident.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers import cards
from handlers.context import Ctx
from handlers.core import Button, Outbound, OutFile
from handlers.i18n import DEFAULT_LANGUAGE, N_, Translator, translator
from handlers.intake import PreparedFile, keep_evidence
from handlers.names import safe_name
from storage import queue
from storage.models import PendingInput, Report, ReportEvent, User

# How long a question waits for its answer, and how long after an answer more messages still
# count as part of it (a resident often sends the text, then the screenshots).
QUESTION_DAYS = 14
ANSWER_WINDOW = timedelta(minutes=30)

STATUS_NOTICES: dict[str, str] = {
    "in_review": N_("👮 A police officer has started reviewing your report {code}."),
    "verified": N_(
        "✅ Your report {code} has been verified by the police. Thank you: it helps warn others "
        "and trace the scammers."
    ),
    "forwarded": N_(
        "📤 Your report {code} has been forwarded to investigators. If you agreed to be "
        "contacted, they may get in touch with you."
    ),
    "closed": N_("🏁 Your report {code} is now closed. Thank you for reporting it."),
    "rejected": N_("Your report {code} will not be taken further.\nReason: {reason}"),
    "spam": N_("Your report {code} will not be taken further.\nReason: {reason}"),
}
REOPENED = N_("🔄 Your report {code} has been reopened and is being reviewed again.")


def notice_text(t: Translator, event: ReportEvent, code: str) -> str | None:
    """What the reporter is told about an event, or None if it is not for them."""
    if event.action == "question":
        return t._(
            "👮 About your report {code}, the police officer asks:\n«{question}»\n\n"
            "Please reply here with a message, or send photos or screenshots."
        ).format(code=code, question=event.note or "")
    if event.action == "reopened":
        return t._(REOPENED).format(code=code)
    template = STATUS_NOTICES.get(event.to_status or "")
    if template is None:
        return None
    reason = t._(event.note) if event.note else t._(cards.SPAM_REASON)
    text = t._(template).format(code=code, reason=reason)
    if event.to_status in ("rejected", "spam"):
        text += "\n\n" + t._(
            "If you have new information, you can send a new report with /baocao at any time."
        )
    return text


async def notices(
    session: AsyncSession,
    events: list[ReportEvent],
    channel: str,
    others: Collection[str] = (),
) -> list[Outbound]:
    """The messages telling reporters about `events`: those on `channel`, and those on the
    `others` channels this process also runs (each such message names its channel).

    Reporters on any other channel are told by that channel's process (its timer finds them).
    """
    out = []
    for event in events:
        if not event.notify or event.id is None:
            continue
        report = await session.get(Report, event.report_id)
        reporter = (
            await session.get(User, report.reporter_id) if report and report.reporter_id else None
        )
        if report is None or reporter is None:
            continue
        if reporter.channel != channel and reporter.channel not in others:
            continue
        t = translator(reporter.language or DEFAULT_LANGUAGE)
        text = notice_text(t, event, report.code or "")
        if text is None:
            continue
        buttons = []
        if event.action == "question":
            buttons = [[Button(t._("✍️ Answer"), f"ans:{report.id}")]]
        out.append(
            Outbound(
                text,
                buttons,
                to=reporter.external_id,
                receipt=("notice", event.id),
                channel=reporter.channel if reporter.channel != channel else None,
            )
        )
    return out


async def ask(
    session: AsyncSession, report: Report, officer: User, question: str, now: datetime
) -> ReportEvent | None:
    """Record an officer's question and wait for the reporter's answer (None: no reporter)."""
    assert report.id is not None and officer.id is not None
    if report.reporter_id is None:
        return None
    seen = report.status
    to = "needs_info" if seen == "in_review" else None
    if to is None or not await queue.move(session, report.id, seen=seen, to=to, now=now):
        to = None  # already waiting for the reporter, or changed meanwhile: no transition
        await queue.touch(session, report.id, now)
    event = await queue.add_event(
        session,
        report.id,
        actor_id=officer.id,
        action="question",
        from_status=seen if to else None,
        to_status=to,
        note=question,
        now=now,
        notify=True,
    )
    await queue.set_pending(
        session,
        report.reporter_id,
        "answer",
        report.id,
        asker_id=officer.id,
        expires_at=now + timedelta(days=QUESTION_DAYS),
    )
    return event


def wants_answer(pending: PendingInput | None, in_report: bool) -> bool:
    """Whether a resident's message answers an officer's question.

    It does when they pressed "Answer", or when no report of theirs is in progress (then the
    question is the only thing the message can be about).
    """
    return pending is not None and pending.action == "answer" and (pending.armed or not in_report)


async def arm(ctx: Ctx, report_id: int) -> list[Outbound]:
    """The resident pressed "Answer": their next message is the answer to that report's question.

    The pending row holds the latest question; a resident asked about two reports may answer
    the earlier one, whose question is then found again in the report's events.
    """
    t = ctx.t
    assert ctx.user is not None and ctx.user.id is not None
    pending = await queue.get_pending(ctx.session, ctx.user.id, ctx.now)
    if pending is not None and pending.action == "answer" and pending.report_id == report_id:
        asker_id, expires_at = pending.asker_id, pending.expires_at
    else:
        report = await ctx.session.get(Report, report_id)
        question = await queue.last_question(ctx.session, report_id) if report else None
        if (
            report is None
            or report.reporter_id != ctx.user.id
            or report.status not in queue.OPEN
            or question is None
            or question.created_at + timedelta(days=QUESTION_DAYS) <= ctx.now
        ):
            return [
                Outbound(t._("There is no open question about this report any more. Thank you."))
            ]
        asker_id, expires_at = (
            question.actor_id,
            question.created_at + timedelta(days=QUESTION_DAYS),
        )
    await queue.set_pending(
        ctx.session,
        ctx.user.id,
        "answer",
        report_id,
        asker_id=asker_id,
        armed=True,
        expires_at=expires_at,
    )
    return [Outbound(t._("Please type your answer now, or send photos or screenshots."))]


async def answer(
    ctx: Ctx, pending: PendingInput, text: str | None, prepared: list[PreparedFile]
) -> list[Outbound]:
    """Attach the resident's answer to the report and relay it to the officer who asked."""
    t = ctx.t
    session = ctx.session
    assert ctx.user is not None and ctx.user.id is not None
    report = await session.get(Report, pending.report_id)
    if report is None or report.id is None:
        await queue.clear_pending(session, ctx.user.id)
        return [Outbound(t._("There is no open question about this report any more. Thank you."))]
    kept = await keep_evidence(ctx, report.id, prepared, text)
    replies = kept.replies
    attached = kept.files
    if not text and not attached:
        return replies or [Outbound(t._("Please type your answer, or send photos or screenshots."))]
    seen = report.status
    back = "in_review" if seen == "needs_info" else None
    if back is not None and not await queue.move(
        session, report.id, seen=seen, to=back, now=ctx.now
    ):
        back = None  # changed meanwhile: the answer is kept, with no transition
    note = text
    if attached:
        # Officers read this note in their own language, so the file count is a symbol, not words.
        files = f"📎 {len(attached)}"
        note = f"{text}\n{files}" if text else files
    await queue.add_event(
        session,
        report.id,
        actor_id=ctx.user.id,
        action="answer",
        from_status=seen if back else None,
        to_status=back,
        note=note,
        now=ctx.now,
    )
    await queue.set_pending(
        session,
        ctx.user.id,
        "answer",
        report.id,
        asker_id=pending.asker_id,
        expires_at=ctx.now + ANSWER_WINDOW,
    )
    await session.refresh(report)
    # The officer handling the report now, and the one who asked if that is someone else.
    ids = {i for i in (report.assignee_id, pending.asker_id) if i is not None}
    for officer in (await queue.users_by_id(session, ids)).values():
        elsewhere = officer.channel != ctx.inbound.channel
        if officer.role in queue.STAFF and (
            not elsewhere or officer.channel in ctx.services.outboxes
        ):
            their = translator(officer.language or DEFAULT_LANGUAGE)
            origin = ctx.inbound.forwarded.origin if ctx.inbound.forwarded else None
            for message in relay(their, report, officer, text, attached, origin):
                if elsewhere:
                    # The officer is on another channel: sent there, the files uploaded
                    # from the stored copies (a platform's file id means nothing elsewhere).
                    message.channel = officer.channel
                    if message.file is not None:
                        message.file = replace(message.file, file_id=None)
                replies.append(message)
    replies += await cards.card_updates(session, ctx.services.settings, report, ctx.now)
    replies.append(
        Outbound(
            t._(
                "Thank you. I have passed your answer about {code} on to the officer. If you want "
                "to add something, just send it in the next few minutes."
            ).format(code=report.code)
        )
    )
    return replies


def relay(
    t: Translator,
    report: Report,
    officer: User,
    text: str | None,
    files: list[OutFile],
    origin: str | None = None,
) -> list[Outbound]:
    """The reporter's answer, sent on to the officer (never with the reporter's identity).

    `origin`: who wrote it first, when the reporter forwarded someone else's message.
    """
    code = report.code or ""
    shown = safe_name(origin, 256)
    source = "\n" + t._("Forwarded from: {origin}").format(origin=shown) if shown else ""
    out = []
    if text:
        out.append(
            Outbound(
                t._("💬 The reporter of {code} answered:\n«{text}»").format(code=code, text=text)
                + source,
                [[Button(t._("📄 Details"), f"o:view:{report.id}")]],
                to=officer.external_id,
            )
        )
    for file in files:
        out.append(
            Outbound(
                t._("💬 {code}: a file from the reporter").format(code=code) + source,
                to=officer.external_id,
                file=replace(file, unreadable=cards.unreadable_file(t)),
            )
        )
    return out
