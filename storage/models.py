"""SQLModel tables. Every time is stored in UTC; `UTCDateTime` gives it back timezone-aware."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC that always reads back timezone-aware.

    SQLite returns naive datetimes even for timezone-aware columns; PostgreSQL returns aware ones.
    Normalising here means no caller ever compares a naive time with an aware one.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(nullable: bool = False, default: Any = None) -> Any:
    if default is not None:
        return Field(default_factory=default, sa_type=UTCDateTime, nullable=nullable)
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable)


class User(SQLModel, table=True):
    """Someone who talks to the bot. Created only once they consent.

    This is the identity table (docs/privacy.md): the app's user id and, for staff, the name.
    Officers never see these for a reporter, only `handle`, a random pseudonym that shows which
    reports come from the same person without saying who (`storage.identity`).
    """

    __table_args__ = (
        sa.UniqueConstraint("channel", "external_id", name="uq_user_channel"),
        sa.Index("ix_user_handle", "handle", unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=64)
    language: str | None = Field(default=None, max_length=8)
    role: str = Field(default="resident", max_length=16, index=True)
    # Kept for officers and admins only (shown to other officers); never for residents.
    display_name: str | None = Field(default=None, max_length=128)
    consent_at: datetime | None = _ts(nullable=True)
    consent_version: str | None = Field(default=None, max_length=16)
    created_at: datetime = _ts(default=utcnow)
    # The reporter's pseudonym for officers (`NB-7K3QXM`), given when first needed.
    handle: str | None = Field(default=None, max_length=16)


class Dialogue(SQLModel, table=True):
    """Where a user is in a flow. One row per user; every answered step is committed here."""

    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
        )
    )
    flow: str = Field(max_length=16)
    step: str = Field(max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    version: int = 1
    created_at: datetime = _ts(default=utcnow)
    updated_at: datetime = _ts(default=utcnow)
    expires_at: datetime = _ts(default=utcnow)


class Report(SQLModel, table=True):
    """A report. It exists from the first step as a draft so evidence can attach to it."""

    # The dashboard's queue filtered by status, newest first, reads this index in order and
    # stops at the page's end (PostgreSQL would otherwise walk the whole primary key).
    __table_args__ = (sa.Index("ix_report_status_id", "status", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, max_length=16, unique=True)
    reporter_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL"), index=True),
    )
    channel: str = Field(max_length=16)
    status: str = Field(default="draft", max_length=16, index=True)
    category: str | None = Field(default=None, max_length=32)
    description: str | None = Field(default=None, sa_type=sa.Text)
    occurred_at: datetime | None = _ts(nullable=True)
    amount_lost_vnd: int | None = Field(default=None, sa_type=sa.BigInteger)
    anonymous: bool = False
    contact_allowed: bool = False
    assignee_id: int | None = Field(default=None, foreign_key="user.id")
    created_at: datetime = _ts(default=utcnow)
    submitted_at: datetime | None = _ts(nullable=True)
    updated_at: datetime = _ts(default=utcnow)
    # The review queue's timers live here, so they survive restarts and are shared by every
    # process: when the report (re)entered the queue, when it was announced again as overdue,
    # when its card reached the officers, and the last officer action on a claim.
    queued_at: datetime | None = _ts(nullable=True)
    escalated_at: datetime | None = _ts(nullable=True)
    announced_at: datetime | None = _ts(nullable=True)
    claimed_at: datetime | None = _ts(nullable=True)
    last_action_at: datetime | None = _ts(nullable=True)
    # When the retention rule removed its evidence files and the reporter's personal data
    # (storage/retention.py); what is left is the case's facts and the scammers' indicators.
    purged_at: datetime | None = _ts(nullable=True)


class ReporterContact(SQLModel, table=True):
    """The phone number a reporter gave so officers may call them: identity, kept apart.

    Read only when an admin reveals the reporter (`storage.identity.reveal`), never for
    cards, details or plain exports; erased with the reporter's identity.
    """

    report_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("report.id", ondelete="CASCADE"), primary_key=True
        )
    )
    phone: str = Field(max_length=32)
    created_at: datetime = _ts(default=utcnow)


class Indicator(SQLModel, table=True):
    """A phone number, bank account, link, domain, email or social account, stored once."""

    __table_args__ = (sa.UniqueConstraint("kind", "value", name="uq_indicator_kind_value"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    value: str = Field(max_length=512)
    first_seen_at: datetime = _ts(default=utcnow)


class ReportIndicator(SQLModel, table=True):
    """Links a report to an indicator, with how the resident wrote it."""

    report_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("report.id", ondelete="CASCADE"), primary_key=True
        )
    )
    indicator_id: int = Field(
        sa_column=sa.Column(
            sa.Integer,
            sa.ForeignKey("indicator.id", ondelete="CASCADE"),
            primary_key=True,
            index=True,
        )
    )
    raw: str = Field(default="", max_length=1024)
    holder: str | None = Field(default=None, max_length=128)


class Attachment(SQLModel, table=True):
    """An evidence file, stored under the data directory by its SHA-256 at receipt."""

    __table_args__ = (sa.UniqueConstraint("report_id", "sha256", name="uq_attachment_report_sha"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("report.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    kind: str = Field(max_length=16)
    sha256: str = Field(max_length=64, index=True)
    size: int
    mime: str = Field(max_length=128)
    stored_path: str = Field(max_length=256)
    file_id: str | None = Field(default=None, max_length=256)
    file_unique_id: str | None = Field(default=None, max_length=128)
    original_name: str | None = Field(default=None, max_length=256)
    media_group_id: str | None = Field(default=None, max_length=64, index=True)
    forwarded_from: str | None = Field(default=None, max_length=256)
    received_at: datetime = _ts(default=utcnow)
    # When the file was deleted under the retention rule; its hash, type and size stay.
    purged_at: datetime | None = _ts(nullable=True)


class ReportEvent(SQLModel, table=True):
    """The audit trail of a report: who did what, from which status to which, and when."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("report.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    actor_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL"))
    )
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = _ts(default=utcnow)
    # Events the reporter is told about, and when that message went out (a sweep retries the
    # ones a crash or an outage left unsent).
    notify: bool = False
    notified_at: datetime | None = _ts(nullable=True)


