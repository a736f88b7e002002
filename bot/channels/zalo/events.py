"""Zalo OA webhook events as channel-agnostic `Inbound` messages.

Payload shapes follow the Zalo OA webhook docs: `event_name`, `app_id`, `timestamp` (ms, as a
string), `sender.id` / `recipient.id` (the user and the OA), `message.msg_id`, `message.text`
and `message.attachments[]` of `{type, payload: {url, …}}`; `follower.id` for follow events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from bot.channels.zalo import CHANNEL
from handlers.core import FileKind, Inbound, IncomingFile

# Events that carry a message from a resident, and what their attachments are.
FILE_EVENTS: dict[str, FileKind] = {
    "user_send_image": "photo",
    "user_send_file": "document",
    "user_send_audio": "voice",
    "user_send_video": "video",
    "user_send_gif": "animation",
}
UNSUPPORTED = {
    "user_send_sticker": "sticker",
    "user_send_location": "location",
    "user_send_business_card": "contact",
}
MESSAGE_EVENTS = {"user_send_text", "user_send_link", *FILE_EVENTS, *UNSUPPORTED}
FOLLOW_EVENTS = {"follow": "unblocked", "unfollow": "blocked"}
# The low bits of an event id that come from the event's own hash (see `event_id`).
HASH_BITS = 20

Fetch = Callable[[str, int], Awaitable[bytes]]


def user_id(data: dict[str, Any]) -> str | None:
    """The Zalo user an event comes from (a 64-bit number, kept as a string), if any."""
    name = data.get("event_name")
    part = data.get("follower") if name in FOLLOW_EVENTS else data.get("sender")
    if isinstance(part, dict) and part.get("id") not in (None, ""):
        return str(part["id"])
    return None


def wanted(data: dict[str, Any]) -> bool:
    """Whether tinbao does anything with this event (others are acknowledged and dropped)."""
    name = data.get("event_name")
    return (name in MESSAGE_EVENTS or name in FOLLOW_EVENTS) and user_id(data) is not None


def event_id(data: dict[str, Any]) -> int:
    """A stable 63-bit id for an event, so a re-delivered event has one effect.

    The durable inbox handles one user's updates in id order, so the high bits are the event's
    time (ms) and the low `HASH_BITS` a hash of its message id (of the whole event when it has
    none): the same event always gets the same id, and two events of one millisecond almost
    never collide. Zalo gives events no sequence number of their own.
    """
    try:
        millis = int(str(data.get("timestamp", "0")))
    except ValueError:
        millis = 0
    message = data.get("message")
    key = message.get("msg_id") if isinstance(message, dict) else None
    if not key:
        key = json.dumps(data, sort_keys=True, ensure_ascii=False)
    digest = int.from_bytes(hashlib.sha256(str(key).encode()).digest()[:8], "big")
    return (max(0, millis) % (1 << (63 - HASH_BITS))) << HASH_BITS | digest % (1 << HASH_BITS)


def to_inbound(data: dict[str, Any], fetch: Fetch, max_bytes: int) -> Inbound | None:
    """The event as an `Inbound`, or None if tinbao does nothing with it.

    `fetch(url, max_bytes)` downloads an attachment; it runs only when the router asks for the
    file (after consent), but at once then: Zalo's attachment URLs do not last.
    """
    if not wanted(data):
        return None
    name = str(data["event_name"])
    who = user_id(data)
    assert who is not None
    inbound = Inbound(channel=CHANNEL, user_id=who, chat_id=who, update_id=event_id(data))
    if name in FOLLOW_EVENTS:
        inbound.membership = FOLLOW_EVENTS[name]
        return inbound
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    assert isinstance(message, dict)
    text = message.get("text")
    inbound.text = str(text) if isinstance(text, str) and text.strip() else None
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    if name == "user_send_link":
        for item in attachments:
            payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
            url = payload.get("url") if isinstance(payload, dict) else None
            if isinstance(url, str) and url and url not in inbound.links:
                inbound.links.append(url)
        if inbound.text is None and inbound.links:
            # The link alone is the message: what the report flow and the check read.
            inbound.text = " ".join(inbound.links)
    elif name in FILE_EVENTS:
        inbound.files = _files(attachments, FILE_EVENTS[name], fetch, max_bytes, message)
        if not inbound.files and inbound.text is None:
            inbound.unsupported = "other"
    elif name in UNSUPPORTED:
        inbound.unsupported = UNSUPPORTED[name]
    elif inbound.text is None:
        inbound.unsupported = "other"
    if inbound.text and inbound.text.startswith("/") and len(inbound.text) > 1:
        command, _, args = inbound.text[1:].partition(" ")
        inbound.command, inbound.args = command.strip(), args.strip()
    return inbound


def _files(
    attachments: list[dict[str, Any]],
    kind: FileKind,
    fetch: Fetch,
    max_bytes: int,
    message: dict[str, Any],
) -> list[IncomingFile]:
    found: list[IncomingFile] = []
    for index, item in enumerate(attachments):
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        assert isinstance(payload, dict)
        url = payload.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            continue
        size = payload.get("size")
        try:
            size_bytes = int(size) if size is not None else None
        except (TypeError, ValueError):
            size_bytes = None
        name = payload.get("name")

        def download(url: str = url) -> Awaitable[bytes]:
            return fetch(url, max_bytes)

        key = f"{message.get('msg_id', '')}:{index}"
        found.append(
            IncomingFile(
                kind=kind,
                # Zalo's URLs expire: no id worth keeping (the file is stored at once).
                file_id="",
                file_unique_id=hashlib.sha256(key.encode()).hexdigest()[:32],
                size=size_bytes,
                mime=None,
                name=str(name) if isinstance(name, str) else None,
                fetch=download,
                # Several pictures in one event are one album: acknowledged together.
                media_group_id=str(message.get("msg_id")) if len(attachments) > 1 else None,
            )
        )
    return found
