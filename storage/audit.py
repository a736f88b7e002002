"""The audit log: who viewed, exported or changed what, append-only and hash-chained.

Recording: `record(session, actor, action, kind, id, now, detail)` queues an event on the
session, and `Database.session` appends the queued events just before it commits. So an action
and its event commit together or not at all; and the chain head's row lock, which is what keeps
two appends (from any process, on either engine) from forking the chain, is the last lock a
transaction takes and is held only for its commit: it can never be part of a deadlock with the
locks the audited action took.

The chain: event n's `hash` is SHA-256 over the canonical JSON of its fields and event n-1's hash
(`prev_hash`; the first event's is 64 zeros). `verify` walks it and names the first event that
was changed, deleted, inserted or reordered. docs/audit.md says what this does and does not
protect against.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import AuditEvent, AuditHead, Report, ReportEvent, User

GENESIS = "0" * 64
_PENDING = "audit_pending"
# `detail` is for identifiers and counts (a case code, a status, how many files), never for
# what people wrote: strings are kept short so free text cannot slip in unnoticed.
MAX_STRING = 64
MAX_LIST = 20


@dataclass(frozen=True)
class Actor:
    """Who acted: a staff user (`id` is their user row) or a role without an id."""

    id: int | None
    role: str


SYSTEM = Actor(None, "system")  # timers, settings applied at start
CLI = Actor(None, "cli")  # the `tinbao` command line (the OS account is in the OS's own logs)
RESIDENT = Actor(None, "resident")  # a resident on their own report: never their id


def actor(user: User | None, role: str | None = None) -> Actor:
    """The actor for `user` acting as `role` (default: the role stored for them).

    Residents are recorded by role only, so the append-only log never ties a person to a report
    (their identity can be erased from everywhere else).
    """
    if user is None:
        return SYSTEM
    role = role or user.role
    if role not in ("officer", "admin"):
        return RESIDENT
    return Actor(user.id, role)


Scalar = str | int | bool | None


@dataclass(frozen=True)
class _Pending:
    at: datetime
    actor: Actor
    action: str
    object_kind: str
    object_id: str | None
    detail: dict[str, Any]


def record(
    session: AsyncSession,
    who: Actor,
    action: str,
    object_kind: str,
    object_id: int | str | None,
    now: datetime,
    detail: Mapping[str, Scalar | Sequence[Scalar]] | None = None,
) -> None:
    """Queue an audit event; it is appended, chained, when the session's transaction commits.

    `detail` holds identifiers and counts only (no names, phone or account numbers, message
    text): keys are strings, values short strings, integers, booleans, None or short lists of
    them. Anything else raises ValueError, a programming error.
    """
    if now.tzinfo is None:
        raise ValueError("naive datetime given to the audit log")
    clean = _checked(dict(detail or {}))
    event = _Pending(
        at=now.astimezone(UTC),
        actor=who,
        action=action,
        object_kind=object_kind,
        object_id=None if object_id is None else str(object_id),
        detail=clean,
    )
    session.info.setdefault(_PENDING, []).append(event)


async def report_event(
    session: AsyncSession,
    event: ReportEvent,
    who: Actor,
    extra: Mapping[str, Scalar] | None = None,
) -> None:
    """Record a report's timeline event (`report.<action>`): the case code and the statuses,
    never the note, which may hold anything."""
    report = await session.get(Report, event.report_id)
    detail: dict[str, Scalar] = {"code": report.code if report else None}
    if event.from_status is not None or event.to_status is not None:
        detail |= {"from": event.from_status, "to": event.to_status}
    record(
        session,
        who,
        f"report.{event.action}",
        "report",
        event.report_id,
        event.created_at,
        detail | dict(extra or {}),
    )


def _checked(detail: dict[str, Any]) -> dict[str, Any]:
    def scalar(value: Any) -> bool:
        if isinstance(value, str):
            return len(value) <= MAX_STRING
        return value is None or isinstance(value, bool | int)

    for key, value in detail.items():
        if not isinstance(key, str):
            raise ValueError(f"audit detail key {key!r} is not a string")
        if isinstance(value, list | tuple):
            if len(value) > MAX_LIST or not all(scalar(v) for v in value):
                raise ValueError(f"audit detail {key!r} is not a short list of short values")
            detail[key] = list(value)
        elif not scalar(value):
            raise ValueError(f"audit detail {key!r} is not a short string, number or flag")
    return detail


async def append_pending(session: AsyncSession) -> int:
    """Append the events `record` queued on this session; returns how many.

    One conditional write on the chain head takes its row lock (PostgreSQL) or the write lock
    (SQLite) and hands out the next ids with the previous hash; whoever appends at the same
    time waits for this transaction to commit and then continues from its last event.
    """
    pending: list[_Pending] = session.info.pop(_PENDING, [])
    if not pending:
        return 0
    head = (
        await session.execute(
            update(AuditHead)
            .where(col(AuditHead.id) == 1)
            .values(last_id=col(AuditHead.last_id) + len(pending))
            .returning(col(AuditHead.last_id), col(AuditHead.last_hash))
        )
    ).one_or_none()
    if head is None:
        raise RuntimeError("the audit chain's head row is missing: run `tinbao db upgrade`")
    last_id, prev = int(head[0]), str(head[1])
    rows = []
    for number, event in enumerate(pending, start=last_id - len(pending) + 1):
        fields = {
            "at": event.at,
            "actor_id": event.actor.id,
            "actor_role": event.actor.role,
            "action": event.action,
            "object_kind": event.object_kind,
            "object_id": event.object_id,
            "detail": event.detail,
        }
        digest = event_hash(fields, prev)
        rows.append({"id": number, **fields, "prev_hash": prev, "hash": digest})
        prev = digest
    await session.execute(insert(AuditEvent), rows)
    await session.execute(update(AuditHead).where(col(AuditHead.id) == 1).values(last_hash=prev))
    return len(rows)


def canonical(fields: Mapping[str, Any], prev_hash: str) -> bytes:
    """The bytes an event's hash covers: its fields and the previous hash, as compact JSON with
    sorted keys, in ASCII (other characters as `\\u` escapes), with the time in ISO 8601 UTC to
    the microsecond. The id (the position) is left out: the chain of hashes fixes the order."""
    at: datetime = fields["at"]
    body = {
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": fields["actor_id"],
        "actor_role": fields["actor_role"],
        "action": fields["action"],
        "object_kind": fields["object_kind"],
        "object_id": fields["object_id"],
        "detail": fields["detail"],
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def event_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of `canonical(fields, prev_hash)`."""
    return hashlib.sha256(canonical(fields, prev_hash)).hexdigest()


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """The fields of an event that its hash covers."""
    return {
        "at": event.at,
        "actor_id": event.actor_id,
        "actor_role": event.actor_role,
        "action": event.action,
        "object_kind": event.object_kind,
        "object_id": event.object_id,
        "detail": event.detail,
    }


