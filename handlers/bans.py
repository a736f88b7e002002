"""Banning: admins stop the bot from handling someone's messages, and lift it again.

`/cam <case code | user id>` (`/ban`) asks why, with one button per reason: the press is the
confirmation. `/bocam` (`/unban`) asks before lifting. `/cam` alone lists the bans in force.
Only admins may; nobody bans themselves, and officers and admins cannot be banned (their role
is taken away first). A ban by case code names the report's reporter without showing the
admin who they are, so an anonymous reporter stays anonymous.

A banned user's messages are not handled (`handlers.router`): once every `NOTICE_EVERY` they
are told, briefly and politely, that the bot cannot take their messages and where to turn if
it is urgent; otherwise they hear nothing, so a ban cannot be used to make the bot flood
anyone. Their unfinished report is never sent, and they receive no scam warnings.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from handlers import cards, officer
from handlers.context import Ctx
from handlers.core import Button, Outbound
from handlers.i18n import N_, Translator
from handlers.names import safe_name
from storage import audit, queue
from storage import bans as ban_store
from storage.models import Ban, User

log = logging.getLogger(__name__)

NOTICE_EVERY = timedelta(hours=24)
# Why a user is banned: the admin picks one (the CLI takes any text).
REASONS: dict[str, str] = {
    "flood": N_("Flooding the bot with messages"),
    "abuse": N_("Insults, threats or other abuse"),
    "false": N_("Deliberately false reports"),
    "other": N_("Other misuse of the bot"),
}
LIST_LIMIT = 20


def reason_text(t: Translator, reason: str) -> str:
    """A ban's reason as officers read it: a chosen reason translated, a typed one as written."""
    if reason in REASONS:
        return t._(REASONS[reason])
    return safe_name(reason, 200) or "–"


def who(t: Translator, via: str) -> str:
    """Whom a ban concerns, in the terms the admin named them."""
    if officer.CODE.fullmatch(via):
        return t._("the reporter of {code}").format(code=via)
    return t._("user {id}").format(id=via.partition(":")[2] or via)


def _handle(via: str) -> str:
    """What to type after /bocam to name the same person again."""
    return via if officer.CODE.fullmatch(via) else (via.partition(":")[2] or via)


def _private(ctx: Ctx) -> str | None:
    # Bans are an admin's business: answered in their private chat, never in the group.
    return None if ctx.inbound.chat_type == "private" else ctx.inbound.user_id


async def notice(ctx: Ctx, ban: Ban) -> list[Outbound]:
    """What a banned user hears: one short message now and then, silence otherwise."""
    if ctx.inbound.membership is not None or ban.id is None:
        return []
    if not await ban_store.take_notice(ctx.session, ban.id, ctx.now, NOTICE_EVERY):
        return []
    return [
        Outbound(
            ctx.t._(
                "Sorry, I can't take your messages at the moment. If it is urgent, call 113 or go "
                "to the nearest police station."
            )
        )
    ]


async def _admin(ctx: Ctx) -> User | list[Outbound]:
    """The acting admin's row, or the refusal to send."""
    if not officer.is_staff(ctx):
        return officer.refusal(ctx, f"/{ctx.inbound.command or 'ban'}")
    if officer.role(ctx) != "admin":
        text = ctx.t._("Only admins can ban users or lift bans.")
        if ctx.inbound.callback is not None:
            return [Outbound(text, toast=True)]
        return [Outbound(text, to=_private(ctx))]
    return await officer.me(ctx)


