"""Reports per day: how many a resident may send, and what they hear when they reach it.

The count is of reports submitted in the last 24 hours, read from the database, so it holds
across processes and restarts. Officers and admins are not limited (they may file for people
at a front desk). Reaching the limit never costs an answer: a report already begun stays as it
is, to be sent once the day has passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from handlers.context import Ctx
from handlers.core import Outbound
from handlers.i18n import Translator
from storage import reports as report_store
from storage.queue import STAFF

DAY = timedelta(hours=24)


@dataclass(frozen=True)
class Wait:
    """The limit is reached: `sent` reports in the last 24 hours; the next one from `until`."""

    sent: int
    until: datetime


async def report_wait(ctx: Ctx) -> Wait | None:
    """When the resident may send a report again, or None if they may now."""
    limit = ctx.services.settings.reports_per_day
    user = ctx.user
    if limit == 0 or user is None or user.id is None:
        return None
    if user.role in STAFF or ctx.services.settings.is_admin(user.channel, user.external_id):
        return None
    sent = await report_store.submitted_since(ctx.session, user.id, ctx.now - DAY)
    if len(sent) < limit:
        return None
    # Once the oldest report that keeps the count at the limit is a day old, one more fits.
    return Wait(len(sent), sent[len(sent) - limit] + DAY)


def reached(t: Translator, wait: Wait, kept: Literal["none", "draft", "report"]) -> Outbound:
    """The kind message at the limit: when they can report again, and where to go if urgent.

    `kept`: "draft" when an unfinished report is waiting, "report" when it is the report they
    just tried to send (it stays at its summary).
    """
    lines = [
        t.ngettext(
            "You have sent {n} report in the last 24 hours, the most I can take from one person "
            "in a day.",
            "You have sent {n} reports in the last 24 hours, the most I can take from one person "
            "in a day.",
            wait.sent,
        ).format(n=wait.sent)
        + " "
        + t._("You can send a new one from {when}.").format(when=t.when(wait.until))
    ]
    if kept == "report":
        lines.append(t._("This report is kept as it is: press “Send the report” again then."))
    elif kept == "draft":
        lines.append(t._("Your unfinished report is kept."))
    lines.append(
        t._(
            "If it is urgent (you are in danger, or money is being taken from you right now), "
            "call 113 or go to the nearest police station. To stop a transfer, call your bank's "
            "hotline at once."
        )
    )
    return Outbound("\n\n".join(lines))
