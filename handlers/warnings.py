"""Scam warnings: residents subscribe; an admin composes, previews and sends; progress and stats.

Residents are offered warnings once (after consent, or after their first report) and can
subscribe (`/nhancanhbao`) or stop (`/huynhan`) at any time. An admin writes a warning in a
private chat (`/canhbao`), sees it exactly as residents will, chooses the audience, and sends
it, or, when `TINBAO_BROADCAST_APPROVAL` is on, asks another admin to approve it. The sending
itself is `handlers.sender`'s; this module starts, pauses, resumes and stops it, and writes the
progress and summary messages the sender shows.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from bot.settings import Settings
from handlers import officer
from handlers.context import Ctx
from handlers.core import Button, Outbound, OutFile
from handlers.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, Translator, translator
from handlers.names import safe_name
from handlers.services import Services
from storage import audit, broadcasts, queue
from storage.models import Broadcast, User

log = logging.getLogger(__name__)

# The longest warning text, measured as the channel sends it (HTML-escaped), leaving room for
# the title and the footer: Telegram takes 4,096 characters in a message, 1,024 in a caption.
TEXT_LIMIT = 3600
CAPTION_LIMIT = 800

AUDIENCES = ("all", *LANGUAGES)
AUDIENCE_NAMES = {
    "all": N_("everyone subscribed"),
    "vi": N_("subscribers who use Vietnamese"),
    "en": N_("subscribers who use English"),
}
STATUS_NAMES = {
    "draft": N_("being written"),
    "approval": N_("waiting for approval"),
    "sending": N_("sending"),
    "paused": N_("paused"),
    "cancelled": N_("stopped"),
    "done": N_("sent"),
}


def measure(text: str) -> int:
    """A text's length as the channel sends it (escaped), so a warning never gets cut."""
    return len(html.escape(text, quote=False))


# ---------------------------------------------------------------------------- subscriptions


def offer(t: Translator) -> Outbound:
    """The one-time offer to receive warnings."""
    return Outbound(
        t._(
            "Would you like me to warn you when a new scam trick appears? The police send a "
            "few warnings a month. You can stop them at any time with /huynhan."
        ),
        buttons=[
            [Button(t._("🔔 Yes, warn me"), "sub:yes")],
            [Button(t._("No, thank you"), "sub:no")],
        ],
        title=t._("🔔 Scam warnings"),
    )


async def maybe_offer(ctx: Ctx) -> list[Outbound]:
    """The offer, if this resident was never offered warnings."""
    user = ctx.user
    if user is None or user.id is None or officer.is_staff(ctx):
        return []
    if not await broadcasts.take_offer(ctx.session, user.id, ctx.now):
        return []
    return [offer(ctx.t)]


async def subscribe(ctx: Ctx) -> list[Outbound]:
    """Start receiving warnings (the resident has consented)."""
    t = ctx.t
    assert ctx.user is not None and ctx.user.id is not None
    changed = await broadcasts.set_subscribed(ctx.session, ctx.user.id, True, ctx.now)
    if not changed:
        return [Outbound(t._("You already receive scam warnings. To stop them, send /huynhan."))]
    return [
        Outbound(
            t._("🔔 Done. I will send you warnings about new scams. To stop them, send /huynhan.")
        )
    ]


async def unsubscribe(ctx: Ctx) -> list[Outbound]:
    """Stop receiving warnings."""
    t = ctx.t
    user = ctx.user
    if user is None or user.id is None:
        return [
            Outbound(t._("You do not receive scam warnings. To receive them, send /nhancanhbao."))
        ]
    changed = await broadcasts.set_subscribed(ctx.session, user.id, False, ctx.now)
    if not changed:
        return [
            Outbound(t._("You do not receive scam warnings. To receive them, send /nhancanhbao."))
        ]
    return [
        Outbound(
            t._(
                "You will no longer receive scam warnings. To receive them again, send "
                "/nhancanhbao."
            )
        )
    ]