async def command(ctx: Ctx, action: str) -> list[Outbound]:
    """`/cam` (action "ban") or `/bocam` ("unban"), with a case code or user id after it."""
    t = ctx.t
    admin = await _admin(ctx)
    if isinstance(admin, list):
        return admin
    args = ctx.inbound.args.strip()
    if not args:
        return [await listing(ctx)]
    found = await _target(ctx, args)
    if isinstance(found, Outbound):
        return [found]
    user, via = found
    assert user.id is not None
    current = await ban_store.in_force(ctx.session, user.id)
    if action == "unban":
        if current is None:
            text = _sentence(t._("{who} is not banned.").format(who=who(t, via)))
            return [Outbound(text, to=_private(ctx))]
        return [_confirm_lift(t, ctx, user, current, via)]
    problem = _unbannable(ctx, admin, user, via)
    if problem is not None:
        return [Outbound(problem, to=_private(ctx))]
    if current is not None:
        return [_already(t, ctx, current, via)]
    token = _token(via)
    rows = [
        [Button(t._("🚫 {reason}").format(reason=t._(label)), f"ban:{key}:{user.id}:{token}")]
        for key, label in REASONS.items()
    ]
    rows.append([Button(t._("Cancel"), "ban:x")])
    text = t._(
        "Ban {who}? Their messages will no longer be handled, a report they have not finished "
        "will not be sent, and they will receive no warnings. They are only told, now and "
        "then, that I can't take their messages.\n\nChoose the reason to confirm:"
    ).format(who=who(t, via))
    return [Outbound(text, rows, to=_private(ctx))]


async def _target(ctx: Ctx, args: str) -> tuple[User, str] | Outbound:
    """The user an admin named (by a case code or a user id), and how they named them."""
    t = ctx.t
    code = officer.CODE.search(args)
    if code is not None:
        report = await queue.by_code(ctx.session, code.group(0))
        if report is None or report.status == "draft" or report.code is None:
            text = t._("No report has the code {code}.").format(code=code.group(0).upper())
            return Outbound(text, to=_private(ctx))
        user = await ctx.session.get(User, report.reporter_id) if report.reporter_id else None
        if user is None:
            text = t._(
                "The reporter of {code} can no longer be identified: their data was deleted."
            ).format(code=report.code)
            return Outbound(text, to=_private(ctx))
        return user, report.code
    first = args.split()[0]
    if first.isdigit():
        user = await queue.find_user(ctx.session, ctx.inbound.channel, first)
        if user is None:
            text = t._("Nobody with the id {id} has used the bot.").format(id=first)
            return Outbound(text, to=_private(ctx))
        return user, f"{user.channel}:{user.external_id}"
    return Outbound(
        t._(
            "Name who with a case code or a user id, for example: /cam TB-2611-0001 or "
            "/cam 123456789. To lift a ban: /bocam TB-2611-0001."
        ),
        to=_private(ctx),
    )


def _unbannable(ctx: Ctx, admin: User, user: User, via: str) -> str | None:
    """Why this user cannot be banned, or None."""
    t = ctx.t
    if user.id == admin.id:
        return t._("You cannot ban yourself.")
    staff = user.role in queue.STAFF
    if staff or ctx.services.settings.is_admin(user.channel, user.external_id):
        return _sentence(
            t._(
                "{who} is an officer or an admin and cannot be banned. Take their role away first."
            ).format(who=who(t, via))
        )
    return None


# Messages about a ban name the person as the admin just did (`via`), never as the ban was
# made: a ban made by user id and lifted by case code must not tie the two together.


def _token(via: str) -> str:
    """`via` as carried by a button: the case code, or "id"."""
    return via if officer.CODE.fullmatch(via) else "id"


async def _via(ctx: Ctx, user: User, token: str) -> str:
    """The `via` a button's token stands for (a case code only if it is this user's report)."""
    if officer.CODE.fullmatch(token):
        report = await queue.by_code(ctx.session, token)
        if report is not None and report.code and report.reporter_id == user.id:
            return report.code
    return f"{user.channel}:{user.external_id}"


def _already(t: Translator, ctx: Ctx, ban: Ban, via: str) -> Outbound:
    return Outbound(
        _sentence(
            t._("{who} is already banned (since {when}).").format(
                who=who(t, via), when=t.when(ban.banned_at)
            )
        ),
        to=_private(ctx),
    )


def _confirm_lift(t: Translator, ctx: Ctx, user: User, ban: Ban, via: str) -> Outbound:
    text = t._(
        "Lift the ban on {who} (banned {when}; reason: {reason})? They will be able to use the "
        "bot again."
    ).format(who=who(t, via), when=t.when(ban.banned_at), reason=reason_text(t, ban.reason))
    rows = [
        [Button(t._("✅ Lift the ban"), f"ban:lift:{user.id}:{_token(via)}")],
        [Button(t._("Cancel"), "ban:x")],
    ]
    return Outbound(text, rows, to=_private(ctx))


