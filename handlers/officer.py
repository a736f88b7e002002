"""The officers' side: the queue, claiming, the workflow, notes, questions, officer management.

Every command and button here re-checks the sender's role in the database (or the admin list
of the settings): callback data can be forged, so a button proves nothing. Residents who try
get a polite refusal, and the attempt is logged.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path
from typing import cast

from handlers import cards, followup
from handlers.cards import REJECT_REASONS, SPAM_REASON, status_name
from handlers.context import Ctx, fold
from handlers.core import Button, FileKind, Outbound, OutFile
from handlers.extract import extract_indicators
from handlers.i18n import DEFAULT_LANGUAGE, N_, Translator, translator
from handlers.names import safe_filename, safe_name
from handlers.texts import category_label
from storage import audit, identity, intel, queue
from storage import reports as report_store
from storage.models import Attachment, PendingInput, Report, User

log = logging.getLogger(__name__)

# Officer commands: Vietnamese name, English alias, action, description.
MENU = (
    ("hangdoi", "queue", "queue", N_("Reports waiting for an officer")),
    ("cuatoi", "assigned", "assigned", N_("Reports you are handling")),
    ("xem", "view", "view", N_("Open a report: /xem TB-2611-0001")),
    ("timkiem", "search", "search", N_("Search by case code, phone, account or link")),
    ("chiso", "indicator", "cluster", N_("Every report linked to a phone, account, link or case")),
    ("ghichu", "note", "note", N_("Add a note: /ghichu TB-2611-0001 text")),
    ("hoi", "ask", "ask", N_("Ask the reporter: /hoi TB-2611-0001 question")),
    ("trangthai", "status", "status", N_("Change a report's status: /trangthai TB-2611-0001")),
    ("tenmien", "domains", "domains", N_("Block or trust a website for /kiemtra")),
    ("thongke", "stats", "stats", N_("Statistics: reports, money lost, subscribers")),
    ("canhbao", "broadcast", "broadcast", N_("Send a scam warning to subscribers (admins)")),
    ("canbo", "officers", "officers", N_("Manage officers (admins)")),
    ("cam", "ban", "ban", N_("Ban someone who misuses the bot (admins)")),
    ("bocam", "unban", "unban", N_("Lift a ban (admins)")),
    ("danhtinh", "reveal", "reveal", N_("Reveal who made a report, with a reason (admins)")),
    ("dashboard", "dashboard", "dashboard", N_("A sign-in link to the web dashboard")),
)
COMMANDS = {
    name: action for vietnamese, english, action, _ in MENU for name in (vietnamese, english)
} | {"id": "id"}

# The workflow (new → in review → needs information ⇄ in review → verified → forwarded →
# closed; rejected or spam with a reason; reopen). Anything else is refused.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_review", "rejected", "spam"),
    "in_review": ("new", "needs_info", "verified", "rejected", "spam", "closed"),
    "needs_info": ("in_review", "verified", "rejected", "spam", "closed"),
    "verified": ("in_review", "forwarded", "closed"),
    "forwarded": ("closed",),
    "closed": ("in_review",),
    "rejected": ("in_review",),
    "spam": ("in_review",),
}
# Changes the reporter hears about.
NOTIFY = ("verified", "forwarded", "closed", "rejected", "spam")
INPUT_MINUTES = 30
CODE = re.compile(r"\bTB-\d{4}-\d{3,}\b", re.IGNORECASE)
LIST_LIMIT = 10


def role(ctx: Ctx) -> str:
    """`admin`, `officer` or `resident`, as the server knows it (never from the message)."""
    inbound = ctx.inbound
    if ctx.services.settings.is_admin(inbound.channel, inbound.user_id):
        return "admin"
    if ctx.user is not None and ctx.user.role in queue.STAFF:
        return ctx.user.role
    return "resident"


def actor(ctx: Ctx) -> audit.Actor:
    """The sender as the audit log records them (call after `me`)."""
    return audit.actor(ctx.user, role(ctx))


def is_staff(ctx: Ctx) -> bool:
    """Whether the sender is an officer or an admin."""
    return role(ctx) in queue.STAFF


def refusal(ctx: Ctx, what: str) -> list[Outbound]:
    """The polite answer to someone using an officer's command or button without the role."""
    log.warning(
        "refused %s from %s user %s (role %s)",
        ":".join(what.split(" ", 1)[0].split(":")[:2])[:24],  # a command or button, no data
        ctx.inbound.channel,
        ctx.inbound.user_id,
        role(ctx),
    )
    text = ctx.t._("Sorry, this is only for police officers using tinbao.")
    if ctx.inbound.callback is not None:
        return [Outbound(text, toast=True)]
    return [Outbound(text)]


async def me(ctx: Ctx) -> User:
    """The acting officer's row (an admin from the settings gets one on first use)."""
    current = role(ctx)
    user = ctx.user
    if user is None or user.role != current:
        user = await queue.set_role(
            ctx.session,
            ctx.inbound.channel,
            ctx.inbound.user_id,
            current,
            now=ctx.now,
            name=ctx.inbound.user_name,
        )
        ctx.user = user
    await queue.remember_staff(ctx.session, user, ctx.inbound.user_name, ctx.t.language)
    return user


def _private(ctx: Ctx) -> str | None:
    """Where private answers go: None (the same chat) in a private chat, else the officer's."""
    return None if ctx.inbound.chat_type == "private" else ctx.inbound.user_id


