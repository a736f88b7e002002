"""A fake Telegram Bot API server on loopback, for end-to-end tests of the real PTB stack.

Point python-telegram-bot at it with
``ApplicationBuilder().token(fake.token).base_url(fake.base_url).base_file_url(fake.file_url)``.

Run ``python -m tests.fakebotapi --port N`` to host it in a separate process; the control API
under ``/_control/`` then lets another process push updates and inspect the calls.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import html
import itertools
import json
import random
import re
import signal
import socket
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any

from aiohttp import web
from multidict import MultiMapping

__all__ = ["MAX_DOWNLOAD_SIZE", "Call", "FakeBotAPI", "Upload"]

# The cloud Bot API refuses getFile for anything larger; bots must cope with that.
MAX_DOWNLOAD_SIZE = 20 * 1024 * 1024

# Parameters whose form value is free text or a file reference; everything else PTB sends as
# JSON (numbers, booleans, objects), so decoding those keys would corrupt e.g. text="123".
_STRING_KEYS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "file_id", "inline_message_id",
        "description", "short_description", "name", "title", "url", "secret_token", "photo",
        "document", "video", "voice", "audio", "animation", "sticker", "video_note", "thumbnail",
        "cover", "emoji", "action", "first_name", "last_name", "phone_number", "vcard", "address",
        "question", "explanation", "query", "language_code", "custom_title", "message_effect_id",
        "business_connection_id", "ip_address", "inline_query_id", "next_offset",
        "foursquare_id", "foursquare_type", "google_place_id", "google_place_type",
        "shipping_query_id", "pre_checkout_query_id", "error_message", "payload", "currency",
        "provider_token", "start_parameter",
    }
)  # fmt: skip

# Keys that other clients may send as JSON strings inside a JSON body.
_STRUCTURED_KEYS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "media", "commands", "scope",
        "allowed_updates", "link_preview_options", "reply_parameters", "message_ids",
        "menu_button", "results", "options", "reaction",
    }
)  # fmt: skip

_INT_KEYS = ("chat_id", "from_chat_id", "message_id", "user_id", "message_thread_id")

_SEND_METHODS = frozenset(
    {
        "sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendVoice", "sendAudio",
        "sendAnimation", "sendVideoNote", "sendSticker", "sendLocation", "sendVenue",
        "sendContact", "sendDice", "sendPoll", "sendMediaGroup", "copyMessage", "copyMessages",
        "forwardMessage", "forwardMessages",
    }
)  # fmt: skip
_EDIT_METHODS = frozenset(
    {"editMessageText", "editMessageReplyMarkup", "editMessageCaption", "editMessageMedia"}
)
_DELIVERY_METHODS = _SEND_METHODS | _EDIT_METHODS
# A blocked user makes every chat-addressed write fail, chat actions included.
_BLOCKABLE_METHODS = _DELIVERY_METHODS | {"sendChatAction", "setMessageReaction"}
_TRUE_METHODS = (
    "deleteWebhook", "setWebhook", "deleteMyCommands", "setChatMenuButton",
    "answerCallbackQuery", "answerInlineQuery", "sendChatAction", "deleteMessage",
    "deleteMessages", "setMyDescription", "setMyShortDescription", "setMyName",
    "setMessageReaction", "pinChatMessage", "unpinChatMessage", "unpinAllChatMessages",
    "leaveChat", "banChatMember", "unbanChatMember", "logOut", "close",
)  # fmt: skip
_TEXT_WAIT_METHODS = frozenset({"sendMessage", "editMessageText"})

# Content fields that make up what a message shows; copied by forwardMessage/copyMessage.
_CONTENT_KEYS = (
    "text", "entities", "caption", "caption_entities", "photo", "document", "video", "voice",
    "audio", "animation", "sticker", "video_note", "location", "venue", "contact", "dice", "poll",
    "media_group_id",
)  # fmt: skip


# What Telegram checks in what a bot sends, and refuses with 400 "Bad Request: …": the HTML of
# parse_mode=HTML (only its tags, properly nested; every other "<" and "&" escaped), the length
# after the entities are parsed (in UTF-16 code units), button labels and callback data.
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_ANSWER_LIMIT = 200
CALLBACK_DATA_LIMIT = 64  # bytes
_HTML_TAGS = frozenset(
    {
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
        "tg-emoji", "code", "pre", "blockquote",
    }
)  # fmt: skip
_TAG = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*)\s*>"
)
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});")
_CAPTION_METHODS = frozenset(
    {"sendPhoto", "sendDocument", "sendVideo", "sendVoice", "sendAudio", "sendAnimation",
     "editMessageCaption", "copyMessage"}
)  # fmt: skip


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def visible_text(text: str, parse_mode: str | None) -> str:
    """The text a message shows once Telegram has parsed `parse_mode`; ValueError as Telegram's
    "can't parse entities" when the markup is not what Telegram accepts (HTML only: the bot
    uses nothing else)."""
    if (parse_mode or "").upper() != "HTML":
        return text
    out: list[str] = []
    stack: list[str] = []
    at = 0
    while at < len(text):
        char = text[at]
        if char == "<":
            tag = _TAG.match(text, at)
            if tag is None:
                raise ValueError(f"can't parse entities: unexpected '<' at offset {at}")
            closing, name = tag.group(1) == "/", tag.group(2).lower()
            if name not in _HTML_TAGS:
                raise ValueError(f'can\'t parse entities: Unsupported start tag "{name}"')
            if closing:
                if not stack or stack[-1] != name:
                    raise ValueError(f'can\'t parse entities: Unmatched end tag "{name}"')
                stack.pop()
            else:
                stack.append(name)
            at = tag.end()
        elif char == "&":
            entity = _ENTITY.match(text, at)
            if entity is None:
                raise ValueError(f"can't parse entities: unescaped '&' at offset {at}")
            out.append(html.unescape(entity.group()))
            at = entity.end()
        else:
            out.append(char)
            at += 1
    if stack:
        raise ValueError(f"can't parse entities: Can't find end tag for \"{stack[-1]}\"")
    return "".join(out)


def check_outgoing(method: str, params: dict[str, Any]) -> None:
    """Refuse, as Telegram does, what a bot must never send (raises `_BotAPIError`)."""

    def refuse(description: str) -> _BotAPIError:
        return _BotAPIError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")

    parse_mode = params.get("parse_mode")
    try:
        if method in ("sendMessage", "editMessageText"):
            text = params.get("text")
            shown = visible_text(text, parse_mode) if isinstance(text, str) else ""
            if not shown.strip():
                raise refuse("message text is empty")
            if _utf16_len(shown) > TEXT_LIMIT:
                raise refuse("message is too long")
        elif method in _CAPTION_METHODS and isinstance(params.get("caption"), str):
            shown = visible_text(params["caption"], parse_mode)
            if _utf16_len(shown) > CAPTION_LIMIT:
                raise refuse("message caption is too long")
    except ValueError as error:
        raise refuse(str(error)) from None
    if method == "answerCallbackQuery":
        answer = params.get("text")
        if isinstance(answer, str) and _utf16_len(answer) > CALLBACK_ANSWER_LIMIT:
            raise refuse("MESSAGE_TOO_LONG")
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        with contextlib.suppress(ValueError):
            markup = json.loads(markup)
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows or []:
        for button in row:
            if not str(button.get("text", "")).strip():
                raise refuse("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= CALLBACK_DATA_LIMIT:
                raise refuse("BUTTON_DATA_INVALID")


class _BotAPIError(Exception):
    """Raised inside handlers to answer with a Bot API error object."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def response(self) -> web.Response:
        """The JSON error response the real Bot API would send."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


@dataclass
class Upload:
    """A file the bot uploaded in a multipart request, as it appears in ``Call.params``."""

    filename: str
    content_type: str
    data: bytes

    def describe(self) -> dict[str, Any]:
        """A JSON-safe summary, used by the control API."""
        return {"filename": self.filename, "content_type": self.content_type, "size": len(self)}

    def __len__(self) -> int:
        return len(self.data)


@dataclass
class Call:
    """One Bot API request the fake received."""

    method: str
    params: dict[str, Any]
    at: float
    result: Any = None
    status: int = 200

    @property
    def ok(self) -> bool:
        """Whether the fake answered with success (injected errors and 4xx are not ok)."""
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        """The target chat as an int, if the call has a numeric ``chat_id``."""
        return _as_int(self.params.get("chat_id"))

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe form of the call (uploads summarised), used by the control API."""
        return {
            "method": self.method,
            "params": _json_safe(self.params),
            "at": self.at,
            "result": _json_safe(self.result),
            "status": self.status,
        }


