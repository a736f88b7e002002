"""The resident's rights over their data: see it, take it away as a file, delete it, withdraw.

Law No. 91/2025/QH15 and Decree 356/2025 give a data subject these rights; a resident who just
lost money should be able to use them in two taps, in plain words. Seeing and exporting store
nothing new; deleting and withdrawing first say exactly what goes and what stays, then ask.
The erasure itself is `storage.erasure.erase_person`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from handlers.context import Ctx
from handlers.core import Button, Outbound, OutFile
from handlers.i18n import Translator
from handlers.menu import LANGUAGE_NAMES, main_menu
from handlers.texts import category_label, status_label
from storage import audit
from storage.erasure import erase_person
from storage.personal import personal_data
from storage.queue import STAFF

# A story longer than this is cut in the chat summary (the exported file has all of it).
STORY_CHARS = 300


def nothing_stored(t: Translator) -> Outbound:
    """For someone the bot keeps nothing about (never agreed, or already erased)."""
    return Outbound(
        t._(
            "I have nothing stored about you: nothing is kept before you agree to the privacy "
            "notice. To report a scam, send /baocao."
        )
    )


async def command(ctx: Ctx, action: str) -> list[Outbound]:
    """/dulieucuatoi, /xoadulieu, /rutlaidongy."""
    if action == "mydata":
        return await summary(ctx)
    return await explain(ctx, "withdraw" if action == "withdraw" else "erase")


async def on_button(ctx: Ctx, data: str) -> list[Outbound]:
    """`me:file`, `me:erase`, `me:withdraw` under the summary; `er:yes:<mode>`, `er:no`."""
    kind, _, rest = data.partition(":")
    if kind == "me":
        if rest == "file":
            return await export(ctx)
        return await explain(ctx, "withdraw" if rest == "withdraw" else "erase")
    answer, _, mode = rest.partition(":")
    if answer == "yes" and mode in ("erase", "withdraw"):
        return await erase(ctx, mode)
    if ctx.user is None:
        return [nothing_stored(ctx.t)]
    return [Outbound(ctx.t._("All right, I deleted nothing. Your data is kept.")), main_menu(ctx.t)]


# ------------------------------------------------------------------------------------ see


async def summary(ctx: Ctx) -> list[Outbound]:
    """A readable account of everything stored about the resident, with what they can do."""
    t = ctx.t
    if ctx.user is None:
        return [nothing_stored(t)]
    data = await personal_data(ctx.session, ctx.user)
    account = data["account"]
    lines = [
        t._("Account: {app} id {id}").format(app=account["app"].title(), id=account["id"]),
        t._("Name: {name}").format(name=account["name"] or t._("not stored")),
        t._("Language: {language}").format(
            language=LANGUAGE_NAMES.get(account["language"] or "", account["language"] or "—")
        ),
    ]
    if ctx.user.consent_at is not None:
        lines.append(
            t._("You agreed to the privacy notice on {date} (version {version}).").format(
                date=t.day(ctx.user.consent_at), version=account["consent_version"]
            )
        )
    lines.append(
        t._("Scam warnings: you receive them.")
        if data["warnings"]["subscribed"]
        else t._("Scam warnings: you do not receive them.")
    )
    reports = data["reports"]
    lines.append("")
    if reports:
        lines.append(
            t.ngettext("Your {n} report:", "Your {n} reports:", len(reports)).format(n=len(reports))
        )
    else:
        lines.append(t._("You have not sent any report."))
    for report in reports:
        lines.append("")
        lines += _report_lines(ctx, report)
    if data["draft"] is not None:
        lines.append("")
        lines += _draft_lines(ctx, data["draft"])
    if data["question_waiting"]:
        lines.append("")
        lines.append(
            t._("An officer's question about {code} is waiting for your answer.").format(
                code=data["question_waiting"]
            )
        )
    lines.append("")
    lines.append(
        t._(
            "That is everything I keep about you. Press “Send as a file” to get all of it in a "
            "file, or “Delete my data” to delete it."
        )
    )
    return [
        Outbound(
            "\n".join(lines),
            [
                [Button(t._("📄 Send as a file"), "me:file")],
                [Button(t._("🗑 Delete my data"), "me:erase")],
            ],
            title=t._("🗂 Your data in tinbao"),
        )
    ]


def _report_lines(ctx: Ctx, report: dict[str, Any]) -> list[str]:
    t = ctx.t
    lines = [
        t._("{code} – {category}").format(
            code=report["code"], category=category_label(t, report["category"])
        )
    ]
    sent = _time(report["submitted_at"])
    lines.append(
        "   "
        + t._("Sent {sent}. Status: {status}").format(
            sent=t.day(sent) if sent else "—", status=status_label(t, report["status"])
        )
    )
    if report["amount_lost_vnd"]:
        lines.append(
            "   " + t._("Lost: {amount}").format(amount=t.money(report["amount_lost_vnd"]))
        )
    if report["indicators"]:
        values = ", ".join(i["value"] for i in report["indicators"])
        lines.append("   " + t._("Phones, accounts and links: {values}").format(values=values))
    story = report["description"] or ""
    if story:
        if len(story) > STORY_CHARS:
            story = story[:STORY_CHARS].rstrip() + "… " + t._("(all of it in the file)")
        lines.append("   " + t._("What happened: «{story}»").format(story=story))
    for message in report["messages"]:
        if message["from"] == "you":
            lines.append("   " + t._("Your answer: «{text}»").format(text=message["text"] or ""))
        else:
            lines.append(
                "   " + t._("Officer's question: «{text}»").format(text=message["text"] or "")
            )
    files = len(report["files"])
    lines.append("   " + t.ngettext("{n} file", "{n} files", files).format(n=files))
    if report["contact_phone"]:
        lines.append("   " + t._("Contact phone: {phone}").format(phone=report["contact_phone"]))
    elif report["anonymous"]:
        lines.append("   " + t._("Sent anonymously (no contact phone)."))
    return lines


def _draft_lines(ctx: Ctx, draft: dict[str, Any]) -> list[str]:
    t = ctx.t
    lines = [t._("Unfinished report:")]
    started = _time(draft["started_at"])
    expires = _time(draft["deleted_if_unfinished_at"])
    if started is not None:
        lines.append("   " + t._("Started {date}").format(date=t.day(started)))
    if draft["category"]:
        lines.append("   " + category_label(t, draft["category"]))
    if draft["amount_lost_vnd"]:
        lines.append("   " + t._("Lost: {amount}").format(amount=t.money(draft["amount_lost_vnd"])))
    if draft["indicators"]:
        values = ", ".join(str(i["value"]) for i in draft["indicators"])
        lines.append("   " + t._("Phones, accounts and links: {values}").format(values=values))
    if draft["contact_phone"]:
        lines.append("   " + t._("Contact phone: {phone}").format(phone=draft["contact_phone"]))
    files = len(draft["files"])
    lines.append("   " + t.ngettext("{n} file", "{n} files", files).format(n=files))
    if expires is not None:
        lines.append("   " + t._("Deleted on {date} if not sent.").format(date=t.day(expires)))
    return lines


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# --------------------------------------------------------------------------------- export


async def export(ctx: Ctx) -> list[Outbound]:
    """Everything stored about the resident as a readable JSON file (UTF-8)."""
    t = ctx.t
    if ctx.user is None:
        return [nothing_stored(t)]
    data = await personal_data(ctx.session, ctx.user)
    files_note = _files_note(t)
    document = {
        "service": "tinbao",
        "exported_at": ctx.now.isoformat(),
        "about_files": files_note,
        **data,
    }
    payload = json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    reports = data["reports"]
    files = sum(len(r["files"]) for r in reports) + len((data["draft"] or {}).get("files", []))
    audit.record(
        ctx.session,
        audit.Actor(None, ctx.user.role),  # by role only, like every resident's own action
        "data.exported",
        "user",
        None,
        ctx.now,
        {"reports": len(reports), "files": files, "draft": data["draft"] is not None},
    )
    name = f"tinbao-{ctx.now:%Y%m%d}.json"
    caption = t._("🗂 Your data in tinbao, as a file you can open with any text editor.")
    return [
        Outbound(
            caption + "\n\n" + files_note,
            file=OutFile("document", Path(name), name=name, data=payload),
        )
    ]


def _files_note(t: Translator) -> str:
    return t._(
        "Your evidence files are listed (name, type, size, SHA-256) but not included: you "
        "still have them on your phone, and the SHA-256 shows a copy is the same file. For the "
        "copy the police keep, contact the unit handling your report and give its code."
    )


# --------------------------------------------------------------------------------- delete


async def explain(ctx: Ctx, mode: str) -> list[Outbound]:
    """What deleting (or withdrawing) removes, what is kept for the investigation, and a
    question: nothing happens before the resident confirms."""
    t = ctx.t
    if ctx.user is None:
        return [nothing_stored(t)]
    if ctx.user.role in STAFF:
        return [_staff_refusal(t)]
    data = await personal_data(ctx.session, ctx.user)
    codes = [r["code"] for r in data["reports"]]
    lines = []
    if mode == "withdraw":
        lines.append(
            t._(
                "Withdrawing your consent means I stop storing and using anything from you, and "
                "delete what I keep about you."
            )
        )
        lines.append("")
    lines.append(t._("If you confirm, I will delete:"))
    lines.append(t._("• your Telegram account id, your language and your consent;"))
    lines.append(t._("• the contact phone numbers you gave;"))
    if data["draft"] is not None:
        lines.append(t._("• your unfinished report and the files sent for it;"))
    if data["warnings"]["subscribed"]:
        lines.append(t._("• your scam warnings subscription;"))
    if data["question_waiting"]:
        lines.append(t._("• the officer's question waiting for your answer;"))
    lines.append(t._("• the copies of your messages the bot keeps for delivery."))
    if codes:
        lines.append("")
        lines.append(
            t.ngettext(
                "Kept for the investigation: your report {codes}, with its evidence and the "
                "scammers' phones, accounts and links.",
                "Kept for the investigation: your reports {codes}, with their evidence and the "
                "scammers' phones, accounts and links.",
                len(codes),
            ).format(codes=", ".join(codes))
        )
        lines.append(
            t._(
                "They will no longer be linked to you: officers see them as anonymous and can no "
                "longer contact you or ask you anything. The law allows keeping them to prevent "
                "and investigate crime. Note the codes if you want to ask the police about them "
                "later."
            )
        )
    lines.append("")
    lines.append(t._("This cannot be undone. Do you want to go ahead?"))
    confirm = (
        t._("✅ Yes, withdraw my consent") if mode == "withdraw" else t._("✅ Yes, delete my data")
    )
    title = t._("✋ Withdraw your consent") if mode == "withdraw" else t._("🗑 Delete your data")
    return [
        Outbound(
            "\n".join(lines),
            [[Button(confirm, f"er:yes:{mode}")], [Button(t._("↩ Keep my data"), "er:no")]],
            title=title,
        )
    ]


def _staff_refusal(t: Translator) -> Outbound:
    # An officer's or admin's account is how their work on reports is accounted for; while they
    # hold the role it stays. Once an admin removes the role they are a resident like any other.
    return Outbound(
        t._(
            "Your account is registered as an officer or admin, so it can't be deleted from "
            "here: the reports you work on must show who handled them. Ask an admin to remove "
            "your role first, then send /xoadulieu again."
        )
    )


async def erase(ctx: Ctx, mode: str) -> list[Outbound]:
    """Confirmed: erase the resident's identity, keep their reports unlinked, and say so."""
    t = ctx.t
    user = ctx.user
    if user is None:
        return [nothing_stored(t)]
    if user.role in STAFF:  # re-checked: the button may be old, or forged
        return [_staff_refusal(t)]
    done = await erase_person(ctx.session, user, ctx.now, current_update=ctx.inbound.update_id)
    ctx.user = None
    ctx.cleanup.extend(done.orphans)
    action = "consent.withdrawn" if mode == "withdraw" else "data.erased"
    audit.record(ctx.session, audit.RESIDENT, action, "user", None, ctx.now, done.counts())
    lines = [
        t._("Done: you have withdrawn your consent and your data is deleted.")
        if mode == "withdraw"
        else t._("Done: your data is deleted.")
    ]
    if done.reports:
        lines.append(
            t.ngettext(
                "Your {n} report stays with the police, anonymous. Thank you for sending it: it "
                "helps protect others.",
                "Your {n} reports stay with the police, anonymous. Thank you for sending them: "
                "they help protect others.",
                done.reports,
            ).format(n=done.reports)
        )
    if mode == "withdraw":
        lines.append(t._("I will not store or use anything from you unless you agree again."))
    lines.append(
        t._(
            "If you need to report a scam again, send /baocao: I will show you the privacy "
            "notice first. You can still check a number or link with /kiemtra."
        )
    )
    return [Outbound("\n\n".join(lines))]
