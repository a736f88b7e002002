"""What officers see: the priority of a report, its card in the queue, and its full detail.

Nothing here reveals who a reporter is: officers see a named reporter's pseudonymous handle
(`storage.identity`), which tells them which reports come from the same person, and whether
the reporter may be contacted; an anonymous or erased reporter shows no handle at all. Only an
admin reveals an identity (`handlers.reveal`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import Button, Outbound
from handlers.draft import DraftIndicator
from handlers.i18n import DEFAULT_LANGUAGE, N_, VIETNAM, Translator, translator
from handlers.intake import display_value
from handlers.names import safe_name
from handlers.texts import category_label
from storage import identity, intel, queue
from storage import reports as report_store
from storage.models import Report, ReportEvent, User

if TYPE_CHECKING:
    from bot.settings import Settings

# Officers' names for the workflow's statuses (residents see the gentler `texts.STATUSES`).
STATUS_NAMES: dict[str, str] = {
    "new": N_("New, unclaimed"),
    "in_review": N_("In review"),
    "needs_info": N_("Waiting for the reporter"),
    "verified": N_("Verified"),
    "forwarded": N_("Forwarded to investigators"),
    "closed": N_("Closed"),
    "rejected": N_("Rejected"),
    "spam": N_("Spam"),
}

# Why a report is not taken further: the officer picks one; the reporter is told it.
REJECT_REASONS: dict[str, str] = {
    "not_scam": N_("It does not look like a scam or a crime (for example a civil dispute)."),
    "no_info": N_("There is not enough information to act on."),
    "duplicate": N_("The same case was already reported."),
    "elsewhere": N_("It belongs to another unit; please report it to your local police."),
}
SPAM_REASON = N_("It was not recognised as a genuine report.")

# Categories where time and harm weigh most get a little more priority.
_CATEGORY_WEIGHT = {
    "police": 10,
    "deepfake": 10,
    "recovery": 8,
    "investment": 8,
    "job": 8,
    "hacked_account": 6,
    "bank_sms": 6,
}


def unreadable_file(t: Translator) -> str:
    """What an officer reads instead of a stored file that cannot be opened (the reason, which
    only the operator can act on, goes to the log)."""
    return t._(
        "⚠️ I couldn't open the stored copy of this file. Please tell the administrator: the "
        "reason is in the bot's log."
    )


def priority(report: Report, shared: int, now: datetime) -> int:
    """A score from 0 to 100: money lost, how fresh the transfer is, links to other reports.

    Money counts on a log scale (1 million ≈ 7, 100 million ≈ 27, 1 billion ≈ 33, capped
    at 40). A transfer in the last 24 hours adds 30, since a bank can sometimes still freeze
    it; up to three days adds 15, a week 5. Each other report sharing a phone, account or link
    adds 5 (up to 20). The category adds up to 10.
    """
    score = 0.0
    amount = report.amount_lost_vnd or 0
    if amount > 0:
        score += min(40.0, 10 * math.log10(1 + amount / 100_000))
        when = report.occurred_at or report.submitted_at
        if when is not None:
            age = now - when
            if age <= timedelta(hours=24):
                score += 30
            elif age <= timedelta(days=3):
                score += 15
            elif age <= timedelta(days=7):
                score += 5
    score += min(20, 5 * shared)
    score += _CATEGORY_WEIGHT.get(report.category or "other", 4)
    return min(100, round(score))


def priority_label(t: Translator, score: int) -> str:
    """🔴 urgent, 🟠 high or 🟢 normal, with the score."""
    if score >= 60:
        return t._("🔴 urgent ({score})").format(score=score)
    if score >= 35:
        return t._("🟠 high ({score})").format(score=score)
    return t._("🟢 normal ({score})").format(score=score)


def status_name(t: Translator, status: str) -> str:
    """The officers' name of a status."""
    return t._(STATUS_NAMES.get(status, status))