# ------------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold: the event, what happened to it, and why."""

    event_id: int
    kind: str  # changed, deleted, inserted, reordered, rewritten
    reason: str


@dataclass(frozen=True)
class Verdict:
    """The result of walking the chain: how many events verified, and the first break."""

    count: int
    last_id: int
    last_hash: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        """True when the whole chain verified."""
        return self.broken is None


async def verify(session: AsyncSession, anchor: tuple[int, str] | None = None) -> Verdict:
    """Walk the chain from the first event and stop at the first break.

    Every event must hash to its `hash`, point at the previous event's hash and have the next
    id; the last one must be the chain head. `anchor` (id, hash), kept somewhere else earlier,
    also catches a chain recomputed from scratch by someone who could write the database.
    The events and the head are read by one statement, so appends going on meanwhile are
    either wholly in the walk or not at all.
    """
    head_id = select(AuditHead.last_id).where(col(AuditHead.id) == 1).scalar_subquery()
    head_hash = select(AuditHead.last_hash).where(col(AuditHead.id) == 1).scalar_subquery()
    statement = select(AuditEvent, head_id, head_hash).order_by(col(AuditEvent.id))
    prev_id, prev_hash, count = 0, GENESIS, 0
    head: tuple[int | None, str | None] | None = None
    suspect: AuditEvent | None = None
    broken: Break | None = None
    stream = await session.stream(statement)
    try:
        async for event, last_id, last_hash in stream:
            head = (last_id, last_hash)
            if (
                last_id is None
                or event.id > last_id
                or event.id != prev_id + 1
                or event.prev_hash != prev_hash
                or event_hash(hashed_fields(event), event.prev_hash) != event.hash
            ):
                suspect = event
                break
            if anchor is not None and event.id == anchor[0] and event.hash != anchor[1]:
                broken = Break(
                    event.id,
                    "rewritten",
                    "its hash is not the one kept outside the database: the chain was "
                    "recomputed from this event or an earlier one",
                )
                break
            prev_id, prev_hash, count = event.id, event.hash, count + 1
    finally:
        await stream.close()
    if suspect is not None:
        assert head is not None
        broken = await _diagnose(session, suspect, prev_id, prev_hash, head[0])
    if broken is not None:
        return Verdict(count, prev_id, prev_hash, broken)
    if head is None:  # no events: read the head alone (with a count, in one statement)
        row = (
            await session.execute(
                select(
                    AuditHead.last_id,
                    AuditHead.last_hash,
                    select(func.count()).select_from(AuditEvent).scalar_subquery(),
                ).where(col(AuditHead.id) == 1)
            )
        ).one_or_none()
        if row is not None and int(row[2]) > 0:
            return await verify(session, anchor)  # the first events arrived just now
        head = (row[0], row[1]) if row is not None else (None, None)
    last_id, last_hash = head
    if last_id is None:
        broken = Break(prev_id + 1, "deleted", "the chain's head record is missing")
    elif prev_id < last_id:
        broken = Break(
            prev_id + 1,
            "deleted",
            _span(prev_id + 1, last_id, "missing from the end of the chain")
            + f" (the chain head says it ends at #{last_id})",
        )
    elif prev_hash != last_hash:
        broken = Break(prev_id, "changed", "the last event is not the one the chain head holds")
    elif anchor is not None and anchor[0] > prev_id:
        broken = Break(anchor[0], "deleted", "the anchored event is no longer in the chain")
    return Verdict(count, prev_id, prev_hash, broken)