async def on_button(ctx: Ctx, data: str) -> list[Outbound]:
    """`ban:<reason|lift>:<user id>:<case code|id>`, or `ban:x` (cancel).

    Everything is checked again: the presser's role (callback data can be forged), the
    target, and whether a ban is already in force.
    """
    t = ctx.t
    admin = await _admin(ctx)
    if isinstance(admin, list):
        return admin
    parts = data.split(":")
    verb = parts[1] if len(parts) > 1 else ""
    if verb == "x":
        return [Outbound(t._("Cancelled."), toast=True)]
    user_id = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    user = await ctx.session.get(User, user_id) if user_id is not None else None
    if user is None or user.id is None:
        return [Outbound(t._("That user is no longer in the database."), toast=True)]
    via = await _via(ctx, user, parts[3] if len(parts) > 3 else "id")
    if verb == "lift":
        lifted = await ban_store.lift(
            ctx.session, user.id, now=ctx.now, lifted_by=admin.id, source="bot"
        )
        if lifted is None:
            return [Outbound(t._("There is no ban to lift."), toast=True)]
        audit.record(ctx.session, audit.actor(admin), "ban.lifted", "ban", lifted.id, ctx.now)
        log.info("ban %s on user #%s lifted by user #%s", lifted.id, user.id, admin.id)
        text = t._("✅ The ban on {who} is lifted: they can use the bot again.").format(
            who=who(t, via)
        )
        return [Outbound(text, to=_private(ctx)), Outbound(t._("Lifted."), toast=True)]
    if verb not in REASONS:
        return [Outbound(t._("That button no longer works."), toast=True)]
    problem = _unbannable(ctx, admin, user, via)
    if problem is not None:
        return [Outbound(problem, to=_private(ctx))]
    ban = await ban_store.impose(
        ctx.session, user.id, reason=verb, via=via, now=ctx.now, banned_by=admin.id, source="bot"
    )
    if ban is None:
        current = await ban_store.in_force(ctx.session, user.id)
        if current is not None:
            return [_already(t, ctx, current, via)]
        return [Outbound(t._("Please try again."), toast=True)]
    # The ban row says whom; the append-only log names the ban only, so that erasing a
    # person's data leaves nothing of them here.
    audit.record(
        ctx.session, audit.actor(admin), "ban.imposed", "ban", ban.id, ctx.now, {"reason": verb}
    )
    log.info("user #%s banned by user #%s (%s)", user.id, admin.id, verb)
    text = t._("🚫 Banned: {who}. Reason: {reason}. To lift it: /bocam {handle}").format(
        who=who(t, via), reason=reason_text(t, verb), handle=_handle(via)
    )
    return [Outbound(text, to=_private(ctx)), Outbound(t._("Banned."), toast=True)]


async def listing(ctx: Ctx) -> Outbound:
    """The bans in force: whom, since when, by whom, and why."""
    t = ctx.t
    found = await ban_store.all_in_force(ctx.session, ctx.inbound.channel)
    lines = []
    for item in found[:LIST_LIMIT]:
        by = (
            cards.officer_name(t, item.banned_by)
            if item.banned_by is not None
            else t._("the command line")
        )
        lines.append(
            t._("• {who}, since {when}, by {by}: {reason}").format(
                who=who(t, item.ban.via),
                when=t.when(item.ban.banned_at),
                by=by,
                reason=reason_text(t, item.ban.reason),
            )
        )
    if len(found) > LIST_LIMIT:
        lines.append(t._("… and {n} more.").format(n=len(found) - LIST_LIMIT))
    if not found:
        lines.append(t._("Nobody is banned."))
    lines.append("")
    lines.append(
        t._(
            "Ban: /cam TB-2611-0001 (the reporter of a case) or /cam <user id>. "
            "Lift: /bocam with the same."
        )
    )
    return Outbound("\n".join(lines), title=t._("🚫 Bans"), to=_private(ctx))


def _sentence(text: str) -> str:
    """`text` with a capital first letter (a sentence may begin with "the reporter of …")."""
    return text[:1].upper() + text[1:]
