"""The officers' web dashboard over HTTP, with the real bot: signing in with the bot's one-time
link, who may not, CSRF, sessions ending, what pages show, and actions reaching the reporter.

The journey in a real browser is in tests/test_dashboard_browser.py; the dashboard's queries
on both engines in tests/test_dashboard_storage.py.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openpyxl import load_workbook

from bot.channels.telegram import TelegramOutbox
from bot.web.serve import build_app, serve
from handlers import evidence
from storage import dashboard as store
from storage import queue
from storage.models import Attachment, Report, User, utcnow
from tests.conftest import Harness, make_settings, migrated, running_bot
from tests.fakebotapi import FakeBotAPI
from tests.test_officer_flow import ADMIN, OFFICER, OFFICER_VI, file_report, joined
from tests.test_report_flow import PDF
from tests.updates import Resident

RESIDENT = Resident(8101, "Phạm Văn Dân")
HTML_STORY = 'Họ gửi <script>alert("x")</script> và <b>đậm</b> & link'
LINK = re.compile(r"https?://\S+/login\?token=\S+")


def free_port() -> int:
    """A port nothing listens on now (the dashboard's address must be known to the settings)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def dashboard_bot(
    tmp_path: Path, db_url: str, **extra: Any
) -> AsyncIterator[tuple[Harness, str]]:
    """The bot with one admin and two officers, and the dashboard served next to it (as
    `tinbao webhook` does), sending with the bot's own `Application`."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_bot(
        tmp_path, db_url, admin_ids=[ADMIN.user_id], public_url=base, **extra
    ) as h:
        for person in (OFFICER, OFFICER_VI):
            calls = await h.send(ADMIN.command("canbo", f"them {person.user_id}"))
            assert f"Added officer {person.user_id}" in joined(calls)
        bot = h.application.bot
        app = build_app(h.services.settings, h.services, lambda: TelegramOutbox(bot))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield h, base
        finally:
            await runner.cleanup()


async def login_link(h: Harness, who: Resident) -> str:
    """Send /dashboard as `who`; the link the bot answered with."""
    text = joined(await h.send(who.command("dashboard")))
    found = LINK.search(text)
    assert found, text
    return found.group(0)


async def add_evidence(h: Harness, code: str, data: bytes, mime: str, name: str) -> int:
    """Store a file as evidence of a report, as the bot does; returns its row id."""
    settings = h.services.settings
    stored = evidence.store(settings.evidence_dir, data, mime, settings.evidence_keys)
    async with h.services.db.session() as session:
        report = await queue.by_code(session, code)
        assert report is not None and report.id is not None
        row = Attachment(
            report_id=report.id,
            kind="document",
            sha256=stored.sha256,
            size=stored.size,
            mime=stored.mime,
            stored_path=stored.path,
            original_name=name,
        )
        session.add(row)
        await session.flush()
        assert row.id is not None
        return row.id


def client() -> aiohttp.ClientSession:
    """A browser-like HTTP client that keeps the cookies of 127.0.0.1 (aiohttp's default jar
    ignores cookies of IP addresses)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


