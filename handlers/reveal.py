"""Revealing who made a report: admins only, in their private chat, with a reason, audited.

Officers work with the reporter's handle (`storage.identity`); when a case truly needs the
person (a call back, a statement), an admin types `/danhtinh TB-2611-0001 <reason>` (`/reveal`).
Without a reason of a few words the bot asks for one and waits for it; an officer who is not an
admin is refused. Every reveal is an `identity.revealed` audit event carrying the case code and
the admin's reason (their words, not the resident's data), whatever it found. An anonymous
reporter stays anonymous: the resident was promised that, so nothing is shown.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers import officer
from handlers.cards import CHANNEL_NAMES
from handlers.context import Ctx
from handlers.core import Button, Outbound
from handlers.intake import format_phone
from handlers.names import safe_name
from storage import audit, identity, queue
from storage.models import PendingInput, Report, User

log = logging.getLogger(__name__)

MIN_REASON_WORDS = 3
MIN_REASON_CHARS = 10
INPUT_MINUTES = 30


def reason_ok(reason: str) -> bool:
    """Whether a reason says something: a few words, not a letter or two."""
    words = reason.split()
    return len(words) >= MIN_REASON_WORDS and len(reason.strip()) >= MIN_REASON_CHARS


async def _admin(ctx: Ctx) -> User | list[Outbound]:
    """The acting admin's row, or the polite refusal to send."""
    if not officer.is_staff(ctx):
        return officer.refusal(ctx, f"/{ctx.inbound.command or 'reveal'}")
    if officer.role(ctx) != "admin":
        log.warning(
            "refused a reveal from %s user %s (not an admin)",
            ctx.inbound.channel,
            ctx.inbound.user_id,
        )
        text = ctx.t._(
            "Sorry, only an admin can reveal who made a report. To reach the reporter, ask "
            "them through the bot with /hoi, or ask your admin."
        )
        return [Outbound(text, to=_private(ctx))]
    return await officer.me(ctx)


def _private(ctx: Ctx) -> str | None:
    return None if ctx.inbound.chat_type == "private" else ctx.inbound.user_id


async def command(ctx: Ctx) -> list[Outbound]:
    """`/danhtinh <case code> <reason>` (`/reveal`)."""
    t = ctx.t
    admin = await _admin(ctx)
    if isinstance(admin, list):
        return admin
    if ctx.inbound.chat_type != "private":
        # The group sees nothing; the admin is told privately where to ask.
        return [
            Outbound(
                t._(
                    "A reporter's identity is shown only in our private chat. Please send "
                    "/danhtinh there."
                ),
                to=ctx.inbound.user_id,
            )
        ]
    args = ctx.inbound.args.strip()
    code = officer.CODE.search(args)
    if code is None:
        return [
            Outbound(
                t._(
                    "Send the case code and why you need to know who reported it, for example: "
                    "/danhtinh TB-2611-0001 the victim asked to be called back"
                )
            )
        ]
    report = await queue.by_code(ctx.session, code.group(0))
    if report is None or report.status == "draft":
        return [Outbound(t._("No report has the code {code}.").format(code=code.group(0)))]
    reason = (args[: code.start()] + args[code.end() :]).strip()
    if not reason_ok(reason):
        return await _ask_reason(ctx, admin, report, again=bool(reason))
    return await _reveal(ctx, report, reason)


async def on_input(ctx: Ctx, pending: PendingInput, text: str) -> list[Outbound]:
    """The reason an admin typed after being asked for it."""
    t = ctx.t
    admin = await _admin(ctx)
    if isinstance(admin, list):
        return admin
    report = await ctx.session.get(Report, pending.report_id)
    assert admin.id is not None
    if report is None:
        await queue.clear_pending(ctx.session, admin.id)
        return [Outbound(t._("That report no longer exists."))]
    if not reason_ok(text):
        return await _ask_reason(ctx, admin, report, again=True)
    await queue.clear_pending(ctx.session, admin.id)
    return await _reveal(ctx, report, text.strip())


async def _ask_reason(ctx: Ctx, admin: User, report: Report, *, again: bool) -> list[Outbound]:
    t = ctx.t
    assert admin.id is not None and report.id is not None
    await queue.set_pending(
        ctx.session,
        admin.id,
        "reveal",
        report.id,
        expires_at=ctx.now + timedelta(minutes=INPUT_MINUTES),
    )
    if again:
        text = t._(
            "Please give the reason in a few more words, so the record shows why {code}'s "
            "reporter was revealed. Type it here."
        )
    else:
        text = t._(
            "Why do you need to know who reported {code}? Please type the reason in a few "
            "words. It is kept in the audit log with your name."
        )
    return [Outbound(text.format(code=report.code), [[Button(t._("✖ Cancel"), "o:x")]])]


async def _reveal(ctx: Ctx, report: Report, reason: str) -> list[Outbound]:
    t = ctx.t
    assert report.id is not None
    found = await identity.reveal(ctx.session, report)
    audit.record(
        ctx.session,
        officer.actor(ctx),
        "identity.revealed",
        "report",
        report.id,
        ctx.now,
        {"code": report.code, "reason": reason[: audit.MAX_STRING], "result": found.state},
    )
    title = t._("🔓 Reporter of {code}").format(code=report.code)
    if found.state == "anonymous":
        text = t._(
            "The reporter chose to stay anonymous, so their identity is not revealed. Officers "
            "can still ask them questions through the bot."
        )
        return [Outbound(text, title=title)]
    if found.state == "erased":
        text = t._(
            "The reporter's identity was deleted at their request: there is nothing to show."
        )
        return [Outbound(text, title=title)]
    app = CHANNEL_NAMES.get(found.channel or "", found.channel or "")
    if found.phone:
        phone = format_phone(found.phone)
    elif report.contact_allowed:
        phone = t._("none given (they may be contacted through the bot)")
    else:
        phone = t._("none (they did not agree to be contacted)")
    lines = [
        t._("App: {app}").format(app=app),
        t._("User id: {id}").format(id=found.external_id),
        t._("Name: {name}").format(name=safe_name(found.name) or t._("not kept")),
        t._("Contact phone: {phone}").format(phone=phone),
        t._("Handle: {handle}").format(handle=found.handle),
        "",
        t._(
            "This reveal is recorded in the audit log with your reason. Use it only for this "
            "case and do not pass it on."
        ),
    ]
    return [Outbound("\n".join(lines), title=title)]
