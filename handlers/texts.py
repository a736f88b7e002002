"""Labels and standing texts shared by several handlers (all translated where shown)."""

from __future__ import annotations

from handlers.i18n import N_, Translator

# The eleven kinds of DESIGN.md, in the order residents see them. Keys are stored and exported.
CATEGORIES: dict[str, str] = {
    "police": N_("Impersonating police, procuracy or court"),
    "bank_sms": N_("Fake bank or brand SMS with a link"),
    "investment": N_("Investment, crypto or trading platform"),
    "job": N_("Online jobs, “tasks”"),
    "shopping": N_("Online shopping or deposits"),
    "loan": N_("Loans or loan apps"),
    "romance": N_("Romance or gifts"),
    "hacked_account": N_("A friend's hacked account asking for money"),
    "deepfake": N_("Deepfake video call"),
    "recovery": N_("“We can recover your lost money”"),
    "other": N_("Something else"),
}

STATUSES: dict[str, str] = {
    "new": N_("Received, waiting for an officer"),
    "in_review": N_("An officer is reviewing it"),
    "needs_info": N_("The officer needs more information"),
    "verified": N_("Verified by an officer"),
    "forwarded": N_("Forwarded to investigators"),
    "closed": N_("Closed"),
    "rejected": N_("Not taken further"),
    "spam": N_("Not taken further"),
}


def category_label(t: Translator, key: str | None) -> str:
    """The category's name in the user's language."""
    return t._(CATEGORIES.get(key or "other", CATEGORIES["other"]))


def status_label(t: Translator, status: str) -> str:
    """The status's name in the user's language."""
    return t._(STATUSES.get(status, STATUSES["new"]))


def safety_advice(t: Translator) -> str:
    """The police's standing advice, shown after a report and in the help."""
    return t._(
        "Remember: the police, procuracy and courts never work with you, take statements or send "
        "arrest warrants over the phone, Zalo or Facebook. They never ask you to transfer money, "
        "or for an OTP code or bank password.\n"
        "If you are in danger, call 113."
    )


def bank_advice(t: Translator) -> str:
    """What to do at once after a transfer."""
    return t._(
        "If you transferred money recently, call your bank's hotline now and ask them to block "
        "the transaction. The sooner, the better the chance."
    )
