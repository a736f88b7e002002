"""The audit log: recorded where officers and admins act, hash-chained, append-only, verifiable.

The realistic sessions run the real PTB Application against the fake Bot API and the real
`tinbao` command line; the tampering tests edit the database directly, as an intruder with
write access would (after switching the append-only triggers off, as a superuser can).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from storage import audit, identity
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import AuditEvent, AuditHead, Report, User, utcnow
from tests.conftest import Harness, running_bot
from tests.test_broadcast import ADMIN_2, FAST, WARNING, compose, data_in, seed_subscribers, tap
from tests.test_cli import tinbao
from tests.test_officer_flow import (
    ADMIN,
    GROUP,
    GROUP_ID,
    OFFICER,
    OFFICER_VI,
    card_calls,
    claim,
    file_report,
    report_row,
)
from tests.test_report_flow import joined
from tests.updates import Resident

CONTACT_PHONE = "0903123456"
SCAMMER_PHONE = "0912345678"
ACCOUNT = "0123456789"
STORY = "Họ dụ tôi nạp tiền vào sàn đầu tư."
NOTE = "Nạn nhân quen biết đối tượng qua Zalo"
QUESTION = "Bạn còn giữ biên lai chuyển khoản không?"
ANSWER = "Còn, tôi gửi ảnh ngay"


@pytest.fixture
async def queue_bot(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    async with running_bot(
        tmp_path, db_url, officer_chat_id=GROUP_ID, admin_ids=[ADMIN.user_id]
    ) as h:
        yield h


async def trail(db: Database) -> list[AuditEvent]:
    async with db.session() as session:
        result = await session.execute(select(AuditEvent).order_by(col(AuditEvent.id)))
        return list(result.scalars())


async def verify(db: Database, anchor: tuple[int, str] | None = None) -> audit.Verdict:
    async with db.session() as session:
        return await audit.verify(session, anchor)


async def user_id(db: Database, external_id: int) -> int:
    async with db.session() as session:
        result = await session.execute(select(User).where(User.external_id == str(external_id)))
        user = result.scalar_one()
        assert user.id is not None
        return user.id


# ------------------------------------------------------------------- recorded where it happens


async def test_an_officer_session_and_an_export_leave_one_unbroken_chain_with_no_personal_data(
    queue_bot: Harness, tmp_path: Path, db_url: str
) -> None:
    h = queue_bot
    db = h.services.db
    reporter = Resident(3001, "Nguyễn Thị Hoa")
    # The admin adds two officers; the resident files a contactable report with a screenshot.
    for person in (OFFICER, OFFICER_VI):
        assert "Added officer" in joined(
            await h.send(ADMIN.command("canbo", f"them {person.user_id}"))
        )
    code = await file_report(h, reporter, anonymous=False, with_photo=True, phone=SCAMMER_PHONE)
    report = await report_row(h, code)
    assert report.description == STORY and report.id is not None
    async with db.session() as session:
        assert await identity.contact_for(session, report.id) is not None
    # The officer claims it from the group card, opens it and its evidence, works it.
    await claim(h, OFFICER, code)
    assert code in joined(await h.send(OFFICER.command("xem", code)))
    await h.send(OFFICER.callback(f"o:files:{report.id}"))
    await h.send(OFFICER.command("ghichu", f"{code} {NOTE}"))
    await h.send(OFFICER.command("hoi", f"{code} {QUESTION}"))
    await h.send(reporter.text(ANSWER))
    await h.send(OFFICER.callback(f"o:st:{report.id}:verified"))
    await h.send(OFFICER.command("timkiem", SCAMMER_PHONE))
    await h.send(OFFICER.command("tenmien", "chan vcb-xacthuc.com"))
    await h.send(OFFICER.command("tenmien", "xoa vcb-xacthuc.com"))
    # The second officer leaves; an admin hands the report to nobody else but looks at it.
    calls = await h.send(ADMIN.command("canbo", f"xoa {OFFICER_VI.user_id}"))
    assert "no longer an officer" in joined(calls)
    # Exports from the command line, while the bot runs.
    exported = await asyncio.to_thread(tinbao, "export", cwd=tmp_path, db_url=db_url)
    assert exported.returncode == 0 and code in exported.stdout
    indicators = await asyncio.to_thread(
        tinbao, "export", "--indicators", "--min-reporters", "1", cwd=tmp_path, db_url=db_url
    )
    assert indicators.returncode == 0

    officer, officer_vi = await user_id(db, OFFICER.user_id), await user_id(db, OFFICER_VI.user_id)
    admin = await user_id(db, ADMIN.user_id)
    events = await trail(db)
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    seen = [(e.action, e.actor_role, e.actor_id) for e in events]
    on_report = [
        (e.action, e.actor_role, e.actor_id, e.detail.get("from"), e.detail.get("to"))
        for e in events
        if e.object_kind == "report" and e.object_id == str(report.id)
    ]
    assert on_report == [
        ("report.submitted", "resident", None, "draft", "new"),
        ("report.claimed", "officer", officer, "new", "in_review"),
        ("report.viewed", "officer", officer, None, None),
        ("report.evidence_viewed", "officer", officer, None, None),
        ("report.note", "officer", officer, None, None),
        ("report.question", "officer", officer, "in_review", "needs_info"),
        ("report.answer", "resident", None, "needs_info", "in_review"),
        ("report.status", "officer", officer, "in_review", "verified"),
    ]
    assert all(e.detail["code"] == code for e in events if e.object_kind == "report")
    roles = [
        (e.actor_role, e.actor_id, e.object_id, e.detail["from"], e.detail["to"])
        for e in events
        if e.action == "user.role"
    ]
    assert ("system", None, str(admin), None, "admin") in roles  # TINBAO_ADMIN_IDS at start
    assert ("admin", admin, str(officer), None, "officer") in roles
    assert ("admin", admin, str(officer_vi), None, "officer") in roles
    assert ("admin", admin, str(officer_vi), "officer", "resident") in roles
    assert ("reports.searched", "officer", officer) in seen
    searched = next(e for e in events if e.action == "reports.searched")
    assert searched.detail == {"by": "search", "kinds": ["phone"], "found": 1}
    rules = [(e.action, e.object_id, e.detail) for e in events if e.object_kind == "domain"]
    assert rules == [
        ("domain.rule_set", "vcb-xacthuc.com", {"verdict": "deny"}),
        ("domain.rule_removed", "vcb-xacthuc.com", {}),
    ]
    exports = [(e.action, e.actor_role, e.detail) for e in events if e.object_kind == "export"]
    assert exports[0] == ("reports.exported", "cli", {"format": "jsonl", "reports": 1})
    assert exports[1][0] == "indicators.exported" and exports[1][2]["indicators"] >= 2

    verdict = await verify(db)
    assert verdict.ok and verdict.count == len(events) and verdict.last_id == events[-1].id
    checked = await asyncio.to_thread(tinbao, "audit", "verify", cwd=tmp_path, db_url=db_url)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"OK: {len(events)} audit events, the chain is unbroken")

    # Nothing personal in any audit row: not the reporter's phone or name, not the scammer's
    # phone or account, not the story, the note, the question or the answer, not a name.
    # (The hashes and times are left out: hex digits could match a number by chance.)
    async with db.session() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT actor_id, actor_role, action, object_kind, object_id, detail "
                    "FROM auditevent"
                )
            )
        ).all()
    dumped = json.dumps([[str(v) for v in row] for row in rows], ensure_ascii=False)
    for secret in (
        CONTACT_PHONE,
        CONTACT_PHONE[1:],
        SCAMMER_PHONE[1:],
        ACCOUNT,
        str(reporter.user_id),
        "Hoa",
        OFFICER.first_name,
        OFFICER_VI.first_name,
        ADMIN.first_name,
        STORY[:20],
        NOTE[:20],
        QUESTION[:20],
        ANSWER[:10],
        "NGUYEN VAN A",
    ):
        assert secret not in dumped, secret


async def test_claims_from_many_officers_and_a_timer_release_are_recorded_once_each(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    officers = [Resident(7200 + n, f"Cán bộ {n}", language_code="en") for n in range(6)]
    for person in officers:
        await h.send(ADMIN.command("canbo", f"them {person.user_id}"))
    code = await file_report(h, Resident(3010, "Lan"))
    card = card_calls(h, code)[-1]
    data = next(d for _, d in Harness.buttons(card) if d.startswith("o:claim:"))
    await asyncio.gather(*(h.send(o.callback(data, chat=GROUP)) for o in officers))
    await h.tick(timedelta(hours=25))  # the claim expires without action
    events = await trail(h.services.db)
    report = await report_row(h, code)
    actions = [
        e.action for e in events if e.object_kind == "report" and e.object_id == str(report.id)
    ]
    assert actions == ["report.submitted", "report.claimed", "report.expired"]
    expired = next(e for e in events if e.action == "report.expired")
    assert expired.actor_role == "system" and expired.actor_id is None
    assert (await verify(h.services.db)).ok


async def test_warnings_submitted_rejected_approved_started_and_cancelled_are_recorded(
    tmp_path: Path, db_url: str
) -> None:
    async with running_bot(
        tmp_path,
        db_url,
        admin_ids=[ADMIN.user_id, ADMIN_2.user_id],
        broadcast_approval=True,
        **FAST,
    ) as h:
        await h.send(ADMIN_2.command("start"))
        await seed_subscribers(h, 8400, 2)
        calls = await compose(h, ADMIN, WARNING)
        await tap(h, ADMIN, calls, "Ask another admin")
        asks = [c for c in h.fake.calls if c.chat_id == ADMIN_2.user_id and c.ok]
        await h.send(ADMIN_2.callback(data_in(asks, "Không duyệt")))
        calls = await h.send(ADMIN.command("canhbao"))
        await tap(h, ADMIN, calls, "Ask another admin")
        asks = [c for c in h.fake.calls if c.chat_id == ADMIN_2.user_id and c.ok]
        calls = await h.send(ADMIN_2.callback(data_in(asks, "Duyệt và gửi")))
        assert "starting to send to 2 people" in joined(calls)
        calls = await compose(h, ADMIN, "Một bản nháp khác")
        await tap(h, ADMIN, calls, "Cancel")
        db = h.services.db
        first, second = await user_id(db, ADMIN.user_id), await user_id(db, ADMIN_2.user_id)
        events = [e for e in await trail(db) if e.object_kind == "broadcast"]
        assert [(e.action, e.actor_id, e.object_id) for e in events] == [
            ("broadcast.submitted", first, "1"),
            ("broadcast.rejected", second, "1"),
            ("broadcast.submitted", first, "1"),
            ("broadcast.approved", second, "1"),
            ("broadcast.started", second, "1"),
            ("broadcast.cancelled", first, "2"),
        ]
        started = events[4].detail
        assert started == {"audience": "all", "recipients": 2, "approver": second}
        assert events[5].detail == {"audience": "all", "was": "draft"}
        assert all(WARNING[:15] not in json.dumps(e.detail, ensure_ascii=False) for e in events)
        assert (await verify(db)).ok


async def test_officers_added_and_removed_from_the_command_line_are_recorded(
    tmp_path: Path, db_url: str
) -> None:
    added = tinbao("officer", "add", "424242", "--name", "Trung úy A", cwd=tmp_path, db_url=db_url)
    assert added.returncode == 0, added.stderr
    removed = tinbao("officer", "remove", "424242", cwd=tmp_path, db_url=db_url)
    assert removed.returncode == 0, removed.stderr
    listed = tinbao("audit", "list", "--json", cwd=tmp_path, db_url=db_url)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [
        (r["action"], r["actor_role"], r["detail"]["from"], r["detail"]["to"]) for r in rows
    ] == [
        ("user.role", "cli", "officer", "resident"),
        ("user.role", "cli", None, "officer"),
    ]
    assert "Trung" not in listed.stdout


# ------------------------------------------------------------------------------ the chain


async def seed(db: Database, n: int) -> list[AuditEvent]:
    """`n` events, each committed in its own transaction, as separate actions would be."""
    start = utcnow()
    for number in range(n):
        async with db.session() as session:
            audit.record(
                session,
                audit.Actor(number % 3 + 1, "officer"),
                "report.viewed",
                "report",
                100 + number,
                start + timedelta(seconds=number),
                {"code": f"TB-2611-{number:04d}"},
            )
    return await trail(db)


async def tamper(db: Database, *statements: str, params: dict[str, Any] | None = None) -> None:
    """Edit the audit tables directly, with the append-only triggers out of the way."""
    async with db.engine.begin() as connection:
        if db.is_sqlite:
            for trigger in (
                "auditevent_no_update",
                "auditevent_no_delete",
                "audithead_kept",
                "audithead_forward",
            ):
                await connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger}"))
        else:
            # What a superuser can do: the triggers do not fire for this transaction.
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await connection.execute(text(statement), params or {})


async def test_a_chain_of_committed_events_verifies(db: Database) -> None:
    assert (await verify(db)).ok and (await verify(db)).count == 0
    events = await seed(db, 5)
    assert [e.id for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == audit.GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    verdict = await verify(db)
    assert (verdict.ok, verdict.count, verdict.last_id, verdict.last_hash) == (
        True,
        5,
        5,
        events[-1].hash,
    )
    async with db.session() as session:
        head = await session.get(AuditHead, 1)
    assert head is not None and (head.last_id, head.last_hash) == (5, events[-1].hash)


@pytest.mark.parametrize(
    ("edit", "kind", "at"),
    [
        ("UPDATE auditevent SET actor_id = 99 WHERE id = 3", "changed", 3),
        ('UPDATE auditevent SET detail = \'{"code": "TB-0000-0000"}\' WHERE id = 4', "changed", 4),
        ("UPDATE auditevent SET action = 'report.note' WHERE id = 6", "changed", 6),
        ("DELETE FROM auditevent WHERE id = 3", "deleted", 3),
        ("DELETE FROM auditevent WHERE id = 1", "deleted", 1),
        ("DELETE FROM auditevent WHERE id = 6", "deleted", 6),
    ],
)
async def test_a_changed_or_deleted_event_is_named(
    db: Database, edit: str, kind: str, at: int
) -> None:
    await seed(db, 6)
    await tamper(db, edit)
    verdict = await verify(db)
    assert verdict.broken is not None, edit
    assert (verdict.broken.kind, verdict.broken.event_id) == (kind, at), verdict.broken
    assert verdict.count == at - 1


def _rewrite(
    events: list[AuditEvent], prev: str, renumber: int
) -> tuple[list[str], dict[str, Any]]:
    """Statements that give `events` new ids (`renumber` less) and hashes linking from `prev`,
    and move the head to the last of them: a chain recomputed by someone with write access."""
    statements: list[str] = []
    params: dict[str, Any] = {}
    for event in events:
        digest = audit.event_hash(audit.hashed_fields(event), prev)
        params |= {f"p{event.id}": prev, f"h{event.id}": digest}
        statements.append(
            f"UPDATE auditevent SET id = {event.id - renumber}, prev_hash = :p{event.id}, "
            f"hash = :h{event.id} WHERE id = {event.id}"
        )
        prev = digest
    statements.append(
        f"UPDATE audithead SET last_id = {events[-1].id - renumber}, last_hash = :last"
    )
    params["last"] = prev
    return statements, params


async def test_a_deleted_event_with_the_rest_relinked_shows_as_a_gap(db: Database) -> None:
    events = await seed(db, 5)
    statements, params = _rewrite(events[3:], events[1].hash, renumber=0)
    await tamper(db, "DELETE FROM auditevent WHERE id = 3", *statements, params=params)
    verdict = await verify(db)
    assert verdict.broken is not None
    assert (verdict.broken.kind, verdict.broken.event_id) == ("deleted", 3), verdict.broken


async def test_a_chain_recomputed_from_scratch_is_caught_only_by_an_anchor(db: Database) -> None:
    events = await seed(db, 5)
    statements, params = _rewrite(events[3:], events[1].hash, renumber=1)
    await tamper(db, "DELETE FROM auditevent WHERE id = 3", *statements, params=params)
    # What docs/audit.md warns about: with write access and the time, a consistent new chain.
    assert (await verify(db)).ok and (await verify(db)).count == 4
    # A hash noted outside the database before catches it.
    anchored = await verify(db, (4, events[3].hash))
    assert anchored.broken is not None
    assert (anchored.broken.kind, anchored.broken.event_id) == ("rewritten", 4)
    beyond = await verify(db, (5, events[4].hash))
    assert beyond.broken is not None and beyond.broken.kind == "deleted"
    assert (await verify(db, (2, events[1].hash))).ok  # before the tampering: still intact


async def forged(prev_hash: str, seconds: int = 0) -> dict[str, Any]:
    fields = {
        "at": utcnow() - timedelta(seconds=seconds),
        "actor_id": 2,
        "actor_role": "officer",
        "action": "report.status",
        "object_kind": "report",
        "object_id": "7",
        "detail": {"code": "TB-2611-0007", "from": "verified", "to": "closed"},
    }
    return fields | {"prev_hash": prev_hash, "hash": audit.event_hash(fields, prev_hash)}


INSERT = (
    "INSERT INTO auditevent (id, at, actor_id, actor_role, action, object_kind, object_id, "
    "detail, prev_hash, hash) VALUES (:id, :at, :actor_id, :actor_role, :action, :object_kind, "
    ":object_id, :detail, :prev_hash, :hash)"
)


def _insert_params(db: Database, row: dict[str, Any], number: int) -> dict[str, Any]:
    at = row["at"]
    return row | {
        "id": number,
        "at": at.replace(tzinfo=None) if db.is_sqlite else at,
        "detail": json.dumps(row["detail"]),
    }


async def test_an_event_inserted_in_the_middle_is_named(db: Database) -> None:
    events = await seed(db, 5)
    # Make room after #3 and slip in an event that hashes correctly on its own; it cannot
    # reuse #3's hash as its previous hash (each event has one successor), so it invents one.
    moves = [f"UPDATE auditevent SET id = {n + 1} WHERE id = {n}" for n in (5, 4)]
    row = await forged("f" * 64)
    await tamper(db, *moves, INSERT, params=_insert_params(db, row, 4))
    assert len(await trail(db)) == 6 and events
    verdict = await verify(db)
    assert verdict.broken is not None
    assert (verdict.broken.kind, verdict.broken.event_id) == ("inserted", 4), verdict.broken


async def test_an_event_appended_behind_the_heads_back_is_named(db: Database) -> None:
    events = await seed(db, 4)
    row = await forged(events[-1].hash)
    await tamper(db, INSERT, params=_insert_params(db, row, 5))
    verdict = await verify(db)
    assert verdict.broken is not None
    assert (verdict.broken.kind, verdict.broken.event_id) == ("inserted", 5), verdict.broken


async def test_two_swapped_events_are_named_as_reordered(db: Database) -> None:
    await seed(db, 6)
    await tamper(
        db,
        "UPDATE auditevent SET id = 1000 WHERE id = 3",
        "UPDATE auditevent SET id = 3 WHERE id = 4",
        "UPDATE auditevent SET id = 4 WHERE id = 1000",
    )
    verdict = await verify(db)
    assert verdict.broken is not None
    assert (verdict.broken.kind, verdict.broken.event_id) == ("reordered", 3), verdict.broken


async def test_the_database_refuses_to_update_or_delete_audit_events(db: Database) -> None:
    await seed(db, 3)
    for statement in (
        "UPDATE auditevent SET actor_id = 99 WHERE id = 2",
        "DELETE FROM auditevent WHERE id = 2",
        "DELETE FROM audithead",
        "UPDATE audithead SET last_id = 1",
    ):
        with pytest.raises(DBAPIError, match=r"append-only|only moves forward"):
            async with db.engine.begin() as connection:
                await connection.execute(text(statement))
    if not db.is_sqlite:
        with pytest.raises(DBAPIError, match="append-only"):
            async with db.engine.begin() as connection:
                await connection.execute(text("TRUNCATE auditevent"))
    assert (await verify(db)).ok and len(await trail(db)) == 3


async def test_an_action_that_fails_leaves_no_event_and_no_gap(db: Database) -> None:
    await seed(db, 2)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            audit.record(session, audit.SYSTEM, "report.viewed", "report", 1, utcnow())
            raise RuntimeError("the action failed")
    await seed(db, 1)
    events = await trail(db)
    assert [e.id for e in events] == [1, 2, 3] and (await verify(db)).ok


@pytest.mark.postgres
async def test_concurrent_appends_from_two_engines_keep_one_chain(db_url: str) -> None:
    first, second = Database(db_url), Database(db_url)
    await upgrade(first)
    try:

        async def act(db: Database, number: int) -> None:
            async with db.session() as session:
                for part in range(number % 3 + 1):  # one to three events per transaction
                    audit.record(
                        session,
                        audit.Actor(number, "officer"),
                        "report.viewed",
                        "report",
                        number,
                        utcnow(),
                        {"part": part},
                    )
                await asyncio.sleep(0)  # let the other tasks in between

        await asyncio.gather(
            *(act(first if n % 2 else second, n) for n in range(60)),
        )
        events = await trail(first)
        expected = sum(n % 3 + 1 for n in range(60))
        assert [e.id for e in events] == list(range(1, expected + 1))
        verdict = await verify(first)
        assert verdict.ok and verdict.count == expected
        # Every transaction's events are consecutive: nobody slipped in between them.
        runs: dict[int, list[int]] = {}
        for event in events:
            runs.setdefault(int(event.actor_id or 0), []).append(event.id)
        assert all(ids == list(range(ids[0], ids[0] + len(ids))) for ids in runs.values())
    finally:
        await first.dispose()
        await second.dispose()


def test_details_refuse_free_text_and_odd_values() -> None:
    class Session:
        def __init__(self) -> None:
            self.info: dict[str, Any] = {}

    session: Any = Session()
    now = utcnow()
    audit.record(session, audit.CLI, "reports.exported", "export", None, now, {"reports": 3})
    odd: list[Any] = [
        {"note": "x" * 65},
        {"amount": 1.5},
        {"codes": ["TB"] * 21},
        {"nested": {"a": 1}},
    ]
    for detail in odd:
        with pytest.raises(ValueError):
            audit.record(session, audit.CLI, "reports.exported", "export", None, now, detail)
    with pytest.raises(ValueError):
        audit.record(session, audit.CLI, "x", "export", None, now.replace(tzinfo=None))


# ----------------------------------------------------------------------------- the CLI


async def test_audit_verify_prints_ok_or_the_first_break_with_exit_code_1(
    tmp_path: Path, db_url: str
) -> None:
    empty = await asyncio.to_thread(tinbao, "audit", "verify", cwd=tmp_path, db_url=db_url)
    assert (empty.returncode, empty.stdout.strip()) == (0, "OK: the audit log is empty")
    db = Database(db_url)
    try:
        events = await seed(db, 4)
        ok = await asyncio.to_thread(tinbao, "audit", "verify", cwd=tmp_path, db_url=db_url)
        assert ok.returncode == 0
        assert ok.stdout.strip() == (
            f"OK: 4 audit events, the chain is unbroken; last event #4 {events[-1].hash}"
        )
        anchored = await asyncio.to_thread(
            tinbao,
            "audit",
            "verify",
            "--anchor",
            f"2:{events[1].hash}",
            cwd=tmp_path,
            db_url=db_url,
        )
        assert anchored.returncode == 0, anchored.stderr
        wrong = await asyncio.to_thread(
            tinbao, "audit", "verify", "--anchor", f"2:{'a' * 64}", cwd=tmp_path, db_url=db_url
        )
        assert wrong.returncode == 1 and "(rewritten)" in wrong.stderr
        bad = await asyncio.to_thread(
            tinbao, "audit", "verify", "--anchor", "two", cwd=tmp_path, db_url=db_url
        )
        assert bad.returncode == 1 and "is not ID:HASH" in bad.stderr
        await tamper(db, "UPDATE auditevent SET object_id = '999' WHERE id = 3")
        broken = await asyncio.to_thread(tinbao, "audit", "verify", cwd=tmp_path, db_url=db_url)
    finally:
        await db.dispose()
    assert broken.returncode == 1 and broken.stdout == ""
    lines = broken.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in broken.stderr
    assert lines[0].startswith("tinbao: audit chain BROKEN at event #3 (changed)")
    assert "the 2 events before it verify" in lines[0]


async def test_audit_list_filters_by_report_actor_time_and_count(
    queue_bot: Harness, tmp_path: Path, db_url: str
) -> None:
    h = queue_bot
    await h.send(ADMIN.command("canbo", f"them {OFFICER.user_id}"))
    first = await file_report(h, Resident(3020, "Lan"))
    second = await file_report(h, Resident(3021, "Mai"), phone="0987654321")
    await claim(h, OFFICER, first)
    await h.send(OFFICER.command("xem", second))
    await h.send(ADMIN.command("xem", first))

    def run(*args: str) -> Any:
        return tinbao("audit", "list", *args, cwd=tmp_path, db_url=db_url)

    about_first = await asyncio.to_thread(run, "--report", first, "--json")
    assert about_first.returncode == 0, about_first.stderr
    rows = [json.loads(line) for line in about_first.stdout.splitlines()]
    assert [r["action"] for r in rows] == ["report.viewed", "report.claimed", "report.submitted"]
    assert rows[0]["actor"] == f"telegram:{ADMIN.user_id}" and rows[0]["actor_role"] == "admin"
    assert {"id", "at", "hash", "prev_hash", "detail", "object_id"} <= set(rows[0])
    report = await report_row(h, first)
    by_number = await asyncio.to_thread(run, "--report", str(report.id), "--json")
    assert by_number.stdout == about_first.stdout

    by_officer = await asyncio.to_thread(run, "--actor", str(OFFICER.user_id))
    lines = by_officer.stdout.splitlines()
    assert len(lines) == 2 and all(f"officer telegram:{OFFICER.user_id}" in line for line in lines)
    assert lines[0].split("\t")[3] == "report.viewed" and f"code={second}" in lines[0]
    assert re.match(r"#\d+\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00\t", lines[0])

    newest = await asyncio.to_thread(run, "--limit", "1", "--json")
    (only,) = [json.loads(line) for line in newest.stdout.splitlines()]
    assert only["action"] == "report.viewed" and only["actor_role"] == "admin"
    residents = await asyncio.to_thread(run, "--actor", "resident", "--json")
    assert [json.loads(x)["action"] for x in residents.stdout.splitlines()] == [
        "report.submitted"
    ] * 2
    recent = await asyncio.to_thread(run, "--since", "1h", "--json")
    later = await asyncio.to_thread(run, "--since", "2099-01-01", "--json")
    assert len(recent.stdout.splitlines()) >= 5 and later.stdout == ""

    for args, message in (
        (("--report", "TB-2611-9999"), "no report has the code TB-2611-9999"),
        (("--actor", "55555"), "no user has the id 55555 on telegram"),
        (("--since", "yesterday"), "--since 'yesterday' is not a time"),
    ):
        failed = await asyncio.to_thread(run, *args)
        assert failed.returncode == 1 and failed.stderr.strip().startswith("tinbao: "), args
        assert message in failed.stderr and "Traceback" not in failed.stderr
    zero = await asyncio.to_thread(run, "--limit", "0")
    assert zero.returncode == 2 and "1 or more" in zero.stderr
    # Listing reads only: the chain is the same and still verifies.
    assert (await verify(h.services.db)).ok


def test_the_migration_creates_the_head_at_the_start_of_the_chain(tmp_path: Path) -> None:
    async def go() -> tuple[int, str]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")
        await upgrade(db)
        try:
            async with db.session() as session:
                head = await session.get(AuditHead, 1)
                assert head is not None
                return head.last_id, head.last_hash
        finally:
            await db.dispose()

    assert asyncio.run(go()) == (0, audit.GENESIS)


async def test_a_report_row_is_never_joined_to_the_log(db: Database) -> None:
    # No foreign keys: deleting what an event names (a report, a user) leaves the log as it is.
    now = utcnow()
    async with db.session() as session:
        user = User(channel="telegram", external_id="1", created_at=now, role="officer")
        session.add(user)
        await session.flush()
        report = Report(channel="telegram", status="new", created_at=now, reporter_id=user.id)
        session.add(report)
        await session.flush()
        audit.record(session, audit.actor(user), "report.viewed", "report", report.id, now)
    async with db.session() as session:
        await session.execute(text("DELETE FROM report"))
        await session.execute(text('DELETE FROM "user"'))
    assert len(await trail(db)) == 1 and (await verify(db)).ok