@dataclass
class _Failure:
    method: str
    status: int
    retry_after: int | None
    description: str
    times: int
    chat_id: int | None


@dataclass
class _StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_size: int


@dataclass
class _Waiters:
    """An event that is replaced after each firing, so sync code can wake async waiters."""

    event: asyncio.Event = field(default_factory=asyncio.Event)

    def fire(self) -> None:
        """Wake everyone waiting on the current event."""
        self.event.set()
        self.event = asyncio.Event()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    return None


def _json_safe(value: Any) -> Any:
    if isinstance(value, Upload):
        return value.describe()
    if isinstance(value, bytes):
        return {"size": len(value)}
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _decode_form_value(key: str, value: str) -> Any:
    if key in _STRING_KEYS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _decode_json_value(key: str, value: Any) -> Any:
    if key in _STRUCTURED_KEYS and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return json.loads(value)
    return value


class FakeBotAPI:
    """An in-process fake of the Telegram Bot API that records every call it receives.

    Everything here must be used from the event loop the server runs on; ``push_update`` and
    the other sync helpers are not thread-safe.
    """

    def __init__(
        self, token: str = "123456:TEST-TOKEN", bot_username: str = "tinbao_test_bot"
    ) -> None:
        self.token = token
        self.bot_username = bot_username
        self.bot_id = _as_int(token.split(":", 1)[0]) or 123456
        self.bot_user: dict[str, Any] = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "tinbao",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.calls: list[Call] = []
        self.port = 0
        self.base_url = ""
        self.file_url = ""
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] | None = None
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._files: dict[str, _StoredFile] = {}
        self._file_ids = itertools.count(1)
        self._failures: list[_Failure] = []
        self._blocked: set[int] = set()
        self._gone: set[int] = set()
        # Telegram's limits, as a test or a benchmark sets them: at most `rate_limit` messages
        # in any second (a 429 "retry after 1" beyond), and whole periods of flood wait.
        self.rate_limit: float | None = None
        self._window: collections.deque[float] = collections.deque()
        self._flood_until = 0.0
        self._flood_retry_after = 1
        self.limited = 0  # 429s answered because of `rate_limit` or a flood wait
        # While held, messages are received (in `held`) but not answered until released.
        self._release: asyncio.Event | None = None
        self.held: list[Call] = []
        self._commands: dict[tuple[str, str], list[Any]] = {}
        self._changed = _Waiters()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._method_table = self._handlers()
        self.app = self._make_app()

    # ------------------------------------------------------------------ lifecycle

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:``port`` (0 picks a free port) and fill in the URLs."""
        self._closing = False
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        self.port = sock.getsockname()[1]
        # Long polls are woken on stop, so a short grace period is enough and keeps tests fast.
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self.port}/bot"
        self.file_url = f"http://127.0.0.1:{self.port}/file/bot"

    async def stop(self) -> None:
        """Wake pending long polls so they answer [], then shut the server down."""
        self._closing = True
        self._changed.fire()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ test-facing helpers

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates (assigning ``update_id`` if missing); return its id."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        update_id = int(update["update_id"])
        if update_id >= self._next_update_id:
            # Keep auto ids ahead of explicit ones so they stay monotonic.
            self._next_update_id = update_id + 1
        self._remember_update(update)
        self._updates.append(update)
        self._updates.sort(key=lambda u: int(u["update_id"]))
        self._changed.fire()
        return update_id

    def add_file(self, content: bytes, *, file_size: int | None = None) -> tuple[str, str]:
        """Register downloadable bytes; ``file_size`` overrides the size reported to the bot."""
        n = next(self._file_ids)
        file_id = f"FAKEFILE{n:06d}-{self.bot_id}"
        file_unique_id = f"FAKEUNIQ{n:06d}"
        size = len(content) if file_size is None else file_size
        self._files[file_id] = _StoredFile(file_id, file_unique_id, content, size)
        return file_id, file_unique_id

    def sent(
        self,
        chat_id: int | None = None,
        method: str | None = None,
        *,
        include_failed: bool = False,
    ) -> list[Call]:
        """Successful calls that deliver something to a chat (sends, copies, edits).

        ``include_failed`` also returns attempts answered with an (injected) error.
        """
        wanted = _as_int(chat_id) if chat_id is not None else None
        out = []
        for call in self.calls:
            if call.method not in _DELIVERY_METHODS:
                continue
            if method is not None and call.method.lower() != method.lower():
                continue
            if wanted is not None and call.chat_id != wanted:
                continue
            if not include_failed and not call.ok:
                continue
            out.append(call)
        return out

    def texts(self, chat_id: int) -> list[str]:
        """Text or caption of every successful send/edit to ``chat_id``, in order."""
        out: list[str] = []
        for call in self.sent(chat_id):
            for key in ("text", "caption"):
                if isinstance(call.params.get(key), str):
                    out.append(call.params[key])
            if call.method == "sendMediaGroup":
                for item in call.params.get("media") or []:
                    if isinstance(item, dict) and isinstance(item.get("caption"), str):
                        out.append(item["caption"])
        return out

    def mark(self) -> int:
        """The current number of calls; pass it as ``after``/``start`` to wait for new ones."""
        return len(self.calls)

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        *,
        timeout: float = 10.0,
        start: int = 0,
    ) -> Call:
        """Return the first call at index >= ``start`` matching ``predicate``, waiting for it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = start
        while True:
            while checked < len(self.calls):
                call = self.calls[checked]
                checked += 1
                if predicate(call):
                    return call
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no matching Bot API call within {timeout:.1f}s (from index {start}); "
                    f"last calls:\n{self.dump(start=max(start, len(self.calls) - 20))}"
                )
            event = self._changed.event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    async def wait_for_text(
        self,
        chat_id: int,
        *,
        after: int = 0,
        contains: str | None = None,
        timeout: float = 10.0,
    ) -> Call:
        """Next successful sendMessage/editMessageText to ``chat_id`` at index >= ``after``."""
        wanted = int(chat_id)

        def matches(call: Call) -> bool:
            if call.method not in _TEXT_WAIT_METHODS or not call.ok or call.chat_id != wanted:
                return False
            return contains is None or contains in str(call.params.get("text", ""))

        return await self.wait_for(matches, timeout=timeout, start=after)

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        description: str | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (optionally to ``chat_id``) with an error.

        ``retry_after`` is only sent for status 429: PTB turns any ``retry_after`` into
        ``RetryAfter`` regardless of status, which would mask e.g. an injected 400.
        """
        if description is None:
            if status == HTTPStatus.TOO_MANY_REQUESTS:
                description = f"Too Many Requests: retry after {retry_after or 1}"
            elif status == HTTPStatus.FORBIDDEN:
                description = "Forbidden: bot was blocked by the user"
            elif status == HTTPStatus.BAD_REQUEST:
                description = "Bad Request"
            else:
                try:
                    description = HTTPStatus(status).phrase
                except ValueError:
                    description = f"Error {status}"
        self._failures.append(
            _Failure(
                method=method.lower(),
                status=status,
                retry_after=retry_after if status == HTTPStatus.TOO_MANY_REQUESTS else None,
                description=description,
                times=times,
                chat_id=_as_int(chat_id) if chat_id is not None else None,
            )
        )

    def block_chat(self, chat_id: int) -> None:
        """Make every send to ``chat_id`` answer 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(int(chat_id))

    def unblock_chat(self, chat_id: int) -> None:
        """Undo ``block_chat``."""
        self._blocked.discard(int(chat_id))

    def gone_chat(self, chat_id: int) -> None:
        """Make every send to ``chat_id`` answer 400 "Bad Request: chat not found"."""
        self._gone.add(int(chat_id))

    def flood_wait(self, seconds: float, retry_after: int = 1) -> None:
        """For ``seconds`` from now, answer every message with 429 "retry after ``retry_after``",
        as Telegram does to a bot that sent too much."""
        self._flood_until = time.monotonic() + seconds
        self._flood_retry_after = retry_after

    def hold(self) -> None:
        """Receive messages from now on but do not answer them until ``release``."""
        if self._release is None:
            self._release = asyncio.Event()

    def release(self) -> None:
        """Answer the held messages (even if their sender is gone) and stop holding."""
        if self._release is not None:
            self._release.set()
            self._release = None

    @property
    def pending_updates(self) -> int:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """The fake's current view of a message (sent by the bot or seen in an update)."""
        return self._messages.get((int(chat_id), int(message_id)))

    def dump(self, start: int = 0) -> str:
        """Readable listing of the calls from index ``start``, for assertion messages."""
        lines = []
        for index in range(start, len(self.calls)):
            call = self.calls[index]
            params = json.dumps(_json_safe(call.params), ensure_ascii=False, default=str)
            if len(params) > 300:
                params = params[:297] + "..."
            lines.append(f"  [{index}] {call.method} -> {call.status} {params}")
        return "\n".join(lines) or "  (no calls)"

    # ------------------------------------------------------------------ HTTP plumbing

    def _make_app(self) -> web.Application:
        # Uploads (photos, documents) easily exceed aiohttp's 1 MiB default body limit.
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_post("/_control/updates", self._control_updates)
        app.router.add_get("/_control/calls", self._control_calls)
        app.router.add_post("/_control/files", self._control_files)
        app.router.add_get("/_control/wait", self._control_wait)
        app.router.add_post("/_control/fail", self._control_fail)
        app.router.add_post("/_control/block", self._control_block)
        app.router.add_get("/_control/state", self._control_state)
        return app

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode_form_value(k, v) for k, v in request.query.items()}
        if request.method not in ("POST", "PUT") or not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update({k: _decode_json_value(k, v) for k, v in body.items()})
            return params
        form: MultiMapping[Any] = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Upload(
                    filename=value.filename,
                    content_type=value.content_type,
                    data=value.file.read(),
                )
            else:
                params[key] = _decode_form_value(key, str(value))
        self._resolve_attachments(params)
        return params

    @staticmethod
    def _resolve_attachments(params: dict[str, Any]) -> None:
        # Media groups reference their multipart parts as "attach://name"; resolving them lets
        # tests look at media items directly instead of chasing part names.
        media = params.get("media")
        items = media if isinstance(media, list) else [media] if isinstance(media, dict) else []
        for item in items:
            if not isinstance(item, dict):
                continue
            for key in ("media", "thumbnail", "cover"):
                ref = item.get(key)
                if isinstance(ref, str) and ref.startswith("attach://"):
                    upload = params.get(ref.removeprefix("attach://"))
                    if isinstance(upload, Upload):
                        item[key] = upload

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _BotAPIError(HTTPStatus.UNAUTHORIZED, "Unauthorized").response()
        raw_method = request.match_info["method"]
        handler_name = self._method_table.get(raw_method.lower())
        method = handler_name[0] if handler_name else raw_method
        try:
            params = await self._read_params(request)
        except (ValueError, UnicodeDecodeError) as exc:
            return _BotAPIError(HTTPStatus.BAD_REQUEST, f"Bad Request: {exc}").response()
        for key in _INT_KEYS:
            number = _as_int(params.get(key))
            if number is not None:
                params[key] = number
        call = Call(method=method, params=params, at=time.monotonic())
        if method == "getUpdates":
            # Recorded on arrival so tests can wait for "the bot is polling now".
            self._record(call)
        try:
            failure = self._take_failure(method, params)
            if failure is not None:
                raise failure
            check_outgoing(method, params)
            if handler_name is None:
                raise _BotAPIError(HTTPStatus.NOT_FOUND, "Not Found")
            release = self._release
            if release is not None and method in _DELIVERY_METHODS:
                self.held.append(call)
                self._changed.fire()
                await release.wait()
            result = await handler_name[1](params)
        except _BotAPIError as exc:
            call.status = exc.status
            call.result = None
            self._finish(call)
            return exc.response()
        call.result = result
        self._finish(call)
        return web.json_response({"ok": True, "result": result})

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.fire()

    def _finish(self, call: Call) -> None:
        if call.method == "getUpdates":
            self._changed.fire()
        else:
            self._record(call)

    def _take_failure(self, method: str, params: dict[str, Any]) -> _BotAPIError | None:
        chat_id = _as_int(params.get("chat_id"))
        for failure in self._failures:
            if failure.method != method.lower():
                continue
            if failure.chat_id is not None and failure.chat_id != chat_id:
                continue
            failure.times -= 1
            if failure.times <= 0:
                self._failures.remove(failure)
            return _BotAPIError(failure.status, failure.description, failure.retry_after)
        if method in _BLOCKABLE_METHODS and chat_id in self._blocked:
            return _BotAPIError(HTTPStatus.FORBIDDEN, "Forbidden: bot was blocked by the user")
        if method in _BLOCKABLE_METHODS and chat_id in self._gone:
            return _BotAPIError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
        if method in _DELIVERY_METHODS:
            return self._limit()
        return None

    def _limit(self) -> _BotAPIError | None:
        now = time.monotonic()
        if now < self._flood_until:
            self.limited += 1
            retry = self._flood_retry_after
            return _BotAPIError(
                HTTPStatus.TOO_MANY_REQUESTS, f"Too Many Requests: retry after {retry}", retry
            )
        if self.rate_limit is None:
            return None
        while self._window and self._window[0] <= now - 1.0:
            self._window.popleft()
        if len(self._window) >= self.rate_limit:
            self.limited += 1
            return _BotAPIError(HTTPStatus.TOO_MANY_REQUESTS, "Too Many Requests: retry after 1", 1)
        self._window.append(now)
        return None

    def _handlers(
        self,
    ) -> dict[str, tuple[str, Callable[[dict[str, Any]], Any]]]:
        table: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getFile": self._get_file,
            "deleteMessage": self._delete_message,
            "copyMessage": self._copy_message,
            "copyMessages": self._copy_messages,
            "forwardMessage": self._forward_message,
            "forwardMessages": self._forward_messages,
            "sendMediaGroup": self._send_media_group,
            "editMessageText": self._edit_message,
            "editMessageCaption": self._edit_message,
            "editMessageReplyMarkup": self._edit_message,
            "editMessageMedia": self._edit_message,
        }
        for name in _SEND_METHODS:
            table.setdefault(name, self._send)
        for name in _TRUE_METHODS:
            table.setdefault(name, self._true)
        return {name.lower(): (name, handler) for name, handler in table.items()}

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _BotAPIError(HTTPStatus.UNAUTHORIZED, "Unauthorized").response()
        stored = self._files.get(request.match_info["path"].removeprefix("files/"))
        if stored is None:
            return _BotAPIError(HTTPStatus.NOT_FOUND, "Not Found").response()
        return web.Response(body=stored.content, content_type="application/octet-stream")

    # ------------------------------------------------------------------ Bot API methods

    async def _true(self, params: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": 0}

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = _as_int(params.get("offset")) or 0
        limit = min(max(_as_int(params.get("limit")) or 100, 1), 100)
        raw_timeout = params.get("timeout") or 0
        timeout = float(raw_timeout) if isinstance(raw_timeout, int | float | str) else 0.0
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list) and allowed:
            # The real API remembers allowed_updates between calls.
            self._allowed_updates = [str(a) for a in allowed]
        if offset > 0:
            self._updates = [u for u in self._updates if int(u["update_id"]) >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ready = [u for u in self._updates if self._is_allowed(u)][:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return ready
            event = self._changed.event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        if not self._allowed_updates:
            return True
        kinds = [key for key in update if key != "update_id"]
        return any(kind in self._allowed_updates for kind in kinds)

    async def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        self._commands[self._commands_key(params)] = commands if isinstance(commands, list) else []
        return True

    async def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> list[Any]:
        return list(self._commands.get(self._commands_key(params), []))

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return (json.dumps(scope, sort_keys=True), str(params.get("language_code") or ""))

    async def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params.get("chat_id"))
        return {
            **chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise _BotAPIError(HTTPStatus.BAD_REQUEST, "Bad Request: invalid file_id")
        if stored.file_size > MAX_DOWNLOAD_SIZE:
            raise _BotAPIError(HTTPStatus.BAD_REQUEST, "Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": f"files/{stored.file_id}",
        }

    async def _delete_message(self, params: dict[str, Any]) -> bool:
        key = (_as_int(params.get("chat_id")) or 0, _as_int(params.get("message_id")) or 0)
        self._messages.pop(key, None)
        return True

    async def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._new_message(params.get("chat_id"), self._content_for(params))

    async def _send_media_group(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        media = params.get("media")
        if not isinstance(media, list) or not media:
            raise _BotAPIError(HTTPStatus.BAD_REQUEST, "Bad Request: media must be non-empty")
        group_id = str(next(self._file_ids) * 1000 + 1)
        out = []
        for item in media:
            if not isinstance(item, dict):
                continue
            kind = str(item.get("type", "photo"))
            content = self._media_content(kind, item.get("media"), item)
            content["media_group_id"] = group_id
            out.append(self._new_message(params.get("chat_id"), content))
        return out

    async def _copy_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source_message(params.get("from_chat_id"), params.get("message_id"))
        content = {k: source[k] for k in _CONTENT_KEYS if k in source}
        if "caption" in params:
            content["caption"] = params["caption"]
        self._add_markup(content, params)
        message = self._new_message(params.get("chat_id"), content)
        return {"message_id": message["message_id"]}

    async def _copy_messages(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        ids = params.get("message_ids") or []
        return [
            await self._copy_message({**params, "message_id": mid})
            for mid in (ids if isinstance(ids, list) else [])
        ]

    async def _forward_message(self, params: dict[str, Any]) -> dict[str, Any]:
        source = self._source_message(params.get("from_chat_id"), params.get("message_id"))
        content = {k: source[k] for k in _CONTENT_KEYS if k in source}
        origin_chat = source.get("chat") or self._chat(params.get("from_chat_id"))
        if origin_chat.get("type") == "channel":
            content["forward_origin"] = {
                "type": "channel",
                "date": source.get("date", int(time.time())),
                "chat": origin_chat,
                "message_id": source.get("message_id", 0),
            }
        else:
            content["forward_origin"] = {
                "type": "user",
                "date": source.get("date", int(time.time())),
                "sender_user": source.get("from") or self.bot_user,
            }
        return self._new_message(params.get("chat_id"), content)

    async def _forward_messages(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        ids = params.get("message_ids") or []
        out = []
        for mid in ids if isinstance(ids, list) else []:
            message = await self._forward_message({**params, "message_id": mid})
            out.append({"message_id": message["message_id"]})
        return out

    async def _edit_message(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        chat_id = _as_int(params.get("chat_id"))
        message_id = _as_int(params.get("message_id"))
        if chat_id is None or message_id is None:
            raise _BotAPIError(HTTPStatus.BAD_REQUEST, "Bad Request: message to edit not found")
        # Messages the fake never saw (e.g. the one under a synthetic callback) are made up.
        message = self._messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": dict(self.bot_user),
        }
        message = dict(message)
        if "text" in params:
            message["text"] = params["text"]
            message.pop("entities", None)
            if isinstance(params.get("entities"), list):
                message["entities"] = params["entities"]
        if "caption" in params:
            message["caption"] = params["caption"]
            message.pop("caption_entities", None)
            if isinstance(params.get("caption_entities"), list):
                message["caption_entities"] = params["caption_entities"]
        media = params.get("media")
        if isinstance(media, dict):
            for key in ("photo", "document", "video", "audio", "animation", "caption"):
                message.pop(key, None)
            message.update(
                self._media_content(str(media.get("type", "photo")), media.get("media"), media)
            )
        # Like the real API, an edit without reply_markup drops the inline keyboard.
        message.pop("reply_markup", None)
        self._add_markup(message, params)
        message["edit_date"] = int(time.time())
        self._messages[(chat_id, message_id)] = message
        return message

    # ------------------------------------------------------------------ message building

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        number = _as_int(chat_id)
        if number is None:
            username = str(chat_id).lstrip("@")
            return {
                "id": -1001000000001,
                "type": "channel",
                "title": username,
                "username": username,
            }
        known = self._chats.get(number)
        if known is not None:
            return dict(known)
        if number > 0:
            return {"id": number, "type": "private", "first_name": "Resident"}
        return {"id": number, "type": "supergroup", "title": f"Chat {number}"}

    def _new_message(self, chat_id: Any, content: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(chat_id)
        counter = self._message_ids.setdefault(int(chat["id"]), itertools.count(1000))
        message = {
            "message_id": next(counter),
            "date": int(time.time()),
            "chat": chat,
            "from": dict(self.bot_user),
            **content,
        }
        self._messages[(int(chat["id"]), message["message_id"])] = message
        return message

    def _source_message(self, chat_id: Any, message_id: Any) -> dict[str, Any]:
        key = (_as_int(chat_id) or 0, _as_int(message_id) or 0)
        source = self._messages.get(key)
        if source is None:
            raise _BotAPIError(HTTPStatus.BAD_REQUEST, "Bad Request: message to copy not found")
        return source

    @staticmethod
    def _add_markup(content: dict[str, Any], params: dict[str, Any]) -> None:
        markup = params.get("reply_markup")
        # Only inline keyboards are part of a Message; reply keyboards are not echoed back.
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            content["reply_markup"] = markup

    def _content_for(self, params: dict[str, Any]) -> dict[str, Any]:
        content: dict[str, Any] = {}
        for key in ("text", "entities", "caption", "caption_entities"):
            if key in params:
                content[key] = params[key]
        for kind in ("photo", "document", "video", "voice", "audio", "animation", "video_note",
                     "sticker"):  # fmt: skip
            if kind in params:
                content.update(self._media_content(kind, params[kind], params))
        if "latitude" in params and "longitude" in params:
            location = {"latitude": params["latitude"], "longitude": params["longitude"]}
            if "title" in params:
                content["venue"] = {
                    "location": location,
                    "title": params["title"],
                    "address": params.get("address", ""),
                }
            content["location"] = location
        if "phone_number" in params:
            content["contact"] = {
                "phone_number": params["phone_number"],
                "first_name": params.get("first_name", ""),
            }
        if "question" in params:
            raw_options = params.get("options")
            options: list[Any] = raw_options if isinstance(raw_options, list) else []
            content["poll"] = {
                "id": str(next(self._file_ids)),
                "question": params["question"],
                "options": [
                    {"text": o.get("text", "") if isinstance(o, dict) else str(o), "voter_count": 0}
                    for o in options
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": bool(params.get("is_anonymous", True)),
                "type": str(params.get("type", "regular")),
                "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            }
        if "emoji" in params and "sticker" not in params:
            content["dice"] = {"emoji": params["emoji"], "value": 1}
        self._add_markup(content, params)
        return content

    def _media_content(self, kind: str, media: Any, options: dict[str, Any]) -> dict[str, Any]:
        """The Message fields for a sent file, registering uploads so they can be fetched."""
        if isinstance(media, Upload):
            file_id, unique_id = self.add_file(media.data)
            size = len(media.data)
            file_name = media.filename
            mime_type = media.content_type
        else:
            file_id = str(media)
            stored = self._files.get(file_id)
            unique_id = stored.file_unique_id if stored else f"U{zlib.crc32(file_id.encode())}"
            size = stored.file_size if stored else 0
            file_name = "file"
            mime_type = "application/octet-stream"
        base = {"file_id": file_id, "file_unique_id": unique_id, "file_size": size}
        content: dict[str, Any] = {}
        if kind == "photo":
            content["photo"] = [{**base, "width": 1280, "height": 960}]
        elif kind == "document":
            content["document"] = {**base, "file_name": file_name, "mime_type": mime_type}
        elif kind in ("video", "animation"):
            content[kind] = {**base, "width": 1280, "height": 720, "duration": 1}
        elif kind in ("voice", "audio"):
            content[kind] = {**base, "duration": 1}
        elif kind == "video_note":
            content[kind] = {**base, "length": 240, "duration": 1}
        elif kind == "sticker":
            content[kind] = {
                **base,
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
        for key in ("caption", "caption_entities"):
            if key in options:
                content[key] = options[key]
        return content

    def _remember_update(self, update: dict[str, Any]) -> None:
        # Learning chats and messages from pushed updates lets replies carry the real chat
        # (name, type) and lets forwardMessage/copyMessage find their source.
        for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
            message = update.get(key)
            if isinstance(message, dict):
                self._remember_message(message)
        callback = update.get("callback_query")
        if isinstance(callback, dict) and isinstance(callback.get("message"), dict):
            self._remember_message(callback["message"])

    def _remember_message(self, message: dict[str, Any]) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or _as_int(chat.get("id")) is None:
            return
        chat_id = int(chat["id"])
        self._chats[chat_id] = dict(chat)
        message_id = _as_int(message.get("message_id"))
        if message_id is not None:
            self._messages.setdefault((chat_id, message_id), message)

    # ------------------------------------------------------------------ control API

    async def _control_updates(self, request: web.Request) -> web.Response:
        body = await request.json()
        updates = body if isinstance(body, list) else [body]
        return web.json_response([self.push_update(u) for u in updates])

    async def _control_calls(self, request: web.Request) -> web.Response:
        since = int(request.query.get("since", "0"))
        out = []
        for index in range(since, len(self.calls)):
            out.append({"index": index, **self.calls[index].to_json()})
        return web.json_response(out)

    async def _control_files(self, request: web.Request) -> web.Response:
        content = await request.read()
        size = request.query.get("file_size")
        file_id, unique_id = self.add_file(content, file_size=int(size) if size else None)
        return web.json_response({"file_id": file_id, "file_unique_id": unique_id})

    async def _control_wait(self, request: web.Request) -> web.Response:
        query = request.query
        since = int(query.get("since", "0"))
        method = query.get("method")
        chat_id = _as_int(query.get("chat_id"))
        contains = query.get("contains")

        def matches(call: Call) -> bool:
            if method is not None and call.method.lower() != method.lower():
                return False
            if chat_id is not None and call.chat_id != chat_id:
                return False
            return contains is None or contains in str(call.params.get("text", ""))

        try:
            call = await self.wait_for(
                matches, timeout=float(query.get("timeout", "10")), start=since
            )
        except AssertionError as exc:
            return web.json_response({"error": str(exc)}, status=HTTPStatus.REQUEST_TIMEOUT)
        index = next(i for i in range(since, len(self.calls)) if self.calls[i] is call)
        return web.json_response({"index": index, **call.to_json()})

    async def _control_fail(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.fail_next(
            str(body["method"]),
            status=int(body.get("status", 429)),
            retry_after=body.get("retry_after", 1),
            description=body.get("description"),
            times=int(body.get("times", 1)),
            chat_id=body.get("chat_id"),
        )
        return web.json_response({"ok": True})

    async def _control_block(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.block_chat(int(body["chat_id"]))
        return web.json_response({"ok": True})

    async def _control_state(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"calls": len(self.calls), "pending_updates": self.pending_updates}
        )


class _ServedFakeBotAPI(FakeBotAPI):
    """The fake as ``main()`` serves it: it also tells the 429s of a flood wait from those of
    ``rate_limit``, and remembers the flood waits injected by ``--flood-every``."""

    def __init__(self, token: str, bot_username: str) -> None:
        super().__init__(token=token, bot_username=bot_username)
        self.flood_429s = 0  # answered during a flood wait
        self.limit_429s = 0  # answered because of `rate_limit`
        self.floods: list[tuple[float, float]] = []  # (start, end), time.monotonic()

    def _limit(self) -> _BotAPIError | None:
        flooding = time.monotonic() < self._flood_until
        error = super()._limit()
        if error is not None:
            if flooding:
                self.flood_429s += 1
            else:
                self.limit_429s += 1
        return error

    async def _control_sends(self, request: web.Request) -> web.Response:
        """Every delivery call from index ``since`` on, compactly (a benchmark reads tens of
        thousands): ``[method, chat_id, at, status]``, plus the 429 counters and the floods."""
        since = int(request.query.get("since", "0"))
        sends = [
            [call.method, call.chat_id, call.at, call.status]
            for call in itertools.islice(self.calls, since, None)
            if call.method in _DELIVERY_METHODS
        ]
        return web.json_response(
            {
                "calls": len(self.calls),
                "sends": sends,
                "rate_limit": self.rate_limit,
                "limited": self.limited,
                "flood_429s": self.flood_429s,
                "limit_429s": self.limit_429s,
                "floods": self.floods,
            }
        )


def _read_chat_ids(path: str) -> list[int]:
    """One chat id a line; blank lines and ``#`` comments are skipped."""
    out = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            text = line.split("#", 1)[0].strip()
            if text:
                out.append(int(text))
    return out


async def _inject_floods(
    fake: _ServedFakeBotAPI, every: float, retry_after: int, rng: random.Random
) -> None:
    """Flood waits at random times, on average one every ``every`` seconds (a Poisson process:
    the gaps are exponential), each answering every message 429 for ``retry_after`` seconds."""
    while True:
        await asyncio.sleep(rng.expovariate(1.0 / every))
        start = time.monotonic()
        fake.flood_wait(retry_after, retry_after)
        fake.floods.append((start, start + retry_after))


async def _serve(args: argparse.Namespace) -> None:
    fake = _ServedFakeBotAPI(token=args.token, bot_username=args.bot_username)
    fake.app.router.add_get("/_control/sends", fake._control_sends)
    if args.rate_limit:
        fake.rate_limit = args.rate_limit
    for chat_id in _read_chat_ids(args.blocked_file) if args.blocked_file else []:
        fake.block_chat(chat_id)
    for chat_id in _read_chat_ids(args.gone_file) if args.gone_file else []:
        fake.gone_chat(chat_id)
    await fake.start(args.port)
    floods = None
    if args.flood_every > 0:
        floods = asyncio.get_running_loop().create_task(
            _inject_floods(fake, args.flood_every, args.flood_retry_after, random.Random(args.seed))
        )
    # The parent process reads this line to learn the port and that the server is ready.
    print(f"READY {fake.port} {fake.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        if floods is not None:
            floods.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await floods
        await fake.stop()


def main(argv: list[str] | None = None) -> None:
    """Run the fake Bot API (with its /_control/ API) until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--token", default="123456:TEST-TOKEN")
    parser.add_argument("--bot-username", default="tinbao_test_bot")
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=0,
        help="at most this many messages in any second, 429 'retry after 1' beyond (0: none)",
    )
    parser.add_argument(
        "--blocked-file", help="chat ids (one a line) that answer 403 'bot was blocked'"
    )
    parser.add_argument(
        "--gone-file", help="chat ids (one a line) that answer 400 'chat not found'"
    )
    parser.add_argument(
        "--flood-every",
        type=float,
        default=0,
        help="inject a flood wait on average every this many seconds, at random (0: never)",
    )
    parser.add_argument(
        "--flood-retry-after",
        type=int,
        default=1,
        help="each flood wait lasts this many seconds and says 'retry after' as much",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the flood waits' times")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
