"""The channel-agnostic message types: what a channel hands in, and what handlers send out.

A channel adapter (Telegram, console, later Zalo) turns its platform's update into an `Inbound`,
calls the router, and delivers every `Outbound` the handlers emit through an `Outbox`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol

from handlers.seal import Keyring

FileKind = Literal["photo", "document", "voice", "video", "audio", "video_note", "animation"]
ChatType = Literal["private", "group", "supergroup", "channel"]


@dataclass(frozen=True)
class Button:
    """An inline button. `data` is short opaque callback data (at most 64 bytes)."""

    label: str
    data: str

    def __post_init__(self) -> None:
        if len(self.data.encode()) > 64:
            raise ValueError(f"callback data over 64 bytes: {self.data!r}")


@dataclass(frozen=True)
class OutFile:
    """A stored file to send back (evidence shown to an officer).

    `file_id` is the platform's id when the file came through the same channel (no upload
    needed); otherwise the bytes at `path` are uploaded, decrypted with `keys` if the file is
    stored encrypted; or `data`, bytes made for this message (a resident's data export), is
    uploaded as is, named `name`. If the stored copy cannot be opened (missing, wrong key,
    damaged), the channel logs why and sends the message's text followed by `unreadable` instead.
    """

    kind: FileKind
    path: Path
    file_id: str | None = None
    name: str | None = None
    keys: Keyring | None = None
    unreadable: str | None = None
    data: bytes | None = None


@dataclass
class Outbound:
    """A message to send. `text` is plain text: the channel escapes it for its markup.

    `title`, when set, is shown above the text in bold where the channel can.
    `to` is None for "reply to the sender"; otherwise a channel chat id.
    `edit` is the id of a message already sent to `to` to replace instead of sending anew.
    `toast` answers the button press with `text` as a short pop-up instead of a message.
    `file` sends a file with `text` as its caption.
    `receipt` names what this message delivers ("card", "notice" or a broadcast's "progress",
    and a row id), so the router can record it once it is sent.
    `channel`, when set, is the channel of `to` if it is not the update's own (a notice to a
    Zalo resident about an officer's action on Telegram).
    """

    text: str
    buttons: list[list[Button]] = field(default_factory=list)
    to: str | None = None
    title: str | None = None
    edit: str | None = None
    toast: bool = False
    file: OutFile | None = None
    receipt: tuple[str, int] | None = None
    channel: str | None = None

    @property
    def plain(self) -> bool:
        """A plain message to the chat: one that may be merged with its neighbour."""
        return not (self.edit or self.toast or self.file or self.receipt or self.channel)


@dataclass
class IncomingFile:
    """A file the resident sent. `fetch` downloads its bytes from the platform."""

    kind: FileKind
    file_id: str
    file_unique_id: str
    size: int | None
    mime: str | None
    name: str | None
    fetch: Callable[[], Awaitable[bytes]]
    media_group_id: str | None = None


@dataclass(frozen=True)
class Forwarded:
    """Where a forwarded message came from, as the platform shows it."""

    origin: str
    date: datetime | None = None


@dataclass
class Inbound:
    """One message or button press from a user, whatever the channel.

    `links` holds link targets the platform marked (including hidden text-link targets), so
    extraction sees URLs that are not in the visible text. `unsupported` names content tinbao
    cannot use (sticker, location, contact, poll, …) so the reply can say so kindly.
    """

    channel: str
    user_id: str
    chat_id: str
    chat_type: ChatType = "private"
    language_hint: str | None = None
    # The sender's display name; kept for officers only, never for residents.
    user_name: str | None = None
    text: str | None = None
    command: str | None = None
    args: str = ""
    callback: str | None = None
    callback_id: str | None = None
    links: list[str] = field(default_factory=list)
    files: list[IncomingFile] = field(default_factory=list)
    forwarded: Forwarded | None = None
    unsupported: str | None = None
    update_id: int | None = None
    # "blocked" / "unblocked": the user stopped or restarted the bot (no message to answer).
    membership: str | None = None


class Outbox(Protocol):
    """Delivers messages for a channel."""

    async def send(self, inbound: Inbound, message: Outbound) -> str | None:
        """Send `message` in reply to `inbound` (or to `message.to` when set).

        Returns the id of the message sent or edited (the last part, if split), or None when
        it could not be delivered (blocked, refused) or for a toast.
        """
        ...
