"""The Zalo channel in a process: events from the durable inbox through the same router.

The webhook (`bot.webhook`) stores each signed event in the inbox and answers Zalo at once
(Zalo wants an answer within about 2 seconds); the inbox's workers then call `process`, one
resident's events in order. Notices that reach a resident through Zalo after an officer acted
on another channel go through `services.outboxes["zalo"]`, which this channel registers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta

from bot.channels.zalo import CHANNEL, events
from bot.channels.zalo.api import ZaloApi
from bot.channels.zalo.outbox import ZaloOutbox
from bot.channels.zalo.warnings import ZaloWarnings
from handlers import followup, router, timers
from handlers.core import Inbound, Outbound
from handlers.delivery import deliver
from handlers.i18n import N_, pick_language, translator
from handlers.services import Services
from storage import queue
from storage import zalo as store
from storage.users import get_user

log = logging.getLogger(__name__)

# Zalo cannot be written to later, so every answer reminds the resident where their reports'
# status is (they ask; the bot may not be allowed to tell them).
# Held messages older than this are dropped (the resident can still ask with /tinbao).
HELD_DAYS = timedelta(days=30)
STATUS_HINT = N_("ℹ️ Send /tinbao any time to see the status of your reports.")


class ZaloChannel:
    """The Zalo OA client, its outbox, and the retry of notices that could not be sent."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.api = ZaloApi(services.settings, services.db, services.clock)
        self.outbox = ZaloOutbox(self.api, services)
        self._timer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Open the API client, offer the outbox to other channels, start the retry timer."""
        await self.api.start()
        self.services.outboxes[CHANNEL] = self.outbox
        self.services.warning_transports[CHANNEL] = ZaloWarnings(self.api, self.services)
        self._timer = asyncio.get_running_loop().create_task(
            timers.run_forever(self.services, self.retry_notices), name="tinbao-zalo-timers"
        )

    async def stop(self) -> None:
        """Stop the timer and close the API client."""
        self.services.outboxes.pop(CHANNEL, None)
        self.services.warning_transports.pop(CHANNEL, None)
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.api.stop()

    async def retry_notices(self) -> int:
        """Send once more the notices to Zalo residents that could not be sent at first, and
        forget the chats of people who never agreed to the notice once their window closed."""
        now = self.services.clock()
        async with self.services.db.session() as session:
            unsent = await queue.take_unsent_notices(session, CHANNEL, now, timers.GRACE)
            replies = await followup.notices(session, unsent, CHANNEL)
            window = timedelta(hours=self.services.settings.zalo_reply_window_hours)
            await store.prune_strangers(session, now - window)
            await store.prune_held(session, now - HELD_DAYS)
        inbound = Inbound(channel=CHANNEL, user_id="", chat_id="")
        await deliver(self.services, self.outbox, inbound, replies, retry=False)
        return len(replies)

    async def process(self, payload: str) -> None:
        """Handle one stored event: the resident's message, a button number, a follow."""
        data = json.loads(payload)
        max_bytes = self.services.settings.max_file_mb * 1024 * 1024
        inbound = events.to_inbound(data, self.api.download, max_bytes)
        if inbound is None:
            return
        try:
            await self._handle(inbound)
        finally:
            for observer in self.services.observers:
                observer(inbound.update_id)

    async def _handle(self, inbound: Inbound) -> None:
        services = self.services
        user_id = inbound.user_id
        async with services.db.session() as session:
            if inbound.membership == "blocked":
                await store.set_following(session, user_id, False)
                held: list[str] = []
                shown = None
            else:
                shown = await store.get_buttons(session, user_id)
                await store.seen(session, user_id, services.clock())
                held = await store.take_held(session, user_id)
        if inbound.membership == "unblocked":
            # A new follower is greeted like someone who pressed Start.
            inbound.membership, inbound.command = None, "start"
        _press(inbound, shown)
        for number, text in enumerate(held):
            if await self.outbox.send(inbound, Outbound(text)) is None:
                # Zalo refused it (an outage): kept for the resident's next message.
                async with services.db.session() as session:
                    for again in held[number:]:
                        await store.hold(session, user_id, again, services.clock())
                break
        replies = router.coalesce(await router.respond(inbound, services, self.outbox))
        own = [
            reply
            for reply in replies
            if reply.to in (None, inbound.chat_id) and reply.channel is None and not reply.receipt
        ]
        await self._number_buttons(user_id, own)
        await self._add_hint(inbound, own)
        await deliver(services, self.outbox, inbound, replies)

    async def _number_buttons(self, user_id: str, own: list[Outbound]) -> None:
        """Turn the buttons of all the answers into one numbered list, numbered on across
        messages, so that any number shown presses what it says."""
        pressable: list[str] = []
        for reply in own:
            flat = [button for row in reply.buttons for button in row]
            if not flat:
                continue
            lines = [
                f"{len(pressable) + n}. {button.label}" for n, button in enumerate(flat, start=1)
            ]
            pressable += [button.data for button in flat]
            reply.text = f"{reply.text}\n\n" + "\n".join(lines)
            reply.buttons = []
        if pressable:
            async with self.services.db.session() as session:
                await store.set_buttons(session, user_id, json.dumps(pressable))

    async def _add_hint(self, inbound: Inbound, own: list[Outbound]) -> None:
        """The status hint under the last answer to a resident who has agreed to the notice."""
        own = [reply for reply in own if not reply.file]
        if not own:
            return
        async with self.services.db.session() as session:
            user = await get_user(session, CHANNEL, inbound.user_id)
        if user is None or user.consent_at is None or user.role != "resident":
            return
        t = translator(pick_language(user.language, None))
        last = own[-1]
        last.text = f"{last.text}\n\n{t._(STATUS_HINT)}"


def _press(inbound: Inbound, shown: str | None) -> None:
    """A number typed after a numbered list presses that button (Zalo has no inline ones)."""
    text = (inbound.text or "").strip()
    if not shown or not text.isdigit() or inbound.files:
        return
    try:
        data = json.loads(shown)
    except ValueError:
        return
    number = int(text)
    if isinstance(data, list) and 1 <= number <= len(data):
        inbound.callback = str(data[number - 1])
        inbound.text = None