# ------------------------------------------------------------------------------------ commands


async def on_command(ctx: Ctx, action: str) -> list[Outbound]:
    """An officer command; `ctx.inbound.args` holds what follows it."""
    t = ctx.t
    args = ctx.inbound.args.strip()
    if action == "id":
        return [
            Outbound(
                t._(
                    "Your id on this app is {id}. If you are a police officer, give it to your "
                    "unit's tinbao admin to be added."
                ).format(id=ctx.inbound.user_id)
            )
        ]
    if not is_staff(ctx):
        return refusal(ctx, f"/{ctx.inbound.command}")
    officer = await me(ctx)
    if action == "queue":
        return [await queue_list(ctx)]
    if action == "assigned":
        return [await assigned_list(ctx, officer)]
    if action == "officers":
        return await manage(ctx, args)
    if action == "search":
        return await search(ctx, args)
    if action == "domains":
        return [await domains(ctx, officer, args)]
    if action == "cluster":
        return [await linked_reports(ctx, args)]
    code_match = CODE.search(args)
    if code_match is None:
        usage = {
            "view": t._("Send the case code, for example: /xem TB-2611-0001"),
            "status": t._("Send the case code, for example: /trangthai TB-2611-0001"),
            "note": t._("Send the case code and your note, for example: /ghichu TB-2611-0001 …"),
            "ask": t._("Send the case code and your question, for example: /hoi TB-2611-0001 …"),
        }
        return [Outbound(usage[action])]
    report = await queue.by_code(ctx.session, code_match.group(0))
    if report is None or report.status == "draft":
        return [Outbound(t._("No report has the code {code}.").format(code=code_match.group(0)))]
    rest = (args[: code_match.start()] + args[code_match.end() :]).strip()
    if action == "view":
        return await detail(ctx, report, officer)
    if action == "status":
        return [await actions(ctx, report, officer)]
    if action == "note":
        if not rest:
            return await begin_input(ctx, officer, report, "note")
        return await add_note(ctx, report, officer, rest)
    if not rest:
        return await begin_input(ctx, officer, report, "ask")
    return await ask(ctx, report, officer, rest)


async def queue_list(ctx: Ctx) -> Outbound:
    """The unclaimed reports, most urgent first."""
    t = ctx.t
    waiting = await queue.unclaimed(ctx.session)
    if not waiting:
        return Outbound(t._("The queue is empty: every report has an officer. 👍"))
    shared = await queue.shared_counts(ctx.session, [r.id for r in waiting if r.id is not None])
    ranked = sorted(
        waiting,
        key=lambda r: (-cards.priority(r, shared.get(r.id or 0, 0), ctx.now), r.id),
    )
    return await _report_list(
        t,
        ranked,
        shared,
        ctx,
        t.ngettext(
            "📋 {n} report waiting, most urgent first",
            "📋 {n} reports waiting, most urgent first",
            len(waiting),
        ).format(n=len(waiting)),
    )


async def assigned_list(ctx: Ctx, officer: User) -> Outbound:
    """The reports an officer is handling."""
    t = ctx.t
    assert officer.id is not None
    mine = await queue.assigned_to(ctx.session, officer.id)
    if not mine:
        return Outbound(t._("You are not handling any report. See the queue with /hangdoi."))
    shared = await queue.shared_counts(ctx.session, [r.id for r in mine if r.id is not None])
    title = t.ngettext(
        "🗂 You are handling {n} report", "🗂 You are handling {n} reports", len(mine)
    ).format(n=len(mine))
    return await _report_list(t, mine, shared, ctx, title)


async def _report_list(
    t: Translator, reports: list[Report], shared: dict[int, int], ctx: Ctx, title: str
) -> Outbound:
    """Reports one per line; each names its reporter by handle only, so an officer sees which
    reports one person made without learning who."""
    lines = []
    buttons = []
    for report in reports[:LIST_LIMIT]:
        assert report.id is not None
        score = cards.priority(report, shared.get(report.id, 0), ctx.now)
        money = t.money(report.amount_lost_vnd) if report.amount_lost_vnd else "—"
        since = report.queued_at or report.submitted_at or ctx.now
        handle = await identity.reporter_handle(ctx.session, report)
        lines.append(
            f"{cards.priority_label(t, score)} {report.code}\n"
            f"   {category_label(t, report.category)} · {money} · "
            f"{status_name(t, report.status)} · {cards.ago(t, since, ctx.now)} · "
            f"👤 {cards.handle_note(t, report, handle)} · {cards.channel_name(report.channel)}"
        )
        buttons.append([Button(t._("📄 {code}").format(code=report.code), f"o:view:{report.id}")])
    if len(reports) > LIST_LIMIT:
        lines.append(t._("… and {n} more.").format(n=len(reports) - LIST_LIMIT))
    return Outbound("\n".join(lines), buttons, title=title)