class ReportCard(SQLModel, table=True):
    """A report card posted to officers: edited in place whenever the report changes."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("report.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    chat_id: str = Field(max_length=64)
    message_id: str = Field(max_length=64)
    created_at: datetime = _ts(default=utcnow)
    # The channel of `chat_id`: its edits go out through that channel, whichever channel's
    # update changed the report.
    channel: str = Field(
        default="telegram", max_length=16, sa_column_kwargs={"server_default": "telegram"}
    )


class PendingInput(SQLModel, table=True):
    """Typed input a user owes the bot outside the report flow.

    An officer's note, question or reason after pressing its button; a resident's answer to an
    officer's question. `armed` means the resident pressed "Answer", so their next message is the
    answer even while they are writing another report.
    """

    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
        )
    )
    action: str = Field(max_length=16)
    report_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("report.id", ondelete="CASCADE"), nullable=False
        )
    )
    asker_id: int | None = Field(default=None)
    armed: bool = False
    expires_at: datetime = _ts(default=utcnow)


class DomainRule(SQLModel, table=True):
    """A registrable domain officers marked as known good (allow) or known bad (deny).

    The instant check's link analysis trusts these over its own guesses.
    """

    domain: str = Field(max_length=253, primary_key=True)
    verdict: str = Field(max_length=8)  # "allow" or "deny"
    added_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL")),
    )
    created_at: datetime = _ts(default=utcnow)


class ProcessedUpdate(SQLModel, table=True):
    """Updates already handled, so a re-delivered one has a single effect."""

    channel: str = Field(max_length=16, primary_key=True)
    update_id: int = Field(
        sa_column=sa.Column(sa.BigInteger, primary_key=True, autoincrement=False)
    )
    processed_at: datetime = _ts(default=utcnow)


class CaseCounter(SQLModel, table=True):
    """The last case number handed out in a month (`TB-<yymm>-<n>`)."""

    period: str = Field(max_length=8, primary_key=True)
    last: int = 0


class OnceMark(SQLModel, table=True):
    """Things done once across processes: an album's acknowledgement (`album:…`), a timer's
    job such as one day's summary (`summary:…`). Whoever inserts the key does the thing."""

    key: str = Field(max_length=128, primary_key=True)
    created_at: datetime = _ts(default=utcnow)


class Subscription(SQLModel, table=True):
    """A resident's choice about scam warnings: offered once, changed whenever they like.

    `active` is who receives broadcasts. `offered_at` records that the offer was made, so it is
    made only once; `reason` says why the last change happened ("user", "blocked").
    """

    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
        )
    )
    active: bool = Field(default=False, index=True)
    offered_at: datetime | None = _ts(nullable=True)
    changed_at: datetime | None = _ts(nullable=True)
    reason: str | None = Field(default=None, max_length=16)


