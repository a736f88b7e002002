"""The entry point of product logic: one `Inbound` in, replies out through the channel's outbox.

Order of work for every message: group chats and floods are answered without touching the
database; files are downloaded and stored (outside any transaction, since that is slow network
I/O); then one transaction claims the update id, reads the user, runs the handler and commits;
only then are the replies sent. A failure anywhere gets a kind apology, never silence.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata

from handlers import (
    bans,
    cards,
    check,
    context,
    dashboard,
    followup,
    intake,
    limits,
    officer,
    reveal,
    rights,
    screenshots,
    stats,
    warnings,
)
from handlers import evidence as evidence_store
from handlers.context import Ctx
from handlers.core import Inbound, Outbound, Outbox
from handlers.delivery import deliver
from handlers.extract import Indicator
from handlers.i18n import LANGUAGES, N_, Translator, pick_language, translator
from handlers.menu import (
    accept,
    ask_consent,
    change_language,
    declined,
    help_text,
    language_menu,
    main_menu,
    my_reports,
)
from handlers.services import Services
from storage.dialogues import StaleDialogue
from storage.models import Broadcast, PendingInput, Report
from storage.queue import STAFF
from storage.updates import claim_update
from storage.users import get_user

log = logging.getLogger(__name__)

# Images of one message read for phones, accounts and links (QR codes and OCR), at most.
READ_IMAGES = 3

# The command menu: Vietnamese name, English alias, action, description (DESIGN.md).
MENU = (
    ("baocao", "report", "report", N_("Report a scam")),
    ("kiemtra", "check", "check", N_("Check a number, account or link")),
    ("tinbao", "myreports", "mine", N_("My reports and their status")),
    ("nhancanhbao", "subscribe", "subscribe", N_("Receive scam warnings")),
    ("huynhan", "unsubscribe", "unsubscribe", N_("Stop scam warnings")),
    ("huy", "cancel", "cancel", N_("Cancel the report in progress")),
    ("ngonngu", "language", "language", N_("Change language")),
    ("dulieucuatoi", "mydata", "mydata", N_("See or download your data")),
    ("xoadulieu", "deletemydata", "erase", N_("Delete your data")),
    ("rutlaidongy", "withdraw", "withdraw", N_("Withdraw your consent")),
    ("trogiup", "help", "help", N_("Help and safety advice")),
)
COMMANDS = {"start": "start"} | {
    name: action for vietnamese, english, action, _ in MENU for name in (vietnamese, english)
}


async def handle(inbound: Inbound, services: Services, outbox: Outbox) -> None:
    """Handle one message or button press and send the replies."""
    try:
        await deliver(services, outbox, inbound, coalesce(await respond(inbound, services, outbox)))
    finally:
        for observer in services.observers:
            observer(inbound.update_id)


def coalesce(replies: list[Outbound]) -> list[Outbound]:
    """Fold each plain note ("Noted: 5.000.000 ₫") into the message that follows it.

    One bubble with the note above the next question is easier to follow than two, and it
    halves the messages sent for most answers.
    """
    merged: list[Outbound] = []
    for reply in replies:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.plain
            and reply.plain
            and not previous.buttons
            and previous.to == reply.to
            and reply.title is None
            and len(previous.text) + len(reply.text) < 3000
        ):
            merged[-1] = Outbound(
                f"{previous.text}\n\n{reply.text}", reply.buttons, reply.to, previous.title
            )
        else:
            merged.append(reply)
    return merged


async def respond(inbound: Inbound, services: Services, outbox: Outbox) -> list[Outbound]:
    """The replies to one message; every answer is committed before this returns."""
    hint = translator(pick_language(None, inbound.language_hint))
    try:
        if inbound.chat_type != "private":
            if not _for_officers(inbound, services):
                return _group_reply(inbound, services, hint)
            return await _transaction(inbound, services, outbox, [])
        # Every message, photo, album part and button press counts; a stop or restart of the
        # bot (membership) is no message and gets no answer either way.
        verdict = "ok"
        if inbound.membership is None:
            verdict = services.flood.check(f"{inbound.channel}:{inbound.user_id}")
        if verdict == "drop":
            return []
        if verdict == "warn":
            return await _slow_down(inbound, services)
        for group in {f.media_group_id for f in inbound.files if f.media_group_id}:
            # One more part of an album: its acknowledgement waits until this part is read too
            # (reading a screenshot may take longer than the quiet time between parts).
            services.debouncer.postpone(
                f"{inbound.channel}:{inbound.user_id}:{group}",
                services.settings.album_quiet_seconds,
            )
        prepared = await _prepare_files(inbound, services)
        for attempt in range(2):
            try:
                return await _transaction(inbound, services, outbox, prepared)
            except StaleDialogue:
                if attempt:
                    raise
        return []
    except Exception:
        log.exception("handling an update failed", extra={"update_id": inbound.update_id})
        return [
            Outbound(
                hint._(
                    "Sorry, something went wrong on my side. What you sent before is saved. "
                    "Please try again in a moment."
                )
            )
        ]


async def _slow_down(inbound: Inbound, services: Services) -> list[Outbound]:
    """The one polite warning of a flood, in the user's own language (read only now: at most
    once per window, so a flood costs the database nothing more)."""
    async with services.db.single() as session:  # one read
        user = await get_user(session, inbound.channel, inbound.user_id)
        banned = session.info.get("ban") is not None
    if user is not None and banned and user.role not in STAFF:
        return []  # a banned user gets no more than the ban's own notice
    t = translator(pick_language(user.language if user else None, inbound.language_hint))
    return [
        Outbound(
            t._(
                "You are sending messages very quickly, so I skipped some of them. Please wait "
                "a few seconds, then send again what I did not answer; everything I answered "
                "is kept."
            )
        )
    ]


async def _transaction(
    inbound: Inbound, services: Services, outbox: Outbox, prepared: list[intake.PreparedFile]
) -> list[Outbound]:
    now = services.clock()
    async with services.db.session() as session:
        if inbound.update_id is not None and not await claim_update(
            session, inbound.channel, inbound.update_id, now
        ):
            return []
        user = await get_user(session, inbound.channel, inbound.user_id)
        language = pick_language(user.language if user else None, inbound.language_hint)
        ctx = Ctx(services, session, inbound, user, translator(language), now)
        ban = session.info.get("ban")
        if ban is not None and not officer.is_staff(ctx):
            # Nothing else of a banned user's is handled; in a group they are not even answered.
            return await bans.notice(ctx, ban) if inbound.chat_type == "private" else []
        notice = None
        if inbound.chat_type == "private" and inbound.membership is None:
            notice = await intake.expired_notice(ctx)
        if notice is not None and intake.continues_draft(inbound.callback):
            replies = [notice, main_menu(ctx.t)]  # that report is gone: nothing to continue
        elif inbound.chat_type == "private":
            replies = await _dispatch(ctx, prepared)
            if notice is not None:
                replies.insert(0, notice)
        else:
            replies = await _dispatch_group(ctx)
        album = session.info.get("album")
        submitted = session.info.get("submitted")
        if submitted is not None:
            report = await session.get(Report, submitted)
            if report is not None:
                # The officers on this channel, and those on every other channel running in
                # this process (a Zalo report reaches the officers on Telegram at once).
                for channel in {inbound.channel, *services.outboxes}:
                    for card in await cards.new_cards(
                        session, services.settings, channel, report, now
                    ):
                        card.channel = channel if channel != inbound.channel else None
                        replies.append(card)
            replies += await warnings.maybe_offer(ctx)
        after_commit = list(session.info.get("after_commit", []))
    for hook in after_commit:
        hook()
    evidence_store.remove(services.settings.evidence_dir, ctx.cleanup)
    if album is not None:
        _schedule_album_ack(inbound, services, outbox, ctx.t, *album)
    return replies


def _schedule_album_ack(
    inbound: Inbound,
    services: Services,
    outbox: Outbox,
    t: Translator,
    report_id: int,
    media_group_id: str,
) -> None:
    key = f"{inbound.channel}:{inbound.user_id}:{media_group_id}"

    async def acknowledge() -> None:
        async with services.db.session() as session:
            if not await intake.report_store.take_once(session, f"album:{key}", services.clock()):
                return
            user = await get_user(session, inbound.channel, inbound.user_id)
            ctx = Ctx(services, session, inbound, user, t, services.clock())
            replies = await intake.album_prompt(ctx, report_id, media_group_id)
        await deliver(services, outbox, inbound, coalesce(replies))

    services.debouncer.schedule(key, services.settings.album_quiet_seconds, acknowledge)


async def _prepare_files(inbound: Inbound, services: Services) -> list[intake.PreparedFile]:
    if not inbound.files:
        return []
    async with services.db.single() as session:  # one read, outside the handling transaction
        user = await get_user(session, inbound.channel, inbound.user_id)
        banned = session.info.get("ban") is not None
    if user is None or (user.consent_version != context.CONSENT_VERSION and user.role != "admin"):
        # Nothing is downloaded or stored before consent to the current notice (an admin's
        # warning photo is).
        return []
    if banned and user.role not in STAFF:
        return []  # a banned user's files are not even downloaded
    t = translator(pick_language(user.language, inbound.language_hint))  # refusals in theirs
    settings = services.settings
    prepared = []
    reading = 0
    for incoming in inbound.files:
        limit = settings.max_file_mb * 1024 * 1024
        if incoming.size is not None and incoming.size > limit:
            prepared.append(
                intake.PreparedFile(
                    incoming,
                    None,
                    t._(
                        "This file is too large ({size} MB); I can receive files up to {mb} MB. "
                        "Please send a screenshot or a shorter recording instead."
                    ).format(size=round(incoming.size / 1024 / 1024, 1), mb=settings.max_file_mb),
                )
            )
            continue
        try:
            data = await incoming.fetch()
        except Exception:
            log.warning("downloading a file failed", exc_info=True)
            prepared.append(
                intake.PreparedFile(
                    incoming,
                    None,
                    t._("I couldn't download this file. Please send it again in a moment."),
                )
            )
            continue
        mime = evidence_store.sniff(data)
        picture = (mime or "").startswith("image/") or evidence_store.claims_image(
            incoming.kind, incoming.mime, incoming.name
        )
        verdict = ""
        if picture and len(data) <= limit:
            # Decoding takes a moment: off the event loop, like the download.
            verdict = await asyncio.to_thread(evidence_store.check_image, data, mime)
        if len(data) > limit:
            refusal = t._("This file is too large; I can receive files up to {mb} MB.").format(
                mb=settings.max_file_mb
            )
            prepared.append(intake.PreparedFile(incoming, None, refusal))
        elif verdict == "too_large":
            prepared.append(intake.PreparedFile(incoming, None, _too_many_pixels(t)))
        elif verdict == "not_an_image":
            prepared.append(intake.PreparedFile(incoming, None, _not_a_picture(t)))
        elif not evidence_store.is_allowed(mime):
            prepared.append(
                intake.PreparedFile(
                    incoming,
                    None,
                    t._(
                        "I can't keep this kind of file. I accept photos and screenshots, PDF "
                        "documents, voice messages, audio and video. If it is an app the "
                        "scammer sent you, do not install it: send a screenshot of it instead."
                    ),
                )
            )
        else:
            assert mime is not None
            stored = evidence_store.store(settings.evidence_dir, data, mime, settings.evidence_keys)
            read: list[Indicator] = []
            if mime.startswith("image/") and reading < READ_IMAGES:
                reading += 1
                # QR decoding and OCR take up to a second: off the event loop, and before the
                # transaction, like the download.
                read = await asyncio.to_thread(screenshots.read_indicators, data, settings.ocr)
            prepared.append(intake.PreparedFile(incoming, stored, read=read))
    return prepared


def _too_many_pixels(t: Translator) -> str:
    return t._(
        "This picture is too large for me to open. Please send an ordinary screenshot or photo "
        "instead; what you sent before is kept."
    )


def _not_a_picture(t: Translator) -> str:
    return t._(
        "This file says it is a picture, but I can't open it as one (it may be damaged or be "
        "another kind of file). Please take the screenshot again and send it as a photo; what "
        "you sent before is kept."
    )


async def _dispatch(ctx: Ctx, prepared: list[intake.PreparedFile]) -> list[Outbound]:
    inbound = ctx.inbound
    t = ctx.t
    if inbound.membership == "blocked":
        await warnings.blocked(ctx)
        return []  # nothing can be said to someone who blocked the bot
    if inbound.membership is not None:
        return []
    if inbound.callback is not None:
        return await _on_button(ctx, inbound.callback)
    if inbound.command is not None:
        return await _on_command(ctx, inbound.command)
    draft = await warnings.composing(ctx)
    if draft is not None:
        return await _warning_input(ctx, draft, prepared)
    pending = _pending(ctx)
    text = unicodedata.normalize("NFC", inbound.text or "")
    if pending is not None and pending.action in ("note", "ask") and officer.is_staff(ctx):
        return await officer.on_input(ctx, pending, text)
    if pending is not None and pending.action == "reveal" and officer.is_staff(ctx):
        return await reveal.on_input(ctx, pending, text)
    if (
        officer.is_staff(ctx)
        and officer.CODE.fullmatch(text.strip())
        and await intake.active_dialogue(ctx) is None
    ):
        return await officer.search(ctx, text.strip())  # an officer sent just a case code
    if not ctx.consented and officer.is_staff(ctx) and not (inbound.files or inbound.forwarded):
        return [officer.help_text(t)]
    if not ctx.consented and not (inbound.files or inbound.forwarded):
        checked = await _check(ctx, text, links=tuple(inbound.links))
        if checked:
            return checked  # a check stores nothing, so it needs no consent
    if not ctx.consented:
        replies = [ask_consent(ctx, "report" if inbound.files or inbound.forwarded else "menu")]
        if inbound.files or inbound.forwarded:
            replies.append(
                Outbound(
                    t._(
                        "What you just sent is not saved yet. Once you agree, please send it again."
                    )
                )
            )
        return replies
    dialogue = await intake.active_dialogue(ctx)
    if followup.wants_answer(pending, dialogue is not None) and (
        text.strip() or prepared or inbound.forwarded
    ):
        assert pending is not None
        return await followup.answer(ctx, pending, text.strip() or None, prepared)
    if inbound.files or inbound.forwarded:
        return await intake.on_evidence(ctx, dialogue, prepared, text or None)
    if inbound.unsupported == "edit":
        return [
            Outbound(
                t._(
                    "I can't read changes to a message already sent. Please send the "
                    "correction as a new message; you can also fix any answer from the summary "
                    "at the end."
                )
            )
        ]
    if inbound.unsupported:
        return _unsupported(ctx, inbound.unsupported, dialogue)
    if not text.strip():
        return [main_menu(t)]
    if dialogue is not None:
        return await intake.on_text(ctx, dialogue, text)
    checked = await _check(ctx, text, links=tuple(inbound.links))
    if checked:
        return checked  # a number, account or link sent on its own: say what is known of it
    return [main_menu(t, t._("Hello! I'm tinbao. What would you like to do?"))]


async def _warning_input(
    ctx: Ctx, draft: Broadcast, prepared: list[intake.PreparedFile]
) -> list[Outbound]:
    """An admin's message while writing a warning: its text, or its photo."""
    inbound = ctx.inbound
    for item in prepared:
        if item.refusal is not None:
            return [Outbound(item.refusal)]
    photo = next(
        (
            (p.stored.path, p.stored.sha256, p.source.file_id or None)
            for p in prepared
            if p.stored is not None and p.stored.mime.startswith("image/")
        ),
        None,
    )
    other = (bool(inbound.files) and photo is None) or bool(inbound.unsupported)
    text = unicodedata.normalize("NFC", inbound.text or "")
    if inbound.forwarded is not None and not text:
        other = True
    return await warnings.on_input(ctx, draft, text, photo, other)


