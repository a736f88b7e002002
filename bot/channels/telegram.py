"""Telegram through python-telegram-bot, used as a transport only.

`build_application` is the one factory for production (`tinbao run`) and the tests: only the
token and base URLs differ. Updates of one user are handled in order, different users in
parallel; replies are HTML with every user-supplied piece escaped, link previews off.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.constants import MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseUpdateProcessor,
    ContextTypes,
    Defaults,
    TypeHandler,
)

from bot.channels.aiohttp_request import AiohttpRequest, NotSent
from bot.channels.aiohttp_request import on_wire as on_wire_var
from bot.settings import Settings
from handlers import evidence, officer, router, timers
from handlers.core import Forwarded, Inbound, IncomingFile, Outbound
from handlers.i18n import check_catalogs, pick_language, translator
from handlers.names import safe_filename
from handlers.sender import Sender, SendResult, max_in_flight
from handlers.services import Services
from storage import queue

log = logging.getLogger(__name__)
CHANNEL = "telegram"
# The updates tinbao uses (polling and webhook alike).
ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")


class PerUserUpdateProcessor(BaseUpdateProcessor):
    """Runs updates of different users in parallel and those of one user strictly in order.

    PTB's own `concurrent_updates(True)` gives parallelism without any per-user order, and a
    resident's "5 triệu" must never be applied before the question it answers.
    """

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Wait for the same user's earlier updates, then run this one."""
        key = _user_key(update)
        if key is None:
            await coroutine
            return
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                await coroutine
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def _user_key(update: object) -> int | None:
    if isinstance(update, Update):
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
    return None


def build_application(settings: Settings, services: Services) -> Application:
    """The PTB application wired to tinbao's handlers (polling; webhook mode reuses it)."""
    if not settings.telegram_token:
        raise ValueError("TINBAO_TELEGRAM_TOKEN is not set")
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token)
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .rate_limiter(AIORateLimiter(overall_max_rate=settings.telegram_max_rate, max_retries=3))
        # Telegram takes about 30 messages a second from a bot; a few dozen connections carry
        # that. On aiohttp (see `AiohttpRequest`): httpx spent a fifth of a webhook process's
        # CPU on these requests, half of it in its pool's bookkeeping. The timeouts are PTB's
        # defaults (5 s) with up to 30 s to wait for a free connection; the environment's
        # proxy is used, as httpx did. `getUpdates` (long polling) keeps PTB's own request.
        .request(
            AiohttpRequest(
                32, connect_timeout=5.0, read_timeout=5.0, pool_timeout=30.0, trust_env=True
            )
        )
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        )
        .concurrent_updates(PerUserUpdateProcessor(256))
        .post_init(_on_start)
        .post_shutdown(_on_stop)
        .build()
    )
    application.bot_data["services"] = services
    application.add_handler(TypeHandler(Update, _on_update))
    application.add_error_handler(_on_error)
    return application


async def _on_start(application: Application) -> None:
    check_catalogs()
    services: Services = application.bot_data["services"]
    settings = services.settings
    problem = await asyncio.to_thread(
        evidence.key_problem, settings.evidence_dir, settings.evidence_keys
    )
    if problem is not None:
        log.error("%s; set the key they were encrypted with (docs/backup.md)", problem)
    elif settings.evidence_keys is None:
        log.info("evidence files are stored unencrypted (TINBAO_EVIDENCE_KEY is not set)")
    admins = [str(i) for i in services.settings.admin_ids]
    async with services.db.session() as session:
        await queue.sync_admins(session, CHANNEL, admins, services.clock())
    await register_commands(application)
    # Other channels in this process reach officers (cards, answers) through this one.
    services.outboxes[CHANNEL] = TelegramOutbox(application.bot)
    application.bot_data["menus"] = OfficerMenus()
    application.bot_data["timers"] = asyncio.get_running_loop().create_task(
        timers.run_forever(services, lambda: run_timers(application)), name="tinbao-timers"
    )
    transport = TelegramWarnings(services.settings)
    await transport.start()
    sender = Sender(services, transport, TelegramOutbox(application.bot), CHANNEL)
    services.senders.append(sender.poke)
    application.bot_data["warnings"] = transport
    application.bot_data["sender"] = sender
    application.bot_data["sending"] = asyncio.get_running_loop().create_task(
        sender.run_forever(), name="tinbao-broadcasts"
    )


async def run_timers(application: Application) -> int:
    """One round of the timers: the review queue's, then the officers' command menus."""
    services: Services = application.bot_data["services"]
    sent = await timers.tick(services, TelegramOutbox(application.bot), CHANNEL)
    await application.bot_data["menus"].sync(application.bot, services)
    return sent


