"""Delivering `Outbound` messages on Zalo, within Zalo's rules.

Zalo messages are plain text of at most 2,000 characters, so buttons become a numbered list
(the resident types the number; `channel` maps it back) and long texts are split. Zalo lets
an OA reply for free only within a window after the resident's last message, and only so many
times; a message that cannot go now is held (`storage.zalo.hold`) and sent when the resident
next writes. A held message counts as delivered: it is durable, and it will reach them.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import aiohttp

from bot.channels.zalo import CHANNEL
from bot.channels.zalo.api import ZaloApi, ZaloError
from handlers.core import Inbound, Outbound
from handlers.i18n import N_, pick_language, translator
from handlers.services import Services
from storage import zalo as store
from storage.users import get_user

log = logging.getLogger(__name__)

# Zalo's limit for a text message (docs/zalo.md).
MAX_TEXT = 2000
NO_FILES = N_(
    "ℹ️ I cannot send files on Zalo yet, so the file is not attached. For a copy, please "
    "contact the police unit that runs this account."
)


def render(message: Outbound, limit: int = MAX_TEXT) -> list[str]:
    """The message as plain-text parts of at most `limit` characters, buttons numbered."""
    lines: list[str] = []
    if message.title:
        lines.append(message.title)
    lines.append(message.text)
    flat = [button for row in message.buttons for button in row]
    if flat:
        lines.append("")
        lines.extend(f"{number}. {button.label}" for number, button in enumerate(flat, start=1))
    return split("\n".join(lines), limit)


def split(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` in parts of at most `limit` characters, cut at line ends or spaces if possible."""
    parts: list[str] = []
    rest = text.strip("\n")
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut < limit // 2:
            cut = rest.rfind(" ", 0, limit)
        if cut < limit // 2:
            cut = limit
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not parts:
        parts.append(rest or "…")
    return parts


class ZaloOutbox:
    """Sends to Zalo residents through the OA API; holds what Zalo's window does not allow."""

    def __init__(self, api: ZaloApi, services: Services) -> None:
        self.api = api
        self.services = services

    async def send(self, inbound: Inbound, message: Outbound) -> str | None:
        """Send one message (a toast or an edit is sent as a new message: Zalo has neither).

        Returns Zalo's id of the last part, `held:<n>` for a held message, or None when Zalo
        refused it.
        """
        to = message.to or inbound.chat_id
        if inbound.channel != CHANNEL and message.to is None:
            return None  # nobody on Zalo to send to
        if message.file is not None:
            # Sending files needs Zalo's upload API, not built yet: the text goes with a note.
            log.info("a file for a Zalo resident was not sent (only its text)")
            note = await self._no_files_note(to)
            message = Outbound(f"{message.text}\n\n{note}", message.buttons, title=message.title)
        parts = render(message)
        settings = self.services.settings
        now = self.services.clock()
        since = now - timedelta(hours=settings.zalo_reply_window_hours)
        async with self.services.db.session() as session:
            allowed = await store.take_reply(session, to, since, settings.zalo_replies_per_window)
            if not allowed:
                # Without its buttons: by the time it is read they may mean something else.
                held = await store.hold(session, to, split(message.text)[0], now)
                log.info("a message to a Zalo resident is held until they write again")
                return f"held:{held}"
            if message.buttons:
                data = [button.data for row in message.buttons for button in row]
                await store.set_buttons(session, to, json.dumps(data))
        sent = None
        try:
            for part in parts:
                sent = await self.api.send(to, {"text": part})
        except ZaloError as error:
            log.warning("Zalo refused a message: %s", error)
            return None
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # ValueError: an answer that is not JSON (a proxy's error page).
            log.warning("sending a Zalo message failed: %s", error)
            return None
        return sent or "sent"

    async def _no_files_note(self, external_id: str) -> str:
        async with self.services.db.session() as session:
            user = await get_user(session, CHANNEL, external_id)
        t = translator(pick_language(user.language if user else None, None))
        return t._(NO_FILES)