async def _check(
    ctx: Ctx, text: str, *, links: tuple[str, ...] = (), usage: bool = False
) -> list[Outbound]:
    """The instant check of the values in `text`; with `usage`, explain /kiemtra if empty."""
    if not text.strip() and not links:
        return [check.usage(ctx.t)] if usage else []
    verdicts = await check.check(ctx.session, ctx.services.settings, text, links)
    if not verdicts:
        return [check.nothing_found(ctx.t)] if usage else []
    return [check.message(ctx.t, verdicts)]


def _unsupported(ctx: Ctx, kind: str, dialogue: object) -> list[Outbound]:
    t = ctx.t
    names = {
        "sticker": t._("stickers"),
        "location": t._("locations"),
        "contact": t._("shared contacts"),
        "poll": t._("polls"),
        "dice": t._("games"),
    }
    text = t._(
        "I can't use {what}. Please type your answer, press a button, or send a photo."
    ).format(what=names.get(kind, t._("this kind of message")))
    replies = [Outbound(text)]
    if dialogue is None:
        replies.append(main_menu(t))
    return replies


def _pending(ctx: Ctx) -> PendingInput | None:
    """Typed input the user owes (read with the user), unless it expired."""
    pending = ctx.session.info.get("pending")
    if isinstance(pending, PendingInput) and pending.expires_at > ctx.now:
        return pending
    return None