async def linked_reports(ctx: Ctx, query: str) -> Outbound:
    """Every report of an indicator, or of a case code, and all reports linked to them."""
    t = ctx.t
    if not query:
        return Outbound(
            t._(
                "Send a case code, phone number, account number or link after the command, for "
                "example: /chiso TB-2611-0001 or /chiso 0912345678"
            )
        )
    start: set[int] = set()
    code = CODE.search(query)
    if code is not None:
        report = await queue.by_code(ctx.session, code.group(0))
        if report is not None and report.id is not None and report.status != "draft":
            start.add(report.id)
    else:
        for kind, value in _wanted(query):
            start |= {
                r.id
                for r in await queue.search_indicator(ctx.session, kind, value)
                if r.id is not None
            }
    if not start:
        return Outbound(t._("No report matches “{query}”.").format(query=query[:100]))
    found: set[int] = set()
    for report_id in start:
        if report_id not in found:
            found |= await intel.cluster(ctx.session, report_id)
    reports = [r for r in [await ctx.session.get(Report, i) for i in sorted(found)] if r]
    reports.sort(key=lambda r: -(r.id or 0))
    _searched(ctx, "cluster", [kind for kind, _ in _wanted(query)] or ["code"], len(reports))
    shared = await queue.shared_counts(ctx.session, list(found))
    title = t.ngettext("🕸 {n} linked report", "🕸 {n} linked reports", len(reports)).format(
        n=len(reports)
    )
    return await _report_list(t, reports, shared, ctx, title)


def _wanted(query: str) -> list[tuple[str, str]]:
    """The indicators an officer's search text names; bare digits are an account number."""
    wanted: list[tuple[str, str]] = [(i.kind, i.value) for i in extract_indicators(query)]
    digits = re.sub(r"[\s.\-]", "", query)
    if not wanted and digits.isdigit() and 6 <= len(digits) <= 19:
        wanted = [("bank_account", digits)]
    return wanted


async def search(ctx: Ctx, query: str) -> list[Outbound]:
    """Reports by case code, or by a phone, account or link they carry."""
    t = ctx.t
    if not query:
        return [
            Outbound(
                t._(
                    "Send what to look for after the command: a case code, a phone number, an "
                    "account number or a link. For example: /timkiem 0912345678"
                )
            )
        ]
    code = CODE.search(query)
    officer = await me(ctx)
    if code is not None:
        report = await queue.by_code(ctx.session, code.group(0))
        if report is not None and report.status != "draft":
            return await detail(ctx, report, officer)
    found: dict[int, Report] = {}
    for kind, value in _wanted(query):
        for report in await queue.search_indicator(ctx.session, kind, value):
            if report.id is not None:
                found[report.id] = report
    _searched(ctx, "search", [kind for kind, _ in _wanted(query)], len(found))
    if not found:
        return [Outbound(t._("No report matches “{query}”.").format(query=query[:100]))]
    reports = sorted(found.values(), key=lambda r: -(r.id or 0))
    shared = await queue.shared_counts(ctx.session, list(found))
    title = t.ngettext("🔎 {n} report found", "🔎 {n} reports found", len(reports)).format(
        n=len(reports)
    )
    return [await _report_list(t, reports, shared, ctx, title)]


def _searched(ctx: Ctx, how: str, kinds: list[str], found: int) -> None:
    """Record a search by phone, account or link: the kinds looked for, never the values."""
    audit.record(
        ctx.session,
        actor(ctx),
        "reports.searched",
        "search",
        None,
        ctx.now,
        {"by": how, "kinds": sorted(set(kinds)), "found": found},
    )


# ----------------------------------------------------------------------------------- buttons


async def on_button(ctx: Ctx, data: str) -> list[Outbound]:
    """A press on an officer button: `o:<verb>[:<report id>[:<argument>]]`."""
    if not is_staff(ctx):
        return refusal(ctx, data)
    t = ctx.t
    officer = await me(ctx)
    parts = data.split(":")
    verb = parts[1] if len(parts) > 1 else ""
    number = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    argument = parts[3] if len(parts) > 3 else ""
    if verb == "queue":
        return [await queue_list(ctx)]
    if verb == "x":
        assert officer.id is not None
        await queue.clear_pending(ctx.session, officer.id)
        return [Outbound(t._("Cancelled."))]
    if verb == "rm" and number is not None:
        return await remove_officer(ctx, number)
    report = await ctx.session.get(Report, number) if number is not None else None
    if report is None or report.status == "draft":
        return [Outbound(t._("That report no longer exists."), toast=True)]
    if verb == "claim":
        return await claim(ctx, report, officer)
    if verb == "view":
        replies = await detail(ctx, report, officer)
        if _private(ctx) is not None:
            replies.append(Outbound(t._("I sent the details to our private chat."), toast=True))
        return replies
    if verb == "files":
        return await evidence(ctx, report)
    if verb == "spam":
        return await change(ctx, report, officer, "spam", note=SPAM_REASON)
    if verb == "rel":
        return await change(ctx, report, officer, "new")
    if verb == "st" and argument == "rejected":
        return [reasons(t, report)]  # the reporter is told why, so a reason must be chosen
    if verb == "st" and argument == "spam":
        return await change(ctx, report, officer, "spam", note=SPAM_REASON)
    if verb == "st" and argument in TRANSITIONS:
        return await change(ctx, report, officer, argument)
    if verb == "rej":
        return [reasons(t, report)]
    if verb == "rj" and argument in REJECT_REASONS:
        return await change(ctx, report, officer, "rejected", note=REJECT_REASONS[argument])
    if verb in ("note", "ask"):
        return await begin_input(ctx, officer, report, verb)
    if verb == "asg":
        return await choose_assignee(ctx, report)
    if verb == "to" and argument.isdigit():
        return await reassign(ctx, report, officer, int(argument))
    log.warning("unknown officer button %r", verb[:16])
    return [Outbound(t._("That button no longer works."), toast=True)]