def duration(t: Translator, since: datetime, now: datetime) -> str:
    """A rough length of time: "5 minutes", "3 hours", "2 days"."""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return t.ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes)
    hours = minutes // 60
    if hours < 48:
        return t.ngettext("{n} hour", "{n} hours", hours).format(n=hours)
    days = hours // 24
    return t.ngettext("{n} day", "{n} days", days).format(n=days)


def ago(t: Translator, since: datetime, now: datetime) -> str:
    """How long ago, roughly: "3 hours ago", or "just now"."""
    if now - since < timedelta(minutes=1):
        return t._("just now")
    return t._("{duration} ago").format(duration=duration(t, since, now))


def day_only(moment: datetime) -> bool:
    """Whether a time stands for a whole day: the report flow stores a day at noon, Vietnam time."""
    local = moment.astimezone(VIETNAM)
    return (local.hour, local.minute, local.second, local.microsecond) == (12, 0, 0, 0)


def when(t: Translator, moment: datetime) -> str:
    """A time, or only the day when the resident gave only a day."""
    return t.day(moment) if day_only(moment) else t.when(moment)


def officer_name(t: Translator, user: User | None) -> str:
    """How an officer is named to other officers (never to residents)."""
    if user is None:
        return t._("an officer")
    return safe_name(user.display_name) or t._("officer {id}").format(id=user.external_id)


def indicator_line(t: Translator, kind: str, value: str, holder: str | None) -> str:
    """An indicator as officers read it (links defanged, phones in the national format)."""
    return display_value(t, DraftIndicator(kind=kind, value=value, holder=holder))


@dataclass
class Facts:
    """Everything a card or detail shows, read in one place."""

    report: Report
    linked: list[queue.Linked]
    files: int
    assignee: User | None
    shared: int  # other reports sharing an indicator with it
    cluster: int  # reports linked to it through shared indicators, transitively, itself included
    handle: str | None  # the reporter's pseudonym; None when anonymous or erased

    @property
    def code(self) -> str:
        """The case code."""
        return self.report.code or "?"


async def facts(session: AsyncSession, report: Report) -> Facts:
    """Read what a card or detail needs about a report."""
    assert report.id is not None
    linked = await queue.linked(session, report.id)
    files, _ = await report_store.evidence_totals(session, report.id)
    assignee = await session.get(User, report.assignee_id) if report.assignee_id else None
    shared = len({code for item in linked for code in item.others})
    size = len(await intel.cluster(session, report.id)) if shared else 1
    handle = await identity.reporter_handle(session, report)
    return Facts(report, linked, files, assignee, shared, size, handle)


def cluster_line(t: Translator, f: Facts) -> str:
    """How big the web of reports linked to this one is (through other reports too)."""
    return t.ngettext(
        "🕸 Linked, through other reports too, to {n} report in all: /chiso {code}",
        "🕸 Linked, through other reports too, to {n} reports in all: /chiso {code}",
        f.cluster - 1,
    ).format(n=f.cluster - 1, code=f.code)