def _for_officers(inbound: Inbound, services: Services) -> bool:
    """A command or button press in the officers' group, for the officers' side."""
    group = services.settings.officer_chat_id
    if group is None or inbound.chat_id != str(group):
        return False
    if inbound.callback is not None:
        return True
    name = (inbound.command or "").lower()
    return name in officer.COMMANDS or COMMANDS.get(name) in ("help", "start")


async def _dispatch_group(ctx: Ctx) -> list[Outbound]:
    inbound = ctx.inbound
    if inbound.callback is not None:
        if inbound.callback.startswith("o:"):
            return await officer.on_button(ctx, inbound.callback)
        return [Outbound(ctx.t._("That button no longer works."), toast=True)]
    name = (inbound.command or "").lower()
    if name in officer.COMMANDS:
        return await _staff_command(ctx, officer.COMMANDS[name])
    if not officer.is_staff(ctx):
        return officer.refusal(ctx, f"/{name}")
    return [officer.help_text(ctx.t)]


async def _on_command(ctx: Ctx, name: str) -> list[Outbound]:
    t = ctx.t
    action = COMMANDS.get(name.lower())
    if action is None and name.lower() in officer.COMMANDS:
        return await _staff_command(ctx, officer.COMMANDS[name.lower()])
    staff = officer.is_staff(ctx)
    if action == "help":
        return [help_text(t), officer.help_text(t)] if staff else [help_text(t)]
    if action == "start" and staff and not ctx.consented:
        return [officer.help_text(t)]
    if action == "language":
        return [language_menu(t)]
    if action == "mine":
        return [await my_reports(ctx)]
    if action == "check":
        # Nothing is stored, so a check needs no consent: anyone may ask before paying.
        return await _check(ctx, ctx.inbound.args, usage=True)
    if action == "unsubscribe":
        return await warnings.unsubscribe(ctx)
    if action in ("mydata", "erase", "withdraw"):
        # Rights need no (current) consent: whoever has data stored may see or delete it.
        return await rights.command(ctx, action)
    if action is None:
        return [
            Outbound(t._("I don't know the command /{name}.").format(name=name[:32])),
            main_menu(t),
        ]
    if not ctx.consented:
        intent = action if action in ("report", "subscribe") else "menu"
        return [ask_consent(ctx, intent)]
    if action == "subscribe":
        return await warnings.subscribe(ctx)
    dialogue = await intake.active_dialogue(ctx)
    if action == "report":
        return await intake.begin(ctx)
    if action == "cancel":
        return (
            [intake.confirm_cancel(t)]
            if dialogue
            else [
                Outbound(t._("You have no report in progress.")),
                main_menu(t),
            ]
        )
    # /start
    if dialogue is not None:
        return [intake.offer_resume(t, dialogue)]
    greeting = main_menu(t, t._("Hello again! What would you like to do?"))
    return [greeting, officer.help_text(t)] if staff else [greeting]