async def on_offer(ctx: Ctx, answer: str) -> list[Outbound]:
    """The resident's answer to the offer."""
    if answer == "yes":
        return await subscribe(ctx)
    return [
        Outbound(
            ctx.t._(
                "All right, I won't send you warnings. If you change your mind, send /nhancanhbao."
            )
        )
    ]


async def blocked(ctx: Ctx) -> None:
    """The resident blocked the bot: warnings stop (nothing can be said to them any more)."""
    if ctx.user is not None and ctx.user.id is not None:
        await broadcasts.set_subscribed(ctx.session, ctx.user.id, False, ctx.now, "blocked")


# ---------------------------------------------------------------------- what residents see


def resident_message(settings: Settings, broadcast: Broadcast, language: str) -> Outbound:
    """The warning exactly as a subscriber who uses `language` receives it."""
    t = translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)
    footer = t._(
        "You receive this because you subscribed to scam warnings from tinbao. To stop, send "
        "/huynhan."
    )
    file = None
    if broadcast.photo_path:
        file = OutFile(
            "photo",
            settings.evidence_dir / broadcast.photo_path,
            file_id=broadcast.photo_file_id,
            name=Path(broadcast.photo_path).name,
            keys=settings.evidence_keys,
        )
    return Outbound(f"{broadcast.text}\n\n{footer}", title=t._("⚠️ Scam warning"), file=file)


def _preview_language(broadcast: Broadcast) -> str:
    return broadcast.audience if broadcast.audience in LANGUAGES else DEFAULT_LANGUAGE


# ------------------------------------------------------------------------------- composing


def _is_admin(ctx: Ctx) -> bool:
    return officer.role(ctx) == "admin"


def _audit(ctx: Ctx, broadcast: Broadcast, action: str, **detail: audit.Scalar) -> None:
    """Record what an admin did to a warning: its audience and counts, never its text."""
    audit.record(
        ctx.session,
        officer.actor(ctx),
        f"broadcast.{action}",
        "broadcast",
        broadcast.id,
        ctx.now,
        {"audience": broadcast.audience, **detail},
    )


async def command(ctx: Ctx) -> list[Outbound]:
    """`/canhbao`: start a warning, or show the one being written."""
    t = ctx.t
    if not _is_admin(ctx):
        return officer.refusal(ctx, "/canhbao")
    if ctx.inbound.chat_type != "private":
        return [
            Outbound(
                t._("Please write warnings in your private chat with me."),
                to=ctx.inbound.user_id,
            )
        ]
    admin = await officer.me(ctx)
    assert admin.id is not None
    draft = await broadcasts.draft_of(ctx.session, admin.id)
    if draft is not None and draft.text:
        draft.awaiting = None
        ctx.session.add(draft)
        return await preview(ctx, draft)
    if draft is None:
        draft = await broadcasts.new_draft(ctx.session, ctx.inbound.channel, admin.id, ctx.now)
    return [_ask_text(t, draft)]


def _ask_text(t: Translator, draft: Broadcast) -> Outbound:
    return Outbound(
        t._(
            "Send me the text residents should read: what the scam looks like and what to do. "
            "To add a photo, send it with the text as its caption.\n"
            "Up to {limit} characters ({caption} with a photo)."
        ).format(limit=TEXT_LIMIT, caption=CAPTION_LIMIT),
        [[Button(t._("✖ Cancel"), f"bc:cancel:{draft.id}")]],
        title=t._("📣 New scam warning"),
    )


async def composing(ctx: Ctx) -> Broadcast | None:
    """The admin's warning waiting for its text, if their next message is that text."""
    if ctx.user is None or ctx.user.id is None or not _is_admin(ctx):
        return None
    draft = await broadcasts.draft_of(ctx.session, ctx.user.id)
    return draft if draft is not None and draft.awaiting == "text" else None