def card(
    t: Translator, f: Facts, now: datetime, *, overdue: bool = False
) -> tuple[str, str, list[list[Button]]]:
    """A report's card for the queue: (title, text, buttons)."""
    report = f.report
    score = priority(report, f.shared, now)
    title = f"{f.code} · {priority_label(t, score)}"
    if overdue and report.status == "new":
        waited = report.queued_at or report.submitted_at or now
        overdue_line = t._("⏰ Still unclaimed after {duration}")
        title = overdue_line.format(duration=duration(t, waited, now)) + f"\n{title}"
    lines = [t._("Category: {category}").format(category=category_label(t, report.category))]
    lines.append(_money_line(t, report, now))
    for item in f.linked[:4]:
        line = indicator_line(t, item.kind, item.value, item.holder)
        if item.others:
            line += " — " + t.ngettext(
                "{n} other report", "{n} other reports", len(item.others)
            ).format(n=len(item.others))
        lines.append(line)
    if len(f.linked) > 4:
        lines.append(t._("… and {n} more").format(n=len(f.linked) - 4))
    if f.shared:
        lines.append(
            t.ngettext(
                "🔗 Shares details with {n} other report",
                "🔗 Shares details with {n} other reports",
                f.shared,
            ).format(n=f.shared)
        )
    if f.cluster > f.shared + 1:
        lines.append(cluster_line(t, f))
    lines.append(
        t.ngettext("📎 {n} evidence file", "📎 {n} evidence files", f.files).format(n=f.files)
    )
    if report.submitted_at:
        lines.append(
            t._("Sent {ago} via {channel}").format(
                ago=ago(t, report.submitted_at, now), channel=channel_name(report.channel)
            )
        )
    lines.append(reporter_line(t, report, f.handle))
    lines.append(_status_line(t, f))
    assert report.id is not None
    buttons = [[Button(t._("📄 Details"), f"o:view:{report.id}")]]
    if report.status == "new":
        buttons.insert(
            0,
            [
                Button(t._("✋ Claim"), f"o:claim:{report.id}"),
                Button(t._("🚫 Spam"), f"o:spam:{report.id}"),
            ],
        )
    return title, "\n".join(lines), buttons


def _money_line(t: Translator, report: Report, now: datetime) -> str:
    if not report.amount_lost_vnd:
        return t._("💸 No money lost reported")
    line = t._("💸 Lost {amount}").format(amount=t.money(report.amount_lost_vnd))
    if report.occurred_at and day_only(report.occurred_at):
        line += t._(", transferred on {day}").format(day=t.day(report.occurred_at))
    elif report.occurred_at:
        line += t._(", transferred {when} ({ago})").format(
            when=t.when(report.occurred_at), ago=ago(t, report.occurred_at, now)
        )
    return line


def _status_line(t: Translator, f: Facts) -> str:
    status = status_name(t, f.report.status)
    if f.assignee is not None and f.report.status not in ("new",):
        return t._("Status: {status} — {officer}").format(
            status=status, officer=officer_name(t, f.assignee)
        )
    return t._("Status: {status}").format(status=status)


# How each channel is named to officers (brand names, not translated).
CHANNEL_NAMES = {"telegram": "Telegram", "zalo": "Zalo", "console": "Console"}


def channel_name(channel: str) -> str:
    """The name officers know a channel by (the app the reporter used)."""
    return CHANNEL_NAMES.get(channel, channel)


def purged_note(t: Translator, when: datetime) -> str:
    """In place of what the retention rule deleted (docs/privacy.md, "Retention")."""
    return t._("(deleted on {day} under the retention rule)").format(day=t.day(when))


def reporter_line(t: Translator, report: Report, handle: str | None) -> str:
    """Who reported it, as far as officers may know: a handle, never an identity."""
    if report.purged_at is not None:
        return "👤 " + t._("Reporter's details:") + " " + purged_note(t, report.purged_at)
    if report.reporter_id is None:
        # Unlinked: the reporter deleted their data (or withdrew consent); no one can reach them.
        return t._("👤 Anonymous: the reporter can no longer be reached.")
    if report.anonymous:
        return t._("👤 Anonymous: reachable only through the bot (Ask the reporter).")
    if handle is None:
        return t._("👤 The reporter's data was deleted: they can no longer be reached.")
    who = t._("👤 Reporter {handle}").format(handle=handle)
    if report.contact_allowed:
        return who + ", " + t._("agreed to be contacted (an admin can reveal how)")
    return who + ", " + t._("reachable only through the bot")


def handle_note(t: Translator, report: Report, handle: str | None) -> str:
    """The short reporter mark in lists of reports: the handle, or that there is none."""
    if report.anonymous:
        return t._("anonymous")
    return handle or t._("reporter deleted")


