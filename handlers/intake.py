"""The resident's report, one question at a time (DESIGN.md, "The resident's report").

Every answer is saved in the dialogue row before the bot replies, so a restart loses nothing.
Buttons carry `r:<step>:<action>`; a press whose step is not the current one is from an old
message and is answered kindly instead of acted on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta

import phonenumbers

from handlers import evidence as evidence_store
from handlers import limits
from handlers.banks import bank_by_code, match_bank
from handlers.context import Ctx, is_done, yes_or_no
from handlers.core import Button, IncomingFile, Outbound, OutFile
from handlers.draft import Draft, DraftIndicator
from handlers.extract import Indicator, extract_indicators, find_amounts, parse_amount
from handlers.i18n import VIETNAM, Translator
from handlers.menu import main_menu
from handlers.names import safe_filename, safe_name
from handlers.texts import CATEGORIES, bank_advice, category_label, safety_advice
from handlers.when import parse_when
from storage import reports as report_store
from storage.dialogues import end_dialogue, load_dialogue, save_dialogue, start_dialogue
from storage.models import Attachment, Dialogue
from storage.retention import EXPIRED_FLOW

FLOW = "report"
# The order residents go through; `_next_step` skips what does not apply.
STEPS = (
    "category",
    "lost",
    "amount",
    "when",
    "accounts",
    "account_bank",
    "contacts",
    "description",
    "evidence",
    "contact",
    "contact_phone",
    "summary",
)
EDITABLE = (
    "category",
    "amount",
    "when",
    "accounts",
    "contacts",
    "description",
    "evidence",
    "contact",
)
MAX_DESCRIPTION = 8000
# A typed answer this long that does not answer the question is kept as part of the story.
STORY_MIN_CHARS = 20
_DIGIT_RUN = re.compile(r"\d[\d .\-]{4,}\d")
# "14h30", "14:05", "9 giờ", "sáng", "tối", "2 hours ago": the resident gave a time, not just a day.
_TIME_GIVEN = re.compile(
    r"\d\s*(h|g|:|giờ|gio|am|pm)|sáng|sang|trưa|trua|chiều|chieu|tối|toi|đêm|dem|"
    r"morning|afternoon|evening|night|hour|phút|phut|minute",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PreparedFile:
    """An incoming file after download and checks: stored, or refused with a reason."""

    source: IncomingFile
    stored: evidence_store.StoredFile | None
    refusal: str | None = None
    read: list[Indicator] = field(default_factory=list)  # what the image shows (to confirm)


# ---------------------------------------------------------------------------------------------
# Starting, resuming, cancelling


async def active_dialogue(ctx: Ctx) -> Dialogue | None:
    """The user's unfinished report, if any."""
    if ctx.user is None or ctx.user.id is None:
        return None
    dialogue = await load_dialogue(ctx.session, ctx.user.id, ctx.now)
    return dialogue if dialogue is not None and dialogue.flow == FLOW else None


async def start(ctx: Ctx, *, intro: bool = True) -> tuple[Dialogue, Draft, list[Outbound]]:
    """Start a new report (replacing an unfinished one) and ask the first question."""
    assert ctx.user is not None and ctx.user.id is not None
    # Read even if expired: an expired draft is discarded with its files, not left behind.
    old = await ctx.session.get(Dialogue, ctx.user.id)
    if old is not None and old.flow == FLOW:
        await _discard(ctx, old)
    report = await report_store.create_draft(
        ctx.session, reporter_id=ctx.user.id, channel=ctx.inbound.channel, now=ctx.now
    )
    assert report.id is not None
    draft = Draft(report_id=report.id)
    dialogue = await start_dialogue(
        ctx.session,
        ctx.user.id,
        flow=FLOW,
        step="category",
        data=draft.model_dump(mode="json"),
        now=ctx.now,
        lifetime=_lifetime(ctx),
    )
    messages: list[Outbound] = []
    if intro:
        messages.append(
            Outbound(
                ctx.t._(
                    "I'm sorry this happened to you. Let's write it down together, one question "
                    "at a time. You can skip what you don't know, go back, or stop with /huy."
                )
            )
        )
    return dialogue, draft, messages


async def begin(ctx: Ctx) -> list[Outbound]:
    """/baocao: offer to continue an unfinished report, or start a new one."""
    dialogue = await active_dialogue(ctx)
    if dialogue is not None:
        return [offer_resume(ctx.t, dialogue)]
    wait = await limits.report_wait(ctx)
    if wait is not None:
        return [limits.reached(ctx.t, wait, "none")]
    dialogue, draft, messages = await start(ctx)
    return [*messages, await prompt(ctx, "category", draft)]


def offer_resume(t: Translator, dialogue: Dialogue) -> Outbound:
    """Ask whether to continue the unfinished report or start over."""
    return Outbound(
        t._("You have a report you haven't finished yet (started {when}). Continue it?").format(
            when=t.when(dialogue.created_at)
        ),
        buttons=[
            [Button(t._("▶️ Continue where I left off"), "resume:go")],
            [Button(t._("🔄 Start a new report"), "resume:new")],
        ],
    )