@pytest.mark.postgres
async def test_signing_in_with_the_bots_link_and_what_is_refused(
    tmp_path: Path, db_url: str
) -> None:
    async with dashboard_bot(tmp_path, db_url) as (h, base):
        code = await file_report(h, RESIDENT, story=HTML_STORY, with_photo=True)

        # A resident asking for a link is refused politely; no link is made.
        refused = joined(await h.send(Resident(8102, "Ai Đó").command("dashboard")))
        assert "police officers" in refused or "cán bộ" in refused
        assert "/login?token=" not in refused

        # Without a session, pages say how to sign in.
        async with client() as guest:
            async with guest.get(f"{base}/") as response:
                assert response.status == 401
                body = await response.text()
                assert "/dashboard" in body
                assert "Content-Security-Policy" in response.headers
                assert "script-src" not in response.headers["Content-Security-Policy"]
                assert response.headers["X-Content-Type-Options"] == "nosniff"

        link = await login_link(h, OFFICER)
        async with client() as browser:
            async with browser.get(link) as response:
                assert response.status == 200
                assert str(response.url) == f"{base}/"
                cookie = response.history[0].headers["Set-Cookie"]
                assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
                queue_page = await response.text()
            assert code in queue_page
            # The story's HTML is shown as text, never run.
            async with browser.get(f"{base}/reports/{code}") as response:
                page = await response.text()
            assert "&lt;script&gt;alert(" in page and "<script>" not in page
            assert "&lt;b&gt;đậm&lt;/b&gt;" in page

            # A page shows only what the dashboard itself said, never text put in a link.
            async with browser.get(
                f"{base}/reports/{code}", params={"said": "Gọi ngay 0999999999", "sig": "0"}
            ) as response:
                assert "notice said" not in await response.text()

            # A form posted without the session's CSRF token changes nothing.
            async with browser.post(f"{base}/reports/{code}/claim", data={}) as response:
                assert response.status == 403
            async with browser.post(
                f"{base}/reports/{code}/claim", data={"csrf": "forged"}
            ) as response:
                assert response.status == 403
            async with browser.get(f"{base}/reports/{code}") as response:
                assert "claim" in await response.text()  # still unclaimed: the Claim button

            # The link worked once: opened again (by anyone) it is refused.
            async with client() as other:
                async with other.get(link) as response:
                    assert response.status == 403
                    assert "already used" in await response.text() or "đã được dùng" in (
                        await response.text()
                    )
                    assert "Set-Cookie" not in response.headers

            # Evidence: an image inline with its type; the page shows its SHA-256.
            evidence = re.search(r'href="/evidence/(\d+)"', page)
            assert evidence
            async with browser.get(f"{base}/evidence/{evidence.group(1)}") as response:
                assert response.headers["Content-Type"] == "image/jpeg"
                assert response.headers["X-Content-Type-Options"] == "nosniff"
                assert response.headers["Content-Disposition"].startswith("inline")
            async with browser.get(f"{base}/evidence/{evidence.group(1)}/thumb") as response:
                assert response.headers["Content-Type"] == "image/png"
            assert re.search(r"SHA-256 <code>[0-9a-f]{64}</code>", page)
            # Anything but a picture is a download, never shown by the browser.
            pdf = await add_evidence(h, code, PDF, "application/pdf", "hợp đồng.pdf")
            async with browser.get(f"{base}/evidence/{pdf}") as response:
                assert response.headers["Content-Type"] == "application/pdf"
                assert response.headers["Content-Disposition"] == (
                    "attachment; filename*=UTF-8''h%E1%BB%A3p%20%C4%91%E1%BB%93ng.pdf"
                )
                assert await response.read() == PDF
            page_html = await add_evidence(h, code, b"<html><script>x</script>", "text/html", "a")
            async with browser.get(f"{base}/evidence/{page_html}") as response:
                assert response.headers["Content-Type"] == "application/octet-stream"
                assert response.headers["Content-Disposition"].startswith("attachment")

            # Removing the officer ends their session at once.
            calls = await h.send(ADMIN.command("canbo", f"xoa {OFFICER.user_id}"))
            assert "no longer an officer" in joined(calls)
            async with browser.get(f"{base}/") as response:
                assert response.status == 401

        # A link older than ten minutes is refused.
        late = await login_link(h, OFFICER_VI)
        h.offset += timedelta(minutes=11)
        async with client() as browser:
            async with browser.get(late) as response:
                assert response.status == 403


