"""Scam warnings to Zalo followers, within Zalo's quota of proactive messages.

Zalo caps the messages an OA may send a follower unprompted each month, so each follower's
warnings are counted per month (Vietnam time) by one conditional write
(`storage.zalo.take_warning`); past `TINBAO_ZALO_WARNINGS_PER_MONTH` a follower is skipped,
and the admin's summary says how many were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from bot.channels.zalo.api import ZaloApi, ZaloError
from bot.channels.zalo.outbox import render
from handlers.core import Outbound
from handlers.i18n import VIETNAM
from handlers.sender import SendResult
from handlers.services import Services
from storage import zalo as store

log = logging.getLogger(__name__)


class ZaloWarnings:
    """The broadcast sender's transport for recipients on Zalo."""

    def __init__(self, api: ZaloApi, services: Services) -> None:
        self.api = api
        self.services = services

    async def send_warning(
        self,
        chat_id: str,
        message: Outbound,
        photo_id: str | None,
        on_wire: Callable[[], None] | None = None,
    ) -> SendResult:
        """Send one warning as text, unless the follower's monthly quota is used up.

        A quota slot is taken before the send and kept whatever Zalo answers: at most the
        quota is ever attempted (Zalo counts what it accepted; this errs on the safe side).
        """
        settings = self.services.settings
        month = self.services.clock().astimezone(VIETNAM).strftime("%Y-%m")
        async with self.services.db.session() as session:
            allowed = await store.take_warning(
                session, chat_id, month, settings.zalo_warnings_per_month
            )
        if not allowed:
            return SendResult("skipped", error="Zalo's monthly quota for this follower")
        if message.file is not None:
            log.info("a warning's photo is not sent on Zalo (its text is)")
        if on_wire is not None:
            on_wire()
        try:
            for part in render(message):
                await self.api.send(chat_id, {"text": part})
        except ZaloError as error:
            return SendResult("failed", error=str(error))
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            # The request may have reached Zalo: never sent twice (handlers.sender).
            return SendResult("unknown", error=type(error).__name__)
        return SendResult("sent")