async def resume(ctx: Ctx) -> list[Outbound]:
    """Continue the unfinished report at the step where the resident stopped."""
    dialogue = await active_dialogue(ctx)
    if dialogue is None:
        return []
    draft = Draft.model_validate(dialogue.data)
    return [
        Outbound(ctx.t._("Welcome back. Let's continue.")),
        await prompt(ctx, dialogue.step, draft),
    ]


def confirm_cancel(t: Translator) -> Outbound:
    """Ask before throwing a report away."""
    return Outbound(
        t._("Do you want to cancel this report? What you have sent for it will be deleted."),
        buttons=[
            [Button(t._("Yes, cancel the report"), "cancel:yes")],
            [Button(t._("No, continue"), "cancel:no")],
        ],
    )


async def cancel(ctx: Ctx) -> list[Outbound]:
    """Delete the unfinished report and everything sent for it."""
    dialogue = await active_dialogue(ctx)
    if dialogue is None:
        return [Outbound(ctx.t._("You have no report in progress."))]
    await _discard(ctx, dialogue)
    return [
        Outbound(
            ctx.t._(
                "The report is cancelled and what you sent for it is deleted. "
                "If you want to report later, send /baocao."
            )
        )
    ]


async def _discard(ctx: Ctx, dialogue: Dialogue) -> None:
    draft = Draft.model_validate(dialogue.data)
    report = await report_store.get_report(ctx.session, draft.report_id)
    if report is not None and report.status == "draft":
        ctx.cleanup.extend(await report_store.discard_draft(ctx.session, draft.report_id))
    await end_dialogue(ctx.session, dialogue.user_id)


async def expired_notice(ctx: Ctx) -> Outbound | None:
    """If the resident's unfinished report expired since they last wrote, say so (once).

    The draft is deleted here with its files if the daily purge has not done it yet; if it
    has, the purge left a marker without content (`storage.retention`) so they are told anyway.
    """
    if ctx.user is None or ctx.user.id is None:
        return None
    dialogue = await ctx.session.get(Dialogue, ctx.user.id)
    if dialogue is None or (dialogue.expires_at > ctx.now and dialogue.flow != EXPIRED_FLOW):
        return None
    if dialogue.flow == FLOW:
        days = max(1, round((dialogue.expires_at - dialogue.updated_at) / timedelta(days=1)))
        await _discard(ctx, dialogue)
    elif dialogue.flow == EXPIRED_FLOW:
        stored = dialogue.data.get("days") if isinstance(dialogue.data, dict) else None
        days = stored if isinstance(stored, int) else ctx.services.settings.draft_days
        await end_dialogue(ctx.session, dialogue.user_id)
        if dialogue.expires_at <= ctx.now:
            return None  # told long ago enough: the marker itself had expired
    else:
        return None
    return Outbound(
        ctx.t.ngettext(
            "Your unfinished report was deleted, with what you sent for it, because it was "
            "not continued for {days} day, as the privacy notice says. If you still want to "
            "report, you are welcome to start again with /baocao.",
            "Your unfinished report was deleted, with what you sent for it, because it was "
            "not continued for {days} days, as the privacy notice says. If you still want to "
            "report, you are welcome to start again with /baocao.",
            days,
        ).format(days=days)
    )


def continues_draft(callback: str | None) -> bool:
    """A button press that only made sense with the unfinished report (its questions,
    "continue", "cancel")."""
    if callback is None:
        return False
    return callback.startswith(("r:", "cancel:")) or callback == "resume:go"


def _lifetime(ctx: Ctx) -> timedelta:
    return timedelta(days=ctx.services.settings.draft_days)


# ---------------------------------------------------------------------------------------------
# Questions


