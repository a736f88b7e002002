"""python-telegram-bot's HTTP layer on aiohttp, for the broadcast sender's many sends in flight
and the application's replies.

PTB ships only `HTTPXRequest`. With the hundreds of requests in flight that a paid broadcast
(1,000 messages/s) needs, httpcore's pool rescans every connection for every queued request
(quadratic in the requests in flight, encode/httpcore#1035) and the sending process runs out of
CPU before Telegram's limit: measured with `bench/broadcast.py`, httpx spent about 35 s of CPU
on 20,000 warnings, this class 8–10 s. aiohttp is already the server we run on, so this is a
thin adapter (PTB's `BaseRequest` is the documented extension point), not a new dependency.
The application's own requests (replies, edits, uploads, file downloads) go through it too:
there httpx's pool bookkeeping and its two writes per request were a fifth of a webhook
process's CPU. Only long polling's `getUpdates` keeps PTB's default request.

The errors say whether a request may have reached Telegram, which is what the sender needs to
keep "never twice": `NotSent` as the cause means it certainly did not (no connection could be
made, or none became free in time); any other cause means it may have.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from yarl import URL

# PTB's own marker for "no timeout given" is private; any value other than a number or None
# means the same (see `_given`).
DEFAULT_NONE: Any = object()


class NotSent(Exception):
    """The cause of a `TimedOut` or `NetworkError` raised before the request left."""


# Called when the current task's next request has been written to the connection (PTB's `Bot`
# gives no way to pass anything per request, so the caller sets this around its call). The
# broadcast pacer counts messages by when they went out, as the platform does.
on_wire: ContextVar[Callable[[], None] | None] = ContextVar("on_wire", default=None)


async def _headers_sent(
    session: aiohttp.ClientSession,
    context: SimpleNamespace,
    params: aiohttp.TraceRequestHeadersSentParams,
) -> None:
    callback = context.trace_request_ctx
    if callable(callback):
        callback()


class AiohttpRequest(BaseRequest):
    """A `BaseRequest` on one `aiohttp.ClientSession` with up to `connections` connections."""

    def __init__(
        self,
        connections: int,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 15.0,
        pool_timeout: float = 5.0,
        trust_env: bool = False,
    ) -> None:
        """`trust_env`: use the proxy the environment names (`HTTPS_PROXY`…), as httpx does."""
        self.connections = connections
        self.trust_env = trust_env
        # The environment's proxy (and its credentials) for each scheme and host, looked up
        # once: aiohttp's own `trust_env` looks it up again in a worker thread on every
        # request (and .netrc for the target host, which httpx does not), a third of the CPU
        # of a reply.
        self._proxies: dict[tuple[str, str | None], tuple[URL | None, Any]] = {}
        self.connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self.pool_timeout = pool_timeout
        self.session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=0)
            tracing = aiohttp.TraceConfig()
            tracing.on_request_headers_sent.append(_headers_sent)
            self.session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                trace_configs=[tracing],
            )

    async def shutdown(self) -> None:
        if self.session is not None and not self.session.closed:
            await self.session.close()
        self.session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = DEFAULT_NONE,
        write_timeout: Any = DEFAULT_NONE,
        connect_timeout: Any = DEFAULT_NONE,
        pool_timeout: Any = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self.session is None or self.session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized")
        read = _given(read_timeout, self._read_timeout)
        connect = _given(connect_timeout, self.connect_timeout)
        pool = _given(pool_timeout, self.pool_timeout)
        # aiohttp has no write timeout of its own: the upload counts against the read timeout's
        # total, which is generous for a photo of a few megabytes.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None if pool is None and connect is None else (pool or 0) + (connect or 0),
            sock_connect=connect,
            sock_read=read,
        )
        data: Any = None
        if request_data is not None:
            files = request_data.multipart_data
            fields = request_data.json_parameters
            if files:
                form = aiohttp.FormData()
                for name, value in fields.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                data = form
            else:
                data = fields
        proxy, proxy_auth = await self._proxy(url)
        try:
            async with self.session.request(
                method,
                url,
                data=data,
                timeout=timeout,
                trace_request_ctx=on_wire.get(),
                proxy=proxy,
                proxy_auth=proxy_auth,
            ) as answer:
                return answer.status, await answer.read()
        except aiohttp.ConnectionTimeoutError as error:
            # Waiting for a free connection or for the server to accept one.
            raise TimedOut("Timed out before the request was sent") from NotSent(str(error))
        except aiohttp.ClientConnectorError as error:
            raise NetworkError(f"Could not connect: {error}") from NotSent(str(error))
        except TimeoutError as error:  # aiohttp.SocketTimeoutError among them
            raise TimedOut("Timed out waiting for the answer") from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error

    async def _proxy(self, url: str) -> tuple[URL | None, Any]:
        """The environment's proxy for this URL and its credentials, if trusted; else none."""
        if not self.trust_env:
            return None, None
        target = URL(url)
        key = (target.scheme, target.host)
        if key not in self._proxies:
            found: tuple[URL | None, Any] = (None, None)
            with contextlib.suppress(LookupError):  # no proxy for this URL
                # As aiohttp does it (it reads .netrc for the proxy's credentials: a thread).
                found = await asyncio.to_thread(get_env_proxy_for_url, target)
            self._proxies[key] = found
        return self._proxies[key]


def _given(value: Any, default: float) -> float | None:
    """A timeout as passed to a PTB method: None (no limit), seconds, or else PTB's marker for
    "not given" (a private class, hence the test by what it is not)."""
    if value is None or isinstance(value, (int, float)):
        return value
    return default