def _may_work(ctx: Ctx, report: Report, officer: User) -> bool:
    return role(ctx) == "admin" or report.assignee_id == officer.id


async def claim(ctx: Ctx, report: Report, officer: User) -> list[Outbound]:
    """Claim a report: one conditional write decides between officers pressing at once."""
    t = ctx.t
    assert report.id is not None and officer.id is not None
    if not await queue.claim(ctx.session, report.id, officer.id, ctx.now):
        await ctx.session.refresh(report)
        if report.status == "new":  # pragma: no cover - a claim only fails if it changed
            return [Outbound(t._("Please try again."), toast=True)]
        holder = await ctx.session.get(User, report.assignee_id) if report.assignee_id else None
        if holder is not None and holder.id == officer.id:
            text = t._("You already have {code}.").format(code=report.code)
        elif holder is not None and report.status in queue.OPEN:
            text = t._("{code} is already taken by {officer}.").format(
                code=report.code, officer=cards.officer_name(t, holder)
            )
        else:
            text = t._("{code} is already {status}.").format(
                code=report.code, status=status_name(t, report.status).lower()
            )
        return [Outbound(text, toast=True)]
    event = await queue.add_event(
        ctx.session,
        report.id,
        actor_id=officer.id,
        action="claimed",
        from_status="new",
        to_status="in_review",
        now=ctx.now,
        notify=True,
    )
    await ctx.session.refresh(report)
    replies = await cards.card_updates(ctx.session, ctx.services.settings, report, ctx.now)
    replies += await followup.notices(
        ctx.session, [event], ctx.inbound.channel, ctx.services.outboxes
    )
    replies.append(Outbound(t._("You claimed {code}.").format(code=report.code), toast=True))
    if ctx.inbound.callback is None or _private(ctx) is None:
        replies.append(await actions(ctx, report, officer))
    return replies


async def change(
    ctx: Ctx, report: Report, officer: User, to: str, *, note: str | None = None
) -> list[Outbound]:
    """Move a report along the workflow, if the move is allowed and the report did not change."""
    t = ctx.t
    assert report.id is not None and officer.id is not None
    seen = report.status
    toast = ctx.inbound.callback is not None
    if to not in TRANSITIONS.get(seen, ()):
        return [
            Outbound(
                t._("{code} is {status}: it cannot become {to}.").format(
                    code=report.code,
                    status=status_name(t, seen).lower(),
                    to=status_name(t, to).lower(),
                ),
                toast=toast,
            )
        ]
    if seen == "new" and to == "in_review":
        return await claim(ctx, report, officer)
    reopening = seen in ("closed", "rejected", "spam")
    if not (seen == "new" or reopening or _may_work(ctx, report, officer)):
        holder = await ctx.session.get(User, report.assignee_id) if report.assignee_id else None
        return [
            Outbound(
                t._("{code} is handled by {officer}. Only they or an admin can change it.").format(
                    code=report.code, officer=cards.officer_name(t, holder)
                ),
                toast=toast,
            )
        ]
    assignee = officer.id if reopening else ...
    if not await queue.move(
        ctx.session, report.id, seen=seen, to=to, now=ctx.now, assignee_id=assignee
    ):
        await ctx.session.refresh(report)
        return [
            Outbound(
                t._("{code} was changed by someone else just now; it is {status}.").format(
                    code=report.code, status=status_name(t, report.status).lower()
                ),
                toast=toast,
            )
        ]
    action = "reopened" if reopening else ("released" if to == "new" else "status")
    event = await queue.add_event(
        ctx.session,
        report.id,
        actor_id=officer.id,
        action=action,
        from_status=seen,
        to_status=to,
        note=note,
        now=ctx.now,
        notify=to in NOTIFY or reopening,
    )
    await ctx.session.refresh(report)
    replies = await cards.card_updates(ctx.session, ctx.services.settings, report, ctx.now)
    replies += await followup.notices(
        ctx.session, [event], ctx.inbound.channel, ctx.services.outboxes
    )
    done = t._("{code}: {before} → {after}.").format(
        code=report.code, before=status_name(t, seen), after=status_name(t, to)
    )
    if toast:
        replies.append(Outbound(done, toast=True))
    if to == "new":
        # Released: the card in the group offers it again; nothing more to do here.
        if not toast:
            replies.append(Outbound(done))
        return replies
    if not toast or _private(ctx) is None:
        replies.append(await actions(ctx, report, officer, done))
    return replies


def reasons(t: Translator, report: Report) -> Outbound:
    """Buttons to choose why a report is rejected."""
    rows = [
        [Button(t._(text)[:60], f"o:rj:{report.id}:{key}")] for key, text in REJECT_REASONS.items()
    ]
    rows.append([Button(t._("🚫 Spam"), f"o:spam:{report.id}")])
    return Outbound(
        t._("Why is {code} not taken further? The reporter will be told.").format(code=report.code),
        rows,
    )