async def prompt(ctx: Ctx, step: str, draft: Draft) -> Outbound:
    """The question of a step, with its buttons, showing what was already given."""
    t = ctx.t
    rows: list[list[Button]] = []
    if step == "category":
        text = t._(
            "What happened? Choose the closest kind of scam. "
            "You can also simply tell me in your own words."
        )
        rows = [[Button(t._(label), f"r:category:{key}")] for key, label in CATEGORIES.items()]
    elif step == "lost":
        text = t._("Did you lose money?")
        rows = [[Button(t._("Yes, I lost money"), "r:lost:yes"), Button(t._("No"), "r:lost:no")]]
        if draft.suggested_amount:
            # Confirm what the resident already wrote instead of asking for it again.
            amount = t.money(draft.suggested_amount)
            text += "\n" + t._("You mentioned {amount}.").format(amount=amount)
            rows = [
                [Button(t._("Yes, I lost {amount}").format(amount=amount), "r:lost:suggested")],
                [Button(t._("Yes, another amount"), "r:lost:yes"), Button(t._("No"), "r:lost:no")],
            ]
    elif step == "amount":
        text = t._(
            "About how much did you lose? Write it any way you like, "
            "for example: 5 triệu, 500k, 5.000.000đ."
        )
        rows = [[Button(t._("I don't remember"), "r:amount:skip")]]
    elif step == "when":
        text = t._(
            "When did it happen? For example: hôm qua, 20/11, 14h30 20/11/2026. "
            "If you transferred money, the time of the transfer helps most."
        )
        rows = [
            [Button(t._("Today"), "r:when:today"), Button(t._("Yesterday"), "r:when:yesterday")],
            [Button(t._("I don't remember"), "r:when:skip")],
        ]
    elif step == "accounts":
        text, rows = _list_question(
            t,
            draft,
            step,
            t._(
                "Accounts you sent money to:\n{items}\n\n"
                "If there is another one, send it too. Otherwise press Continue."
            ),
            t._(
                "Which bank account did you send the money to? Send the bank, the account number "
                "and the name shown, for example:\nVietcombank 0123456789 NGUYEN VAN A\n\n"
                "This helps most: the bank can block the money."
            ),
            t._("I don't know / skip"),
        )
    elif step == "account_bank":
        text = t._(
            "Which bank or e-wallet is account {number} at? "
            "For example: Vietcombank, MB, Techcombank, MoMo."
        ).format(number=draft.pending_account or "")
        rows = [[Button(t._("I don't know"), "r:account_bank:skip")]]
    elif step == "contacts":
        text, rows = _list_question(
            t,
            draft,
            step,
            t._(
                "How the scammer contacted you:\n{items}\n\n"
                "Send more if there are others (numbers, Zalo or Facebook accounts, links). "
                "Otherwise press Continue."
            ),
            t._(
                "How did the scammer contact you? Send their phone numbers, Zalo, Facebook or "
                "Telegram accounts, or the links they sent. You can also forward their messages "
                "to me."
            ),
            t._("Skip"),
        )
    elif step == "description":
        if draft.description:
            text = t._(
                "I have written down:\n«{story}»\n\nYou can add more, or press Continue."
            ).format(story=_shorten(draft.description, 600))
            rows = [[Button(t._("Continue ➡️"), "r:description:done")]]
        else:
            text = t._(
                "Please tell me in your own words what happened: who contacted you, what they "
                "said, what you did. Several messages are fine."
            )
            rows = [[Button(t._("Skip"), "r:description:skip")]]
    elif step == "evidence":
        text = t._(
            "Do you have screenshots, photos, documents, voice messages or videos? Send them "
            "here, as many as you have. When you are done, press Continue."
        )
        rows = [[Button(t._("Continue ➡️"), "r:evidence:done")]]
    elif step == "contact":
        text = t._(
            "May an officer contact you about this report?\n"
            "If you stay anonymous, officers will not see who you are. "
            "You can still follow your report with /tinbao."
        )
        rows = [
            [Button(t._("Yes, you may contact me"), "r:contact:yes")],
            [Button(t._("No, I want to stay anonymous"), "r:contact:anon")],
        ]
    elif step == "contact_phone":
        text = t._(
            "Which phone number can the officer call? "
            "Or press Skip: the officer will then write to you here."
        )
        rows = [[Button(t._("Skip"), "r:contact_phone:skip")]]
    else:
        return await summary(ctx, draft)
    return Outbound(text, buttons=[*rows, _nav_row(t, step, draft)])


async def summary(ctx: Ctx, draft: Draft) -> Outbound:
    """Everything the resident answered, with a button to fix each part and one to submit."""
    t = ctx.t
    none = t._("not given")
    lines = [
        t._("Type: {value}").format(value=category_label(t, draft.category)),
        t._("Money lost: {value}").format(
            value=t.money(draft.amount_vnd)
            if draft.amount_vnd
            else (t._("none") if draft.lost_money is False else none)
        ),
        t._("When: {value}").format(value=_when_line(t, draft) or none),
        t._("Accounts the money went to: {value}").format(
            value=("\n" + _bullets(t, draft.accounts())) if draft.accounts() else none
        ),
        t._("How they contacted you: {value}").format(
            value=("\n" + _bullets(t, draft.contacts())) if draft.contacts() else none
        ),
        t._("What happened: {value}").format(
            value=_shorten(draft.description, 500) if draft.description else none
        ),
        t._("Evidence: {value}").format(value=await _files_count(ctx, draft)),
        t._("Contact: {value}").format(value=_contact_line(t, draft)),
    ]
    text = t._("Please check your report:") + "\n\n" + "\n".join(lines) + "\n\n"
    text += t._("If everything is right, press Send. To fix something, press its button.")
    edit_labels = {
        "category": t._("✏️ Type"),
        "amount": t._("✏️ Money"),
        "when": t._("✏️ When"),
        "accounts": t._("✏️ Accounts"),
        "contacts": t._("✏️ Contacts"),
        "description": t._("✏️ Story"),
        "evidence": t._("✏️ Evidence"),
        "contact": t._("✏️ Contact me"),
    }
    edit_buttons = [
        Button(label, f"r:summary:edit:{field}") for field, label in edit_labels.items()
    ]
    rows = [[Button(t._("✅ Send the report"), "r:summary:send")]]
    rows += [edit_buttons[i : i + 2] for i in range(0, len(edit_buttons), 2)]
    rows.append([Button(t._("✖️ Cancel"), "cancel:ask")])
    return Outbound(text, buttons=rows, title=t._("📋 Your report"))


def _nav_row(t: Translator, step: str, draft: Draft) -> list[Button]:
    row = []
    if draft.history:
        row.append(Button(t._("⬅️ Back"), f"r:{step}:back"))
    row.append(Button(t._("✖️ Cancel"), "cancel:ask"))
    return row


