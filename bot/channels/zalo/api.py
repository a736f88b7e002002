"""The Zalo OA API: sending messages, downloading attachments, refreshing the access token.

Zalo's refresh token is single-use: the first refresh with it invalidates it. With several
processes (or several sends at once in one) racing to refresh, all but one would spend a dead
token and the OA would lose its tokens. So a refresh happens only while holding the token
row's database lock (`storage.zalo.lock_token`); whoever waited re-reads the row and finds the
new pair, and the new pair is stored in the same transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.settings import Settings
from storage import zalo as store
from storage.engine import Database

log = logging.getLogger(__name__)

SEND_PATH = "/v3.0/oa/message/cs"
REFRESH_PATH = "/v4/oa/access_token"
# Refresh this long before the access token expires (it lasts about 25 hours).
AHEAD = timedelta(minutes=10)
# A token given in the settings has an unknown age: taken as expiring within the hour, and
# refreshed at once if Zalo says it is invalid.
SEEDED_LIFETIME = timedelta(hours=1)
# Zalo's answers meaning "this access token is no good" (docs/zalo.md: an assumption).
TOKEN_ERRORS = {-216, -124, -14014}


class ZaloError(Exception):
    """Zalo answered with an error (`code` is Zalo's own, negative)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Zalo error {code}: {message}")
        self.code = code


class ZaloApi:
    """One process's client of the OA API (one aiohttp session, the token cached)."""

    def __init__(self, settings: Settings, db: Database, clock: Callable[[], datetime]) -> None:
        assert settings.zalo_enabled
        self.settings = settings
        self.db = db
        self.clock = clock
        self.api_url = settings.zalo_api_url.rstrip("/")
        self.oauth_url = settings.zalo_oauth_url.rstrip("/")
        self.http: aiohttp.ClientSession | None = None
        self._token: tuple[str, datetime] | None = None
        self._lock = asyncio.Lock()
        self.rotations = 0

    async def start(self) -> None:
        """Open the HTTP session and store the configured tokens if none are stored yet."""
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=10))
        assert self.settings.zalo_access_token and self.settings.zalo_refresh_token
        async with self.db.session() as session:
            await store.seed_token(
                session,
                self.settings.zalo_access_token,
                self.settings.zalo_refresh_token,
                self.clock() + SEEDED_LIFETIME,
            )

    async def stop(self) -> None:
        """Close the HTTP session."""
        if self.http is not None:
            await self.http.close()
            self.http = None

    async def access_token(self) -> str:
        """A valid access token, refreshed first if it expires soon."""
        cached = self._token
        if cached is not None and cached[1] - self.clock() > AHEAD:
            return cached[0]
        async with self.db.session() as session:
            row = await store.read_token(session)
        if row is not None and row.expires_at - self.clock() > AHEAD:
            self._token = (row.access_token, row.expires_at)
            return row.access_token
        return await self.rotate(stale=row.access_token if row is not None else None)

    async def rotate(self, stale: str | None) -> str:
        """Refresh the token pair, unless someone already replaced `stale` meanwhile."""
        async with self._lock:
            async with self.db.session() as session:
                row = await store.lock_token(session)
                if row is None:
                    raise ZaloError(0, "no Zalo token stored")
                fresh = row.expires_at - self.clock() > AHEAD
                if row.access_token != stale and fresh:
                    # Another process (or task) refreshed while this one waited for the lock.
                    self._token = (row.access_token, row.expires_at)
                    return row.access_token
                # Holding the lock across Zalo's answer is the point: nobody else may spend
                # the refresh token meanwhile. A failure rolls back and leaves the pair as is.
                access, refresh, expires_at = await self._refresh(row.refresh_token)
                await store.store_token(session, access, refresh, expires_at, self.clock())
            self.rotations += 1
            self._token = (access, expires_at)
            log.info("the Zalo access token was refreshed")
            return access

    async def _refresh(self, refresh_token: str) -> tuple[str, str, datetime]:
        assert self.http is not None and self.settings.zalo_app_secret
        async with self.http.post(
            f"{self.oauth_url}{REFRESH_PATH}",
            data={
                "refresh_token": refresh_token,
                "app_id": self.settings.zalo_app_id or "",
                "grant_type": "refresh_token",
            },
            headers={"secret_key": self.settings.zalo_app_secret},
        ) as response:
            body: Any = await response.json(content_type=None)
        if not isinstance(body, dict) or not body.get("access_token"):
            code = body.get("error", 0) if isinstance(body, dict) else 0
            raise ZaloError(int(code or 0), "the token refresh was refused")
        seconds = int(str(body.get("expires_in", "90000")))
        return (
            str(body["access_token"]),
            str(body["refresh_token"]),
            self.clock() + timedelta(seconds=seconds),
        )

    async def send(self, user_id: str, message: dict[str, Any]) -> str:
        """Send one message (a customer-service message); returns Zalo's message id.

        An answer saying the access token is no good refreshes it once and sends again.
        """
        token = await self.access_token()
        for attempt in range(2):
            body = await self._post_message(token, user_id, message)
            code = int(body.get("error", 0) or 0)
            if code == 0:
                data = body.get("data") if isinstance(body.get("data"), dict) else {}
                return str((data or {}).get("message_id", ""))
            if code in TOKEN_ERRORS and attempt == 0:
                token = await self.rotate(stale=token)
                continue
            raise ZaloError(code, str(body.get("message", "")))
        raise AssertionError("unreachable")

    async def _post_message(self, token: str, user_id: str, message: dict[str, Any]) -> Any:
        assert self.http is not None
        async with self.http.post(
            f"{self.api_url}{SEND_PATH}",
            json={"recipient": {"user_id": user_id}, "message": message},
            headers={"access_token": token},
        ) as response:
            body = await response.json(content_type=None)
        return body if isinstance(body, dict) else {"error": -1, "message": "not JSON"}

    async def download(self, url: str, max_bytes: int) -> bytes:
        """An attachment's bytes (at most `max_bytes` + 1, so a larger file shows as such)."""
        assert self.http is not None
        async with self.http.get(url) as response:
            response.raise_for_status()
            data = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                data += chunk
                if len(data) > max_bytes:
                    break  # too large: the router refuses it politely
            return bytes(data)
