"""Storage on both engines: race-free case codes, update claims, the dialogue version check."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from storage import engine, inbox, intel, reports
from storage.dialogues import StaleDialogue, load_dialogue, save_dialogue, start_dialogue
from storage.engine import Database
from storage.migrate import head_revision, upgrade
from storage.models import InboxUpdate, Indicator, Report
from storage.updates import claim_update
from storage.users import record_consent

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


async def test_migrations_reach_head_and_are_idempotent(db: Database) -> None:
    assert await upgrade(db) == head_revision() == "0012"


async def test_concurrent_submissions_get_distinct_consecutive_case_codes(db: Database) -> None:
    async def one() -> str:
        async with db.session() as session:
            return await reports.next_case_code(session, NOW)

    codes = await asyncio.gather(*(one() for _ in range(25)))
    assert sorted(codes) == [f"TB-2611-{n:04d}" for n in range(1, 26)]
    # Numbering is per month in Vietnam time: 23:30 on 30 November UTC is already December there.
    async with db.session() as session:
        december = await reports.next_case_code(session, datetime(2026, 11, 30, 17, 30, tzinfo=UTC))
    assert december == "TB-2612-0001"


async def test_an_update_is_claimed_once(db: Database) -> None:
    async with db.session() as session:
        assert await claim_update(session, "telegram", 7, NOW)
    async with db.session() as session:
        assert not await claim_update(session, "telegram", 7, NOW)
        assert await claim_update(session, "zalo", 7, NOW)  # ids are per channel


async def test_a_single_statement_commits_by_itself_and_leaves_transactions_whole(
    db_url: str,
) -> None:
    # One pooled connection, so the transaction below runs on the connection the
    # single-statement sessions (autocommit on PostgreSQL) used just before.
    await upgrade(Database(db_url))
    db = Database(db_url, pool_size=1)
    try:
        async with db.single() as session:
            assert await inbox.store(session, "telegram", 1, "user:1", "{}", NOW)
        async with db.single() as session:
            assert not await inbox.store(session, "telegram", 1, "user:1", "{}", NOW)
            taken = await inbox.claim(session, "telegram", "me", NOW, timedelta(minutes=1), NOW)
        assert taken is not None and taken[1] == "{}"
        async with db.session() as session:
            row = await session.get(InboxUpdate, taken[0])
            assert row is not None and row.claimed_by == "me" and row.attempts == 1
        with pytest.raises(RuntimeError):
            async with db.session() as session:
                await inbox.handled(session, taken[0], "me", NOW)
                raise RuntimeError("the handler failed")
        async with db.session() as session:
            row = await session.get(InboxUpdate, taken[0])
            assert row is not None and row.handled_at is None  # rolled back, not autocommitted
    finally:
        await db.dispose()


async def test_a_stale_dialogue_write_is_refused_not_lost(db: Database) -> None:
    async with db.session() as session:
        user = await record_consent(session, "telegram", "9", language="vi", version="v", at=NOW)
        assert user.id is not None
        await start_dialogue(
            session,
            user.id,
            flow="report",
            step="category",
            data={},
            now=NOW,
            lifetime=timedelta(days=1),
        )
    async with db.session() as session:
        first = await load_dialogue(session, user.id, NOW)
    async with db.session() as session:
        second = await load_dialogue(session, user.id, NOW)
    assert first is not None and second is not None
    async with db.session() as session:
        await save_dialogue(
            session, first, step="lost", data={"a": 1}, now=NOW, lifetime=timedelta(days=1)
        )
    with pytest.raises(StaleDialogue):
        async with db.session() as session:
            await save_dialogue(
                session, second, step="when", data={"b": 2}, now=NOW, lifetime=timedelta(days=1)
            )
    async with db.session() as session:
        current = await load_dialogue(session, user.id, NOW)
        assert current is not None and current.step == "lost" and current.data == {"a": 1}
        assert await load_dialogue(session, user.id, NOW + timedelta(days=2)) is None  # expired


async def test_indicators_are_stored_once_and_shared_between_reports(db: Database) -> None:
    async with db.session() as session:
        user = await record_consent(session, "telegram", "10", language="vi", version="v", at=NOW)
        assert user.id is not None
        fields = reports.ReportFields("job", None, None, None, True, False, None)
        for _ in range(2):
            draft = await reports.create_draft(
                session, reporter_id=user.id, channel="telegram", now=NOW
            )
            await reports.submit_report(
                session,
                draft,
                fields,
                [
                    reports.NewIndicator("phone", "+84912345678", "0912 345 678"),
                    reports.NewIndicator("phone", "+84912345678", "0912.345.678"),
                ],
                actor_id=user.id,
                now=NOW,
            )
    async with db.session() as session:
        indicators = (await session.execute(select(Indicator))).scalars().all()
        submitted = (await session.execute(select(Report))).scalars().all()
        linked = [await reports.report_indicators(session, r.id or 0) for r in submitted]
    assert [(i.kind, i.value) for i in indicators] == [("phone", "+84912345678")]
    assert linked == [[("phone", "+84912345678")]] * 2


async def test_one_lookup_counts_each_kind_apart_and_reads_only_matching_rules(
    db: Database,
) -> None:
    async with db.session() as session:
        for n, indicators in enumerate(
            [
                [reports.NewIndicator("phone", "+84912345678", "0912 345 678")],
                [reports.NewIndicator("bank_account", "MB:0912345678", "MB 0912345678")],
                [reports.NewIndicator("bank_account", "0912345678", "0912345678")],
            ]
        ):
            user = await record_consent(
                session, "telegram", str(20 + n), language="vi", version="v", at=NOW + timedelta(n)
            )
            assert user.id is not None
            draft = await reports.create_draft(
                session, reporter_id=user.id, channel="telegram", now=NOW + timedelta(n)
            )
            fields = reports.ReportFields("job", None, None, None, True, False, None)
            await reports.submit_report(
                session, draft, fields, indicators, actor_id=user.id, now=NOW + timedelta(n)
            )
        await intel.set_domain_rule(session, "example.com", "deny", None, NOW)
        await intel.set_domain_rule(session, "safe.vn", "allow", None, NOW)
        await intel.set_domain_rule(session, "other.com", "deny", None, NOW)
    async with db.session() as session:
        found = await intel.lookup(
            session,
            ["phone", "bank_account"],
            ["+84912345678", "0912345678", "MB:0912345678"],
            ["a.example.com", "example.com", "safe.vn", "com"],
        )
        alone = await intel.lookup(session, ["bank_account"], ["MB:0912345678"])
        nothing = await intel.lookup(session, ["phone"], ["+84900000000"], ["nowhere.com"])
    assert found.of("phone").reports == 1 and found.of("phone").reporters == 1
    account = found.of("bank_account")
    assert (account.reports, account.reporters) == (2, 2)
    assert account.first_at == NOW + timedelta(1) and account.last_at == NOW + timedelta(2)
    assert (found.deny, found.allow) == (["example.com"], ["safe.vn"])  # not other.com
    assert alone.of("bank_account").reports == 1 and alone.of("phone").reports == 0
    assert (alone.deny, alone.allow) == ([], [])
    assert nothing.of("phone") == intel.NONE and (nothing.deny, nothing.allow) == ([], [])


async def test_times_read_back_timezone_aware_in_utc(db: Database) -> None:
    local = datetime(2026, 11, 22, 14, 5, tzinfo=UTC) + timedelta(hours=0)
    async with db.session() as session:
        user = await record_consent(session, "telegram", "11", language="vi", version="v", at=local)
    async with db.session() as session:
        again = await session.get(type(user), user.id)
    assert again is not None and again.consent_at == local
    assert again.consent_at is not None and again.consent_at.tzinfo is not None


async def test_processes_starting_at_once_migrate_once(db_url: str) -> None:
    # Several `tinbao webhook` processes upgrade the same empty database at the same moment.
    databases = [Database(db_url) for _ in range(3)]
    try:
        revisions = await asyncio.gather(*(upgrade(each) for each in databases))
    finally:
        for each in databases:
            await each.dispose()
    assert revisions == [head_revision()] * 3


async def test_one_sender_holds_a_broadcast_until_its_lease_lapses(db: Database) -> None:
    # Several processes each run a broadcast sender: one of them sends a given warning.
    from storage import broadcasts

    async with db.session() as session:
        admin = await record_consent(session, "telegram", "1", language="vi", version="v", at=NOW)
        assert admin.id is not None
        draft = await broadcasts.new_draft(session, "telegram", admin.id, NOW)
        draft.text = "Cảnh báo"
        await broadcasts.set_subscribed(session, admin.id, True, NOW)
        assert draft.id is not None
        started = await broadcasts.start_sending(
            session, draft.id, ("draft",), NOW, approver_id=None, progress_chat="1"
        )
        assert started == 1
    lease = timedelta(seconds=30)
    async with db.session() as session:
        taken = await broadcasts.take_lease(session, "p0", NOW, lease)
    async with db.session() as session:
        second = await broadcasts.take_lease(session, "p2", NOW + timedelta(seconds=10), lease)
        assert await broadcasts.renew_lease(session, draft.id, "p2", NOW, lease) is None
        later = await broadcasts.take_lease(session, "p2", NOW + timedelta(seconds=31), lease)
        assert await broadcasts.renew_lease(session, draft.id, "p0", NOW, lease) is None
    assert taken == draft.id and second is None and later == draft.id


async def _kill_connections(db: Database) -> int:
    """Have PostgreSQL end every other connection to this database, as a restart would."""
    async with db.session() as session:
        mine = (await session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    killer = Database(db.url)
    try:
        async with killer.session() as session:
            ended = await session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            count = len(ended.all())
    finally:
        await killer.dispose()
    assert mine  # our pooled connection was one of them
    return count


async def test_connections_dropped_while_idle_are_replaced_unnoticed(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server to lose connections to")
    monkeypatch.setattr(engine, "IDLE_PING_SECONDS", 0.2)
    assert await _kill_connections(db) >= 1
    await asyncio.sleep(0.3)  # idle long enough to be tested before use
    async with db.session() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1


async def test_a_connection_dropped_while_in_use_costs_one_failure_at_most(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite has no server to lose connections to")
    await _kill_connections(db)  # just used: not tested again before its next use
    failures = 0
    for _ in range(2):
        try:
            async with db.session() as session:
                assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        except DBAPIError as error:
            assert error.connection_invalidated  # the pool is renewed, not kept broken
            failures += 1
    assert failures <= 1
    async with db.session() as session:
        assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