class OfficerMenus:
    """Officers and admins find their commands in the menu of their private chat too.

    Telegram keeps a command menu per chat (`BotCommandScopeChat`). Staff are added and removed
    in the database (by the bot, the CLI or another process), so each round of the timers
    compares them with the menus this process has set. A chat Telegram refuses (the officer
    never opened one with the bot) is tried again after `RETRY`.
    """

    RETRY = timedelta(minutes=10)

    def __init__(self) -> None:
        self.done: dict[str, str] = {}  # external id → the language of the menu set there
        self.failed: dict[str, datetime] = {}

    async def sync(self, bot: Any, services: Services) -> None:
        async with services.db.session() as session:
            people = {
                user.external_id: pick_language(user.language, None)
                for user in await queue.staff(session, CHANNEL)
            }
        now = services.clock()
        for user_id, language in people.items():
            tried = self.failed.get(user_id)
            if self.done.get(user_id) == language or (tried and now - tried < self.RETRY):
                continue
            t = translator(language)
            commands = [
                BotCommand(name if language == "vi" else alias, t._(about))
                for name, alias, _, about in (*router.MENU, *officer.MENU)
            ]
            try:
                await bot.set_my_commands(commands, scope=BotCommandScopeChat(int(user_id)))
            except TelegramError as error:
                self.failed[user_id] = now
                log.info("could not set an officer's command menu: %s", error)
                continue
            self.done[user_id] = language
            self.failed.pop(user_id, None)
        for user_id in [user_id for user_id in self.done if user_id not in people]:
            try:
                await bot.delete_my_commands(scope=BotCommandScopeChat(int(user_id)))
            except TelegramError as error:
                log.info("could not reset a former officer's command menu: %s", error)
                continue
            del self.done[user_id]