@pytest.mark.postgres
async def test_actions_from_the_web_reach_the_reporter_and_exports_hold_the_filter(
    tmp_path: Path, db_url: str
) -> None:
    async with dashboard_bot(tmp_path, db_url) as (h, base):
        first = await file_report(h, RESIDENT, phone="0912345678")
        second = await file_report(
            h, RESIDENT, phone="0987654321", again=True, account="Techcombank 19033344455566"
        )
        link = await login_link(h, OFFICER)
        async with client() as browser:
            async with browser.get(link) as response:
                page = await response.text()
            token = csrf_of(page)

            # Search by a phone number finds only the report carrying it.
            async with browser.get(f"{base}/", params={"q": "0987654321"}) as response:
                found = await response.text()
            assert second in found and first not in found

            start = h.fake.mark()
            async with browser.post(
                f"{base}/reports/{first}/claim", data={"csrf": token}
            ) as response:
                claimed = await response.text()
            assert f'<p class="notice said">You claimed {first}.</p>' in claimed
            # The reporter hears it in their language, as after a press in the chat.
            await h.fake.wait_for_text(RESIDENT.user_id, after=start, contains=first)

            # A note stays among officers; a question reaches the reporter, without a name.
            async with browser.post(
                f"{base}/reports/{first}/note", data={"csrf": token, "text": "Gọi lại <b>sau</b>"}
            ) as response:
                noted = await response.text()
            assert "Gọi lại &lt;b&gt;sau&lt;/b&gt;" in noted  # on the timeline, as text
            start = h.fake.mark()
            async with browser.post(
                f"{base}/reports/{first}/ask",
                data={"csrf": token, "text": "Bạn chuyển lúc mấy giờ?"},
            ) as response:
                assert "Your question was sent" in await response.text()
            asked = await h.fake.wait_for_text(
                RESIDENT.user_id, after=start, contains="Bạn chuyển lúc mấy giờ?"
            )
            assert OFFICER.first_name not in str(asked.params["text"])
            async with browser.post(
                f"{base}/reports/{first}/ask", data={"csrf": token, "text": "  "}
            ) as response:
                assert "nothing was saved" in await response.text()

            start = h.fake.mark()
            async with browser.post(
                f"{base}/reports/{first}/status",
                data={"csrf": token, "to": "verified", "seen": "needs_info"},
            ) as response:
                assert response.status == 200
            await h.fake.wait_for_text(RESIDENT.user_id, after=start, contains=first)

            # A decision made on a stale page is refused, not applied.
            async with browser.post(
                f"{base}/reports/{first}/status",
                data={"csrf": token, "to": "closed", "seen": "in_review"},
            ) as response:
                stale = await response.text()
            assert "changed by someone else" in stale or "người khác" in stale

            async with browser.get(
                f"{base}/export.xlsx", params={"status": "verified"}
            ) as response:
                assert response.status == 200
                book = load_workbook(BytesIO(await response.read()))
            rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
            assert len(rows) == 2 and rows[1][0] == first

            async with browser.get(f"{base}/export.csv") as response:
                text = (await response.read()).decode("utf-8-sig")
            assert first in text and second in text

            # Vietnamese by default (this officer's app is in English, so the bot and the
            # dashboard speak English to them); the language can be changed on any page.
            async with browser.post(
                f"{base}/language", data={"csrf": token, "language": "vi", "back": "/stats"}
            ) as response:
                assert str(response.url) == f"{base}/stats"
                assert "Thống kê" in await response.text()
            async with browser.post(
                f"{base}/language", data={"csrf": token, "language": "en", "back": "//evil"}
            ) as response:
                assert str(response.url) == f"{base}/"  # never back to another site
                assert "Sign out" in await response.text()

            # Officers see no audit log; the statistics page draws its charts.
            async with browser.get(f"{base}/audit") as response:
                assert response.status == 403
            async with browser.get(f"{base}/stats") as response:
                stats = await response.text()
            assert stats.count("<svg") >= 4  # per day, money, time to claim, top indicators
            assert re.search(r"<title>[^<]*0912 345 678: 1</title>", stats)

        admin_link = await login_link(h, ADMIN)
        async with client() as browser:
            async with browser.get(admin_link):
                pass
            async with browser.get(f"{base}/audit") as response:
                log = await response.text()
            assert "report.viewed" in log or "reports.exported" in log


async def test_tinbao_web_serves_the_dashboard_alone_and_sends_with_its_own_bot(
    tmp_path: Path,
) -> None:
    port = free_port()
    async with FakeBotAPI() as fake:
        settings = make_settings(
            tmp_path,
            f"sqlite+aiosqlite:///{tmp_path / 'tinbao.db'}",
            fake,
            listen=f"127.0.0.1:{port}",
        )
        # What the bot (`tinbao run`, elsewhere) would have stored: an officer, a reporter and
        # their new report.
        database = await migrated(settings.effective_database_url)
        now = utcnow()
        async with database.session() as session:
            officer = await queue.set_role(session, "telegram", "7002", "officer", now=now)
            reporter = User(channel="telegram", external_id="8101", created_at=now)
            session.add(reporter)
            await session.flush()
            session.add(
                Report(
                    code="TB-2611-0042",
                    channel="telegram",
                    status="new",
                    reporter_id=reporter.id,
                    submitted_at=now,
                    queued_at=now,
                    description="Họ gọi tự xưng công an",
                )
            )
            assert officer.id is not None
            token = await store.issue_token(session, officer.id, now, timedelta(minutes=10))
        await database.dispose()

        stop = asyncio.Event()
        task = asyncio.get_running_loop().create_task(serve(settings, stop))
        base = f"http://127.0.0.1:{port}"
        try:
            async with client() as http:
                while True:  # until it listens (the task fails loudly if it cannot)
                    assert not task.done()
                    try:
                        async with http.get(f"{base}/healthz") as response:
                            assert await response.json() == {"status": "ok"}
                            break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)
                async with http.get(f"{base}/static/style.css") as response:
                    assert response.content_type == "text/css"
                async with http.get(f"{base}/telegram") as response:
                    assert response.status == 404  # no webhook in this process
                async with http.get(f"{base}/login", params={"token": token}) as response:
                    page = await response.text()
                assert "TB-2611-0042" in page
                start = fake.mark()
                async with http.post(
                    f"{base}/reports/TB-2611-0042/claim", data={"csrf": csrf_of(page)}
                ) as response:
                    assert response.status == 200
                # The reporter is told through this process's own bot.
                await fake.wait_for_text(8101, after=start, contains="TB-2611-0042")
        finally:
            stop.set()
            await task
