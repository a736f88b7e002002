"""The web dashboard's queries: login links, sessions, the filtered queue, statistics, exports.

Login links and session ids are random secrets of which only the SHA-256 is stored, so a copy
of the database opens nothing. A link is consumed by one conditional UPDATE, so it starts one
session however many times (or by however many people at once) it is opened.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import (
    DashboardSession,
    DashboardToken,
    Indicator,
    Report,
    ReportEvent,
    ReportIndicator,
    User,
)
from storage.queue import STAFF
from storage.stats import LOSS_STATUSES

# Statuses an officer can filter on (drafts are never shown).
STATUSES = ("new", "in_review", "needs_info", "verified", "forwarded", "closed", "rejected", "spam")
PAGE = 50
CODE_LIKE = re.compile(r"(?i)TB-\d{4}-\d{3,}")
# Counting every match of a broad filter over a large table costs more than the page itself;
# past this many the page says "more than".
COUNT_CAP = 10_000


def digest(secret: str) -> str:
    """The SHA-256 (hex) under which a token or session id is stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


# ------------------------------------------------------------------------------- login links


async def issue_token(
    session: AsyncSession, user_id: int, now: datetime, lifetime: timedelta
) -> str:
    """A new one-time login secret for a staff user, valid for `lifetime`."""
    token = secrets.token_urlsafe(32)
    session.add(
        DashboardToken(
            token_hash=digest(token), user_id=user_id, created_at=now, expires_at=now + lifetime
        )
    )
    await session.flush()
    return token


