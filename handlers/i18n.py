"""Languages: gettext catalogs, and money and dates formatted for the user's locale."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from locales import DOMAIN, LOCALES_DIR

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet (translated where it is shown)."""
    return message


@cache
def _catalog(language: str) -> Translations:
    # Reading the .po directly (compiled in memory) means no compiled .mo file has to be built or
    # committed, and the catalog in the repository is exactly what runs.
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    translations = Translations(fp=buffer, domain=DOMAIN)
    if language != "en" and not translations._catalog:
        # Babel silently falls back to an empty catalog; a bot that speaks English to elderly
        # Vietnamese residents because a file went missing must not start.
        raise RuntimeError(f"the {language} catalog at {path} has no messages")
    return translations


def pick_language(stored: str | None, hint: str | None) -> str:
    """The user's stored choice, else their app's language, else Vietnamese."""
    if stored in LANGUAGES:
        return stored
    if hint:
        base = hint.split("-")[0].split("_")[0].lower()
        if base in LANGUAGES:
            return base
    return DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Translator:
    """Translations and formatting for one language."""

    language: str

    def _(self, message: str) -> str:
        """The message in this language."""
        return _catalog(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural form for `n` (Vietnamese has one form, English two)."""
        return _catalog(self.language).ngettext(singular, plural, n)

    def number(self, n: int) -> str:
        """A count with the language's grouping, e.g. `12.345` in Vietnamese."""
        return format_decimal(n, locale=self.language)

    def money(self, vnd: int) -> str:
        """An amount of đồng, e.g. `5.000.000 ₫` in Vietnamese."""
        return format_currency(vnd, "VND", locale=self.language)

    def when(self, moment: datetime) -> str:
        """A time and date in Vietnam time, e.g. `14:05 22/11/2026`."""
        return format_datetime(moment.astimezone(VIETNAM), "HH:mm dd/MM/yyyy", locale=self.language)

    def day(self, moment: datetime) -> str:
        """A date in Vietnam time, e.g. `22/11/2026`."""
        return format_date(moment.astimezone(VIETNAM), "dd/MM/yyyy", locale=self.language)


@cache
def translator(language: str) -> Translator:
    """The translator for a language (Vietnamese when the language is unknown)."""
    return Translator(language if language in LANGUAGES else DEFAULT_LANGUAGE)


def check_catalogs() -> None:
    """Load every catalog now, failing loudly at start-up rather than mid-conversation."""
    for language in LANGUAGES:
        _catalog(language)
