"""Erasing a person: their identity and contact details go, the reports they sent stay, unlinked.

Law No. 91/2025/QH15 lets a resident have their personal data deleted and withdraw consent,
while data needed to prevent and investigate crime may be kept. So a submitted report, its
evidence and its indicators (the scammer's phones, accounts, links) stay for the police, but
nothing is left that says who sent it: the report is detached and marked anonymous, its contact
phone is removed, and the user row itself is deleted.

Why delete the row rather than blank it: a blanked row would still be a stable id tying the
reports' former owner together, and nothing needs it (the audit log names residents by role
only, and every foreign key to `user` is SET NULL or CASCADE). Someone who talks to the bot
again afterwards is a new person to it and is asked for consent again.

Kept on purpose: `processedupdate` (update ids only, needed so a re-delivered update has no
effect), the append-only audit log (no resident ids in it), and what the resident wrote inside
a submitted report (its story and their answers to officers' questions), which is the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Delete, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage import audit, identity, queue, zalo
from storage.models import (
    Attachment,
    BroadcastDelivery,
    Dialogue,
    InboxUpdate,
    OnceMark,
    PendingInput,
    Report,
    ReportEvent,
    Subscription,
    User,
)
from storage.reports import discard_draft


@dataclass
class Erased:
    """What an erasure did: counts for the audit log and the resident, files to delete."""

    reports: int = 0  # submitted reports kept for the investigation, now anonymous
    drafts: int = 0  # unfinished reports deleted
    files: int = 0  # evidence files of those drafts deleted
    subscriptions: int = 0
    questions: int = 0  # officers' questions waiting for an answer, dropped
    updates: int = 0  # raw updates deleted from the webhook inbox
    # Stored evidence paths no report uses any more: delete from disk after the commit.
    orphans: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The counts, for the audit log."""
        return {
            "reports": self.reports,
            "drafts": self.drafts,
            "files": self.files,
            "subscriptions": self.subscriptions,
            "questions": self.questions,
            "updates": self.updates,
        }


def inbox_keys(user: User) -> list[str]:
    """How the webhook inbox names this person's updates (see `bot.webhook.user_key`)."""
    return [f"user:{user.external_id}", f"chat:{user.external_id}"]


async def erase_person(
    session: AsyncSession, user: User, now: datetime, *, current_update: int | None = None
) -> Erased:
    """Erase `user`'s identity and contact details; keep their submitted reports, unlinked.

    `current_update` is the update being handled (the resident's "confirm"): its raw copy in
    the webhook inbox is deleted with the others. Updates of theirs still waiting to be handled
    are left to be handled (and pruned with every handled update after two days): deleting them
    would silently drop messages. One transaction: all of it happens, or none.
    """
    assert user.id is not None
    done = Erased()
    owned = (await session.execute(select(Report).where(Report.reporter_id == user.id))).scalars()
    for report in list(owned):
        assert report.id is not None
        if report.status == "draft":
            files = await session.execute(
                select(func.count()).where(Attachment.report_id == report.id)
            )
            done.files += int(files.scalar_one())
            done.orphans += await discard_draft(session, report.id)
            done.drafts += 1
            continue
        await session.execute(
            update(Report)
            .where(col(Report.id) == report.id)
            .values(
                reporter_id=None,
                anonymous=True,
                contact_allowed=False,
                updated_at=now,
            )
        )
        await identity.erase_contacts(session, [report.id])
        # The officers' timeline says why the reporter can no longer be asked anything.
        await queue.add_event(
            session, report.id, actor_id=None, action="erased", now=now, audit_actor=audit.RESIDENT
        )
        done.reports += 1
    # Only a former officer (staff cannot erase themselves) can be a report's assignee; the
    # audit log keeps who handled what, by user id, so the reports let go of the row.
    await session.execute(
        update(Report).where(col(Report.assignee_id) == user.id).values(assignee_id=None)
    )
    # Their own events (submitting, answering) stay on the timeline as "reporter", unlinked.
    await session.execute(
        update(ReportEvent).where(col(ReportEvent.actor_id) == user.id).values(actor_id=None)
    )
    done.questions = await _delete(
        session, delete(PendingInput).where(col(PendingInput.user_id) == user.id)
    )
    done.subscriptions = await _delete(
        session,
        delete(Subscription).where(
            col(Subscription.user_id) == user.id, col(Subscription.active).is_(True)
        ),
    )
    await session.execute(delete(Subscription).where(col(Subscription.user_id) == user.id))
    # Delivery rows hold the chat id; the dialogue row, the draft's answers.
    await session.execute(
        delete(BroadcastDelivery).where(col(BroadcastDelivery.user_id) == user.id)
    )
    await session.execute(delete(Dialogue).where(col(Dialogue.user_id) == user.id))
    # An album's acknowledgement mark is named after the sender (see `handlers.router`).
    await session.execute(
        delete(OnceMark).where(
            col(OnceMark.key).startswith(f"album:{user.channel}:{user.external_id}:")
        )
    )
    if user.channel == "zalo":
        # Zalo's reply window, the buttons last shown and held messages name them by Zalo id.
        await zalo.forget(session, user.external_id)
    done.updates = await _raw_updates(session, user, current_update)
    session.info.pop("dialogue", None)
    session.info.pop("pending", None)
    await session.delete(user)
    await session.flush()
    return done


async def _raw_updates(session: AsyncSession, user: User, current: int | None) -> int:
    """Delete the raw copies of this person's updates kept by the webhook inbox (they hold
    their name, username and messages), except those still waiting to be handled."""
    handled = col(InboxUpdate.handled_at).is_not(None)
    done = handled if current is None else or_(handled, col(InboxUpdate.update_id) == current)
    return await _delete(
        session,
        delete(InboxUpdate).where(
            col(InboxUpdate.channel) == user.channel,
            col(InboxUpdate.user_key).in_(inbox_keys(user)),
            done,
        ),
    )


async def _delete(session: AsyncSession, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed (counted portably through RETURNING)."""
    result = await session.execute(statement.returning(sa.literal(1)))
    return len(result.all())
