"""The instant check: "has this number, account, link or e-mail been reported?"

A resident sends `/kiemtra VALUE` (or just the value, outside a report) and hears, in seconds,
how many people reported it and when last, what the link itself looks like, and what to do.
Nothing about the reporters is ever shown, and a value counts as reported only from
`TINBAO_CHECK_MIN_REPORTERS` distinct residents, or once an officer verified a report of it, so
that nobody can smear a number alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from handlers import linkrisk
from handlers.banks import all_banks
from handlers.core import Button, Outbound
from handlers.draft import DraftIndicator
from handlers.extract import Indicator, extract_indicators
from handlers.i18n import N_, Translator
from handlers.intake import display_value
from storage.intel import Sighting, lookup

# At most this many values are checked from one message.
MOST = 3

ADVICE = {
    "phone": N_(
        "Never transfer money because of a call or message, and never tell anyone an OTP code or "
        "password. The police never handle cases by phone, Zalo or Facebook."
    ),
    "bank_account": N_(
        "Do not transfer money to this account until you have checked in person, or by calling "
        "a number you already knew, that the person is who they say."
    ),
    "link": N_(
        "Do not open the link and never type passwords or OTP codes there. To reach your bank, "
        "use its official app or type its address yourself."
    ),
    "email": N_("Do not open attachments or links from this address, and never send codes."),
    "social": N_("Do not transfer money or send codes to this account, even if it looks familiar."),
}
LEVELS = {
    "high": N_("🚩 This link looks dangerous:"),
    "medium": N_("⚠️ Be careful with this link:"),
    "low": N_("The link itself shows no warning sign."),
}


@dataclass(frozen=True)
class Verdict:
    """What the reports and the link say about one value."""

    kind: str  # phone, bank_account, link, email, social
    value: str  # normalized
    seen: Sighting
    reported: bool  # shown as reported (threshold reached, or verified by an officer)
    link: linkrisk.LinkRisk | None = None

    def as_json(self) -> dict[str, Any]:
        """The verdict for `tinbao check` (counts and dates only, never reporters)."""
        risk = self.link
        return {
            "kind": self.kind,
            "value": self.value,
            "reported": self.reported,
            "reporters": self.seen.reporters if self.reported else 0,
            "verified": self.seen.verified,
            "last_reported": self.seen.last_at.isoformat()
            if self.reported and self.seen.last_at
            else None,
            "link": None
            if risk is None
            else {
                "host": risk.host,
                "domain": risk.domain,
                "level": risk.level,
                "official": risk.official,
                "reasons": [{"code": r.code, "detail": r.detail} for r in risk.reasons],
            },
        }


def _account_forms(value: str) -> list[str]:
    """Every stored form of an account: with its bank, and without when the bank is unknown."""
    code, _, number = value.rpartition(":")
    if code:
        return [value, number]
    return [number, *(f"{bank.code}:{number}" for bank in all_banks())]


async def check(
    session: AsyncSession, settings: Settings, text: str, links: tuple[str, ...] = ()
) -> list[Verdict]:
    """Verdicts for the values in `text` (the first `MOST`)."""
    found = extract_indicators(text, links)
    digits = re.sub(r"[\s.\-]", "", text)
    if not found and digits.isdigit() and 6 <= len(digits) <= 19:
        found = [Indicator("bank_account", digits, text)]  # a bare number: an account number
    urls = {i.raw: i for i in found if i.kind == "url"}
    verdicts: list[Verdict] = []
    for item in found:
        if len(verdicts) >= MOST:
            break
        if item.kind == "domain" and item.raw in urls:
            continue  # checked with its link
        if item.kind in ("url", "domain"):
            verdicts.append(await _link(session, settings, item, found))
        elif item.kind == "bank_account":
            seen = (await lookup(session, ["bank_account"], _account_forms(item.value))).of(
                "bank_account"
            )
            verdicts.append(_verdict(settings, "bank_account", item.value, seen))
        elif item.kind == "phone":
            # Many accounts are the owner's phone number (MB, Techcombank…): one lookup for both.
            national = "0" + item.value.removeprefix("+84")
            both = await lookup(
                session, ["phone", "bank_account"], [item.value, *_account_forms(national)]
            )
            verdicts.append(_verdict(settings, "phone", item.value, both.of("phone")))
            account = both.of("bank_account")
            if account.reports:
                verdicts.append(_verdict(settings, "bank_account", national, account))
        else:
            seen = (await lookup(session, [item.kind], [item.value])).of(item.kind)
            verdicts.append(_verdict(settings, item.kind, item.value, seen))
    return verdicts[:MOST]


async def _link(
    session: AsyncSession, settings: Settings, item: Indicator, found: list[Indicator]
) -> Verdict:
    domain = next(
        (i.value for i in found if i.kind == "domain" and i.raw == item.raw),
        item.value if item.kind == "domain" else None,
    )
    # Reports sharing the site count, not only the exact address (scammers vary the path);
    # the site, the address and the officers' rules for it come in one lookup.
    kinds = ["domain"] if item.kind == "domain" else ["domain", "url"]
    values = [v for v in (domain, item.value if item.kind == "url" else None) if v]
    found_ = await lookup(session, kinds, values, linkrisk.rule_candidates(item.value))
    risk = linkrisk.analyse(item.value, allow=found_.allow, deny=found_.deny)
    seen = found_.of("domain")
    if not seen.reports and item.kind == "url":
        seen = found_.of("url")
    return _verdict(settings, "link", item.value, seen, risk)


def _verdict(
    settings: Settings,
    kind: str,
    value: str,
    seen: Sighting,
    risk: linkrisk.LinkRisk | None = None,
) -> Verdict:
    reported = seen.verified or seen.reporters >= settings.check_min_reporters
    return Verdict(kind, value, seen, reported, risk)


def shown(t: Translator, verdict: Verdict) -> str:
    """The checked value as the resident sees it, as in their reports (links defanged)."""
    if verdict.kind == "link":
        host = verdict.link.display_host if verdict.link else verdict.value
        return display_value(t, DraftIndicator(kind="domain", value=host))
    return display_value(t, DraftIndicator(kind=verdict.kind, value=verdict.value))


def message(t: Translator, verdicts: list[Verdict]) -> Outbound:
    """The answer to a check: one block per value, then the advice and a button to report."""
    blocks = []
    for verdict in verdicts:
        lines = [shown(t, verdict)]
        seen = verdict.seen
        day = t.day(seen.last_at) if seen.last_at else ""
        if verdict.reported and seen.verified:
            lines.append(
                t.ngettext(
                    "⛔ The police confirmed a report about this. {n} person reported it, "
                    "last on {day}.",
                    "⛔ The police confirmed a report about this. {n} people reported it, "
                    "last on {day}.",
                    seen.reporters,
                ).format(n=seen.reporters, day=day)
            )
        elif verdict.reported:
            lines.append(
                t.ngettext(
                    "⚠️ {n} person has reported this as a scam, last on {day}.",
                    "⚠️ {n} people have reported this as a scam, last on {day}.",
                    seen.reporters,
                ).format(n=seen.reporters, day=day)
            )
        else:
            lines.append(
                t._("No report about this yet. That does not prove it is safe: stay careful.")
            )
        risk = verdict.link
        if risk is not None and risk.level == "official":
            lines.append(
                t._("✅ This is an official website ({domain}).").format(
                    domain=risk.official or risk.domain or risk.host
                )
            )
        elif risk is not None:
            lines.append(t._(LEVELS[risk.level]))
            lines += ["• " + linkrisk.reason_text(t, reason) for reason in risk.reasons]
        lines.append(t._(ADVICE[verdict.kind]))
        blocks.append("\n".join(lines))
    blocks.append(
        t._("If you were scammed, or someone is pressing you to pay, report it: press the button.")
    )
    return Outbound(
        "\n\n".join(blocks),
        [[Button(t._("🚨 Report a scam"), "menu:report")]],
        title=t._("🔎 Check result"),
    )


def usage(t: Translator) -> Outbound:
    """What /kiemtra needs."""
    return Outbound(
        t._(
            "Send what you want to check after the command: a phone number, an account number, "
            "a link or an e-mail. For example: /kiemtra 0912345678"
        )
    )


def ask(t: Translator) -> Outbound:
    """The menu's Check button: the next message is checked."""
    return Outbound(
        t._(
            "Send me the phone number, account number or link you want to check. I will tell you "
            "if others have reported it."
        )
    )


def nothing_found(t: Translator) -> Outbound:
    """The value could not be read."""
    return Outbound(
        t._(
            "I could not find a phone number, account number, link or e-mail in that. Please "
            "send just the number or the link, for example: /kiemtra 0912345678"
        )
    )