async def _on_stop(application: Application) -> None:
    services: Services = application.bot_data["services"]
    services.outboxes.pop(CHANNEL, None)
    task = application.bot_data.pop("timers", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    sender: Sender | None = application.bot_data.pop("sender", None)
    sending = application.bot_data.pop("sending", None)
    if sender is not None and sending is not None:
        # The sends on their way finish and are recorded; the rest waits for the next start.
        sender.stop()
        try:
            await asyncio.wait_for(sending, timeout=35)
        except TimeoutError:
            log.warning("the broadcast sender did not stop in time")
        with contextlib.suppress(ValueError):
            services.senders.remove(sender.poke)
    transport = application.bot_data.pop("warnings", None)
    if transport is not None:
        await transport.stop()
    await services.debouncer.flush()
    await services.db.dispose()


async def register_commands(application: Application) -> None:
    """Publish the command menu: Vietnamese names by default, English aliases for English apps."""
    bot = application.bot
    vi, en = translator("vi"), translator("en")
    vietnamese = [BotCommand(name, vi._(about)) for name, _, _, about in router.MENU]
    english = [BotCommand(alias, en._(about)) for _, alias, _, about in router.MENU]
    await bot.set_my_commands(vietnamese)
    await bot.set_my_commands(vietnamese, language_code="vi")
    await bot.set_my_commands(english, language_code="en")
    services: Services = application.bot_data["services"]
    group = services.settings.officer_chat_id
    if group is not None:
        # In the officers' group the menu lists the officers' commands.
        officers = [BotCommand(name, vi._(about)) for name, _, _, about in officer.MENU]
        try:
            await bot.set_my_commands(officers, scope=BotCommandScopeChat(group))
        except TelegramError as error:
            log.warning("could not set the commands of the officers' group %s: %s", group, error)


async def _on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    services: Services = context.application.bot_data["services"]
    inbound = to_inbound(update, context.bot)
    if inbound is None:
        return
    outbox = TelegramOutbox(context.bot)
    query = update.callback_query
    try:
        await router.handle(inbound, services, outbox)
    finally:
        if query is not None and not outbox.answered:
            # Stop the button spinning. Old keyboards stay: taking them off would cost a third
            # of the messages a press sends against Telegram's ~30/s limit, and a press on an
            # old one is answered with the current question anyway.
            await _quietly(query.answer())


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    log.error("error while handling an update", exc_info=context.error)


async def _quietly(call: Awaitable[Any]) -> None:
    try:
        await call
    except TelegramError as error:
        log.info("ignored Telegram error: %s", error)


def to_inbound(update: Update, bot: Any) -> Inbound | None:
    """A Telegram update as a channel-agnostic `Inbound` (None for updates we do not use)."""
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        return Inbound(
            channel=CHANNEL,
            user_id=str(query.from_user.id),
            chat_id=str(chat.id if chat else query.from_user.id),
            chat_type=_chat_type(chat.type if chat else "private"),
            language_hint=query.from_user.language_code,
            user_name=query.from_user.full_name,
            callback=query.data or "",
            callback_id=query.id,
            update_id=update.update_id,
        )
    member = update.my_chat_member
    if member is not None:
        if member.chat.type != "private":
            return None
        status = member.new_chat_member.status
        return Inbound(
            channel=CHANNEL,
            user_id=str(member.from_user.id),
            chat_id=str(member.chat.id),
            language_hint=member.from_user.language_code,
            update_id=update.update_id,
            membership="blocked" if status in ("kicked", "left") else "unblocked",
        )
    message = update.message or update.edited_message
    if message is None or message.from_user is None:
        return None
    user = message.from_user
    inbound = Inbound(
        channel=CHANNEL,
        user_id=str(user.id),
        chat_id=str(message.chat.id),
        chat_type=_chat_type(message.chat.type),
        language_hint=user.language_code,
        user_name=user.full_name,
        update_id=update.update_id,
    )
    text = message.text or message.caption
    inbound.text = text
    inbound.links = _links(message)
    if message.text and message.entities:
        first = message.entities[0]
        if first.type == MessageEntity.BOT_COMMAND and first.offset == 0:
            command = message.parse_entity(first)[1:]
            inbound.command = command.split("@", 1)[0]
            inbound.args = message.text[len(command) + 1 :].strip()
    if message.forward_origin is not None:
        inbound.forwarded = Forwarded(
            origin=_describe_origin(message.forward_origin), date=message.forward_origin.date
        )
        inbound.command = None  # a forwarded "/command" is evidence, not an order
    if update.edited_message is not None:
        # An edit changes a message already answered; acting on it silently could rewrite a
        # step the resident has moved past, so they are asked to send the correction anew.
        inbound.text, inbound.command, inbound.links = None, None, []
        inbound.unsupported = "edit"
        return inbound
    inbound.files = _files(message, bot)
    if message.contact is not None:
        # A shared contact card is a phone number: the scammer's, or the resident's own.
        inbound.text = " ".join(
            part for part in (message.contact.first_name, message.contact.phone_number) if part
        )
    elif message.sticker is not None:
        inbound.unsupported = "sticker"
    elif message.location is not None or message.venue is not None:
        inbound.unsupported = "location"
    elif message.poll is not None:
        inbound.unsupported = "poll"
    elif message.dice is not None:
        inbound.unsupported = "dice"
    elif text is None and not inbound.files:
        inbound.unsupported = "other"
    return inbound


def _chat_type(value: str) -> Any:
    return value if value in ("private", "group", "supergroup", "channel") else "private"


def _links(message: Message) -> list[str]:
    # URLs are best taken from entities: a `text_link` hides its target behind other words.
    found: list[str] = []
    types: list[str | None] = [MessageEntity.URL, MessageEntity.TEXT_LINK]
    parsed = (
        message.parse_entities(types) if message.text else message.parse_caption_entities(types)
    )
    for entity, shown in parsed.items():
        target = entity.url if entity.type == MessageEntity.TEXT_LINK else shown
        if target and target not in found:
            found.append(target)
    return found


def _files(message: Message, bot: Any) -> list[IncomingFile]:
    group = message.media_group_id

    def make(kind: Any, media: Any, mime: str | None, name: str | None = None) -> IncomingFile:
        file_id = media.file_id

        async def fetch() -> bytes:
            telegram_file = await bot.get_file(file_id)
            return bytes(await telegram_file.download_as_bytearray())

        return IncomingFile(
            kind=kind,
            file_id=file_id,
            file_unique_id=media.file_unique_id,
            size=media.file_size,
            mime=mime,
            name=name,
            fetch=fetch,
            media_group_id=group,
        )

    if message.photo:
        return [make("photo", message.photo[-1], "image/jpeg")]  # the largest size
    if message.document is not None:
        doc = message.document
        return [make("document", doc, doc.mime_type, doc.file_name)]
    if message.voice is not None:
        return [make("voice", message.voice, message.voice.mime_type)]
    if message.audio is not None:
        return [make("audio", message.audio, message.audio.mime_type, message.audio.file_name)]
    if message.video is not None:
        return [make("video", message.video, message.video.mime_type, message.video.file_name)]
    if message.video_note is not None:
        return [make("video_note", message.video_note, "video/mp4")]
    if message.animation is not None:
        return [make("animation", message.animation, message.animation.mime_type)]
    return []


def _describe_origin(origin: MessageOrigin) -> str:
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        handle = f" @{user.username}" if user.username else ""
        return f"{user.full_name}{handle} (id {user.id})"
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChannel):
        chat = origin.chat
        handle = f" @{chat.username}" if chat.username else ""
        return f"{chat.title or ''}{handle} (channel {chat.id}, message {origin.message_id})"
    if isinstance(origin, MessageOriginChat):
        chat = origin.sender_chat
        return f"{chat.title or chat.username or chat.id} (chat {chat.id})"
    return "unknown"