class Broadcast(SQLModel, table=True):
    """A scam warning from an admin to the subscribers, from draft to its final counts.

    Status: draft (being composed; `awaiting` says the next message of the author is its
    text), approval (waiting for a second admin), sending, paused, cancelled, done. A sender
    holds `lease_owner` until `lease_until`, so one process sends it at a time.
    """

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    status: str = Field(default="draft", max_length=16, index=True)
    author_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL")),
    )
    approver_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL")),
    )
    text: str = Field(default="", sa_type=sa.Text)
    photo_path: str | None = Field(default=None, max_length=256)
    photo_sha256: str | None = Field(default=None, max_length=64)
    # The platform's id of the photo once uploaded, so it is uploaded once, not per recipient.
    photo_file_id: str | None = Field(default=None, max_length=256)
    audience: str = Field(default="all", max_length=8)  # "all" or a language code
    awaiting: str | None = Field(default=None, max_length=16)
    # Where the progress message lives (the chat of whoever started the sending).
    progress_chat: str | None = Field(default=None, max_length=64)
    progress_message: str | None = Field(default=None, max_length=64)
    total: int = 0
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    unknown: int = 0
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(default=utcnow)
    submitted_at: datetime | None = _ts(nullable=True)
    approved_at: datetime | None = _ts(nullable=True)
    started_at: datetime | None = _ts(nullable=True)
    finished_at: datetime | None = _ts(nullable=True)


class BroadcastDelivery(SQLModel, table=True):
    """One recipient of a broadcast and what became of the message to them.

    State: pending → sending → sent, blocked (they blocked the bot: unsubscribed) or failed
    (refused, or still failing after the retries); `unknown` when the sender stopped while the
    message was on its way, so it may have arrived: it is not sent again (never twice);
    `skipped` when the platform's quota for that person was used up (Zalo's per-follower cap).
    """

    __table_args__ = (sa.Index("ix_broadcastdelivery_queue", "broadcast_id", "state", "due_at"),)

    broadcast_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("broadcast.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
        )
    )
    chat_id: str = Field(max_length=64)
    language: str = Field(default="vi", max_length=8)
    state: str = Field(default="pending", max_length=16)
    attempts: int = 0
    error: str | None = Field(default=None, max_length=200)
    # The recipient's channel: their warning goes out through it, whoever wrote the warning.
    channel: str = Field(
        default="telegram", max_length=16, sa_column_kwargs={"server_default": "telegram"}
    )
    due_at: datetime | None = _ts(nullable=True)
    sent_at: datetime | None = _ts(nullable=True)