async def reassign(ctx: Ctx, report: Report, officer: User, to_id: int) -> list[Outbound]:
    """An admin gives a report to another officer."""
    t = ctx.t
    if role(ctx) != "admin":
        return refusal(ctx, "reassign")
    assert report.id is not None
    target = await ctx.session.get(User, to_id)
    if target is None or target.role not in queue.STAFF:
        return [Outbound(t._("That person is no longer an officer."), toast=True)]
    previous = report.status
    if previous not in queue.OPEN:
        return [Outbound(t._("{code} is closed; reopen it first.").format(code=report.code))]
    if not await queue.reassign(
        ctx.session, report.id, to_id, ctx.now, seen=previous, holder=report.assignee_id
    ):
        await ctx.session.refresh(report)
        return [
            Outbound(
                t._("{code} was changed by someone else just now; it is {status}.").format(
                    code=report.code, status=status_name(t, report.status).lower()
                )
            )
        ]
    await ctx.session.refresh(report)
    await queue.add_event(
        ctx.session,
        report.id,
        actor_id=officer.id,
        action="reassigned",
        from_status=previous,
        to_status=report.status,
        note=cards.officer_name(t, target),
        now=ctx.now,
        audit_detail={"assignee": target.id},
    )
    replies = await cards.card_updates(ctx.session, ctx.services.settings, report, ctx.now)
    if target.id != officer.id and target.channel == ctx.inbound.channel:
        their = translator(target.language or DEFAULT_LANGUAGE)
        replies.append(
            Outbound(
                their._("👥 An admin gave you the report {code}.").format(code=report.code),
                [[Button(their._("📄 Details"), f"o:view:{report.id}")]],
                to=target.external_id,
            )
        )
    replies.append(
        Outbound(
            t._("{code} now belongs to {officer}.").format(
                code=report.code, officer=cards.officer_name(t, target)
            )
        )
    )
    return replies


async def choose_assignee(ctx: Ctx, report: Report) -> list[Outbound]:
    """An admin picks who gets a report."""
    t = ctx.t
    if role(ctx) != "admin":
        return refusal(ctx, "reassign")
    people = await queue.staff(ctx.session, ctx.inbound.channel)
    rows = [
        [Button(cards.officer_name(t, person)[:40], f"o:to:{report.id}:{person.id}")]
        for person in people
        if person.id != report.assignee_id
    ]
    if not rows:
        return [Outbound(t._("There is no other officer to give it to."))]
    return [
        Outbound(t._("Who should handle {code}?").format(code=report.code), rows, to=_private(ctx))
    ]


# --------------------------------------------------------------------------- notes, questions


async def begin_input(ctx: Ctx, officer: User, report: Report, action: str) -> list[Outbound]:
    """Ask the officer to type a note or a question (in their private chat)."""
    t = ctx.t
    assert officer.id is not None and report.id is not None
    if action == "ask" and not _may_work(ctx, report, officer):
        return [
            Outbound(
                t._("Claim {code} first: only its officer asks the reporter.").format(
                    code=report.code
                ),
                toast=ctx.inbound.callback is not None,
            )
        ]
    await queue.set_pending(
        ctx.session,
        officer.id,
        action,
        report.id,
        expires_at=ctx.now + timedelta(minutes=INPUT_MINUTES),
    )
    prompt = (
        t._("📝 Type your note for {code}. Only officers see it.")
        if action == "note"
        else t._(
            "❓ Type your question for the reporter of {code}. They will see it without your "
            "name; their answer will come to you here."
        )
    )
    replies = [
        Outbound(
            prompt.format(code=report.code),
            [[Button(t._("✖ Cancel"), "o:x")]],
            to=_private(ctx),
        )
    ]
    if _private(ctx) is not None:
        replies.append(Outbound(t._("Please type it in our private chat."), toast=True))
    return replies


async def on_input(ctx: Ctx, pending: PendingInput, text: str) -> list[Outbound]:
    """An officer typed the note or question they started."""
    t = ctx.t
    officer = await me(ctx)
    assert officer.id is not None
    await queue.clear_pending(ctx.session, officer.id)
    report = await ctx.session.get(Report, pending.report_id)
    if report is None:
        return [Outbound(t._("That report no longer exists."))]
    if not text.strip():
        return [Outbound(t._("That was empty, so nothing was saved."))]
    if pending.action == "ask":
        return await ask(ctx, report, officer, text.strip())
    return await add_note(ctx, report, officer, text.strip())


async def add_note(ctx: Ctx, report: Report, officer: User, text: str) -> list[Outbound]:
    """An internal note on the report's timeline."""
    t = ctx.t
    assert report.id is not None
    await queue.add_event(
        ctx.session, report.id, actor_id=officer.id, action="note", note=text[:4000], now=ctx.now
    )
    if report.assignee_id == officer.id:
        await queue.touch(ctx.session, report.id, ctx.now)
    return [Outbound(t._("📝 Note added to {code}.").format(code=report.code))]


async def ask(ctx: Ctx, report: Report, officer: User, question: str) -> list[Outbound]:
    """Send an officer's question to the reporter through the bot."""
    t = ctx.t
    if not _may_work(ctx, report, officer):
        return [
            Outbound(
                t._("Claim {code} first: only its officer asks the reporter.").format(
                    code=report.code
                )
            )
        ]
    if report.status not in queue.OPEN:
        return [Outbound(t._("{code} is closed; reopen it first.").format(code=report.code))]
    event = await followup.ask(ctx.session, report, officer, question[:2000], ctx.now)
    if event is None:
        return [
            Outbound(
                t._("The reporter of {code} can no longer be reached.").format(code=report.code)
            )
        ]
    await ctx.session.refresh(report)
    replies = await cards.card_updates(ctx.session, ctx.services.settings, report, ctx.now)
    notices = await followup.notices(
        ctx.session, [event], ctx.inbound.channel, ctx.services.outboxes
    )
    replies += notices
    replies.append(
        Outbound(
            t._(
                "❓ Your question was sent to the reporter of {code}. Their answer will come to "
                "you here."
            ).format(code=report.code)
        )
    )
    return replies


