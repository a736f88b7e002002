"""The reporter's identity is kept apart from the report (docs/privacy.md).

Officers see a pseudonymous handle in cards, details, lists, notifications and exports; the
identity (app user id, name, contact phone) is shown only when an admin reveals it with a
reason, which the audit log keeps, and in an export asked for with a reason, audited too.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text
from sqlmodel import select

from storage import audit, identity
from storage.engine import Database
from storage.migrate import head_revision, upgrade
from storage.models import Report, User
from tests.conftest import Harness
from tests.test_cli import tinbao
from tests.test_officer_flow import (
    ADMIN,
    GROUP,
    GROUP_ID,
    OFFICER,
    OFFICER_VI,
    claim,
    file_report,
    queue_bot,
    report_row,
)
from tests.test_report_flow import joined
from tests.updates import Resident

__all__ = ["queue_bot"]  # the fixture (an officers' group, an admin, two officers), by name

NAMED = Resident(5550001234, "Phượng", last_name="Đinh", username="dinh_phuong")
HIDDEN = Resident(5550005678, "Khuê", last_name="Vũ", username="vu_khue")
PHONE_FORMS = ("0903123456", "0903 123 456", "+84903123456", "903123456")
HANDLE = re.compile(r"NB-[0-9A-Z]{6}")


def secrets_of(person: Resident) -> list[str]:
    """What would identify a resident: their Telegram id, names, and the phone they gave."""
    names = [person.first_name, person.last_name or "", person.username or ""]
    return [str(person.user_id), *[n for n in names if n], *PHONE_FORMS]


def officer_side(h: Harness, start: int = 0) -> list[str]:
    """Everything the bot sent or edited in officers' chats (the group and their private
    chats), buttons included, since `start`."""
    chats = (GROUP_ID, OFFICER.user_id, OFFICER_VI.user_id)
    return [repr(c.params) for c in h.fake.calls[start:] if c.chat_id in chats]


async def test_handles_are_random_stable_distinct_and_given_when_first_needed(
    db: Database,
) -> None:
    now = datetime.now(UTC)
    async with db.session() as session:
        people = [
            User(channel="telegram", external_id=str(5550000000 + n), created_at=now)
            for n in range(30)
        ]
        session.add_all(people)
        await session.flush()
        assert all(p.handle is None for p in people)  # nobody has one before it is needed
        handles = [await identity.handle_for(session, p) for p in people]
    async with db.session() as session:
        stored = {u.external_id: u.handle for u in (await session.execute(select(User))).scalars()}
        again = [await identity.handle_for(session, u) for u in people]
    assert handles == again == [stored[p.external_id] for p in people]  # stable
    assert len(set(handles)) == len(handles)  # distinct
    assert all(HANDLE.fullmatch(h) and identity.looks_like_handle(h) for h in handles)
    # Not derived from the person: no digit run of their id is in it.
    assert not any(p.external_id[-4:] in h for p, h in zip(people, handles, strict=True))


async def test_no_officer_message_export_or_log_line_holds_a_reporters_identity(
    queue_bot: Harness, tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    h = queue_bot
    start = h.fake.mark()
    named = await file_report(h, NAMED, anonymous=False, with_photo=True)
    again = await file_report(h, NAMED, anonymous=False, again=True)
    hidden = await file_report(h, HIDDEN, anonymous=True, phone="0912345678")
    await h.tick(timedelta(hours=6))  # unclaimed: posted again to the officers, as overdue
    for code in (named, hidden):
        await claim(h, OFFICER, code)
        await h.send(OFFICER.command("xem", code))
        report = await report_row(h, code)
        await h.send(OFFICER.callback(f"o:files:{report.id}"))
        await h.send(OFFICER.command("hoi", f"{code} Bạn còn ảnh chụp nào khác không?"))
    await h.send(NAMED.text("Không, chỉ có vậy thôi ạ"))
    await h.send(HIDDEN.text("Dạ không còn"))
    await h.send(OFFICER.command("hangdoi"))
    await h.send(OFFICER.command("cuatoi"))
    await h.send(OFFICER.command("chiso", "0912345678"))  # the related-reports list
    await h.send(OFFICER_VI.command("timkiem", "0912345678"))
    await h.send(OFFICER.callback(f"o:st:{(await report_row(h, named)).id}:verified"))
    shown = officer_side(h, start)
    assert any(named in s for s in shown) and any(hidden in s for s in shown)
    for person in (NAMED, HIDDEN):
        for secret in secrets_of(person):
            leaks = [s[:200] for s in shown if secret in s]
            assert not leaks, (secret, leaks)
    # The named reporter is one handle on both their reports; the anonymous one has none.
    details = {
        code: joined(await h.send(OFFICER.command("xem", code))) for code in (named, again, hidden)
    }
    handles = {code: HANDLE.findall(detail) for code, detail in details.items()}
    assert handles[named] and handles[named] == handles[again] and not handles[hidden]
    assert "Anonymous" in details[hidden]
    cards = [s for s in shown if named in s and "o:claim:" in s]
    assert cards and all(handles[named][0] in c for c in cards)  # on the card in the group
    lists = [s for s in shown if "linked report" in s]
    assert lists and handles[named][0] in lists[-1] and "anonymous" in lists[-1]
    # Plain exports carry the handle, never the identity.
    for fmt in ("jsonl", "csv"):
        exported = tinbao("export", "--format", fmt, cwd=tmp_path, db_url=db_url)
        assert exported.returncode == 0, exported.stderr
        for person in (NAMED, HIDDEN):
            for secret in secrets_of(person):
                assert secret not in exported.stdout, (fmt, secret)
        assert handles[named][0] in exported.stdout
    rows = [
        json.loads(line)
        for line in tinbao("export", cwd=tmp_path, db_url=db_url).stdout.split("\n")
        if line
    ]
    by_code = {row["code"]: row for row in rows}
    assert by_code[hidden]["reporter"] is None
    assert by_code[named]["reporter"] == {"handle": handles[named][0], "contact_allowed": True}
    # Nor in the logs.
    for person in (NAMED, HIDDEN):
        for secret in secrets_of(person):
            assert secret not in caplog.text, secret


async def test_only_an_admin_reveals_an_identity_with_a_reason_that_is_audited(
    queue_bot: Harness,
) -> None:
    h = queue_bot
    code = await file_report(h, NAMED, anonymous=False)
    report = await report_row(h, code)
    # An officer who is not an admin is refused, politely, and nothing is recorded.
    refused = joined(await h.send(OFFICER.command("danhtinh", f"{code} need to call her back")))
    assert "only an admin can reveal" in refused and str(NAMED.user_id) not in refused
    # In the group, nothing is shown there: the admin is sent to their private chat.
    start = h.fake.mark()
    await h.send(ADMIN.command("danhtinh", f"{code} need to call her back", chat=GROUP))
    assert not any(str(NAMED.user_id) in s for s in officer_side(h, start))
    private = [
        str(c.params["text"])
        for c in h.fake.calls[start:]
        if c.method == "sendMessage" and c.chat_id == ADMIN.user_id
    ]
    assert any("/danhtinh" in t and str(NAMED.user_id) not in t for t in private), private
    # Without a reason the admin is asked for one, and again when it is too short.
    asked = joined(await h.send(ADMIN.command("reveal", code)))
    assert f"Why do you need to know who reported {code}?" in asked
    assert str(NAMED.user_id) not in asked
    short = joined(await h.send(ADMIN.text("call")))
    assert "a few more words" in short and str(NAMED.user_id) not in short
    async with h.services.db.session() as session:
        before = await audit.events(session, object_kind="report", object_id=report.id)
    assert "identity.revealed" not in {e.action for e in before}  # refused, asked: no reveal
    reason = "The victim asked us to call her back about the transfer"
    shown = joined(await h.send(ADMIN.text(reason)))
    assert f"User id: {NAMED.user_id}" in shown and "App: Telegram" in shown
    assert "0903 123 456" in shown and "recorded in the audit log" in shown
    async with h.services.db.session() as session:
        found = await audit.events(session, object_kind="report", object_id=report.id)
        admin = (
            await session.execute(select(User).where(User.external_id == str(ADMIN.user_id)))
        ).scalar_one()
    revealed = [e for e in found if e.action == "identity.revealed"]
    assert len(revealed) == 1
    assert revealed[0].detail == {"code": code, "reason": reason[:64], "result": "shown"}
    assert (revealed[0].actor_role, revealed[0].actor_id) == ("admin", admin.id)
    # The next message is an ordinary one again: the reveal no longer waits for a reason.
    assert "User id" not in joined(await h.send(ADMIN.text("cảm ơn")))


async def test_an_anonymous_reporter_stays_anonymous_even_to_an_admin(queue_bot: Harness) -> None:
    h = queue_bot
    code = await file_report(h, HIDDEN, anonymous=True)
    report = await report_row(h, code)
    shown = joined(await h.send(ADMIN.command("danhtinh", f"{code} court request for this case")))
    assert "chose to stay anonymous" in shown
    for secret in secrets_of(HIDDEN):
        assert secret not in shown
    async with h.services.db.session() as session:
        (event,) = await audit.events(session, object_kind="report", object_id=report.id, limit=1)
    assert event.action == "identity.revealed" and event.detail["result"] == "anonymous"


async def test_the_command_line_reveals_and_exports_identity_only_with_a_reason(
    queue_bot: Harness, tmp_path: Path, db_url: str
) -> None:
    h = queue_bot
    code = await file_report(h, NAMED, anonymous=False)
    hidden = await file_report(h, HIDDEN, anonymous=True)
    for args in (("export", "--with-identity"), ("reveal", code)):
        refused = tinbao(*args, cwd=tmp_path, db_url=db_url)
        assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
        assert "--reason" in refused.stderr and str(NAMED.user_id) not in refused.stdout
    reason = "court request 12/2026 for the investment ring"
    jsonl = tinbao("export", "--with-identity", "--reason", reason, cwd=tmp_path, db_url=db_url)
    assert jsonl.returncode == 0, jsonl.stderr
    rows = {row["code"]: row for row in map(json.loads, jsonl.stdout.splitlines())}
    assert rows[hidden]["reporter"] is None
    person = rows[code]["reporter"]
    assert person["external_id"] == str(NAMED.user_id) and person["channel"] == "telegram"
    assert person["contact_phone"] == "+84903123456" and HANDLE.fullmatch(person["handle"])
    as_csv = tinbao(
        "export", "--format", "csv", "--with-identity", "--reason", reason, cwd=tmp_path,
        db_url=db_url,
    )  # fmt: skip
    table = {r["code"]: r for r in csv.DictReader(io.StringIO(as_csv.stdout))}
    assert table[code]["reporter_phone"] == "+84903123456"
    assert table[hidden]["reporter_external_id"] == ""
    revealed = tinbao("reveal", code, "--reason", reason, cwd=tmp_path, db_url=db_url)
    assert revealed.returncode == 0, revealed.stderr
    assert f"external_id\t{NAMED.user_id}" in revealed.stdout
    assert "contact_phone\t+84903123456" in revealed.stdout
    report = await report_row(h, code)
    async with h.services.db.session() as session:
        exports = await audit.events(session, object_kind="export")
        reveals = await audit.events(session, object_kind="report", object_id=report.id)
    identity_exports = [e for e in exports if e.action == "export.identity"]
    assert [e.detail for e in identity_exports] == [
        {"format": "csv", "reason": reason, "count": 1},
        {"format": "jsonl", "reason": reason, "count": 1},
    ]
    assert all(e.actor_role == "cli" for e in identity_exports)
    (event,) = [e for e in reveals if e.action == "identity.revealed"]
    assert event.actor_role == "cli" and event.detail["reason"] == reason


async def test_the_migration_moves_contact_phones_out_of_reports(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert await upgrade(db, "0007") == "0007"
        now = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
        async with db.engine.begin() as connection:
            await connection.execute(
                text(
                    'INSERT INTO "user" (id, channel, external_id, role, created_at) VALUES '
                    "(1, 'telegram', '5550001234', 'resident', :now), "
                    "(2, 'telegram', '5550005678', 'resident', :now)"
                ),
                {"now": now},
            )
            for rid, user, anonymous, phone in (
                (1, 1, False, "+84903123456"),
                (2, 2, True, None),
                (3, 1, False, None),
            ):
                await connection.execute(
                    text(
                        "INSERT INTO report (id, code, reporter_id, channel, status, anonymous, "
                        "contact_allowed, contact_phone, created_at, submitted_at, updated_at) "
                        "VALUES (:id, :code, :user, 'telegram', 'new', :anon, :allowed, :phone, "
                        ":now, :now, :now)"
                    ),
                    {
                        "id": rid,
                        "code": f"TB-2611-000{rid}",
                        "user": user,
                        "anon": anonymous,
                        "allowed": not anonymous,
                        "phone": phone,
                        "now": now,
                    },
                )
            await connection.execute(
                text(
                    "INSERT INTO attachment (report_id, kind, sha256, size, mime, stored_path, "
                    "received_at) VALUES (1, 'photo', :sha, 10, 'image/jpeg', 'ab/cd', :now)"
                ),
                {"sha": "a" * 64, "now": now},
            )
        assert await upgrade(db) == head_revision()  # through 0008 and on
        async with db.session() as session:
            assert await identity.contact_for(session, 1) == "+84903123456"
            assert await identity.contact_for(session, 2) is None
            assert await identity.contact_for(session, 3) is None
            users = {u.id: u for u in (await session.execute(select(User))).scalars()}
            reports = list((await session.execute(select(Report))).scalars())
            files = (await session.execute(text("SELECT count(*) FROM attachment"))).scalar_one()
            columns = await session.run_sync(
                lambda s: [c["name"] for c in sa.inspect(s.connection()).get_columns("report")]
            )
        assert len(reports) == 3 and files == 1  # nothing else touched: evidence survives
        assert "contact_phone" not in columns
        # The named reporter got a handle; the one who only reported anonymously did not.
        assert users[1].handle is not None and HANDLE.fullmatch(users[1].handle)
        assert users[2].handle is None
    finally:
        await db.dispose()