async def on_input(
    ctx: Ctx,
    draft: Broadcast,
    text: str,
    photo: tuple[str, str, str | None] | None,
    other_file: bool,
) -> list[Outbound]:
    """The admin sent the warning's text, a photo (`(relative path, sha256, platform file id)`),
    or both. The photo goes out by the platform's id (no upload) while that id works."""
    t = ctx.t
    if other_file and photo is None:
        return [
            Outbound(
                t._(
                    "A warning can carry one photo. Please send a photo or a screenshot, or "
                    "just the text."
                )
            )
        ]
    new_text = text.strip() or draft.text
    has_photo = photo is not None or draft.photo_path is not None
    if photo is not None:
        draft.photo_path, draft.photo_sha256, draft.photo_file_id = photo
    if not new_text:
        ctx.session.add(draft)
        return [Outbound(t._("Photo added. Now send the text of the warning."))]
    limit = CAPTION_LIMIT if has_photo else TEXT_LIMIT
    if measure(new_text) > limit:
        ctx.session.add(draft)
        if has_photo:
            too_long = t._(
                "This text is {n} characters long; with a photo, a warning can have at most "
                "{limit}. Please shorten it and send it again."
            )
        else:
            too_long = t._(
                "This text is {n} characters long; a warning can have at most {limit}. Please "
                "shorten it and send it again."
            )
        return [Outbound(too_long.format(n=measure(new_text), limit=limit))]
    draft.text = new_text
    draft.awaiting = None
    ctx.session.add(draft)
    return await preview(ctx, draft)


async def preview(ctx: Ctx, draft: Broadcast, to: str | None = None) -> list[Outbound]:
    """The warning as residents will see it, then the admin's choices."""
    t = ctx.t
    settings = ctx.services.settings
    size = await broadcasts.audience_size(
        ctx.session, draft.channel, draft.audience, ctx.services.warning_transports
    )
    shown = resident_message(settings, draft, _preview_language(draft))
    shown.to = to
    lines = [
        t._("👆 This is the warning exactly as residents will receive it."),
        t._("Audience: {audience} ({n} people now).").format(
            audience=t._(AUDIENCE_NAMES[draft.audience]), n=t.number(size)
        ),
    ]
    if settings.broadcast_approval:
        lines.append(t._("Another admin must approve it before it is sent."))
    rows: list[list[Button]] = []
    edit = [Button(t._("✏️ Change the text"), f"bc:text:{draft.id}")]
    if draft.photo_path:
        edit.append(Button(t._("🖼 Remove the photo"), f"bc:nophoto:{draft.id}"))
    rows.append(edit)
    rows.append(
        [
            Button(
                ("✓ " if draft.audience == audience else "") + _audience_label(t, audience),
                f"bc:aud:{draft.id}:{audience}",
            )
            for audience in AUDIENCES
        ]
    )
    if settings.broadcast_approval:
        rows.append([Button(t._("📨 Ask another admin to approve"), f"bc:submit:{draft.id}")])
    else:
        rows.append(
            [
                Button(
                    t._("📤 Send to {n} people").format(n=t.number(size)),
                    f"bc:send:{draft.id}",
                )
            ]
        )
    rows.append([Button(t._("✖ Cancel"), f"bc:cancel:{draft.id}")])
    # Its own title keeps it a message of its own, under the preview (never merged into it).
    title = t._("📣 Warning #{id}").format(id=draft.id)
    return [shown, Outbound("\n".join(lines), rows, to=to, title=title)]


def _audience_label(t: Translator, audience: str) -> str:
    return {"all": t._("Everyone"), "vi": "Tiếng Việt", "en": "English"}[audience]


# ------------------------------------------------------------------------------ the buttons


async def on_button(ctx: Ctx, data: str) -> list[Outbound]:
    """An admin's press on a warning's button: `bc:<action>:<id>[:<value>]`."""
    t = ctx.t
    if not _is_admin(ctx):
        return officer.refusal(ctx, data)
    parts = data.split(":")
    if len(parts) < 3 or not parts[2].isdigit():
        return [Outbound(t._("That button no longer works."), toast=True)]
    action, broadcast_id = parts[1], int(parts[2])
    value = parts[3] if len(parts) > 3 else ""
    admin = await officer.me(ctx)
    broadcast = await ctx.session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return [Outbound(t._("That button no longer works."), toast=True)]
    await ctx.session.refresh(broadcast)
    if action in ("text", "nophoto", "aud", "send", "submit"):
        return await _on_draft_button(ctx, admin, broadcast, action, value)
    if action in ("approve", "reject"):
        return await _on_approval(ctx, admin, broadcast, action == "approve")
    if action in ("pause", "resume", "cancel", "stop", "goon"):
        return await _on_control(ctx, admin, broadcast, action)
    return [Outbound(t._("That button no longer works."), toast=True)]


