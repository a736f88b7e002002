"""What the reports say about one phone number, account, link or e-mail: the instant check.

Only counts and dates leave this module: never who reported, nor what they wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy import case as sa_case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from storage.models import DomainRule, Indicator, Report, ReportEvent, ReportIndicator
from storage.sql import insert

# Reports that count: submitted and not dismissed (drafts, rejected and spam do not).
COUNTED = ("new", "in_review", "needs_info", "verified", "forwarded", "closed")


@dataclass(frozen=True)
class Sighting:
    """How often an indicator was reported."""

    reporters: int  # distinct residents
    reports: int
    first_at: datetime | None
    last_at: datetime | None
    verified: bool  # an officer verified a report carrying it


NONE = Sighting(0, 0, None, None, False)


def _sightings_statement() -> Any:
    """One statement for a whole check, built once: the check runs it for every value, and
    building a query costs more Python time than SQLite takes to answer it (bench/check.py).

    It looks several kinds up at once (a phone and the same number as an account; a link's site
    and the link itself), one row per kind found, and reads the officers' allow / deny rules for
    the candidate domains alongside, so a check is a single round trip to the database."""
    linked = (
        select(
            col(Indicator.kind).label("kind"),
            col(Report.id).label("id"),
            col(Report.reporter_id).label("reporter_id"),
            col(Report.submitted_at).label("submitted_at"),
            col(Report.status).label("status"),
        )
        .join(ReportIndicator, col(ReportIndicator.report_id) == col(Report.id))
        .join(Indicator, col(Indicator.id) == col(ReportIndicator.indicator_id))
        .where(
            col(Indicator.kind).in_(bindparam("kinds", expanding=True)),
            col(Indicator.value).in_(bindparam("values", expanding=True)),
            col(Report.status).in_(COUNTED),
        )
        .subquery()
    )
    verified_event = exists().where(
        col(ReportEvent.report_id) == linked.c.id, col(ReportEvent.to_status) == "verified"
    )
    verified = or_(
        linked.c.status.in_(("verified", "forwarded")),
        and_(linked.c.status == "closed", verified_event),
    )
    found = select(
        linked.c.kind,
        func.count(func.distinct(linked.c.reporter_id)),
        func.count(func.distinct(linked.c.id)),
        func.min(linked.c.submitted_at),
        func.max(linked.c.submitted_at),
        func.max(sa_case((verified, 1), else_=0)),
        literal_column("NULL").label("rule_domain"),
    ).group_by(linked.c.kind)
    # The rules ride in the same result: kind "rule:allow" / "rule:deny", the domain last.
    rules: Any = select(
        ("rule:" + col(DomainRule.verdict)).label("kind"),
        literal_column("0"),
        literal_column("0"),
        null(),
        null(),
        literal_column("0"),
        col(DomainRule.domain),
    ).where(col(DomainRule.domain).in_(bindparam("domains", expanding=True)))
    return union_all(found, rules)


_SIGHTINGS = _sightings_statement()


@dataclass(frozen=True)
class Lookup:
    """What one check found: how each kind was reported, and the officers' rules that apply."""

    seen: dict[str, Sighting]
    allow: list[str]
    deny: list[str]

    def of(self, kind: str) -> Sighting:
        return self.seen.get(kind, NONE)


async def lookup(
    session: AsyncSession,
    kinds: Sequence[str],
    values: Sequence[str],
    domains: Sequence[str] = (),
) -> Lookup:
    """Reports carrying any of `values` (one indicator's equivalent forms) as any of `kinds`,
    counted per kind, and the allow / deny rules set for any of `domains`.

    Forms of different kinds never collide (phones are stored "+84…", accounts "0…" or
    "BANK:0…", domains without a scheme, links with one), so one IN list serves all kinds."""
    if not values and not domains:
        return Lookup({}, [], [])
    rows = await session.execute(
        _SIGHTINGS,
        {
            "kinds": list(kinds) or [""],
            "values": list(values) or [""],
            "domains": list(domains) or [""],
        },
    )
    seen: dict[str, Sighting] = {}
    allow: list[str] = []
    deny: list[str] = []
    for kind, reporters, reports, first, last, was_verified, domain in rows:
        if kind == "rule:allow":
            allow.append(domain)
        elif kind == "rule:deny":
            deny.append(domain)
        elif reports:
            seen[kind] = Sighting(int(reporters), int(reports), first, last, bool(was_verified))
    return Lookup(seen, sorted(allow), sorted(deny))


