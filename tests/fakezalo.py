"""A fake Zalo Official Account API on loopback, for end-to-end tests of the Zalo channel.

It serves what tinbao calls: `POST /v3.0/oa/message/cs` (recorded; refused with Zalo's token
error when the access token is not the current one) and `POST /v4/oa/access_token` (the token
refresh; a refresh token works once, as on Zalo, so a double rotation shows as a refused
refresh), plus attachment downloads under `/files/`. It also builds signed webhook events in
the documented payload shapes.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.channels.zalo.signature import sign

APP_ID = "2740161180987239871"
APP_SECRET = "app-secret-for-tests"
OA_SECRET = "oa-secret-key-for-tests"
OA_ID = "388613280878808645"
# Zalo's answer to a message sent with a token that is no longer good (docs/zalo.md).
INVALID_TOKEN = -216

_ids = itertools.count(1)


@dataclass
class Sent:
    """One message the bot sent through the OA API."""

    user_id: str
    message: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.message.get("text", ""))


@dataclass
class FakeZalo:
    """The fake server; `sent` records every message, `refreshes` every token refresh."""

    access_token: str = "access-0"
    refresh_token: str = "refresh-0"
    sent: list[Sent] = field(default_factory=list)
    refreshes: list[dict[str, str]] = field(default_factory=list)
    refused_refreshes: int = 0
    files: dict[str, bytes] = field(default_factory=dict)
    # How long a refresh takes: long enough that concurrent refreshers would overlap.
    refresh_delay: float = 0.05
    port: int = 0

    def __post_init__(self) -> None:
        self.changed = asyncio.Condition()
        self.app = web.Application()
        self.app.router.add_post("/v3.0/oa/message/cs", self._send)
        self.app.router.add_post("/v4/oa/access_token", self._refresh)
        self.app.router.add_get("/files/{name}", self._file)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeZalo:
        self.runner = web.AppRunner(self.app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()

    def expire_token(self) -> None:
        """Zalo stops accepting the current access token (it expired)."""
        self.access_token = f"expired-{next(_ids)}"

    async def _send(self, request: web.Request) -> web.Response:
        if request.headers.get("access_token") != self.access_token:
            return web.json_response({"error": INVALID_TOKEN, "message": "Access token invalid"})
        body = await request.json()
        async with self.changed:
            self.sent.append(Sent(str(body["recipient"]["user_id"]), body["message"]))
            self.changed.notify_all()
        return web.json_response(
            {"error": 0, "message": "Success", "data": {"message_id": f"m{next(_ids)}"}}
        )

    async def _refresh(self, request: web.Request) -> web.Response:
        form = await request.post()
        given = {key: str(value) for key, value in form.items()}
        ok = (
            request.headers.get("secret_key") == APP_SECRET
            and given.get("app_id") == APP_ID
            and given.get("grant_type") == "refresh_token"
            and given.get("refresh_token") == self.refresh_token
        )
        # Spent at once, like Zalo's: a second refresh with it is refused.
        self.refresh_token = f"spent-{next(_ids)}"
        await asyncio.sleep(self.refresh_delay)
        if not ok:
            self.refused_refreshes += 1
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token"})
        n = next(_ids)
        self.access_token, self.refresh_token = f"access-{n}", f"refresh-{n}"
        self.refreshes.append(given)
        return web.json_response(
            {
                "access_token": self.access_token,
                "refresh_token": self.refresh_token,
                "expires_in": "90000",
            }
        )

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/jpeg")

    def serve_file(self, name: str, data: bytes) -> str:
        """Serve `data` as an attachment; returns its URL."""
        self.files[name] = data
        return f"{self.url}/files/{name}"

    def texts_to(self, user_id: str) -> list[str]:
        """The texts sent to a resident so far."""
        return [s.text for s in self.sent if s.user_id == user_id]

    async def wait_for(self, user_id: str, n: int, timeout: float = 10.0) -> list[str]:
        """Wait until at least `n` messages were sent to `user_id`; returns their texts."""

        async def until() -> None:
            async with self.changed:
                await self.changed.wait_for(lambda: len(self.texts_to(user_id)) >= n)

        await asyncio.wait_for(until(), timeout)
        return self.texts_to(user_id)


class ZaloUser:
    """A Zalo user writing to the OA; methods return (body, signature header) pairs."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.clock = int(time.time() * 1000)

    def _event(self, name: str, message: dict[str, Any] | None = None, **extra: Any) -> bytes:
        # Each event a millisecond after the last: the order Zalo would send them in.
        self.clock += 1
        data: dict[str, Any] = {
            "app_id": APP_ID,
            "user_id_by_app": f"app-{self.user_id}",
            "event_name": name,
            "timestamp": str(self.clock),
            **extra,
        }
        if message is not None:
            data["sender"] = {"id": self.user_id}
            data["recipient"] = {"id": OA_ID}
            data["message"] = {"msg_id": f"msg-{next(_ids)}", **message}
        return json.dumps(data, ensure_ascii=False).encode()

    def text(self, text: str) -> bytes:
        return self._event("user_send_text", {"text": text})

    def image(self, url: str, caption: str = "") -> bytes:
        attachment = {"type": "image", "payload": {"thumbnail": url, "url": url}}
        return self._event("user_send_image", {"text": caption, "attachments": [attachment]})

    def link(self, url: str) -> bytes:
        payload = {"url": url, "title": "Nhận quà", "description": "", "thumbnail": ""}
        return self._event(
            "user_send_link", {"text": "", "attachments": [{"type": "link", "payload": payload}]}
        )

    def sticker(self) -> bytes:
        payload = {"id": "sticker-1", "url": "https://zalo.example/sticker.png"}
        return self._event(
            "user_send_sticker", {"attachments": [{"type": "sticker", "payload": payload}]}
        )

    def follow(self) -> bytes:
        return self._event("follow", None, oa_id=OA_ID, follower={"id": self.user_id}, source="oa")


def signed(body: bytes, secret: str = OA_SECRET) -> dict[str, str]:
    """The headers Zalo sends with `body`."""
    data = json.loads(body)
    return {
        "X-ZEvent-Signature": sign(data["app_id"], body, data["timestamp"], secret),
        "Content-Type": "application/json",
    }