def _list_question(
    t: Translator, draft: Draft, step: str, listed: str, empty: str, skip: str
) -> tuple[str, list[list[Button]]]:
    """A question that collects several items: what is listed so far, or the first ask."""
    items = draft.accounts() if step == "accounts" else draft.contacts()
    if not items:
        return empty, [[Button(skip, f"r:{step}:skip")]]
    rows = [[Button(t._("Continue ➡️"), f"r:{step}:done")], *_remove_rows(t, draft, step)]
    return listed.format(items=_bullets(t, items)), rows


def _remove_rows(t: Translator, draft: Draft, group: str) -> list[list[Button]]:
    items = draft.accounts() if group == "accounts" else draft.contacts()
    rows = []
    for item in items[:8]:
        index = draft.indicators.index(item)
        label = t._("✖ Remove {item}").format(item=_shorten(display_value(t, item), 28))
        rows.append([Button(label, f"r:{group}:rm:{index}")])
    return rows


async def _files_count(ctx: Ctx, draft: Draft) -> str:
    count, _ = await report_store.evidence_totals(ctx.session, draft.report_id)
    return ctx.t.ngettext("{n} file", "{n} files", count).format(n=count)


def _when_line(t: Translator, draft: Draft) -> str | None:
    if draft.occurred_at is None:
        return None
    return t.day(draft.occurred_at) if draft.occurred_day_only else t.when(draft.occurred_at)


def _contact_line(t: Translator, draft: Draft) -> str:
    if draft.contact_allowed is None:
        return t._("not given")
    if not draft.contact_allowed:
        return t._("anonymous")
    if draft.contact_phone:
        return t._("yes, at {phone}").format(phone=format_phone(draft.contact_phone))
    return t._("yes, here in the chat")


