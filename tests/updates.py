"""Builders of realistic Telegram update dicts, valid input for ``telegram.Update.de_json``.

Updates carry no ``update_id``: ``FakeBotAPI.push_update`` assigns one. Entity offsets and
lengths are in UTF-16 code units, as in the Bot API (an emoji outside the BMP counts 2).
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Literal

__all__ = [
    "BOT_USER",
    "Resident",
    "entity_for",
    "utf16_len",
]

# Matches FakeBotAPI's defaults, so messages "from the bot" look like the fake's own.
BOT_USER: dict[str, Any] = {
    "id": 123456,
    "is_bot": True,
    "first_name": "tinbao",
    "username": "tinbao_test_bot",
}

# One counter for all chats keeps ids unique across residents, which makes fixtures easier to
# tell apart in failure dumps; ids below 1000 stay clear of the fake's own bot messages.
_message_ids = itertools.count(1)
_callback_ids = itertools.count(4_000_000_000_000_000_001)

ForwardOrigin = Literal["user", "hidden_user", "channel", "chat"]


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def entity_for(text: str, part: str, kind: str = "url", **extra: Any) -> dict[str, Any]:
    """A MessageEntity dict of type ``kind`` covering the first occurrence of ``part``."""
    index = text.index(part)
    return {
        "type": kind,
        "offset": utf16_len(text[:index]),
        "length": utf16_len(part),
        **extra,
    }


def _now() -> int:
    return int(time.time())


class Resident:
    """A Telegram user who talks to the bot in a private chat; methods return update dicts."""

    def __init__(
        self,
        user_id: int,
        first_name: str = "Lan",
        language_code: str | None = "vi",
        *,
        last_name: str | None = None,
        username: str | None = None,
        bot: dict[str, Any] | None = None,
    ) -> None:
        self.user_id = user_id
        self.first_name = first_name
        self.language_code = language_code
        self.last_name = last_name
        self.username = username
        self.bot = dict(bot or BOT_USER)

    @property
    def user(self) -> dict[str, Any]:
        """The User dict as Telegram sends it in ``from``."""
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    @property
    def chat(self) -> dict[str, Any]:
        """The private Chat dict between this resident and the bot."""
        chat: dict[str, Any] = {
            "id": self.user_id,
            "type": "private",
            "first_name": self.first_name,
        }
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    def message(self, chat: dict[str, Any] | None = None, **content: Any) -> dict[str, Any]:
        """A ``message`` update with a fresh message_id; ``content`` gives the Message fields."""
        message: dict[str, Any] = {
            "message_id": next(_message_ids),
            "date": _now(),
            "chat": chat or self.chat,
            "from": self.user,
        }
        message.update({k: v for k, v in content.items() if v is not None})
        return {"message": message}

    def text(self, text: str, *, entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A plain text message."""
        return self.message(text=text, entities=entities)

    def command(
        self, name: str, args: str = "", *, chat: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """``/name args`` with the ``bot_command`` entity Telegram attaches."""
        command = f"/{name.lstrip('/')}"
        text = f"{command} {args}" if args else command
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
        return self.message(chat, text=text, entities=[entity])

    def callback(
        self,
        data: str,
        *,
        message_id: int = 1000,
        message_text: str = "…",
        reply_markup: dict[str, Any] | None = None,
        chat: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A ``callback_query`` for pressing a button with ``data`` under the bot's message."""
        bot_message: dict[str, Any] = {
            "message_id": message_id,
            "date": _now(),
            "chat": chat or self.chat,
            "from": dict(self.bot),
            "text": message_text,
        }
        if reply_markup is not None:
            bot_message["reply_markup"] = reply_markup
        return {
            "callback_query": {
                "id": str(next(_callback_ids)),
                "from": self.user,
                "chat_instance": str(-(7_000_000_000_000_000_000 + self.user_id)),
                "data": data,
                "message": bot_message,
            }
        }

    def photo(
        self,
        file_id: str,
        file_unique_id: str,
        *,
        size: int = 180_000,
        caption: str | None = None,
        caption_entities: list[dict[str, Any]] | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """A photo message; like Telegram, three sizes with the given file as the largest."""
        sizes = [
            {
                "file_id": f"{file_id}-s",
                "file_unique_id": f"{file_unique_id}s",
                "file_size": max(size // 60, 1),
                "width": 90,
                "height": 68,
            },
            {
                "file_id": f"{file_id}-m",
                "file_unique_id": f"{file_unique_id}m",
                "file_size": max(size // 8, 1),
                "width": 320,
                "height": 240,
            },
            {
                "file_id": file_id,
                "file_unique_id": file_unique_id,
                "file_size": size,
                "width": 1280,
                "height": 960,
            },
        ]
        return self.message(
            photo=sizes,
            caption=caption,
            caption_entities=caption_entities,
            media_group_id=media_group_id,
        )

    def document(
        self,
        file_id: str,
        file_unique_id: str,
        *,
        file_name: str = "evidence.pdf",
        mime_type: str = "application/pdf",
        file_size: int = 50_000,
        caption: str | None = None,
        caption_entities: list[dict[str, Any]] | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """A document (any file sent "as file")."""
        document = {
            "file_id": file_id,
            "file_unique_id": file_unique_id,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": file_size,
        }
        return self.message(
            document=document,
            caption=caption,
            caption_entities=caption_entities,
            media_group_id=media_group_id,
        )

    def voice(
        self,
        file_id: str,
        file_unique_id: str,
        *,
        duration: int = 7,
        file_size: int = 24_000,
        mime_type: str = "audio/ogg",
    ) -> dict[str, Any]:
        """A voice note."""
        voice = {
            "file_id": file_id,
            "file_unique_id": file_unique_id,
            "duration": duration,
            "mime_type": mime_type,
            "file_size": file_size,
        }
        return self.message(voice=voice)

    def video(
        self,
        file_id: str,
        file_unique_id: str,
        *,
        duration: int = 12,
        width: int = 1280,
        height: int = 720,
        file_size: int = 2_500_000,
        mime_type: str = "video/mp4",
        file_name: str | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """A video message."""
        video: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": file_unique_id,
            "width": width,
            "height": height,
            "duration": duration,
            "mime_type": mime_type,
            "file_size": file_size,
        }
        if file_name:
            video["file_name"] = file_name
        return self.message(video=video, caption=caption, media_group_id=media_group_id)

    def sticker(
        self,
        file_id: str = "CAACAgIAAxkBAAIBSTICKER",
        file_unique_id: str = "AgADSTICKER",
        *,
        emoji: str = "😀",
    ) -> dict[str, Any]:
        """A regular static sticker."""
        sticker = {
            "file_id": file_id,
            "file_unique_id": file_unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 20_000,
        }
        return self.message(sticker=sticker)

    def location(self, lat: float, lon: float) -> dict[str, Any]:
        """A shared location."""
        return self.message(location={"latitude": lat, "longitude": lon})

    def contact(
        self,
        phone_number: str,
        first_name: str,
        *,
        last_name: str | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """A shared contact card."""
        contact: dict[str, Any] = {"phone_number": phone_number, "first_name": first_name}
        if last_name:
            contact["last_name"] = last_name
        if user_id is not None:
            contact["user_id"] = user_id
        return self.message(contact=contact)

    def forwarded_text(
        self,
        text: str,
        *,
        origin: ForwardOrigin = "user",
        sender_name: str = "Nguyễn Văn A",
        sender_id: int = 987654321,
        entities: list[dict[str, Any]] | None = None,
        origin_message_id: int = 77,
    ) -> dict[str, Any]:
        """A text forwarded from someone else, with a Bot API 7+ ``forward_origin``.

        ``sender_id`` is the user id (origin "user") or the chat id (origin "channel"/"chat";
        made negative in the -100… supergroup/channel form if positive).
        """
        date = _now() - 3600
        chat_id = sender_id if sender_id < 0 else -(1_000_000_000_000 + sender_id)
        forward_origin: dict[str, Any]
        if origin == "user":
            forward_origin = {
                "type": "user",
                "date": date,
                "sender_user": {"id": sender_id, "is_bot": False, "first_name": sender_name},
            }
        elif origin == "hidden_user":
            forward_origin = {"type": "hidden_user", "date": date, "sender_user_name": sender_name}
        elif origin == "channel":
            forward_origin = {
                "type": "channel",
                "date": date,
                "chat": {"id": chat_id, "type": "channel", "title": sender_name},
                "message_id": origin_message_id,
            }
        elif origin == "chat":
            forward_origin = {
                "type": "chat",
                "date": date,
                "sender_chat": {"id": chat_id, "type": "supergroup", "title": sender_name},
            }
        else:
            raise ValueError(f"unknown forward origin {origin!r}")
        return self.message(text=text, entities=entities, forward_origin=forward_origin)

    def text_link(
        self, text: str, url: str, *, before: str = "", after: str = ""
    ) -> dict[str, Any]:
        """``before + text + after`` where ``text`` is a hyperlink hiding ``url``."""
        full = f"{before}{text}{after}"
        entity = {
            "type": "text_link",
            "offset": utf16_len(before),
            "length": utf16_len(text),
            "url": url,
        }
        return self.message(text=full, entities=[entity])

    def group_text(self, chat_id: int, text: str, *, title: str = "Tổ dân phố 5") -> dict[str, Any]:
        """A text this resident writes in a (basic) group chat."""
        return self.message(chat={"id": chat_id, "type": "group", "title": title}, text=text)