async def consume_token(session: AsyncSession, token: str, now: datetime) -> int | None:
    """The user a login secret belongs to, if it is unused and unexpired; it is used up now.

    One conditional UPDATE: of two requests with the same link, exactly one gets the user.
    """
    if not token or len(token) > 128:
        return None
    result = await session.execute(
        update(DashboardToken)
        .where(
            col(DashboardToken.token_hash) == digest(token),
            col(DashboardToken.used_at).is_(None),
            col(DashboardToken.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(DashboardToken.user_id))
    )
    row = result.first()
    return int(row[0]) if row is not None else None


# ---------------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SignedIn:
    """A live session and its officer (whose role was read in the same query)."""

    id_hash: str
    user: User
    csrf: str
    language: str
    expires_at: datetime


async def start_session(
    session: AsyncSession, user_id: int, language: str, now: datetime, lifetime: timedelta
) -> str:
    """A new session for a staff user; returns the id to put in the cookie."""
    sid = secrets.token_urlsafe(32)
    session.add(
        DashboardSession(
            id_hash=digest(sid),
            user_id=user_id,
            csrf=secrets.token_urlsafe(32),
            language=language,
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    # Expired sessions and links are removed whenever someone signs in: no job needed.
    await session.execute(delete(DashboardSession).where(col(DashboardSession.expires_at) <= now))
    await session.execute(delete(DashboardToken).where(col(DashboardToken.expires_at) <= now))
    await session.flush()
    return sid


async def load_session(session: AsyncSession, sid: str, now: datetime) -> SignedIn | None:
    """The session of a cookie, if unexpired and its user is still an officer or an admin."""
    if not sid or len(sid) > 128:
        return None
    result = await session.execute(
        select(DashboardSession, User)
        .join(User, col(User.id) == col(DashboardSession.user_id))
        .where(
            col(DashboardSession.id_hash) == digest(sid),
            col(DashboardSession.expires_at) > now,
            col(User.role).in_(STAFF),
        )
    )
    row = result.first()
    if row is None:
        return None
    kept, user = row
    return SignedIn(kept.id_hash, user, kept.csrf, kept.language, kept.expires_at)


async def end_session(session: AsyncSession, id_hash: str) -> None:
    """Sign a session out."""
    await session.execute(delete(DashboardSession).where(col(DashboardSession.id_hash) == id_hash))


async def end_sessions_of(session: AsyncSession, user_id: int) -> int:
    """Sign out every browser of a user (their role was taken away); returns how many."""
    result = await session.execute(
        delete(DashboardSession)
        .where(col(DashboardSession.user_id) == user_id)
        .returning(col(DashboardSession.id_hash))
    )
    await session.execute(delete(DashboardToken).where(col(DashboardToken.user_id) == user_id))
    return len(result.all())


async def set_language(session: AsyncSession, id_hash: str, language: str) -> None:
    """The language a session's pages are shown in."""
    await session.execute(
        update(DashboardSession)
        .where(col(DashboardSession.id_hash) == id_hash)
        .values(language=language)
    )


# ------------------------------------------------------------------------------------ queue


@dataclass(frozen=True)
class Filter:
    """What an officer asked the queue for; every field is optional."""

    status: str | None = None
    category: str | None = None
    since: date | None = None
    until: date | None = None
    # A user row id, or "none" for unclaimed reports.
    assignee: int | str | None = None
    min_lost: int | None = None
    max_lost: int | None = None
    text: str | None = None
    # The phones, accounts and links the text names, (kind, value) normalized as stored, found
    # by the caller's extraction: an officer types 0912…, the database holds +84912….
    values: tuple[tuple[str, str], ...] = ()


def _day_start(day: date, zone: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def conditions(f: Filter, zone: Any, dialect: str = "sqlite") -> list[Any]:
    """The WHERE clauses of a filter (days are counted in `zone`, Vietnam time) for a
    database `dialect`."""
    where: list[Any] = [col(Report.status) != "draft"]
    if f.status in STATUSES:
        where.append(col(Report.status) == f.status)
    if f.category:
        where.append(col(Report.category) == f.category)
    if f.since is not None:
        where.append(col(Report.submitted_at) >= _day_start(f.since, zone))
    if f.until is not None:
        where.append(col(Report.submitted_at) < _day_start(f.until + timedelta(days=1), zone))
    if f.assignee == "none":
        where.append(col(Report.assignee_id).is_(None))
    elif isinstance(f.assignee, int):
        where.append(col(Report.assignee_id) == f.assignee)
    if f.min_lost is not None:
        where.append(col(Report.amount_lost_vnd) >= f.min_lost)
    if f.max_lost is not None:
        where.append(col(Report.amount_lost_vnd) <= f.max_lost)
    if f.text:
        where.append(_text_condition(f, dialect))
    return where


def _text_condition(f: Filter, dialect: str) -> Any:
    """A report matches a search by its case code, its story, or a phone, account or link.

    Indicators the search names exactly (`values`, normalized by the caller) are looked up by
    the (kind, value) index. Only a search with digits or a dot and no exact indicator (a part
    of a number, a piece of a domain) scans the indicators' values; words never do.
    """
    needle = (f.text or "").strip()[:200]
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    parts = [col(Report.code) == needle.upper()]
    named: Any = None
    if f.values:
        # A phone, account or link typed whole: the reports carrying it, by index. Its
        # appearances in stories were extracted into indicators when the report was filed.
        named = or_(
            *(and_(col(Indicator.kind) == kind, col(Indicator.value) == value)
              for kind, value in f.values)
        )  # fmt: skip
    elif not CODE_LIKE.fullmatch(needle):
        parts.append(_contains(col(Report.description), pattern, dialect))
        if any(ch.isdigit() or ch == "." for ch in needle) and len(needle) >= 3:
            named = _contains(col(Indicator.value), pattern, dialect)
    if named is None:
        return or_(*parts)
    carrying = (
        select(col(ReportIndicator.report_id))
        .join(Indicator, col(Indicator.id) == col(ReportIndicator.indicator_id))
        .where(named)
    )
    if len(parts) == 1:
        # Only indexed lookups: one IN over their union, so the database fetches the few
        # reports found instead of testing every report against each lookup.
        by_code = select(col(Report.id)).where(parts[0]).correlate(None)
        return col(Report.id).in_(by_code.union(carrying))
    return or_(*parts, col(Report.id).in_(carrying))


def _contains(column: Any, pattern: str, dialect: str) -> Any:
    """`column` contains the text, whatever the case. SQLite's LIKE ignores the case of ASCII
    letters by itself (and its lower() folds nothing else), so the lower() of ILIKE would only
    cost time there; PostgreSQL's ILIKE folds Vietnamese letters too."""
    if dialect == "postgresql":
        return column.ilike(pattern, escape="\\")
    return column.like(pattern, escape="\\")


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True)
class Row:
    """One report of the queue page."""

    report: Report
    assignee: User | None


async def find(
    session: AsyncSession,
    f: Filter,
    zone: Any,
    *,
    page: int = 1,
    per_page: int = PAGE,
    peek: bool = False,
) -> list[Row]:
    """A page of the reports matching `f`, newest first; with `peek`, one more row if there
    is one (to know whether a next page exists without counting)."""
    result = await session.execute(
        select(Report)
        .where(*conditions(f, zone, _dialect(session)))
        .order_by(col(Report.id).desc())
        .offset(max(0, page - 1) * per_page)
        .limit(per_page + (1 if peek else 0))
    )
    reports = list(result.scalars())
    people = await _users(session, {r.assignee_id for r in reports if r.assignee_id})
    return [Row(r, people.get(r.assignee_id) if r.assignee_id else None) for r in reports]


async def count(session: AsyncSession, f: Filter, zone: Any, cap: int = COUNT_CAP) -> int:
    """How many reports match `f`, counted up to `cap` (+1 meaning "more")."""
    inner = (
        select(col(Report.id))
        .where(*conditions(f, zone, _dialect(session)))
        .limit(cap + 1)
        .subquery()
    )
    result = await session.execute(select(func.count()).select_from(inner))
    return int(result.scalar_one())


async def _users(session: AsyncSession, ids: set[int | None]) -> dict[int, User]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    result = await session.execute(select(User).where(col(User.id).in_(wanted)))
    return {u.id: u for u in result.scalars() if u.id is not None}


async def export_rows(
    session: AsyncSession, f: Filter, zone: Any, limit: int = 100_000
) -> list[dict[str, Any]]:
    """The reports of a filter for a spreadsheet, newest first: the case's facts, its
    indicators and evidence hashes, never the reporter's identity."""
    result = await session.execute(
        select(Report)
        .where(*conditions(f, zone, _dialect(session)))
        .order_by(col(Report.id).desc())
        .limit(limit)
    )
    reports = list(result.scalars())
    ids = [r.id for r in reports if r.id is not None]
    indicators: dict[int, list[str]] = defaultdict(list)
    for chunk in _chunks(ids, 500):
        rows = await session.execute(
            select(col(ReportIndicator.report_id), col(Indicator.kind), col(Indicator.value))
            .join(Indicator, col(Indicator.id) == col(ReportIndicator.indicator_id))
            .where(col(ReportIndicator.report_id).in_(chunk))
            .order_by(col(Indicator.id))
        )
        for report_id, kind, value in rows.all():
            indicators[report_id].append(f"{kind}:{value}")
    people = await _users(session, {r.assignee_id for r in reports})
    out = []
    for report in reports:
        assert report.id is not None
        holder = people.get(report.assignee_id) if report.assignee_id else None
        out.append(
            {
                "code": report.code,
                "status": report.status,
                "category": report.category,
                "submitted_at": report.submitted_at,
                "occurred_at": report.occurred_at,
                "amount_lost_vnd": report.amount_lost_vnd,
                "assignee": (holder.display_name or holder.external_id) if holder else None,
                "indicators": " ".join(indicators.get(report.id, [])),
                "description": None if report.purged_at else report.description,
            }
        )
    return out


def _chunks(items: Sequence[int], size: int) -> list[Sequence[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# ------------------------------------------------------------------------------- indicators


async def indicator(session: AsyncSession, kind: str, value: str) -> Indicator | None:
    """An indicator by kind and normalized value."""
    result = await session.execute(
        select(Indicator).where(col(Indicator.kind) == kind, col(Indicator.value) == value)
    )
    return result.scalar_one_or_none()


async def reports_with(session: AsyncSession, indicator_id: int, limit: int = 500) -> list[Report]:
    """The submitted reports carrying an indicator, newest first."""
    result = await session.execute(
        select(Report)
        .join(ReportIndicator, col(ReportIndicator.report_id) == col(Report.id))
        .where(col(ReportIndicator.indicator_id) == indicator_id, col(Report.status) != "draft")
        .order_by(col(Report.id).desc())
        .limit(limit)
    )
    return list(result.scalars())


async def reports_by_id(session: AsyncSession, ids: Sequence[int]) -> list[Report]:
    """Reports by id, newest first."""
    found: list[Report] = []
    for chunk in _chunks(list(ids), 500):
        result = await session.execute(select(Report).where(col(Report.id).in_(chunk)))
        found += list(result.scalars())
    return sorted(found, key=lambda r: -(r.id or 0))


# ------------------------------------------------------------------------------- statistics


@dataclass
class Trends:
    """What the statistics page draws, over the last `days` days (Vietnam days)."""

    days: list[date]
    per_day: dict[str, list[int]]  # category → reports per day
    lost_per_day: list[int]
    claim_minutes: list[float]  # submission to first claim, of reports claimed
    overdue: list[Report]
    top_indicators: list[tuple[str, str, int]] = field(default_factory=list)


async def trends(
    session: AsyncSession, now: datetime, zone: Any, days: int, overdue_after: timedelta
) -> Trends:
    """Reports per day by category, money reported lost per day, time to claim, the reports
    waiting too long, and the indicators in most reports of the period."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = _day_start(first, zone)
    span = [first + timedelta(days=i) for i in range(days)]
    index = {day: i for i, day in enumerate(span)}
    per_day: dict[str, list[int]] = {}
    lost = [0] * days
    rows = await session.execute(
        select(
            col(Report.submitted_at),
            col(Report.category),
            col(Report.amount_lost_vnd),
            col(Report.status),
        ).where(col(Report.submitted_at) >= start, col(Report.status) != "draft")
    )
    for submitted, category, amount, status in rows.all():
        i = index.get(submitted.astimezone(zone).date()) if submitted is not None else None
        if i is None:
            continue
        per_day.setdefault(category or "other", [0] * days)[i] += 1
        if amount and status in LOSS_STATUSES:
            lost[i] += int(amount)
    first_claim = (
        select(col(ReportEvent.report_id), func.min(col(ReportEvent.created_at)).label("at"))
        .where(col(ReportEvent.action) == "claimed")
        .group_by(col(ReportEvent.report_id))
        .subquery()
    )
    claims = await session.execute(
        select(col(Report.submitted_at), first_claim.c.at)
        .join(first_claim, first_claim.c.report_id == col(Report.id))
        .where(col(Report.submitted_at) >= start)
    )
    minutes = []
    for submitted, claimed in claims.all():
        claimed_at = _aware(claimed)
        if submitted is not None and claimed_at is not None:
            minutes.append(max(0.0, (claimed_at - submitted).total_seconds() / 60))
    waiting = await session.execute(
        select(Report)
        .where(col(Report.status) == "new", col(Report.queued_at) < now - overdue_after)
        .order_by(col(Report.queued_at))
        .limit(50)
    )
    reporters = func.count(func.distinct(col(ReportIndicator.report_id)))
    top = await session.execute(
        select(col(Indicator.kind), col(Indicator.value), reporters)
        .join(ReportIndicator, col(ReportIndicator.indicator_id) == col(Indicator.id))
        .join(Report, col(Report.id) == col(ReportIndicator.report_id))
        .where(col(Report.submitted_at) >= start, col(Report.status) != "draft")
        .group_by(col(Indicator.id), col(Indicator.kind), col(Indicator.value))
        .order_by(reporters.desc(), col(Indicator.id))
        .limit(10)
    )
    return Trends(
        days=span,
        per_day=dict(sorted(per_day.items(), key=lambda kv: -sum(kv[1]))),
        lost_per_day=lost,
        claim_minutes=minutes,
        overdue=list(waiting.scalars()),
        top_indicators=[(k, v, int(n)) for k, v, n in top.all()],
    )


def _aware(value: Any) -> datetime | None:
    """A timestamp read through an aggregate (which bypasses the column type) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def histogram(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """How many values fall under each edge (the last bucket takes the rest)."""
    counts = Counter[int]()
    for value in values:
        for i, edge in enumerate(edges):
            if value < edge:
                counts[i] += 1
                break
        else:
            counts[len(edges)] += 1
    return [counts[i] for i in range(len(edges) + 1)]


async def staff_by_id(session: AsyncSession, user_id: int) -> User | None:
    """A staff user by row id (None once they are no longer staff)."""
    result = await session.execute(
        select(User).where(col(User.id) == user_id, col(User.role).in_(STAFF))
    )
    return result.scalar_one_or_none()