def _bullets(t: Translator, items: list[DraftIndicator]) -> str:
    return "\n".join(f"• {display_value(t, item)}" for item in items)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def format_phone(e164: str) -> str:
    """A phone number as a Vietnamese reader writes it (0912 345 678), or E.164 if foreign."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if number.country_code == 84 and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return e164


def defang(value: str) -> str:
    """A link written so that no app turns it into something to tap: `vcb-xacthuc[.]com`."""
    return value.replace("http://", "hxxp://").replace("https://", "hxxps://").replace(".", "[.]")


def display_value(t: Translator, item: DraftIndicator) -> str:
    """An indicator as shown to the resident."""
    if item.kind == "phone":
        return "📞 " + format_phone(item.value)
    if item.kind == "bank_account":
        code, _, number = item.value.rpartition(":")
        bank = bank_by_code(code) if code else None
        shown = f"🏦 {bank.name} {number}" if bank else f"🏦 {number}"
        holder = safe_name(item.holder)
        return f"{shown} – {holder}" if holder else shown
    if item.kind in ("url", "domain"):
        return "🔗 " + defang(item.value)
    if item.kind == "email":
        return "✉️ " + item.value
    if item.kind == "social":
        network, _, name = item.value.partition(":")
        return f"👤 {network.capitalize()}: {name}"
    return item.value


# ---------------------------------------------------------------------------------------------
# Answers


def load(dialogue: Dialogue) -> Draft:
    """The draft of a dialogue (validated: the stored JSON is data, not trusted code)."""
    return Draft.model_validate(dialogue.data)


# Steps that collect a list (or a story, or files) until the resident presses Continue.
_LIST_STEPS = ("accounts", "contacts", "description", "evidence")


async def on_text(ctx: Ctx, dialogue: Dialogue, text: str) -> list[Outbound]:
    """A typed answer at the current step."""
    step = dialogue.step
    # Typing "tiếp tục", "xong" or, where a list is asked for, "không (có)" means the button.
    if step in _LIST_STEPS and (
        is_done(text) or (step != "description" and yes_or_no(text) is False)
    ):
        return await on_button(ctx, dialogue, step, "done")
    if step == "contact_phone" and (is_done(text) or yes_or_no(text) is False):
        return await on_button(ctx, dialogue, step, "skip")
    draft = load(dialogue)
    t = ctx.t
    found = _absorb(draft, extract_indicators(text, ctx.inbound.links))
    if step not in ("lost", "amount"):
        _remember_amount(draft, text)
    if step == "accounts" and not any(i.kind == "bank_account" for i in found):
        found += _accounts_from_digits(draft, text)

    replies: list[Outbound] = []
    next_step: str | None = None
    if step == "category":
        _add_story(draft, text)
        replies.append(Outbound(t._("Thank you, I have written that down.")))
    elif step == "lost":
        answer = yes_or_no(text)
        amount = parse_amount(text)
        if amount:
            draft.lost_money, draft.amount_vnd = True, amount
            replies.append(Outbound(t._("Noted: {amount}.").format(amount=t.money(amount))))
            next_step = _next_step(draft, "amount")
        elif answer is not None:
            draft.lost_money = answer
            next_step = _next_step(draft, step)
        else:
            replies.append(_not_understood(t, draft, text, t._("Please press Yes or No.")))
    elif step == "amount":
        amount = parse_amount(text)
        if amount:
            draft.lost_money, draft.amount_vnd = True, amount
            replies.append(Outbound(t._("Noted: {amount}.").format(amount=t.money(amount))))
            next_step = _next_step(draft, step)
        else:
            replies.append(
                _not_understood(
                    t, draft, text, t._("I couldn't read an amount. Try e.g. 5 triệu or 500k.")
                )
            )
    elif step == "when":
        moment = parse_when(text, ctx.now.astimezone(VIETNAM))
        if moment is None:
            replies.append(
                _not_understood(
                    t, draft, text, t._("I couldn't read a date. Try e.g. hôm qua or 20/11/2026.")
                )
            )
        elif moment > ctx.now + timedelta(hours=1):
            replies.append(Outbound(t._("That date is in the future. When did it happen?")))
        else:
            draft.occurred_at = moment
            draft.occurred_day_only = not _TIME_GIVEN.search(text)
            next_step = _next_step(draft, step)
    elif step == "accounts":
        pending = [i for i in found if i.kind == "bank_account" and ":" not in i.value]
        if pending:
            draft.pending_account = pending[0].value
            next_step = "account_bank"
        elif not any(i.kind == "bank_account" for i in found):
            replies.append(
                _not_understood(
                    t, draft, text, t._("I couldn't find an account number in that message.")
                )
            )
    elif step == "account_bank":
        bank = match_bank(text)
        if bank is None:
            replies.append(
                Outbound(
                    t._(
                        "I don't recognise that bank. Please write its name again "
                        "(e.g. Vietcombank, BIDV, MB) or press I don't know."
                    )
                )
            )
        else:
            _set_pending_bank(draft, bank.code)
            next_step = "accounts"
    elif step == "contacts":
        if not any(i.kind != "bank_account" for i in found):
            _add_story(draft, text)
            replies.append(
                Outbound(
                    t._(
                        "I didn't find a phone number or link in that message, so I added it "
                        "to your story."
                    )
                )
            )
    elif step == "description":
        if not _add_story(draft, text):
            replies.append(Outbound(_story_full(t)))
    elif step == "evidence":
        _add_story(draft, text)
        replies.append(
            Outbound(
                t._("I added that to your story. You can send photos or files, or press Continue.")
            )
        )
    elif step == "contact":
        phones = [i for i in found if i.kind == "phone"]
        answer = yes_or_no(text)
        if phones:
            draft.contact_allowed, draft.contact_phone = True, phones[0].value
            _forget(draft, phones[0])
            next_step = _next_step(draft, "contact_phone")
        elif answer is not None:
            draft.contact_allowed = answer
            next_step = _next_step(draft, step)
        else:
            replies.append(
                _not_understood(t, draft, text, t._("Please choose one of the buttons."))
            )
    elif step == "contact_phone":
        phones = [i for i in found if i.kind == "phone"]
        if phones:
            draft.contact_phone = phones[0].value
            _forget(draft, phones[0])
            next_step = _next_step(draft, step)
        else:
            replies.append(
                Outbound(
                    t._("I couldn't read a phone number. Please try again, e.g. 0912 345 678.")
                )
            )
    else:  # summary
        replies.append(Outbound(t._("Please use the buttons below to fix something or to send.")))

    # The accounts and contacts questions list everything found anyway; elsewhere, say it.
    if found and step not in ("accounts", "contacts", "contact", "contact_phone"):
        replies.insert(0, _found_message(t, found))
    if next_step is not None:
        _advance(draft, step, next_step)
        step = next_step
    await _save(ctx, dialogue, draft, step)
    replies.append(await prompt(ctx, step, draft))
    return replies


async def on_button(ctx: Ctx, dialogue: Dialogue, step: str, action: str) -> list[Outbound]:
    """A button of the current step was pressed."""
    draft = load(dialogue)
    t = ctx.t
    replies: list[Outbound] = []
    next_step: str | None = None
    if action in ("read:yes", "read:no"):
        # The resident's answer to what was read in their screenshots.
        if action == "read:yes" and draft.proposed:
            added = [item for item in draft.proposed if draft.add(item)]
            if added:
                replies.append(
                    Outbound(
                        t._("Added to your report:")
                        + "\n"
                        + "\n".join("• " + display_value(t, item) for item in added)
                    )
                )
        elif draft.proposed:
            replies.append(Outbound(t._("All right, I did not add them.")))
        draft.proposed = []
        await _save(ctx, dialogue, draft, step)
        return [*replies, await prompt(ctx, step, draft)]
    if action == "back":
        if draft.history:
            previous = draft.history.pop()
            await _save(ctx, dialogue, draft, previous)
            return [await prompt(ctx, previous, draft)]
        return [await prompt(ctx, step, draft)]
    if action.startswith("rm:"):
        index = _int(action[3:])
        if index is not None and 0 <= index < len(draft.indicators):
            removed = draft.indicators.pop(index)
            replies.append(Outbound(t._("Removed: {item}").format(item=display_value(t, removed))))
        await _save(ctx, dialogue, draft, step)
        return [*replies, await prompt(ctx, step, draft)]

    if step == "category" and action in CATEGORIES:
        draft.category = action
        next_step = _next_step(draft, step)
    elif step == "lost" and action == "suggested" and draft.suggested_amount:
        draft.lost_money, draft.amount_vnd = True, draft.suggested_amount
        next_step = _next_step(draft, "amount")
    elif step == "lost" and action in ("yes", "no"):
        draft.lost_money = action == "yes"
        if not draft.lost_money:
            draft.amount_vnd = None
        next_step = _next_step(draft, step)
    elif step == "amount" and action == "skip":
        draft.lost_money, draft.amount_vnd = True, None
        next_step = _next_step(draft, step)
    elif step == "when" and action in ("today", "yesterday", "skip"):
        local = ctx.now.astimezone(VIETNAM)
        if action == "skip":
            draft.occurred_at = None
        else:
            day = local if action == "today" else local - timedelta(days=1)
            draft.occurred_at = day.replace(hour=12, minute=0, second=0, microsecond=0)
            draft.occurred_day_only = True
        next_step = _next_step(draft, step)
    elif step in _LIST_STEPS and action in ("done", "skip"):
        next_step = _next_step(draft, step)
    elif step == "account_bank" and action == "skip":
        draft.pending_account = None
        next_step = "accounts"
    elif step == "contact" and action in ("yes", "anon"):
        draft.contact_allowed = action == "yes"
        if not draft.contact_allowed:
            draft.contact_phone = None
        next_step = _next_step(draft, step)
    elif step == "contact_phone" and action == "skip":
        draft.contact_phone = None
        next_step = _next_step(draft, step)
    elif step == "summary" and action.startswith("edit:") and action[5:] in EDITABLE:
        draft.editing = True
        next_step = action[5:]
    elif step == "summary" and action == "send":
        return await submit(ctx, dialogue, draft)
    else:
        return [await prompt(ctx, step, draft)]
    _advance(draft, step, next_step)
    await _save(ctx, dialogue, draft, next_step)
    return [*replies, await prompt(ctx, next_step, draft)]


def _next_step(draft: Draft, step: str) -> str:
    """Where to go after `step`; while editing from the summary, straight back to it."""
    if step == "lost" and draft.lost_money:
        return "amount"
    if step == "contact" and draft.contact_allowed:
        return "contact_phone"
    if draft.editing:
        return "summary"
    order = {
        "category": "lost",
        "lost": "when",
        "amount": "when",
        "when": "accounts" if draft.lost_money else "contacts",
        "accounts": "contacts",
        "contacts": "description",
        "description": "evidence",
        "evidence": "contact",
        "contact": "summary",
        "contact_phone": "summary",
    }
    return order.get(step, "summary")


def _advance(draft: Draft, step: str, next_step: str) -> None:
    if next_step == "summary":
        draft.editing = False
        draft.history = [h for h in draft.history if h != "summary"]
    if step != next_step and step != "account_bank" and next_step != "account_bank":
        draft.history.append(step)
        del draft.history[:-20]


async def _save(ctx: Ctx, dialogue: Dialogue, draft: Draft, step: str) -> None:
    await save_dialogue(
        ctx.session,
        dialogue,
        step=step,
        data=draft.model_dump(mode="json"),
        now=ctx.now,
        lifetime=_lifetime(ctx),
    )


def _absorb(draft: Draft, found: list[Indicator]) -> list[DraftIndicator]:
    """Add what was found to the draft; returns only what is new."""
    added = []
    for item in found:
        candidate = DraftIndicator(
            kind=item.kind, value=item.value, raw=item.raw, holder=item.holder
        )
        if draft.add(candidate):
            added.append(candidate)
    return added


def _accounts_from_digits(draft: Draft, text: str) -> list[DraftIndicator]:
    # At the accounts question every long run of digits is an account number, even without the
    # bank context extraction needs elsewhere; a 10-digit run first taken as a phone is moved.
    added = []
    bank = match_bank(text)
    for match in _DIGIT_RUN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if not 6 <= len(digits) <= 19:
            continue
        for item in list(draft.indicators):
            if item.kind == "phone" and re.sub(r"\D", "", item.raw) == digits:
                draft.indicators.remove(item)
        value = f"{bank.code}:{digits}" if bank else digits
        candidate = DraftIndicator(kind="bank_account", value=value, raw=match.group())
        if draft.add(candidate):
            added.append(candidate)
    return added


def _remember_amount(draft: Draft, text: str) -> None:
    """Keep the first amount a story or forwarded message mentions, to offer it for confirming."""
    if draft.amount_vnd is None and draft.suggested_amount is None:
        amounts = [vnd for vnd, _ in find_amounts(text) if vnd > 0]
        if amounts:
            draft.suggested_amount = amounts[0]


def _set_pending_bank(draft: Draft, code: str) -> None:
    for item in draft.indicators:
        if item.kind == "bank_account" and item.value == draft.pending_account:
            item.value = f"{code}:{item.value}"
    # Two entries can now be the same account; keep the first.
    unique: list[DraftIndicator] = []
    for item in draft.indicators:
        if not any(u.kind == item.kind and u.value == item.value for u in unique):
            unique.append(item)
    draft.indicators = unique
    draft.pending_account = None


def _forget(draft: Draft, item: DraftIndicator) -> None:
    # The resident's own number is contact information, not an indicator against a scammer.
    draft.indicators = [i for i in draft.indicators if i is not item]


def _add_story(draft: Draft, text: str) -> bool:
    """Append to the resident's story; False if it would exceed the limit (nothing is cut)."""
    text = text.strip()
    if not text:
        return True
    combined = f"{draft.description}\n{text}" if draft.description else text
    if len(combined) > MAX_DESCRIPTION:
        return False
    draft.description = combined
    return True