class InboxUpdate(SQLModel, table=True):
    """An update received by webhook, stored before Telegram is answered (the durable inbox).

    Any process may handle it; `user_key` keeps one user's updates in order across processes:
    only the oldest unhandled update of a user can be claimed, and a claim lasts until
    `claimed_until` (after a crash another process takes it over).
    """

    # Partial indexes over the unhandled updates only (both engines have them): the claim
    # walks these in id order and finds each one's user's oldest in one index probe.
    __table_args__ = (
        sa.UniqueConstraint("channel", "update_id", name="uq_inbox_channel_update"),
        sa.Index(
            "ix_inbox_unhandled",
            "channel",
            "id",
            postgresql_where=sa.text("handled_at IS NULL"),
            sqlite_where=sa.text("handled_at IS NULL"),
        ),
        sa.Index(
            "ix_inbox_user_head",
            "channel",
            "user_key",
            "update_id",
            postgresql_where=sa.text("handled_at IS NULL"),
            sqlite_where=sa.text("handled_at IS NULL"),
        ),
        sa.Index("ix_inbox_handled", "handled_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    update_id: int = Field(sa_type=sa.BigInteger)
    user_key: str = Field(max_length=64)
    payload: str = Field(sa_type=sa.Text)
    received_at: datetime = _ts(default=utcnow)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: datetime | None = _ts(nullable=True)
    attempts: int = 0
    handled_at: datetime | None = _ts(nullable=True)


class AuditEvent(SQLModel, table=True):
    """One entry of the audit log: who did what to which object, hash-chained to the one before.

    Append-only: no code updates or deletes these rows (triggers refuse it). `id` is the
    position in the chain (1, 2, 3… with no gaps); `hash` is SHA-256 over the other fields and
    `prev_hash` (see `storage.audit`), so a changed, deleted, inserted or reordered event breaks
    the chain. `detail` never holds personal data. There are no foreign keys on purpose: the
    log outlives the users and reports it names, and a cascade must never touch it.
    """

    __table_args__ = (
        sa.Index("ix_auditevent_object", "object_kind", "object_id"),
        sa.Index("ix_auditevent_actor", "actor_id"),
        sa.Index("ix_auditevent_at", "at"),
    )

    id: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    at: datetime = _ts(default=utcnow)
    # A resident's own actions carry no user id, only the role: the log stays free of anything
    # that ties a person to a report once their identity is erased.
    actor_id: int | None = None
    actor_role: str = Field(max_length=16)
    action: str = Field(max_length=48)
    object_kind: str = Field(max_length=16)
    object_id: str | None = Field(default=None, max_length=253)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # Unique: two events can never follow the same one (the chain cannot fork).
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)


class AuditHead(SQLModel, table=True):
    """The audit chain's last event (one row, id 1). Appending locks this row first, so
    appends from every process and connection line up one after the other."""

    id: int = Field(default=1, primary_key=True)
    last_id: int = 0
    last_hash: str = Field(max_length=64)


class Ban(SQLModel, table=True):
    """A user whose messages the bot no longer handles: who decided it, when and why.

    A lifted ban stays as history (`lifted_at`, `lifted_by`); at most one ban per user is in
    force (a partial unique index). `source` says where it was decided: `bot`, or `cli:<login>`
    for the command line. `via` is what the admin named (a case code, or `telegram:<id>`), so a
    list of bans shows no more of an anonymous reporter than the admin already knew.
    `noticed_at` is when the banned user was last told, so they are told once in a while, not
    at every message.
    """

    __table_args__ = (
        sa.Index(
            "uq_ban_in_force",
            "user_id",
            unique=True,
            postgresql_where=sa.text("lifted_at IS NULL"),
            sqlite_where=sa.text("lifted_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    reason: str = Field(sa_type=sa.Text)
    via: str = Field(max_length=64)
    source: str = Field(default="bot", max_length=64)
    banned_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL")),
    )
    banned_at: datetime = _ts(default=utcnow)
    lifted_at: datetime | None = _ts(nullable=True)
    lifted_by: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id", ondelete="SET NULL")),
    )
    lift_source: str | None = Field(default=None, max_length=64)
    noticed_at: datetime | None = _ts(nullable=True)


class DashboardToken(SQLModel, table=True):
    """A one-time login link to the web dashboard, sent by the bot to an officer.

    Only the SHA-256 of the token is stored, so a copy of the database opens no session; it is
    consumed by one conditional UPDATE (`used_at IS NULL AND expires_at > now`), so a link
    opened twice, or by two people at once, starts one session.
    """

    token_hash: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    created_at: datetime = _ts(default=utcnow)
    expires_at: datetime = _ts(default=utcnow)
    used_at: datetime | None = _ts(nullable=True)


class DashboardSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random id; the table keeps its SHA-256, the
    officer, the CSRF token of its forms and when it expires. Removing an officer deletes
    their sessions (and every request re-reads the role anyway)."""

    id_hash: str = Field(max_length=64, primary_key=True)
    user_id: int = Field(
        sa_column=sa.Column(
            sa.Integer, sa.ForeignKey("user.id", ondelete="CASCADE"), index=True, nullable=False
        )
    )
    csrf: str = Field(max_length=64)
    language: str = Field(default="vi", max_length=8)
    created_at: datetime = _ts(default=utcnow)
    expires_at: datetime = _ts(default=utcnow)


class ZaloToken(SQLModel, table=True):
    """The Zalo Official Account's current token pair (one row, `id` 1).

    Zalo's refresh token is single-use: every rotation stores the new pair here in the same
    transaction that locked the row, so two processes never spend the same refresh token.
    """

    id: int = Field(default=1, primary_key=True)
    access_token: str = Field(sa_type=sa.Text)
    refresh_token: str = Field(sa_type=sa.Text)
    expires_at: datetime = _ts()
    rotated_at: datetime | None = _ts(nullable=True)


class ZaloChat(SQLModel, table=True):
    """What Zalo's rules need to know of one resident's chat with the Official Account.

    Replies are free only within a window after the resident's last message, and only so many
    of them; the buttons last shown are kept so that a typed number presses one (Zalo shows
    them as a numbered list).
    """

    external_id: str = Field(max_length=64, primary_key=True)
    last_inbound_at: datetime | None = _ts(nullable=True)
    replies: int = 0
    buttons: str | None = Field(default=None, sa_type=sa.Text)
    following: bool = True
    # Scam warnings sent to them in `warnings_month` (YYYY-MM): Zalo caps them per follower.
    warnings_month: str | None = Field(default=None, max_length=7)
    warnings_sent: int = 0


class ZaloHeld(SQLModel, table=True):
    """A message to a Zalo resident that Zalo's window did not allow yet; sent when they next
    write."""

    __table_args__ = (sa.Index("ix_zaloheld_external", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=64)
    text: str = Field(sa_type=sa.Text)
    created_at: datetime = _ts(default=utcnow)
