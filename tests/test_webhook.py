"""`tinbao webhook`: the secret is checked, every update is stored before "200 OK", handled once
and in order per user, and the health, readiness and metrics pages answer.

The server is the production `bot.webhook.serve`, on a free local port; Telegram is the fake
Bot API. Updates are posted over HTTP exactly as Telegram posts them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import select

from bot.webhook import serve, user_key
from storage import inbox
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import InboxUpdate, utcnow
from tests.conftest import make_settings
from tests.fakebotapi import FakeBotAPI
from tests.simulated import free_port
from tests.test_cli import tinbao
from tests.updates import Resident

SECRET = "s3cr3t-token_for-tests"


@dataclass
class Hook:
    fake: FakeBotAPI
    url: str
    db: Database
    http: aiohttp.ClientSession
    next_id: int = 5000

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        """Post an update as Telegram does; returns the HTTP status."""
        if "update_id" not in update:
            update = {"update_id": self.next_id, **update}
            self.next_id += 1
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with self.http.post(f"{self.url}/telegram", json=update, headers=headers) as resp:
            return resp.status

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(f"{self.url}{path}") as resp:
            return resp.status, await resp.text()

    async def rows(self) -> list[InboxUpdate]:
        async with self.db.session() as session:
            result = await session.execute(select(InboxUpdate).order_by(InboxUpdate.update_id))
            return list(result.scalars())


@pytest.fixture
async def hook(tmp_path: Path, db_url: str) -> AsyncIterator[Hook]:
    async with FakeBotAPI() as fake, running_webhook(tmp_path, db_url, fake) as h:
        yield h


class running_webhook:
    """`serve()` in this process on a free port, until the block ends."""

    def __init__(self, tmp_path: Path, db_url: str, fake: FakeBotAPI, **extra: Any) -> None:
        self.port = free_port()
        self.settings = make_settings(
            tmp_path,
            db_url,
            fake,
            webhook_url="https://tinbao.example.vn/telegram",
            webhook_secret=SECRET,
            listen=f"127.0.0.1:{self.port}",
            timer_seconds=3600.0,
            **({"inbox_reorder_ms": 300} | extra),
        )
        self.fake = fake
        self.stop = asyncio.Event()

    async def __aenter__(self) -> Hook:
        self.task = asyncio.get_running_loop().create_task(serve(self.settings, self.stop))
        self.http = aiohttp.ClientSession()
        self.db = Database(self.settings.effective_database_url)
        url = f"http://127.0.0.1:{self.port}"
        for _ in range(200):
            if self.task.done():
                self.task.result()
            try:
                async with self.http.get(f"{url}/readyz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        return Hook(self.fake, url, self.db, self.http)

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 60)
        await self.http.close()
        await self.db.dispose()


async def replies_to(fake: FakeBotAPI, chat_id: int, n: int, timeout: float = 10.0) -> list[str]:
    async def poll() -> list[str]:
        while True:
            texts = [
                str(c.params.get("text", ""))
                for c in fake.calls
                if c.method == "sendMessage" and c.chat_id == chat_id
            ]
            if len(texts) >= n:
                return texts
            await asyncio.sleep(0.02)

    return await asyncio.wait_for(poll(), timeout)


async def test_the_webhook_is_registered_with_its_secret_and_only_our_updates(hook: Hook) -> None:
    (call,) = [c for c in hook.fake.calls if c.method == "setWebhook"]
    assert call.params["url"] == "https://tinbao.example.vn/telegram"
    assert call.params["secret_token"] == SECRET
    assert call.params["max_connections"] == 40
    assert call.params["allowed_updates"] == [
        "message",
        "edited_message",
        "callback_query",
        "my_chat_member",
    ]


async def test_a_request_without_the_right_secret_is_refused_and_stores_nothing(
    hook: Hook,
) -> None:
    r = Resident(9001, "Lan")
    assert await hook.post(r.command("start"), secret=None) == 403
    assert await hook.post(r.command("start"), secret="wrong") == 403
    assert await hook.post(r.command("start"), secret=SECRET[:-1]) == 403
    assert await hook.rows() == []
    status, _ = await hook.get("/telegram")
    assert status == 405  # only POST
    async with hook.http.post(
        f"{hook.url}/telegram",
        data=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    ) as resp:
        assert resp.status == 400


async def test_an_update_is_stored_then_answered_and_a_duplicate_has_one_effect(
    hook: Hook,
) -> None:
    r = Resident(9002, "Lan")
    update = {"update_id": 7001, **r.command("start")}
    assert await hook.post(update) == 200
    assert await hook.post(update) == 200  # Telegram delivered it again
    texts = await replies_to(hook.fake, r.user_id, 1)
    await asyncio.sleep(0.5)
    texts = await replies_to(hook.fake, r.user_id, 1)
    assert len(texts) == 1 and "Bạn có đồng ý không?" in texts[0]
    (row,) = await hook.rows()
    assert row.update_id == 7001 and row.handled_at is not None and row.user_key == "user:9002"


async def test_one_users_updates_are_handled_in_order_even_when_delivered_out_of_order(
    hook: Hook,
) -> None:
    r = Resident(9003, "Lan")
    # /start, then the press on "I agree": delivered the other way round, 30 ms apart.
    consent = {"update_id": 8002, **r.callback("consent:yes:vi:menu")}
    start = {"update_id": 8001, **r.command("start")}
    assert await hook.post(consent) == 200
    await asyncio.sleep(0.03)
    assert await hook.post(start) == 200
    texts = await replies_to(hook.fake, r.user_id, 2)
    assert "Bạn có đồng ý không?" in texts[0]  # the answer to /start came first
    rows = await hook.rows()
    assert [row.update_id for row in rows] == [8001, 8002]
    assert rows[0].handled_at is not None and rows[1].handled_at is not None
    assert rows[0].handled_at <= rows[1].handled_at


async def test_an_update_stored_by_a_process_that_died_is_handled_by_another(
    tmp_path: Path, db_url: str
) -> None:
    db = Database(db_url)
    await upgrade(db)
    r = Resident(9004, "Lan")
    update = {"update_id": 9100, **r.command("start")}
    async with db.session() as session:
        await inbox.store(session, "telegram", 9100, user_key(update), json.dumps(update), utcnow())
        # The process that stored it had claimed it, then died: its claim ran out.
        claimed = await inbox.claim(
            session,
            "telegram",
            "dead:1",
            utcnow() - timedelta(hours=1),
            timedelta(seconds=1),
            utcnow(),
        )
        assert claimed is not None
    await db.dispose()
    async with FakeBotAPI() as fake, running_webhook(tmp_path, db_url, fake) as h:
        texts = await replies_to(fake, r.user_id, 1)
        assert "Bạn có đồng ý không?" in texts[0]
        (row,) = await h.rows()
        assert row.handled_at is not None and row.attempts == 2


async def test_health_readiness_and_metrics(hook: Hook) -> None:
    assert await hook.get("/healthz") == (200, '{"status": "ok"}')
    # The officers' dashboard is served under / by the same server: signed out, it says how.
    status, body = await hook.get("/")
    assert status == 401 and "/dashboard" in body
    status, body = await hook.get("/readyz")
    assert status == 200 and "ready" in body
    r = Resident(9005, "Lan")
    await hook.post(r.command("start"))
    await hook.post(r.command("start"), secret="wrong")
    await replies_to(hook.fake, r.user_id, 1)
    # The update is marked handled just after its reply is sent: look until it is (the page
    # reads the inbox's depth before it shows the counters, so both are waited for).
    for _ in range(100):
        status, body = await hook.get("/metrics")
        if "tinbao_update_handling_seconds_count 1.0" in body and "inbox_depth 0.0" in body:
            break
        await asyncio.sleep(0.05)
    assert status == 200
    assert 'tinbao_updates_received_total{result="stored"} 1.0' in body
    assert 'tinbao_updates_received_total{result="forbidden"} 1.0' in body
    assert "tinbao_update_handling_seconds_count 1.0" in body
    assert "tinbao_inbox_depth 0.0" in body
    assert "9005" not in body  # no personal data


def test_the_command_explains_what_webhook_mode_needs(tmp_path: Path) -> None:
    result = tinbao("webhook", cwd=tmp_path)
    assert result.returncode != 0
    assert "TINBAO_TELEGRAM_TOKEN" in result.stderr


def test_json_logs_are_one_object_a_line() -> None:
    import logging

    from bot.logs import JsonFormatter

    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "tinbao.x", logging.ERROR, __file__, 1, "handled %s updates", (3,), None
        )
        import sys

        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line  # the traceback too is inside the one line
    entry = json.loads(line)
    assert entry["level"] == "ERROR" and entry["logger"] == "tinbao.x"
    assert entry["message"] == "handled 3 updates" and "ValueError: boom" in entry["error"]
    assert entry["ts"].endswith("+00:00") and isinstance(entry["pid"], int)


async def test_a_claim_is_kept_while_its_update_is_still_being_handled(
    tmp_path: Path, db_url: str
) -> None:
    r = Resident(9005, "Lan")
    async with (
        FakeBotAPI() as fake,
        running_webhook(tmp_path, db_url, fake, inbox_claim_seconds=1.0, inbox_reorder_ms=0) as h,
    ):
        # Telegram is slow: the reply to /start hangs for 2.5 claim lengths (and the check
        # comes well before the bot gives up on Telegram's answer, after 5 s).
        fake.hold()
        assert await h.post({"update_id": 9200, **r.command("start")}) == 200
        for _ in range(200):
            if fake.held:
                break
            await asyncio.sleep(0.02)
        assert fake.held, "the reply never left"
        await asyncio.sleep(2.5)
        async with h.db.session() as session:
            # Another process looking for work must not take it over as if this one had died.
            taken = await inbox.claim(
                session, "telegram", "other:1", utcnow(), timedelta(seconds=60), utcnow()
            )
        assert taken is None
        (row,) = await h.rows()
        assert row.claimed_until is not None and row.claimed_until > utcnow()
        fake.release()
        texts = await replies_to(fake, r.user_id, 1)
        await asyncio.sleep(0.5)
        assert len(await replies_to(fake, r.user_id, 1)) == 1
        assert "Bạn có đồng ý không?" in texts[0]
        (row,) = await h.rows()
        assert row.handled_at is not None and row.attempts == 1


async def test_an_update_whose_mark_fails_once_does_not_hold_up_the_users_next_one(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The database refuses the first "handled" mark (as PostgreSQL does when its connection
    # limit is reached for a moment). Without a retry, the user's next message would wait for
    # the claim to expire: a minute here.
    real = inbox.handled
    failures = []

    async def refused_once(*args: object, **kwargs: object) -> None:
        if not failures:
            failures.append(1)
            raise OperationalError("UPDATE inboxupdate", {}, Exception("too many clients"))
        await real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(inbox, "handled", refused_once)
    r = Resident(9006, "Hoa")
    async with (
        FakeBotAPI() as fake,
        running_webhook(tmp_path, db_url, fake, inbox_claim_seconds=60.0, inbox_reorder_ms=0) as h,
    ):
        assert await h.post({"update_id": 9300, **r.command("start")}) == 200
        await replies_to(fake, r.user_id, 1)
        assert await h.post({"update_id": 9301, **r.command("trogiup")}) == 200
        texts = await replies_to(fake, r.user_id, 2, timeout=15.0)
        assert failures == [1] and len(texts) == 2
        rows = await h.rows()
        assert all(row.handled_at is not None and row.attempts == 1 for row in rows)