def _story_full(t: Translator) -> str:
    return t._(
        "Your story is already very long, so I could not add this message. Everything you "
        "wrote before is kept. Please send the rest as screenshots, or press Continue."
    )


def _not_understood(t: Translator, draft: Draft, text: str, hint: str) -> Outbound:
    if len(text.strip()) >= STORY_MIN_CHARS and _add_story(draft, text):
        return Outbound(hint + "\n" + t._("(I kept what you wrote as part of your story.)"))
    return Outbound(hint)


def _found_message(t: Translator, found: list[DraftIndicator]) -> Outbound:
    return Outbound(
        t._(
            "I noted these details from your message:\n{items}\nYou can remove any of them later."
        ).format(items=_bullets(t, found))
    )


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


# ---------------------------------------------------------------------------------------------
# Evidence and forwarded messages


async def on_evidence(
    ctx: Ctx,
    dialogue: Dialogue | None,
    files: list[PreparedFile],
    text: str | None,
) -> list[Outbound]:
    """Files and forwarded messages start a report, or join the one in progress."""
    t = ctx.t
    replies: list[Outbound] = []
    started = dialogue is None
    usable = ctx.inbound.forwarded is not None or any(f.stored for f in files)
    if dialogue is None and not usable:
        # Nothing could be kept (e.g. an app file): say why, without opening an empty report.
        return [*(Outbound(f.refusal) for f in files if f.refusal), main_menu(ctx.t)]
    wait = await limits.report_wait(ctx) if dialogue is None else None
    if wait is not None:
        # No new report today: what was just stored for it is not kept either.
        stored = [f.stored for f in files if f.stored]
        ctx.cleanup.extend(await report_store.unused_files(ctx.session, stored))
        return [*(Outbound(f.refusal) for f in files if f.refusal), limits.reached(t, wait, "none")]
    if dialogue is None:
        dialogue, _, _ = await start(ctx, intro=False)
    draft = load(dialogue)
    forwarded = ctx.inbound.forwarded
    kept = await keep_evidence(ctx, draft.report_id, files, text)
    replies += kept.replies
    count, album = kept.count, kept.album
    stored_now = len(kept.files) + kept.forward_saved

    found = _absorb(draft, extract_indicators(text or "", ctx.inbound.links)) if text else []
    _remember_amount(draft, text or "")
    if text and forwarded is None:
        _add_story(draft, text)  # a caption is the resident's own words
    _propose(draft, [item for f in files if f.stored for item in f.read])
    await _save(ctx, dialogue, draft, dialogue.step)
    if found:
        replies.append(_found_message(t, found))
    if album is not None:
        # The album's other parts are still arriving: acknowledge once, when they stop.
        ctx.session.info["album"] = (draft.report_id, album)
        return replies
    if draft.proposed:
        replies.append(proposal(t, draft, dialogue.step))
    if stored_now and forwarded is None:
        replies.append(
            Outbound(
                t.ngettext(
                    "Received. This report now has {n} file.",
                    "Received. This report now has {n} files.",
                    count,
                ).format(n=count)
            )
        )
    if started:
        replies.append(Outbound(t._("I have started a new report with it. A few questions now.")))
    replies.append(await prompt(ctx, dialogue.step, draft))
    return replies