def _stale(t: Translator, broadcast: Broadcast) -> list[Outbound]:
    return [
        Outbound(
            t._("Warning #{id} is {status} now.").format(
                id=broadcast.id, status=t._(STATUS_NAMES.get(broadcast.status, "sent"))
            ),
            toast=True,
        )
    ]


async def _on_draft_button(
    ctx: Ctx, admin: User, draft: Broadcast, action: str, value: str
) -> list[Outbound]:
    t = ctx.t
    if draft.status != "draft":
        return _stale(t, draft)
    if draft.author_id != admin.id:
        return [Outbound(t._("Only the admin who wrote this warning can change it."), toast=True)]
    if action == "text":
        draft.awaiting = "text"
        ctx.session.add(draft)
        return [
            Outbound(t._("Send the new text. To change the photo, send a new one with the text."))
        ]
    if action == "nophoto":
        draft.photo_path = draft.photo_sha256 = draft.photo_file_id = None
        ctx.session.add(draft)
        return await preview(ctx, draft)
    if action == "aud":
        if value in AUDIENCES:
            draft.audience = value
            ctx.session.add(draft)
        return await preview(ctx, draft)
    if not draft.text:
        return [_ask_text(t, draft)]
    if action == "submit" or ctx.services.settings.broadcast_approval:
        return await _submit(ctx, admin, draft)
    return await _start(ctx, draft, seen=("draft",), approver=None)


async def _start(
    ctx: Ctx, broadcast: Broadcast, *, seen: tuple[str, ...], approver: User | None
) -> list[Outbound]:
    t = ctx.t
    assert broadcast.id is not None
    others = ctx.services.warning_transports
    if (
        await broadcasts.audience_size(ctx.session, broadcast.channel, broadcast.audience, others)
        == 0
    ):
        return [
            Outbound(
                t._(
                    "Nobody in this audience receives warnings yet, so nothing was sent. "
                    "Residents are offered warnings after they agree to the privacy notice "
                    "and after a report; they can also send /nhancanhbao."
                )
            )
        ]
    total = await broadcasts.start_sending(
        ctx.session,
        broadcast.id,
        seen,
        ctx.now,
        approver_id=approver.id if approver else None,
        progress_chat=ctx.inbound.chat_id,
        others=others,
    )
    if total is None:
        return _stale(t, broadcast)
    if approver is not None:
        _audit(ctx, broadcast, "approved")
    _audit(ctx, broadcast, "started", recipients=total, approver=approver.id if approver else None)
    log.info(
        "broadcast %s started by %s to %s recipients", broadcast.id, ctx.inbound.user_id, total
    )
    ctx.session.info.setdefault("after_commit", []).append(ctx.services.poke_senders)
    text = t._("📤 Warning #{id}: starting to send to {n} people…").format(
        id=broadcast.id, n=t.number(total)
    )
    return [Outbound(text, _sending_buttons(t, broadcast.id), receipt=("progress", broadcast.id))]


def _sending_buttons(t: Translator, broadcast_id: int) -> list[list[Button]]:
    return [
        [
            Button(t._("⏸ Pause"), f"bc:pause:{broadcast_id}"),
            Button(t._("✖ Stop"), f"bc:cancel:{broadcast_id}"),
        ]
    ]


async def _admins_except(ctx: Ctx, admin: User) -> list[User]:
    people = await queue.staff(ctx.session, ctx.inbound.channel)
    return [p for p in people if p.role == "admin" and p.id != admin.id]


