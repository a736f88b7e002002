"""The translations: complete, in step with the code, and really loaded."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers.i18n import pick_language, translator
from locales.__main__ import problems


def test_catalogs_have_every_message_translated_with_the_same_placeholders() -> None:
    assert problems() == []


def test_vietnamese_is_really_loaded_not_the_english_fallback() -> None:
    vi = translator("vi")
    assert vi._("Did you lose money?") == "Bạn có bị mất tiền không?"
    assert vi.ngettext("{n} file", "{n} files", 3).format(n=3) == "3 tệp"
    en = translator("en")
    assert en.ngettext("{n} file", "{n} files", 1).format(n=1) == "1 file"
    assert en.ngettext("{n} file", "{n} files", 2).format(n=2) == "2 files"


def test_money_and_dates_use_the_locale_and_vietnam_time() -> None:
    moment = datetime(2026, 11, 22, 7, 5, tzinfo=UTC)
    assert translator("vi").money(5_000_000) == "5.000.000\xa0₫"
    assert translator("en").money(5_000_000) == "₫5,000,000"
    assert translator("vi").when(moment) == "14:05 22/11/2026"


def test_language_is_the_stored_choice_then_the_app_language_then_vietnamese() -> None:
    assert pick_language("en", "vi") == "en"
    assert pick_language(None, "en-US") == "en"
    assert pick_language(None, "fr") == "vi"
    assert pick_language(None, None) == "vi"
