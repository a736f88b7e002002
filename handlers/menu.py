"""Consent, the welcome menu, help, language and the resident's list of reports."""

from __future__ import annotations

from handlers import context
from handlers.context import Ctx
from handlers.core import Button, Outbound
from handlers.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator, translator
from handlers.texts import category_label, safety_advice, status_label
from storage import reports as report_store
from storage.users import record_consent, set_language

LANGUAGE_NAMES = {"vi": "🇻🇳 Tiếng Việt", "en": "🇬🇧 English"}


def ask_consent(ctx: Ctx, intent: str = "menu", t: Translator | None = None) -> Outbound:
    """The privacy notice for this user; it says so when they agreed to an earlier one."""
    user = ctx.user
    changed = user is not None and user.consent_version not in (None, context.CONSENT_VERSION)
    return consent_screen(t or ctx.t, ctx.services.settings.draft_days, intent, changed=changed)


def consent_screen(
    t: Translator, draft_days: int, intent: str = "menu", *, changed: bool = False
) -> Outbound:
    """What tinbao collects, who sees it, how long it is kept, and the resident's rights.

    `changed`: the user agreed to an earlier version of this notice. Nothing new is stored
    until they agree to this one; what they already sent (reports, an unfinished report) is
    kept either way.
    """
    other = "en" if t.language == "vi" else "vi"
    notice = (
        t._(
            "Our privacy notice has changed since you agreed to it. Please read it again; "
            "your reports and your unfinished report are kept."
        )
        + "\n\n"
        if changed
        else ""
    )
    return Outbound(
        notice
        + t._(
            "Hello, I'm tinbao. I take reports of scams and online fraud for the police.\n\n"
            "Before we start, please read how your information is handled:\n"
            "• I keep what you tell me: what happened, amounts, account numbers, phone numbers, "
            "links, the files you send, and your Telegram account id.\n"
            "• Only the police officers handling reports can see it, to verify and act on it.\n"
            "• It is kept while the case is handled and as the law requires. A report you do "
            "not finish is deleted after {days} days.\n"
            "• You may see your data (/dulieucuatoi), have it corrected or deleted (/xoadulieu) "
            "and withdraw your consent (/rutlaidongy) at any time.\n"
            "(Personal Data Protection Law No. 91/2025/QH15)\n\n"
            "Do you agree?"
        ).format(days=draft_days),
        buttons=[
            [Button(t._("✅ I agree"), f"consent:yes:{t.language}:{intent}")],
            [Button(t._("I don't agree"), f"consent:no:{t.language}")],
            [Button(LANGUAGE_NAMES[other], f"consent:lang:{other}:{intent}")],
        ],
        title=t._("🔒 Your information"),
    )


def declined(t: Translator) -> Outbound:
    """What the bot can still do for someone who does not consent."""
    return Outbound(
        t._(
            "That's all right. I have not stored anything about you.\n\n"
            "You can still:\n"
            "• read safety advice with /trogiup;\n"
            "• call your bank's hotline at once if you transferred money;\n"
            "• report at the nearest police station, in the VNeID app, or at "
            "canhbao.khonggianmang.vn.\n\n"
            "If you change your mind, send /baocao."
        )
    )


async def accept(ctx: Ctx, language: str) -> None:
    """Record consent (this is when the user row is first created)."""
    ctx.user = await record_consent(
        ctx.session,
        ctx.inbound.channel,
        ctx.inbound.user_id,
        language=language if language in LANGUAGES else "vi",
        version=context.CONSENT_VERSION,
        at=ctx.now,
    )
    ctx.t = translator(ctx.user.language or DEFAULT_LANGUAGE)


def main_menu(t: Translator, greeting: str | None = None) -> Outbound:
    """The friendly menu shown whenever a message is not part of a flow."""
    return Outbound(
        greeting or t._("What would you like to do?"),
        buttons=[
            [Button(t._("🚨 Report a scam"), "menu:report")],
            [Button(t._("🔎 Check a number or link"), "menu:check")],
            [Button(t._("📂 My reports"), "menu:mine")],
            [Button(t._("❓ Help"), "menu:help"), Button(t._("🌐 Language"), "menu:lang")],
        ],
    )


def help_text(t: Translator) -> Outbound:
    """The commands and the standing safety advice."""
    return Outbound(
        t._(
            "I help you report scams to the police.\n\n"
            "/baocao – report a scam\n"
            "/kiemtra – check a phone number, account or link before you pay\n"
            "/tinbao – your reports and their status\n"
            "/nhancanhbao – receive warnings about new scams (/huynhan to stop)\n"
            "/huy – cancel the report you are writing\n"
            "/ngonngu – change the language\n"
            "/dulieucuatoi – see or download what I keep about you\n"
            "/xoadulieu – delete your data (/rutlaidongy to withdraw your consent)\n"
            "/trogiup – this help\n\n"
            "During a report, you can type your answers or press the buttons, send screenshots "
            "and forward the scammer's messages to me."
        )
        + "\n\n"
        + safety_advice(t),
        title=t._("❓ Help"),
    )


def language_menu(t: Translator) -> Outbound:
    """Buttons to choose the language."""
    return Outbound(
        t._("Choose your language:"),
        buttons=[[Button(name, f"lang:{code}")] for code, name in LANGUAGE_NAMES.items()],
    )


async def change_language(ctx: Ctx, language: str) -> Outbound:
    """Store the chosen language and confirm in it."""
    assert ctx.user is not None
    await set_language(ctx.session, ctx.user, language)
    ctx.t = translator(language)
    return Outbound(ctx.t._("Done, I will speak English with you."))


async def my_reports(ctx: Ctx) -> Outbound:
    """The resident's reports with their case codes and status."""
    t = ctx.t
    if ctx.user is None or ctx.user.id is None:
        return Outbound(t._("You have not sent any report yet. To report a scam, send /baocao."))
    reports = await report_store.reports_of(ctx.session, ctx.user.id)
    if not reports:
        return Outbound(t._("You have not sent any report yet. To report a scam, send /baocao."))
    lines = []
    buttons = []
    for report in reports:
        sent = t.when(report.submitted_at) if report.submitted_at else ""
        line = t._("{code} – {category}\n   Sent {sent}. Status: {status}").format(
            code=report.code,
            category=category_label(t, report.category),
            sent=sent,
            status=status_label(t, report.status),
        )
        if report.status == "needs_info":
            line += "\n   " + t._("❓ The officer asked you a question: press Answer below.")
            label = t._("✍️ Answer about {code}").format(code=report.code)
            buttons.append([Button(label, f"ans:{report.id}")])
        lines.append(line)
    return Outbound("\n\n".join(lines), buttons, title=t._("📂 Your reports"))