async def _submit(ctx: Ctx, admin: User, draft: Broadcast) -> list[Outbound]:
    t = ctx.t
    others = await _admins_except(ctx, admin)
    if not others:
        return [
            Outbound(
                t._(
                    "Another admin must approve warnings, but you are the only admin. Add one "
                    "to TINBAO_ADMIN_IDS, or turn TINBAO_BROADCAST_APPROVAL off."
                )
            )
        ]
    assert draft.id is not None
    if not await broadcasts.move(ctx.session, draft.id, ("draft",), "approval", ctx.now):
        return _stale(t, draft)
    draft.status = "approval"
    _audit(ctx, draft, "submitted")
    replies: list[Outbound] = []
    for other in others:
        ot = translator(other.language or DEFAULT_LANGUAGE)
        shown = resident_message(ctx.services.settings, draft, _preview_language(draft))
        shown.to = other.external_id
        size = await broadcasts.audience_size(
            ctx.session, draft.channel, draft.audience, ctx.services.warning_transports
        )
        ask = Outbound(
            ot._(
                "{name} asks you to approve warning #{id} (above) for {audience} ({n} people "
                "now). It is sent once you approve."
            ).format(
                name=officer_name(ot, admin),
                id=draft.id,
                audience=ot._(AUDIENCE_NAMES[draft.audience]),
                n=ot.number(size),
            ),
            [
                [Button(ot._("✅ Approve and send"), f"bc:approve:{draft.id}")],
                [Button(ot._("✖ Do not approve"), f"bc:reject:{draft.id}")],
            ],
            to=other.external_id,
            title=ot._("📨 A warning to approve"),
        )
        replies += [shown, ask]
    names = ", ".join(officer_name(t, other) for other in others)
    log.info("broadcast %s submitted for approval by %s", draft.id, ctx.inbound.user_id)
    replies.append(
        Outbound(
            t._(
                "Warning #{id} is waiting for approval from: {names}. I will tell you here "
                "when it is approved."
            ).format(id=draft.id, names=names)
        )
    )
    return replies


def officer_name(t: Translator, user: User) -> str:
    """An officer's or admin's name as other staff see it."""
    return safe_name(user.display_name) or t._("Admin {id}").format(id=user.external_id)


async def _on_approval(
    ctx: Ctx, admin: User, broadcast: Broadcast, approve: bool
) -> list[Outbound]:
    t = ctx.t
    if broadcast.status != "approval":
        return _stale(t, broadcast)
    if broadcast.author_id == admin.id:
        return [Outbound(t._("Another admin must approve a warning you wrote."), toast=True)]
    assert broadcast.id is not None
    author = await ctx.session.get(User, broadcast.author_id) if broadcast.author_id else None
    at = translator(author.language or DEFAULT_LANGUAGE) if author else t
    name = officer_name(at, admin)
    if not approve:
        if not await broadcasts.move(ctx.session, broadcast.id, ("approval",), "draft", ctx.now):
            return _stale(t, broadcast)
        _audit(ctx, broadcast, "rejected")
        log.info("broadcast %s not approved by %s", broadcast.id, ctx.inbound.user_id)
        replies = [Outbound(t._("Warning #{id} was not approved.").format(id=broadcast.id))]
        if author is not None:
            replies.append(
                Outbound(
                    at._(
                        "{name} did not approve warning #{id}. You can change it and ask again "
                        "with /canhbao."
                    ).format(name=name, id=broadcast.id),
                    to=author.external_id,
                )
            )
        return replies
    replies = await _start(ctx, broadcast, seen=("approval",), approver=admin)
    if author is not None and any(r.receipt for r in replies):
        replies.append(
            Outbound(
                at._("✅ {name} approved warning #{id}; it is being sent.").format(
                    name=name, id=broadcast.id
                ),
                to=author.external_id,
            )
        )
    return replies


