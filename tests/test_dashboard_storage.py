"""The dashboard's queries on SQLite and PostgreSQL: login links, sessions, the queue's filters
and search, statistics and exports."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from handlers.i18n import VIETNAM
from storage import dashboard as store
from storage import queue
from storage.engine import Database
from storage.models import Indicator, Report, ReportEvent, ReportIndicator, User, utcnow

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 11, 30, 5, 0, tzinfo=VIETNAM).astimezone(VIETNAM)


async def officer(db: Database, external_id: str = "7002", role: str = "officer") -> User:
    async with db.session() as session:
        return await queue.set_role(session, "telegram", external_id, role, now=utcnow())


async def report(
    db: Database,
    code: str,
    *,
    status: str = "new",
    category: str = "investment",
    story: str = "",
    lost: int | None = None,
    at: datetime = NOW,
    assignee: int | None = None,
    indicators: tuple[tuple[str, str], ...] = (),
    claimed_after: timedelta | None = None,
) -> int:
    async with db.session() as session:
        row = Report(
            code=code,
            channel="telegram",
            status=status,
            category=category,
            description=story,
            amount_lost_vnd=lost,
            submitted_at=at,
            queued_at=at,
            created_at=at,
            assignee_id=assignee,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        for kind, value in indicators:
            found = await store.indicator(session, kind, value)
            if found is None:
                found = Indicator(kind=kind, value=value)
                session.add(found)
                await session.flush()
            assert found.id is not None
            session.add(ReportIndicator(report_id=row.id, indicator_id=found.id, raw=value))
        if claimed_after is not None:
            session.add(
                ReportEvent(report_id=row.id, action="claimed", created_at=at + claimed_after)
            )
        return row.id


async def test_a_login_link_opens_one_session_once_and_only_in_time(db: Database) -> None:
    user = await officer(db)
    assert user.id is not None
    now = utcnow()
    async with db.session() as session:
        token = await store.issue_token(session, user.id, now, timedelta(minutes=10))
        late = await store.issue_token(session, user.id, now, timedelta(minutes=10))
    async with db.session() as session:
        stored = await session.get(store.DashboardToken, store.digest(token))
        assert stored is not None and token not in stored.token_hash  # only its hash is kept

    async def use(secret: str, when: datetime) -> int | None:
        async with db.session() as session:
            return await store.consume_token(session, secret, when)

    # Opened twice at once, the link signs in once.
    results = await asyncio.gather(use(token, now), use(token, now))
    assert sorted(results, key=str) == [user.id, None]
    assert await use(token, now) is None
    assert await use(late, now + timedelta(minutes=10, seconds=1)) is None
    assert await use("not-a-token", now) is None


async def test_a_session_ends_on_sign_out_on_expiry_and_when_the_officer_is_removed(
    db: Database,
) -> None:
    user = await officer(db)
    assert user.id is not None
    now = utcnow()
    hours = timedelta(hours=12)
    async with db.session() as session:
        first = await store.start_session(session, user.id, "vi", now, hours)
        second = await store.start_session(session, user.id, "en", now, hours)
    async with db.session() as session:
        signed = await store.load_session(session, first, now)
        assert signed is not None and signed.user.id == user.id and len(signed.csrf) > 20
        assert await store.load_session(session, first, now + hours) is None
        await store.end_session(session, signed.id_hash)
    async with db.session() as session:
        assert await store.load_session(session, first, now) is None
        assert await store.load_session(session, second, now) is not None
        await queue.set_role(session, "telegram", "7002", "resident", now=now)
    async with db.session() as session:
        assert await store.load_session(session, second, now) is None
        assert await store.end_sessions_of(session, user.id) == 0  # already gone


async def test_the_queue_filters_by_each_field_and_searches_text(db: Database) -> None:
    holder = await officer(db)
    assert holder.id is not None
    day = timedelta(days=1)
    await report(db, "TB-2611-0001", story="Sàn đầu tư ảo", lost=50_000_000, at=NOW - 3 * day)
    await report(
        db,
        "TB-2611-0002",
        status="in_review",
        category="job",
        story="Việc làm online, nạp tiền làm nhiệm vụ",
        lost=2_000_000,
        at=NOW - day,
        assignee=holder.id,
        indicators=(("phone", "+84912345678"),),
    )
    await report(
        db,
        "TB-2611-0003",
        status="closed",
        category="job",
        story="100% lãi_suất",
        at=NOW,
        indicators=(("bank_account", "VCB:0123456789"),),
    )
    async with db.session() as session:
        draft = Report(code=None, channel="telegram", status="draft", description="Sàn")
        session.add(draft)

    async def codes(**given: object) -> list[str]:
        f = store.Filter(**given)  # type: ignore[arg-type]
        async with db.session() as session:
            rows = await store.find(session, f, VIETNAM)
            assert await store.count(session, f, VIETNAM) == len(rows)
        return [row.report.code or "" for row in rows]

    everything = ["TB-2611-0003", "TB-2611-0002", "TB-2611-0001"]
    assert await codes() == everything  # newest first, no drafts
    async with db.session() as session:
        second_page = await store.find(session, store.Filter(), VIETNAM, page=2, per_page=2)
        peeked = await store.find(session, store.Filter(), VIETNAM, per_page=2, peek=True)
        assert await store.count(session, store.Filter(), VIETNAM, cap=1) == 2  # "more than 1"
    assert [row.report.code for row in second_page] == ["TB-2611-0001"]
    assert len(peeked) == 3  # one past the page: there is a next page
    assert await codes(status="in_review") == ["TB-2611-0002"]
    assert await codes(category="job") == ["TB-2611-0003", "TB-2611-0002"]
    assert await codes(since=(NOW - day).date()) == ["TB-2611-0003", "TB-2611-0002"]
    assert await codes(until=(NOW - day).date()) == ["TB-2611-0002", "TB-2611-0001"]
    assert await codes(assignee=holder.id) == ["TB-2611-0002"]
    assert await codes(assignee="none") == ["TB-2611-0003", "TB-2611-0001"]
    assert await codes(min_lost=2_000_000) == ["TB-2611-0002", "TB-2611-0001"]
    assert await codes(max_lost=10_000_000) == ["TB-2611-0002"]
    # Text: the story (any case), a case code, an indicator's value; % and _ are literal.
    assert await codes(text="sàn đầu") == ["TB-2611-0001"]
    assert await codes(text="nạp tiền") == ["TB-2611-0002"]
    assert await codes(text="tb-2611-0003") == ["TB-2611-0003"]
    assert await codes(text="912345678") == ["TB-2611-0002"]
    assert await codes(text="0912 345 678", values=(("phone", "+84912345678"),)) == ["TB-2611-0002"]
    assert await codes(text="0123456789") == ["TB-2611-0003"]
    assert await codes(text="100%") == ["TB-2611-0003"]
    assert await codes(text="_") == ["TB-2611-0003"]
    assert await codes(text="%") == ["TB-2611-0003"]
    assert await codes(category="job", text="nhiệm vụ", max_lost=5_000_000) == ["TB-2611-0002"]

    async with db.session() as session:
        rows = await store.export_rows(session, store.Filter(category="job"), VIETNAM)
        assert [r["code"] for r in rows] == ["TB-2611-0003", "TB-2611-0002"]
        assert rows[1]["indicators"] == "phone:+84912345678"
        assert rows[1]["assignee"] == "7002"


async def test_statistics_per_day_money_time_to_claim_overdue_and_top_indicators(
    db: Database,
) -> None:
    day = timedelta(days=1)
    phone = (("phone", "+84912345678"),)
    await report(db, "TB-2611-0001", lost=5_000_000, at=NOW - 2 * day, indicators=phone)
    await report(
        db,
        "TB-2611-0002",
        status="in_review",
        category="job",
        lost=1_000_000,
        at=NOW - 2 * day,
        indicators=phone,
        claimed_after=timedelta(minutes=30),
    )
    await report(db, "TB-2611-0003", status="spam", lost=9_000_000, at=NOW)
    await report(db, "TB-2611-0004", at=NOW - 60 * day)  # outside the 30 days
    async with db.session() as session:
        trend = await store.trends(session, NOW, VIETNAM, 30, timedelta(hours=1))
    assert trend.days[-1] == NOW.date() and len(trend.days) == 30
    assert trend.per_day["investment"][-3] == 1 and trend.per_day["job"][-3] == 1
    assert trend.per_day["investment"][-1] == 1  # spam counts as a report, not as money lost
    assert trend.lost_per_day[-3] == 6_000_000 and trend.lost_per_day[-1] == 0
    assert [round(m) for m in trend.claim_minutes] == [30]
    assert [r.code for r in trend.overdue] == ["TB-2611-0004", "TB-2611-0001"]
    assert trend.top_indicators[0] == ("phone", "+84912345678", 2)
    assert store.histogram([5, 20, 70, 5000], [15, 60, 240, 1440]) == [1, 1, 1, 0, 1]