EVENT_NAMES: dict[str, str] = {
    "submitted": N_("submitted"),
    "claimed": N_("claimed"),
    "released": N_("released back to the queue"),
    "expired": N_("claim expired, back to the queue"),
    "reassigned": N_("reassigned"),
    "status": N_("status changed"),
    "reopened": N_("reopened"),
    "note": N_("note"),
    "question": N_("question to the reporter"),
    "answer": N_("answer from the reporter"),
    "erased": N_("the reporter deleted their personal data; the report is kept, anonymous"),
    "purged": N_("evidence files and the reporter's personal data deleted (retention rule)"),
}


def timeline(
    t: Translator, report: Report, events: list[ReportEvent], people: dict[int, User]
) -> list[str]:
    """One line per event: time, who, what, and the note."""
    lines = []
    for event in events:
        who: str
        actor = people.get(event.actor_id) if event.actor_id is not None else None
        if event.action in ("answer", "submitted") or (
            event.actor_id is not None and event.actor_id == report.reporter_id
        ):
            who = t._("reporter")  # even one who is an officer too: reports may be anonymous
        elif actor is None:
            who = t._("system")
        else:
            who = officer_name(
                t, actor
            )  # only officers act on others' reports, even if since removed
        what = t._(EVENT_NAMES.get(event.action, event.action))
        if event.to_status and event.action in ("status", "reopened", "reassigned"):
            what += (
                f": {status_name(t, event.from_status or '')} → {status_name(t, event.to_status)}"
            )
        line = f"{t.when(event.created_at)} · {who} · {what}"
        if event.note and event.to_status in ("rejected", "spam"):
            line += f"\n   «{t._(event.note)}»"  # a reason chosen from a list: translate it
        elif event.note:
            line += f"\n   «{event.note}»"
        lines.append(line)
    return lines


async def chat_translators(session: AsyncSession, chats: list[str]) -> dict[str, Translator]:
    """The language of each officers' chat."""
    # The officers' group reads Vietnamese; an officer's private chat, their own language.
    people = {
        user.external_id: user for user in await queue.staff(session) if user.external_id in chats
    }
    found = {}
    for chat in chats:
        user = people.get(chat)
        language = user.language if user is not None and user.language else DEFAULT_LANGUAGE
        found[chat] = translator(language)
    return found


async def officer_chats(session: AsyncSession, settings: Settings, channel: str) -> list[str]:
    """Where cards go: the officers' group, or else every officer's private chat."""
    if settings.officer_chat_id is not None and channel == "telegram":
        return [str(settings.officer_chat_id)]
    return [user.external_id for user in await queue.staff(session, channel)]


async def new_cards(
    session: AsyncSession,
    settings: Settings,
    channel: str,
    report: Report,
    now: datetime,
    *,
    overdue: bool = False,
    heading: str | None = None,
) -> list[Outbound]:
    """Post a report's card to the officers (recorded once sent, to be edited later).

    `heading` (an untranslated message) goes above the card, e.g. why it is posted again.
    """
    assert report.id is not None
    chats = await officer_chats(session, settings, channel)
    if not chats:
        return []
    f = await facts(session, report)
    languages = await chat_translators(session, chats)
    out = []
    for chat in chats:
        t = languages[chat]
        title, text, buttons = card(t, f, now, overdue=overdue)
        if heading:
            title = f"{t._(heading)}\n{title}"
        out.append(Outbound(text, buttons, to=chat, title=title, receipt=("card", report.id)))
    return out


async def card_updates(
    session: AsyncSession, settings: Settings, report: Report, now: datetime
) -> list[Outbound]:
    """Edits that make every posted card of a report show how it stands now."""
    assert report.id is not None
    posted = await queue.cards_of(session, report.id)
    if not posted:
        return []
    await session.refresh(report)
    f = await facts(session, report)
    languages = await chat_translators(session, [c.chat_id for c in posted])
    out = []
    for posted_card in posted:
        t = languages[posted_card.chat_id]
        title, text, buttons = card(t, f, now)
        out.append(
            Outbound(
                text,
                buttons,
                to=posted_card.chat_id,
                title=title,
                edit=posted_card.message_id,
                channel=posted_card.channel,
            )
        )
    return out