# ------------------------------------------------------------------------- domain allow / deny


async def domain_rules(session: AsyncSession) -> tuple[list[str], list[str]]:
    """The domains officers allowed and denied (few: read whole for each check)."""
    rows = (await session.execute(select(col(DomainRule.domain), col(DomainRule.verdict)))).all()
    allow = sorted(domain for domain, verdict in rows if verdict == "allow")
    deny = sorted(domain for domain, verdict in rows if verdict == "deny")
    return allow, deny


async def set_domain_rule(
    session: AsyncSession, domain: str, verdict: str, user_id: int | None, now: datetime
) -> None:
    """Allow or deny a registrable domain (replacing an earlier rule for it)."""
    await session.execute(
        insert(session, DomainRule)
        .values(domain=domain, verdict=verdict, added_by=user_id, created_at=now)
        .on_conflict_do_update(
            index_elements=["domain"],
            set_={"verdict": verdict, "added_by": user_id, "created_at": now},
        )
    )


async def remove_domain_rule(session: AsyncSession, domain: str) -> bool:
    """Forget the rule for a domain; False if it had none."""
    result = await session.execute(
        delete(DomainRule).where(col(DomainRule.domain) == domain).returning(col(DomainRule.domain))
    )
    return result.first() is not None


# ------------------------------------------------------------------------------- clusters


async def cluster(session: AsyncSession, report_id: int, limit: int = 1000) -> set[int]:
    """The reports linked to this one through shared indicators, transitively, itself included.

    Breadth first over report → indicator → report; drafts do not link. Stops growing at
    `limit` reports, so one very common indicator cannot make a check or a card slow.
    """
    seen = {report_id}
    frontier = {report_id}
    while frontier and len(seen) < limit:
        indicators = select(col(ReportIndicator.indicator_id)).where(
            col(ReportIndicator.report_id).in_(frontier)
        )
        rows = await session.execute(
            select(col(ReportIndicator.report_id))
            .join(Report, col(Report.id) == col(ReportIndicator.report_id))
            .where(
                col(ReportIndicator.indicator_id).in_(indicators),
                col(Report.status) != "draft",
                col(ReportIndicator.report_id).not_in(seen),
            )
            .distinct()
            .limit(limit - len(seen))
        )
        frontier = {row[0] for row in rows}
        seen |= frontier
    return seen


# --------------------------------------------------------------------------------- export


@dataclass(frozen=True)
class IndicatorStats:
    """One indicator with how it was reported, for sharing with banks, telcos and CERTs."""

    kind: str
    value: str
    reports: int
    reporters: int
    first_seen: datetime
    last_seen: datetime
    verified: bool


async def indicator_stats(session: AsyncSession, min_reporters: int) -> list[IndicatorStats]:
    """Every indicator of counted reports, reported by `min_reporters` distinct residents or
    verified by an officer, most reported first."""
    verified_report = (
        select(col(Report.id))
        .where(col(Report.status).in_(("verified", "forwarded", "closed")))
        .where(
            exists().where(
                col(ReportEvent.report_id) == col(Report.id),
                col(ReportEvent.to_status) == "verified",
            )
        )
    )
    is_verified = func.max(
        sa_case((col(ReportIndicator.report_id).in_(verified_report), 1), else_=0)
    )
    reporters = func.count(func.distinct(col(Report.reporter_id)))
    rows = await session.execute(
        select(
            col(Indicator.kind),
            col(Indicator.value),
            func.count(func.distinct(col(Report.id))),
            reporters,
            func.min(col(Report.submitted_at)),
            func.max(col(Report.submitted_at)),
            is_verified,
        )
        .join(ReportIndicator, col(ReportIndicator.indicator_id) == col(Indicator.id))
        .join(Report, col(Report.id) == col(ReportIndicator.report_id))
        .where(col(Report.status).in_(COUNTED))
        .group_by(col(Indicator.id), col(Indicator.kind), col(Indicator.value))
        .having(or_(reporters >= min_reporters, is_verified == 1))
        .order_by(reporters.desc(), col(Indicator.kind), col(Indicator.value))
    )
    return [
        IndicatorStats(kind, value, int(n), int(people), first, last, bool(verified))
        for kind, value, n, people, first, last, verified in rows
    ]