@dataclass
class Kept:
    """What `keep_evidence` did with a message's files."""

    replies: list[Outbound] = field(default_factory=list)  # refusals, and the forward's receipt
    files: list[OutFile] = field(default_factory=list)  # attached now, ready to send on
    forward_saved: bool = False  # a forwarded message's text was kept as a record
    count: int = 0  # the report's files now
    album: str | None = None  # the album these files belong to, if any


async def keep_evidence(
    ctx: Ctx, report_id: int, files: list[PreparedFile], text: str | None
) -> Kept:
    """Attach a message's files (and a forwarded message's text) to a report, within the
    report's limits; during intake and when a reporter answers an officer's question alike."""
    t = ctx.t
    settings = ctx.services.settings
    forwarded = ctx.inbound.forwarded
    origin = forwarded.origin if forwarded else None
    kept = Kept()
    if forwarded is not None and text:
        stored = evidence_store.store(
            settings.evidence_dir,
            _forward_record(forwarded.origin, forwarded.date, text),
            "text/plain",
            settings.evidence_keys,
        )
        kept.forward_saved = await _attach(ctx, report_id, stored, kind="forward", origin=origin)
        kept.replies.append(Outbound(t._("I saved the forwarded message as evidence.")))
    count, total = await report_store.evidence_totals(ctx.session, report_id)
    for prepared in files:
        if prepared.stored is None:
            kept.replies.append(Outbound(prepared.refusal or ""))
            continue
        if count >= settings.max_files_per_report:
            kept.replies.append(
                Outbound(
                    t._("This report already has {n} files, the most one report can hold.").format(
                        n=count
                    )
                )
            )
            continue
        if total + prepared.stored.size > settings.max_report_mb * 1024 * 1024:
            kept.replies.append(
                Outbound(
                    t._(
                        "I couldn't keep this file: the files of one report can total at most "
                        "{mb} MB. The files sent before are kept."
                    ).format(mb=settings.max_report_mb)
                )
            )
            continue
        source = prepared.source
        if await _attach(
            ctx, report_id, prepared.stored, kind=source.kind, origin=origin, source=source
        ):
            count += 1
            total += prepared.stored.size
            path = settings.evidence_dir / prepared.stored.path
            name = safe_filename(source.name, path.suffix) or None
            kept.files.append(
                OutFile(source.kind, path, source.file_id, name, settings.evidence_keys)
            )
        if source.media_group_id:
            kept.album = source.media_group_id
    kept.count = count
    return kept