async def _staff_command(ctx: Ctx, action: str) -> list[Outbound]:
    """An officer's or admin's command (warnings and statistics live in their own modules)."""
    if action == "broadcast":
        return await warnings.command(ctx)
    if action in ("ban", "unban"):
        return await bans.command(ctx, action)
    if action == "reveal":
        return await reveal.command(ctx)
    if action == "dashboard":
        return await dashboard.login_link(ctx)
    if action == "stats":
        if not officer.is_staff(ctx):
            return officer.refusal(ctx, f"/{ctx.inbound.command}")
        return [await stats.message(ctx.session, ctx.t, ctx.now)]
    return await officer.on_command(ctx, action)


async def _on_button(ctx: Ctx, data: str) -> list[Outbound]:
    kind, _, rest = data.partition(":")
    if kind == "o":
        return await officer.on_button(ctx, data)
    if kind == "bc":
        return await warnings.on_button(ctx, data)
    if kind == "ban":
        return await bans.on_button(ctx, data)
    if kind == "consent":
        return await _on_consent(ctx, rest)
    if kind in ("me", "er"):
        return await rights.on_button(ctx, data)
    if kind == "lang":
        if rest not in LANGUAGES:
            return [language_menu(ctx.t)]
        if not ctx.consented:
            return [ask_consent(ctx, t=translator(rest))]
        confirmed = await change_language(ctx, rest)
        return [confirmed, *await _where_we_are(ctx)]
    if kind == "menu" and rest == "check":
        return [check.ask(ctx.t)]  # the value sent next is checked; no consent needed
    if not ctx.consented:
        return [ask_consent(ctx)]
    t = ctx.t
    if kind == "ans" and rest.isdigit():
        return await followup.arm(ctx, int(rest))
    if kind == "sub":
        return await warnings.on_offer(ctx, rest)
    dialogue = await intake.active_dialogue(ctx)
    if kind == "menu":
        if rest == "report":
            return await intake.begin(ctx)
        if rest == "mine":
            return [await my_reports(ctx)]
        if rest == "lang":
            return [language_menu(t)]
        return [help_text(t)]
    if kind == "resume":
        if dialogue is not None and rest == "go":
            return await intake.resume(ctx)
        wait = await limits.report_wait(ctx)
        if wait is not None:
            # The unfinished report is not thrown away for a new one that cannot be sent.
            kept = limits.reached(t, wait, "draft" if dialogue is not None else "none")
            return [kept, *await _where_we_are(ctx)]
        _, draft, intro = await intake.start(ctx)
        return [*intro, await intake.prompt(ctx, "category", draft)]
    if kind == "cancel":
        if rest == "yes":
            return [*await intake.cancel(ctx), main_menu(t)]
        if dialogue is None:
            return [Outbound(t._("You have no report in progress.")), main_menu(t)]
        if rest == "ask":
            return [intake.confirm_cancel(t)]
        return await _where_we_are(ctx)
    if kind == "r":
        parsed = intake.parse_report_button(data)
        if dialogue is None:
            return [
                Outbound(t._("That button belongs to a report that is already sent or cancelled.")),
                main_menu(t),
            ]
        if parsed is None or parsed[0] != dialogue.step:
            draft = intake.load(dialogue)
            return [
                Outbound(t._("That button is from an earlier message. Here is where we are:")),
                await intake.prompt(ctx, dialogue.step, draft),
            ]
        return await intake.on_button(ctx, dialogue, *parsed)
    log.warning("unknown button %r pressed", kind[:16])  # its data may be anything: not logged
    return [Outbound(t._("That button no longer works.")), main_menu(t)]