# ------------------------------------------------------------------------------------- detail


async def detail(ctx: Ctx, report: Report, officer: User) -> list[Outbound]:
    """Everything about a report, its timeline, and what the officer can do with it."""
    t = ctx.t
    session = ctx.session
    assert report.id is not None
    audit.record(
        session, actor(ctx), "report.viewed", "report", report.id, ctx.now, {"code": report.code}
    )
    f = await cards.facts(session, report)
    lines = [
        t._("Status: {status}").format(status=status_name(t, report.status))
        + (f" — {cards.officer_name(t, f.assignee)}" if f.assignee else ""),
        t._("Category: {category}").format(category=category_label(t, report.category)),
    ]
    if report.amount_lost_vnd:
        lines.append(t._("💸 Lost {amount}").format(amount=t.money(report.amount_lost_vnd)))
    if report.occurred_at:
        lines.append(t._("🕑 When: {when}").format(when=cards.when(t, report.occurred_at)))
    if report.submitted_at:
        lines.append(
            t._("📨 Sent: {when} via {channel}").format(
                when=t.when(report.submitted_at), channel=cards.channel_name(report.channel)
            )
        )
    lines.append(cards.reporter_line(t, report, f.handle))
    score = cards.priority(report, f.shared, ctx.now)
    lines.append(t._("Priority: {priority}").format(priority=cards.priority_label(t, score)))
    if f.linked:
        lines.append("")
        lines.append(t._("Phones, accounts and links:"))
        for item in f.linked:
            line = "• " + cards.indicator_line(t, item.kind, item.value, item.holder)
            if item.others:
                shown = ", ".join(item.others[:5])
                more = len(item.others) - 5
                line += "\n   " + t._("also in: {codes}").format(
                    codes=shown + (f" (+{more})" if more > 0 else "")
                )
            lines.append(line)
        if f.cluster > f.shared + 1:
            lines.append(cards.cluster_line(t, f))
    lines.append("")
    lines.append(t._("Story:"))
    if report.purged_at is not None:
        lines.append(cards.purged_note(t, report.purged_at))
    else:
        lines.append(report.description or t._("(none given)"))
    lines.append("")
    lines.append(
        t.ngettext("📎 {n} evidence file", "📎 {n} evidence files", f.files).format(n=f.files)
    )
    if report.purged_at is not None and f.files:
        lines[-1] += " " + t._("(deleted; their SHA-256 fingerprints are kept)")
    events = await queue.events_of(session, report.id)
    people = await queue.users_by_id(session, {e.actor_id for e in events if e.actor_id})
    lines.append("")
    lines.append(t._("Timeline:"))
    lines += cards.timeline(t, report, events, people)
    body = Outbound("\n".join(lines), title=f"📄 {report.code}", to=_private(ctx))
    return [body, await actions(ctx, report, officer, files=f.files)]


async def actions(
    ctx: Ctx, report: Report, officer: User, heading: str | None = None, files: int | None = None
) -> Outbound:
    """A short message with the buttons this officer can use on this report now."""
    t = ctx.t
    rid = report.id
    status = report.status
    mine = _may_work(ctx, report, officer)
    rows: list[list[Button]] = []

    def to(label: str, target: str) -> Button:
        return Button(label, f"o:st:{rid}:{target}")

    if status == "new":
        rows.append(
            [Button(t._("✋ Claim"), f"o:claim:{rid}"), Button(t._("🚫 Spam"), f"o:spam:{rid}")]
        )
    elif status in ("closed", "rejected", "spam"):
        rows.append([to(t._("🔄 Reopen"), "in_review")])
    elif mine:
        rows.append([Button(t._("❓ Ask the reporter"), f"o:ask:{rid}")])
        if status == "in_review":
            rows.append([to(t._("✅ Verified"), "verified"), to(t._("🏁 Close"), "closed")])
            rows.append([Button(t._("✖ Reject"), f"o:rej:{rid}"), to(t._("↩ Release"), "new")])
        elif status == "needs_info":
            rows.append(
                [to(t._("▶ Back to review"), "in_review"), to(t._("✅ Verified"), "verified")]
            )
            rows.append([Button(t._("✖ Reject"), f"o:rej:{rid}"), to(t._("🏁 Close"), "closed")])
        elif status == "verified":
            rows.append([to(t._("📤 Forwarded"), "forwarded"), to(t._("🏁 Close"), "closed")])
            rows.append([to(t._("▶ Back to review"), "in_review")])
        elif status == "forwarded":
            rows.append([to(t._("🏁 Close"), "closed")])
    rows.append([Button(t._("📝 Note"), f"o:note:{rid}")])
    if files is None and rid is not None:
        files, _ = await report_store.evidence_totals(ctx.session, rid)
    if files:
        rows[-1].append(Button(t._("📎 Evidence ({n})").format(n=files), f"o:files:{rid}"))
    if role(ctx) == "admin" and status in queue.OPEN:
        rows[-1].append(Button(t._("👥 Reassign"), f"o:asg:{rid}"))
    text = heading or t._("{code}: {status}").format(
        code=report.code, status=status_name(t, status)
    )
    if status not in ("new",) and not mine and status in queue.OPEN:
        text += "\n" + t._("Handled by another officer: you can add notes.")
    return Outbound(text, rows, to=_private(ctx))


