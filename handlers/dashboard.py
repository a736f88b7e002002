"""The web dashboard's product logic: the bot's login links, and the officers' actions taken in
a browser, which run the very same code as the buttons in the chat (`handlers.officer`).

An action from the web builds the context a private-chat command would have (the officer's own
channel and id, never a message), runs the officer's logic in one transaction, and hands back
two things: what the officer is told (shown on the page), and the messages for everyone else
(report cards edited in the officers' chats, notices to the reporter), which the caller sends
after the commit with `handlers.delivery.deliver`, exactly as after a button press.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import quote

from handlers import officer
from handlers.cards import REJECT_REASONS, SPAM_REASON
from handlers.context import Ctx
from handlers.core import Inbound, Outbound
from handlers.extract import extract_indicators
from handlers.i18n import pick_language, translator
from handlers.services import Services
from storage import audit, dashboard
from storage.models import Report
from storage.users import get_user

# How long a login link from the bot may be used (once).
LINK_MINUTES = 10


def search_values(text: str) -> tuple[tuple[str, str], ...]:
    """The phones, accounts and links a search names, as they are stored (`0912 345 678` is
    `+84912345678`), so the queue's text search finds them however they were typed."""
    return tuple(sorted({(i.kind, i.value) for i in extract_indicators(text)}))


async def login_link(ctx: Ctx) -> list[Outbound]:
    """`/dashboard`: a one-time link that signs this officer in to the web dashboard."""
    t = ctx.t
    if not officer.is_staff(ctx):
        return officer.refusal(ctx, "/dashboard")
    user = await officer.me(ctx)
    assert user.id is not None
    token = await dashboard.issue_token(
        ctx.session, user.id, ctx.now, timedelta(minutes=LINK_MINUTES)
    )
    audit.record(ctx.session, officer.actor(ctx), "dashboard.link_sent", "user", user.id, ctx.now)
    base = ctx.services.settings.public_url.rstrip("/")
    url = f"{base}/login?token={quote(token)}"
    text = t._(
        "🖥 Your sign-in link to the dashboard. It works once, within {minutes} minutes:\n"
        "{url}\n\nDo not forward it: whoever opens it is signed in as you."
    ).format(minutes=LINK_MINUTES, url=url)
    # In the officers' group the link goes to the officer's private chat, never to the group.
    return [Outbound(text, to=None if ctx.inbound.chat_type == "private" else user.external_id)]


@dataclass
class Done:
    """What an action from the web produced: `said` to the officer (on the page), `send` to
    others after the commit (through `handlers.delivery.deliver` with `inbound`)."""

    inbound: Inbound
    said: list[str] = field(default_factory=list)
    send: list[Outbound] = field(default_factory=list)


async def act(
    services: Services,
    channel: str,
    external_id: str,
    report_id: int,
    verb: str,
    *,
    to: str = "",
    reason: str = "",
    text: str = "",
    language: str = "vi",
) -> Done:
    """Claim, change the status of, note or ask about a report, as the officer would in chat.

    The officer's role is read again here (a session proves who, not what they may do).
    """
    inbound = Inbound(
        channel=channel,
        user_id=external_id,
        chat_id=external_id,
        chat_type="private",
        language_hint=language,
    )
    done = Done(inbound)
    async with services.db.session() as session:
        user = await get_user(session, channel, external_id)
        t = translator(pick_language(language, None))
        if user is not None and user.display_name:
            inbound.user_name = user.display_name
        ctx = Ctx(services, session, inbound, user, t, services.clock())
        if not officer.is_staff(ctx):
            done.said.append(t._("Sorry, this is only for police officers using tinbao."))
            return done
        me = await officer.me(ctx)
        report = await session.get(Report, report_id)
        if report is None or report.status == "draft":
            done.said.append(t._("That report no longer exists."))
            return done
        replies: list[Outbound]
        if verb == "claim":
            replies = await officer.claim(ctx, report, me)
        elif verb == "status" and to == "rejected":
            if reason not in REJECT_REASONS:
                done.said.append(t._("Choose why the report is rejected: the reporter is told."))
                return done
            replies = await officer.change(ctx, report, me, "rejected", note=REJECT_REASONS[reason])
        elif verb == "status" and to == "spam":
            replies = await officer.change(ctx, report, me, "spam", note=SPAM_REASON)
        elif verb == "status" and to in officer.TRANSITIONS:
            replies = await officer.change(ctx, report, me, to)
        elif verb in ("note", "ask") and not text.strip():
            done.said.append(t._("That was empty, so nothing was saved."))
            return done
        elif verb == "note":
            replies = await officer.add_note(ctx, report, me, text.strip())
        elif verb == "ask":
            replies = await officer.ask(ctx, report, me, text.strip())
        else:
            done.said.append(t._("That button no longer works."))
            return done
    for reply in replies:
        if reply.to is None or (reply.to == external_id and not (reply.edit or reply.receipt)):
            if reply.text not in done.said:
                done.said.append(reply.text)
        else:
            done.send.append(reply)
    return done