async def _on_consent(ctx: Ctx, rest: str) -> list[Outbound]:
    answer, _, tail = rest.partition(":")
    language, _, intent = tail.partition(":")
    language = language if language in LANGUAGES else ctx.t.language
    if answer == "lang":
        return [ask_consent(ctx, intent or "menu", t=translator(language))]
    if answer == "no":
        return [declined(translator(language))]
    await accept(ctx, language)
    if intent == "report":
        return await intake.begin(ctx)  # the offer of warnings waits until the report is sent
    if intent == "subscribe":
        return await warnings.subscribe(ctx)
    dialogue = await intake.active_dialogue(ctx)
    if dialogue is not None:
        # Someone who agreed again to a changed notice finds their unfinished report as it was.
        return [intake.offer_resume(ctx.t, dialogue)]
    menu = main_menu(ctx.t, ctx.t._("Thank you. What would you like to do?"))
    return [*await warnings.maybe_offer(ctx), menu]  # the menu last: it is what comes next


async def _where_we_are(ctx: Ctx) -> list[Outbound]:
    dialogue = await intake.active_dialogue(ctx)
    if dialogue is None:
        return [main_menu(ctx.t)]
    draft = intake.load(dialogue)
    return [await intake.prompt(ctx, dialogue.step, draft)]


def _group_reply(inbound: Inbound, services: Services, t: Translator) -> list[Outbound]:
    officers = services.settings.officer_chat_id
    if officers is not None and inbound.chat_id == str(officers):
        return []  # the officers' group is for report cards, not for residents' flows
    if inbound.command is None and inbound.callback is None:
        return []
    return [
        Outbound(
            t._(
                "To protect your information, I only take reports in a private chat. "
                "Please open a chat with me and send /baocao."
            )
        )
    ]