_KINDS = {"photo", "voice", "video", "audio", "video_note", "animation"}


async def evidence(ctx: Ctx, report: Report) -> list[Outbound]:
    """Send a report's evidence files back to the officer, with their hashes."""
    t = ctx.t
    assert report.id is not None
    files = await report_store.list_attachments(ctx.session, report.id)
    if not files:
        return [Outbound(t._("{code} has no evidence files.").format(code=report.code), toast=True)]
    gone = [attachment for attachment in files if attachment.purged_at is not None]
    files = [attachment for attachment in files if attachment.purged_at is None]
    audit.record(
        ctx.session,
        actor(ctx),
        "report.evidence_viewed",
        "report",
        report.id,
        ctx.now,
        {"code": report.code, "files": len(files)},
    )
    evidence_dir = ctx.services.settings.evidence_dir
    replies = [_purged_files(t, report, gone, _private(ctx))] if gone else []
    for number, attachment in enumerate(files, start=1):
        name = safe_filename(attachment.original_name, Path(attachment.stored_path).suffix)
        file_id = attachment.file_id if report.channel == ctx.inbound.channel else None
        if attachment.original_name and name != attachment.original_name:
            # Sent by its id, the file would arrive under the name the sender gave it, hidden
            # characters and all: the stored copy is uploaded under the cleaned name instead.
            file_id = None
        replies.append(
            Outbound(
                _evidence_caption(t, report, attachment, number, len(files)),
                to=_private(ctx),
                file=OutFile(
                    _send_kind(attachment),
                    evidence_dir / attachment.stored_path,
                    file_id,
                    name or None,
                    keys=ctx.services.settings.evidence_keys,
                    unreadable=cards.unreadable_file(t),
                ),
            )
        )
    if _private(ctx) is not None:
        replies.append(Outbound(t._("I sent the files to our private chat."), toast=True))
    return replies


def _purged_files(
    t: Translator, report: Report, gone: list[Attachment], to: str | None
) -> Outbound:
    """What is left of evidence files deleted under the retention rule: the record made at
    receipt (type, size, SHA-256), which still proves what the reporter had sent."""
    purged = min(a.purged_at for a in gone if a.purged_at is not None)
    lines = [
        t.ngettext(
            "{code}: {n} evidence file was deleted on {day} under the retention rule. "
            "What was recorded when it was received is kept:",
            "{code}: {n} evidence files were deleted on {day} under the retention rule. "
            "What was recorded when they were received is kept:",
            len(gone),
        ).format(code=report.code, n=len(gone), day=t.day(purged))
    ]
    for number, attachment in enumerate(gone, start=1):
        lines.append(
            t._("file {n}: {mime}, {size} bytes, received {when}").format(
                n=number,
                mime=attachment.mime,
                size=attachment.size,
                when=t.when(attachment.received_at),
            )
            + f"\nSHA-256 {attachment.sha256}"
        )
    return Outbound("\n".join(lines), to=to)


def _send_kind(attachment: Attachment) -> FileKind:
    if attachment.kind in _KINDS:
        return cast(FileKind, attachment.kind)
    if attachment.kind == "document" or not attachment.mime.startswith("image/"):
        return "document"
    return "photo"


def _evidence_caption(
    t: Translator, report: Report, attachment: Attachment, number: int, total: int
) -> str:
    caption = t._("{code} · file {n}/{total} · received {when}").format(
        code=report.code, n=number, total=total, when=t.when(attachment.received_at)
    )
    origin = safe_name(attachment.forwarded_from, 256)
    if origin:
        caption += "\n" + t._("Forwarded from: {origin}").format(origin=origin)
    return caption + f"\nSHA-256 {attachment.sha256}"


# ---------------------------------------------------------------------------- officer admin


async def manage(ctx: Ctx, args: str) -> list[Outbound]:
    """`/canbo`: list officers; `/canbo them <id>` adds one, `/canbo xoa <id>` removes one."""
    t = ctx.t
    if role(ctx) != "admin":
        return refusal(ctx, "/canbo")
    verb, _, rest = args.partition(" ")
    target = rest.strip()
    verb = verb.lower()
    if verb in ("them", "thêm", "add") and target:
        if not target.isdigit():
            return [Outbound(t._("The id is a number, for example: /canbo them 123456789"))]
        admin = ctx.services.settings.is_admin(ctx.inbound.channel, target)
        await queue.set_role(
            ctx.session,
            ctx.inbound.channel,
            target,
            "admin" if admin else "officer",
            now=ctx.now,
            by=actor(ctx),
        )
        log.info("officer %s added by %s", target, ctx.inbound.user_id)
        return [
            Outbound(
                t._(
                    "Added officer {id}. They now receive report cards and can use /hangdoi. "
                    "Ask them to open a private chat with me and press Start."
                ).format(id=target)
            )
        ]
    if verb in ("xoa", "xóa", "remove") and target:
        found = await queue.find_user(ctx.session, ctx.inbound.channel, target)
        if found is None or found.id is None:
            return [Outbound(t._("{id} is not an officer.").format(id=target))]
        return await remove_officer(ctx, found.id)
    return [await officer_list(ctx)]