class TelegramWarnings:
    """Sends broadcast warnings with its own `Bot`, outside the application's rate limiter:
    `handlers.sender` paces them (at `TINBAO_BROADCAST_RATE`) and needs every answer as it is,
    a 429 included, instead of having it retried behind its back."""

    def __init__(self, settings: Settings) -> None:
        assert settings.telegram_token
        self.paid = settings.broadcast_paid
        # A connection for every send that may be in flight, and a few for the photo upload.
        pool = max_in_flight(settings.broadcast_rate) + 4
        self.bot = Bot(
            settings.telegram_token,
            base_url=settings.telegram_api_url,
            base_file_url=settings.telegram_file_url,
            request=AiohttpRequest(pool, pool_timeout=5.0, read_timeout=15.0),
        )

    async def start(self) -> None:
        await self.bot.initialize()

    async def stop(self) -> None:
        await self.bot.shutdown()

    async def send_warning(
        self,
        chat_id: str,
        message: Outbound,
        photo_id: str | None,
        on_wire: Callable[[], None] | None = None,
    ) -> SendResult:
        """Send one warning; the answer sorted into what the sender must do next."""
        token = on_wire_var.set(on_wire)
        try:
            return await self._send(chat_id, message, photo_id)
        finally:
            on_wire_var.reset(token)

    async def _send(self, chat_id: str, message: Outbound, photo_id: str | None) -> SendResult:
        extra: dict[str, Any] = {"allow_paid_broadcast": True} if self.paid else {}
        try:
            if message.file is not None:
                caption = render_html(message, limit=MessageLimit.CAPTION_LENGTH)[0]
                if photo_id is not None:
                    try:
                        await self.bot.send_photo(chat_id, photo=photo_id, caption=caption, **extra)
                        return SendResult("sent")
                    except BadRequest as error:
                        if "file" not in str(error).lower():
                            raise
                        log.info("sending the warning's photo by its id failed; uploading it")
                data = await asyncio.to_thread(evidence.load, message.file.path, message.file.keys)
                sent = await self.bot.send_photo(chat_id, photo=data, caption=caption, **extra)
                uploaded = sent.photo[-1].file_id if sent.photo else None
                return SendResult("sent", photo_id=uploaded)
            for chunk in render_html(message):
                await self.bot.send_message(chat_id, chunk, **extra)
            return SendResult("sent")
        except RetryAfter as error:
            return SendResult("retry", retry_after=_seconds(error), error="flood wait")
        except Forbidden as error:
            return SendResult("blocked", error=str(error))
        except BadRequest as error:
            text = str(error).lower()
            if any(gone in text for gone in ("chat not found", "deactivated", "blocked")):
                return SendResult("blocked", error=str(error))
            return SendResult("failed", error=str(error))
        except TimedOut as error:
            # Only a timeout before the request left is safe to repeat.
            if isinstance(error.__cause__, NotSent):
                return SendResult("retry", error="timed out connecting")
            return SendResult("unknown", error="timed out waiting for Telegram's answer")
        except NetworkError as error:
            cause = error.__cause__
            if cause is None or isinstance(cause, NotSent):
                return SendResult("retry", error=str(error))  # a 5xx, or no connection made
            return SendResult("unknown", error=str(error))
        except evidence.Unreadable as error:
            return SendResult("failed", error=f"photo unreadable: {error}")


def _seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that retry_after becomes a timedelta
        value: Any = error.retry_after
    if isinstance(value, timedelta):
        return max(1.0, value.total_seconds())
    return max(1.0, float(value))


def _where(chat_id: str) -> str:
    """A chat as logs may name it: groups by id; a person never (they may report anonymously)."""
    return f"chat {chat_id}" if str(chat_id).startswith("-") else "a private chat"