async def _attach(
    ctx: Ctx,
    report_id: int,
    stored: evidence_store.StoredFile,
    *,
    kind: str,
    origin: str | None,
    source: IncomingFile | None = None,
) -> bool:
    return await report_store.add_attachment(
        ctx.session,
        Attachment(
            report_id=report_id,
            kind=kind,
            sha256=stored.sha256,
            size=stored.size,
            mime=stored.mime,
            stored_path=stored.path,
            file_id=source.file_id if source else None,
            file_unique_id=source.file_unique_id if source else None,
            original_name=(source.name or None) if source else None,
            media_group_id=source.media_group_id if source else None,
            forwarded_from=origin[:256] if origin else None,
            received_at=ctx.now,
        ),
    )


def _forward_record(origin: str, date: object, text: str) -> bytes:
    header = f"Forwarded from: {origin}\n"
    if date is not None:
        header += f"Original date: {date}\n"
    return (header + "\n" + text).encode("utf-8")


async def album_prompt(ctx: Ctx, report_id: int, media_group_id: str) -> list[Outbound]:
    """The single acknowledgement of an album, once its photos stopped arriving."""
    count = await report_store.count_album(ctx.session, report_id, media_group_id)
    dialogue = await active_dialogue(ctx)
    replies = [
        Outbound(
            ctx.t.ngettext(
                "Received {n} file from your album.",
                "Received all {n} files from your album.",
                count,
            ).format(n=count)
        )
    ]
    if dialogue is not None:
        draft = load(dialogue)
        if draft.report_id == report_id:
            if draft.proposed:
                replies.append(proposal(ctx.t, draft, dialogue.step))
            replies.append(await prompt(ctx, dialogue.step, draft))
    return replies


def _propose(draft: Draft, read: list[Indicator]) -> None:
    """Keep what screenshots showed, not yet in the report, for the resident to confirm."""
    for item in read:
        known = draft.indicators + draft.proposed
        if not any(i.kind == item.kind and i.value == item.value for i in known):
            draft.proposed.append(
                DraftIndicator(kind=item.kind, value=item.value, raw=item.raw, holder=item.holder)
            )


def proposal(t: Translator, draft: Draft, step: str) -> Outbound:
    """What was read in the screenshots, to add to the report only if the resident agrees."""
    lines = [t._("📷 In your screenshots I read:")]
    lines += ["• " + display_value(t, item) for item in draft.proposed[:8]]
    lines.append(t._("Shall I add them to your report?"))
    return Outbound(
        "\n".join(lines),
        [
            [
                Button(t._("✅ Yes, add them"), f"r:{step}:read:yes"),
                Button(t._("✖️ No"), f"r:{step}:read:no"),
            ]
        ],
    )


# ---------------------------------------------------------------------------------------------
# Submitting


async def submit(ctx: Ctx, dialogue: Dialogue, draft: Draft) -> list[Outbound]:
    """File the report: case code, indicators, audit event; then tell the resident what's next."""
    t = ctx.t
    report = await report_store.get_report(ctx.session, draft.report_id)
    if report is None or report.status != "draft":
        await end_dialogue(ctx.session, dialogue.user_id)
        return [Outbound(t._("This report was already sent."))]
    wait = await limits.report_wait(ctx)
    if wait is not None:
        return [limits.reached(t, wait, "report")]  # the draft stays, at its summary
    fields = report_store.ReportFields(
        category=draft.category or "other",
        description=draft.description or None,
        occurred_at=draft.occurred_at,
        amount_lost_vnd=draft.amount_vnd,
        anonymous=draft.contact_allowed is not True,
        contact_allowed=draft.contact_allowed is True,
        contact_phone=draft.contact_phone,
    )
    indicators = [
        report_store.NewIndicator(kind=i.kind, value=i.value, raw=i.raw, holder=i.holder)
        for i in draft.indicators
    ]
    code = await report_store.submit_report(
        ctx.session,
        report,
        fields,
        indicators,
        actor_id=ctx.user.id if ctx.user else None,
        now=ctx.now,
    )
    await end_dialogue(ctx.session, dialogue.user_id)
    ctx.session.info["submitted"] = report.id  # the router posts its card to the officers
    parts = [
        t._("✅ Your report has been sent. Your case code is {code}.").format(code=code),
        t._(
            "Police officers will review it. You can check its status at any time with /tinbao. "
            "Keep the case code in case you talk to the police or your bank."
        ),
    ]
    if draft.lost_money:
        parts.append(bank_advice(t))
    parts.append(safety_advice(t))
    return [Outbound("\n\n".join(parts))]


def parse_report_button(data: str) -> tuple[str, str] | None:
    """(step, action) from `r:<step>:<action>`, or None if malformed."""
    parts = data.split(":", 2)
    if len(parts) != 3 or parts[1] not in STEPS:
        return None
    return parts[1], parts[2]