async def _on_control(ctx: Ctx, admin: User, broadcast: Broadcast, action: str) -> list[Outbound]:
    t = ctx.t
    assert broadcast.id is not None
    now = ctx.now
    if action == "pause":
        if not await broadcasts.move(ctx.session, broadcast.id, ("sending",), "paused", now):
            return _stale(t, broadcast)
        _audit(ctx, broadcast, "paused")
        log.info("broadcast %s paused by %s", broadcast.id, ctx.inbound.user_id)
        return [
            Outbound(t._("Pausing… the messages already on their way finish first."), toast=True)
        ]
    if action == "resume":
        if not await broadcasts.move(ctx.session, broadcast.id, ("paused",), "sending", now):
            return _stale(t, broadcast)
        _audit(ctx, broadcast, "resumed")
        log.info("broadcast %s resumed by %s", broadcast.id, ctx.inbound.user_id)
        ctx.session.info.setdefault("after_commit", []).append(ctx.services.poke_senders)
        return [Outbound(t._("Resuming."), toast=True)]
    if action == "goon":
        return [Outbound(t._("All right, it goes on."), toast=True)]
    if broadcast.status in ("draft", "approval"):
        was = broadcast.status
        if not await broadcasts.move(
            ctx.session, broadcast.id, ("draft", "approval"), "cancelled", now
        ):
            return _stale(t, broadcast)
        _audit(ctx, broadcast, "cancelled", was=was)
        return [Outbound(t._("Warning #{id} cancelled; nothing was sent.").format(id=broadcast.id))]
    if broadcast.status not in ("sending", "paused"):
        return _stale(t, broadcast)
    figures = await broadcasts.counts(ctx.session, broadcast.id)
    if action == "cancel":
        remaining = figures.get("pending", 0) + figures.get("sending", 0)
        return [
            Outbound(
                t._(
                    "Stop sending warning #{id}? {sent} people have received it; the other "
                    "{remaining} will not."
                ).format(
                    id=broadcast.id,
                    sent=t.number(figures.get("sent", 0)),
                    remaining=t.number(remaining),
                ),
                [
                    [Button(t._("✖ Yes, stop sending"), f"bc:stop:{broadcast.id}")],
                    [Button(t._("No, go on"), f"bc:goon:{broadcast.id}")],
                ],
            )
        ]
    was = broadcast.status
    if not await broadcasts.move(
        ctx.session, broadcast.id, ("sending", "paused"), "cancelled", now
    ):
        return _stale(t, broadcast)
    _audit(ctx, broadcast, "cancelled", was=was, sent=figures.get("sent", 0))
    log.info("broadcast %s stopped by %s", broadcast.id, ctx.inbound.user_id)
    if was == "sending":
        # The sender notices within a second, finishes what is on its way and sums up.
        return [Outbound(t._("Stopping…"), toast=True)]
    await broadcasts.store_counts(ctx.session, broadcast.id)
    await ctx.session.refresh(broadcast)
    return [await summary_message(ctx.services, broadcast)]


# --------------------------------------------------------------------- progress and summary


async def _translator_for(services: Services, channel: str, chat_id: str) -> Translator:
    async with services.db.session() as session:
        user = await queue.find_user(session, channel, chat_id)
    return translator(user.language if user and user.language else DEFAULT_LANGUAGE)


def _bar(done: int, total: int, width: int = 12) -> str:
    filled = round(width * done / total) if total else width
    return "▓" * filled + "░" * (width - filled)