async def officer_list(ctx: Ctx) -> Outbound:
    """The officers and admins, with buttons to remove officers."""
    t = ctx.t
    people = await queue.staff(ctx.session, ctx.inbound.channel)
    settings = ctx.services.settings
    lines = []
    rows = []
    for person in people:
        kind = t._("admin") if person.role == "admin" else t._("officer")
        lines.append(f"• {cards.officer_name(t, person)} (id {person.external_id}) – {kind}")
        if not settings.is_admin(person.channel, person.external_id) and person.id is not None:
            label = t._("✖ Remove {name}").format(name=cards.officer_name(t, person))[:60]
            rows.append([Button(label, f"o:rm:{person.id}")])
    lines.append("")
    lines.append(
        t._(
            "To add an officer: ask them to send /id to me, then send /canbo them <id>. "
            "Admins are set in TINBAO_ADMIN_IDS."
        )
    )
    return Outbound("\n".join(lines), rows, title=t._("👥 Officers"))


async def remove_officer(ctx: Ctx, user_id: int) -> list[Outbound]:
    """Take away an officer's role; their open reports go back to the queue."""
    t = ctx.t
    if role(ctx) != "admin":
        return refusal(ctx, "remove officer")
    user = await ctx.session.get(User, user_id)
    if user is None or user.role not in queue.STAFF:
        return [Outbound(t._("{id} is not an officer.").format(id=user_id))]
    if ctx.services.settings.is_admin(user.channel, user.external_id):
        return [Outbound(t._("Admins are set in TINBAO_ADMIN_IDS; change it there."))]
    name = cards.officer_name(t, user)
    removed = await queue.remove_officer(ctx.session, user, ctx.now, actor(ctx))
    replies: list[Outbound] = []
    for report_id in removed.released:
        report = await ctx.session.get(Report, report_id)
        if report is not None:
            await ctx.session.refresh(report)
            replies += await cards.card_updates(ctx.session, ctx.services.settings, report, ctx.now)
    log.info("officer %s removed by %s", user.external_id, ctx.inbound.user_id)
    text = t._("{name} is no longer an officer.").format(name=name)
    if removed.released:
        text += " " + t.ngettext(
            "{n} report they were reviewing went back to the queue.",
            "{n} reports they were reviewing went back to the queue.",
            len(removed.released),
        ).format(n=len(removed.released))
    if removed.kept:
        text += "\n" + t._(
            "Still in their name (verified or forwarded): {codes}. Give them to someone else "
            "with /xem and Reassign."
        ).format(codes=", ".join(r.code or "" for r in removed.kept))
    replies.append(Outbound(text))
    return replies


# /tenmien's verbs, folded (Vietnamese without accents, and English).
DOMAIN_VERBS = {
    "chan": "deny", "block": "deny", "deny": "deny",
    "tin": "allow", "tincay": "allow", "tin cay": "allow", "allow": "allow", "trust": "allow",
    "xoa": "remove", "bo": "remove", "remove": "remove",
}  # fmt: skip


async def domains(ctx: Ctx, officer: User, args: str) -> Outbound:
    """The websites officers blocked or trusted, which the instant check believes first."""
    t = ctx.t
    verb, _, value = args.strip().partition(" ")
    action = DOMAIN_VERBS.get(fold(verb))
    if not args.strip():
        allow, deny = await intel.domain_rules(ctx.session)
        lines = [
            t._("🚫 Blocked: {domains}").format(domains=", ".join(deny) or "–"),
            t._("✅ Trusted: {domains}").format(domains=", ".join(allow) or "–"),
            "",
            t._(
                "Block: /tenmien chan example.com · trust: /tenmien tin example.com · "
                "remove: /tenmien xoa example.com"
            ),
        ]
        return Outbound("\n".join(lines), title=t._("🌐 Websites for /kiemtra"))
    found = [i.value for i in extract_indicators(value) if i.kind == "domain"]
    if action is None or not found:
        return Outbound(
            t._(
                "Write what to do and the website, for example: /tenmien chan example.com "
                "(block), /tenmien tin example.com (trust) or /tenmien xoa example.com."
            )
        )
    domain = found[0]
    if action == "remove":
        removed = await intel.remove_domain_rule(ctx.session, domain)
        if removed:
            audit.record(ctx.session, actor(ctx), "domain.rule_removed", "domain", domain, ctx.now)
        text = (
            t._("{domain} is no longer on either list.")
            if removed
            else t._("{domain} was on neither list.")
        )
        return Outbound(text.format(domain=domain))
    await intel.set_domain_rule(ctx.session, domain, action, officer.id, ctx.now)
    audit.record(
        ctx.session, actor(ctx), "domain.rule_set", "domain", domain, ctx.now, {"verdict": action}
    )
    log.info("domain %s %s by officer %s", domain, action, officer.id)
    if action == "deny":
        return Outbound(
            t._("🚫 {domain} is blocked: /kiemtra now calls it dangerous.").format(domain=domain)
        )
    return Outbound(
        t._("✅ {domain} is trusted: /kiemtra no longer warns about it.").format(domain=domain)
    )


def help_text(t: Translator) -> Outbound:
    """The officers' commands."""
    lines = [t._("Commands for officers:")]
    for name, _, _, about in MENU:
        lines.append(f"/{name} – {t._(about)}")
    lines.append("")
    lines.append(
        t._(
            "New reports arrive as cards with buttons: Claim, Details, Spam. Only one officer "
            "can claim a report; the reporter is told when it is taken into review and at every "
            "later step, never who you are."
        )
    )
    return Outbound(
        "\n".join(lines), [[Button(t._("📋 Queue"), "o:queue")]], title=t._("👮 Officers")
    )