async def _diagnose(
    session: AsyncSession, event: AuditEvent, prev_id: int, prev_hash: str, head_id: int | None
) -> Break:
    """Why `event`, coming after the verified event #`prev_id`, does not continue the chain."""
    if head_id is None:
        return Break(event.id, "deleted", "the chain's head record is missing")
    if event.id > head_id:
        return Break(
            event.id,
            "inserted",
            f"it comes after the chain's last recorded event #{head_id}",
        )
    if event_hash(hashed_fields(event), event.prev_hash) != event.hash:
        return Break(event.id, "changed", "its recorded fields no longer match its hash")
    if event.prev_hash == prev_hash:  # linked correctly, yet the ids skip
        return Break(prev_id + 1, "deleted", _span(prev_id + 1, event.id - 1, "missing"))
    before = await _id_where(session, col(AuditEvent.hash) == event.prev_hash)
    after_last_good = await _id_where(session, col(AuditEvent.prev_hash) == prev_hash)
    if before is not None and before > event.id:
        return Break(
            event.id,
            "reordered",
            f"it follows event #{before}, which is stored after it",
        )
    if after_last_good is not None and after_last_good > event.id:
        return Break(
            event.id,
            "inserted",
            _span(event.id, after_last_good - 1, "not part of the chain")
            + f" (the event that follows #{prev_id} is #{after_last_good})",
        )
    if before is not None and before < prev_id:
        return Break(
            before + 1,
            "inserted",
            _span(before + 1, prev_id, "not part of the chain")
            + f" (event #{event.id} follows #{before})",
        )
    if event.id > prev_id + 1:
        return Break(prev_id + 1, "deleted", _span(prev_id + 1, event.id - 1, "missing"))
    return Break(event.id, "deleted", f"the event it follows (before #{event.id}) is missing")


async def _id_where(session: AsyncSession, condition: Any) -> int | None:
    found = (await session.execute(select(AuditEvent.id).where(condition))).first()
    return None if found is None else int(found[0])


def _span(first: int, last: int, what: str) -> str:
    if first >= last:
        return f"event #{first} is {what}"
    return f"events #{first} to #{last} are {what}"


# --------------------------------------------------------------------------------- reading


async def events(
    session: AsyncSession,
    *,
    object_kind: str | None = None,
    object_id: int | str | None = None,
    actor_id: int | None = None,
    actor_role: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Audit events matching every filter given, newest first."""
    query = select(AuditEvent)
    if object_kind is not None:
        query = query.where(col(AuditEvent.object_kind) == object_kind)
    if object_id is not None:
        query = query.where(col(AuditEvent.object_id) == str(object_id))
    if actor_id is not None:
        query = query.where(col(AuditEvent.actor_id) == actor_id)
    if actor_role is not None:
        query = query.where(col(AuditEvent.actor_role) == actor_role)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    result = await session.execute(query.order_by(col(AuditEvent.id).desc()).limit(limit))
    return list(result.scalars())