def _duration(t: Translator, seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return t.ngettext("{n} second", "{n} seconds", seconds).format(n=seconds)
    minutes = round(seconds / 60)
    if minutes < 60:
        return t.ngettext("{n} minute", "{n} minutes", minutes).format(n=minutes)
    hours, minutes = divmod(minutes, 60)
    return t._("{h} h {m} min").format(h=hours, m=minutes)


async def progress_message(
    services: Services,
    broadcast: Broadcast,
    figures: dict[str, int],
    rate: float,
    status: str,
    floods: int = 0,
) -> Outbound:
    """The admin's progress message: a bar, the counts, the rate and the time left."""
    t = await _translator_for(services, broadcast.channel, broadcast.progress_chat or "")
    total = broadcast.total or sum(figures.values())
    sent = figures.get("sent", 0)
    blocked = figures.get("blocked", 0)
    failed = figures.get("failed", 0)
    unknown = figures.get("unknown", 0)
    remaining = figures.get("pending", 0) + figures.get("sending", 0)
    done = total - remaining
    percent = int(100 * done / total) if total else 100
    heading = {
        "sending": t._("📤 Sending warning #{id}"),
        "paused": t._("⏸ Warning #{id} paused"),
        "cancelled": t._("✖ Warning #{id} stopped"),
        "done": t._("✅ Warning #{id} sent"),
    }.get(status, t._("📤 Sending warning #{id}"))
    lines = [
        f"{_bar(done, total)} {percent}%",
        t._("Sent {sent} · blocked {blocked} · failed {failed} · remaining {remaining}").format(
            sent=t.number(sent),
            blocked=t.number(blocked),
            failed=t.number(failed),
            remaining=t.number(remaining),
        ),
    ]
    if unknown:
        lines.append(t._("Perhaps received, not sent again: {n}").format(n=t.number(unknown)))
    skipped = figures.get("skipped", 0)
    if skipped:
        lines.append(skipped_line(t, skipped))
    if status == "sending" and rate > 0:
        lines.append(
            t._("{rate}/s · about {left} left").format(
                rate=f"{rate:.1f}", left=_duration(t, remaining / rate)
            )
        )
    if status == "sending" and floods:
        lines.append(
            t.ngettext(
                "Telegram asked to slow down {n} time; the bot waited as asked.",
                "Telegram asked to slow down {n} times; the bot waited as asked.",
                floods,
            ).format(n=floods)
        )
    buttons: list[list[Button]] = []
    assert broadcast.id is not None
    if status == "sending":
        buttons = _sending_buttons(t, broadcast.id)
    elif status == "paused":
        buttons = [
            [
                Button(t._("▶️ Resume"), f"bc:resume:{broadcast.id}"),
                Button(t._("✖ Stop"), f"bc:cancel:{broadcast.id}"),
            ]
        ]
    return Outbound("\n".join(lines), buttons, title=heading.format(id=broadcast.id))


def skipped_line(t: Translator, n: int) -> str:
    """How many were skipped because a platform's quota for them was used up."""
    return t.ngettext(
        "Skipped: {n} (Zalo's monthly limit of warnings for them is reached).",
        "Skipped: {n} (Zalo's monthly limit of warnings for them is reached).",
        n,
    ).format(n=t.number(n))


async def summary_message(services: Services, broadcast: Broadcast) -> Outbound:
    """The final word on a broadcast, sent as a new message so the admin is notified."""
    t = await _translator_for(services, broadcast.channel, broadcast.progress_chat or "")
    took = ""
    if broadcast.started_at and broadcast.finished_at:
        took = _duration(t, (broadcast.finished_at - broadcast.started_at).total_seconds())
    if broadcast.status == "cancelled":
        first = t._("Warning #{id} was stopped after {took}.")
    else:
        first = t._("Warning #{id} was sent in {took}.")
    lines = [
        first.format(id=broadcast.id, took=took or "–"),
        t._("Received it: {sent} of {total}.").format(
            sent=t.number(broadcast.sent), total=t.number(broadcast.total)
        ),
    ]
    if broadcast.blocked:
        lines.append(
            t._("Blocked the bot: {n} (they no longer receive warnings).").format(
                n=t.number(broadcast.blocked)
            )
        )
    if broadcast.failed:
        lines.append(t._("Could not be reached: {n}.").format(n=t.number(broadcast.failed)))
    if broadcast.unknown:
        lines.append(
            t._(
                "Perhaps received: {n} (the bot stopped while sending to them; they were not "
                "sent it again, so nobody gets it twice)."
            ).format(n=t.number(broadcast.unknown))
        )
    assert broadcast.id is not None
    async with services.db.session() as session:
        skipped = (await broadcasts.counts(session, broadcast.id)).get("skipped", 0)
    if skipped:
        lines.append(skipped_line(t, skipped))
    not_sent = broadcast.total - broadcast.sent - broadcast.blocked - broadcast.failed
    not_sent -= broadcast.unknown + skipped
    if broadcast.status == "cancelled" and not_sent > 0:
        lines.append(t._("Not sent because it was stopped: {n}.").format(n=t.number(not_sent)))
    title = t._("📣 Warning #{id}: summary").format(id=broadcast.id)
    return Outbound("\n".join(lines), title=title)