class TelegramOutbox:
    """Delivers `Outbound` messages as HTML, split under Telegram's 4096-character limit."""

    def __init__(self, bot: Any) -> None:
        self.bot = bot
        self.answered = False

    async def send(self, inbound: Inbound, message: Outbound) -> str | None:
        """Send, edit or pop up one message; returns the id of the (last) message sent."""
        chat_id = message.to or inbound.chat_id
        try:
            if message.toast:
                return await self._toast(inbound, message)
            if message.file is not None:
                return await self._send_file(chat_id, message)
            if message.edit is not None:
                return await self._edit(chat_id, message)
            return await self._send_text(chat_id, message)
        except Forbidden:
            log.info("%s blocked the bot; message not delivered", _where(chat_id))
        except BadRequest as error:
            log.warning("Telegram refused a message to %s: %s", _where(chat_id), error)
        return None

    async def _send_text(self, chat_id: str, message: Outbound) -> str | None:
        chunks = render_html(message)
        sent_id = None
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            markup = _markup(message) if last else None
            sent = await self.bot.send_message(chat_id, chunk, reply_markup=markup)
            sent_id = str(sent.message_id)
        return sent_id

    async def _edit(self, chat_id: str, message: Outbound) -> str | None:
        assert message.edit is not None
        text = render_html(message)[0]
        try:
            await self.bot.edit_message_text(
                text, chat_id=chat_id, message_id=int(message.edit), reply_markup=_markup(message)
            )
        except BadRequest as error:
            if "not modified" not in str(error).lower():
                raise
        return message.edit

    async def _toast(self, inbound: Inbound, message: Outbound) -> str | None:
        if inbound.callback_id is None or self.answered:
            # Not a button press (or already answered): say it as a message instead.
            if inbound.callback_id is None:
                return await self._send_text(message.to or inbound.chat_id, message)
            return None
        self.answered = True
        await self.bot.answer_callback_query(inbound.callback_id, text=message.text[:200])
        return None

    async def _send_file(self, chat_id: str, message: Outbound) -> str | None:
        assert message.file is not None
        file = message.file
        caption = render_html(message, limit=MessageLimit.CAPTION_LENGTH)[0]
        senders = {
            "photo": (self.bot.send_photo, "photo"),
            "voice": (self.bot.send_voice, "voice"),
            "audio": (self.bot.send_audio, "audio"),
            "video": (self.bot.send_video, "video"),
            "animation": (self.bot.send_animation, "animation"),
        }
        send, field_name = senders.get(file.kind, (self.bot.send_document, "document"))
        if file.file_id:
            try:
                sent = await send(chat_id, **{field_name: file.file_id}, caption=caption)
                return str(sent.message_id)
            except BadRequest:
                log.info("resending by file id failed; uploading the stored copy")
        try:
            data = file.data
            if data is None:
                data = await asyncio.to_thread(evidence.load, file.path, file.keys)
        except evidence.Unreadable as error:
            log.error("%s", error)
            if file.unreadable is None:
                return None
            note = Outbound(f"{message.text}\n\n{file.unreadable}", message.buttons)
            return await self._send_text(chat_id, note)
        # Uploaded as a document: the stored bytes stay exactly as received (no re-encoding).
        sent = await self.bot.send_document(
            chat_id,
            document=data,
            filename=safe_filename(file.name, file.path.suffix) or file.path.name,
            caption=caption,
            reply_markup=_markup(message),
        )
        return str(sent.message_id)


def _markup(message: Outbound) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
            for row in message.buttons
        ]
    )


def render_html(message: Outbound, limit: int = MessageLimit.MAX_TEXT_LENGTH) -> list[str]:
    """The message as HTML parts, each at most `limit` characters after escaping."""
    title = f"<b>{html.escape(message.title)}</b>\n" if message.title else ""
    chunks: list[str] = []
    current = title
    for line in message.text.split("\n"):
        escaped = html.escape(line, quote=False)
        while len(escaped) > limit:
            # A single line longer than a message: cut it without splitting an escape sequence.
            cut = escaped.rfind(" ", 0, limit)
            cut = cut if cut > limit // 2 else limit
            while (
                "&" in escaped[max(0, cut - 6) : cut]
                and ";" not in escaped[escaped.rfind("&", 0, cut) : cut]
            ):
                cut -= 1
            if current:
                chunks.append(current.rstrip("\n"))
                current = ""
            chunks.append(escaped[:cut])
            escaped = escaped[cut:].lstrip(" ")
        candidate = f"{current}{escaped}\n"
        if len(candidate.rstrip("\n")) > limit:
            chunks.append(current.rstrip("\n"))
            current = f"{escaped}\n"
        else:
            current = candidate
    if current.strip():
        chunks.append(current.rstrip("\n"))
    return chunks or [title.strip() or "…"]
