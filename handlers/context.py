"""The context of one handled message: who sent it, in which language, inside which transaction."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import Inbound
from handlers.i18n import Translator
from handlers.services import Services
from storage.models import User

# The version of the privacy notice. Change it whenever the notice changes in substance: everyone
# who agreed to an earlier one is shown the new one before anything more is stored. Read it as
# `context.CONSENT_VERSION` (not imported by name), so one place decides.
CONSENT_VERSION = "2026-11"


@dataclass
class Ctx:
    """One message being handled; `session` is the transaction committed before replying."""

    services: Services
    session: AsyncSession
    inbound: Inbound
    user: User | None
    t: Translator
    now: datetime
    cleanup: list[str] = field(default_factory=list)

    @property
    def consented(self) -> bool:
        """Whether the user agreed to the current privacy notice."""
        return self.user is not None and self.user.consent_version == CONSENT_VERSION


def fold(text: str) -> str:
    """Lower-case text without Vietnamese diacritics, for matching typed answers."""
    text = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return re.sub(r"\s+", " ", text).strip().lower()


_YES = {"co", "yes", "y", "ok", "oke", "vang", "da", "da co", "dung", "dung roi", "roi", "co a"}
_NO = {"khong", "ko", "k", "no", "n", "chua", "khong a", "da khong", "khong co", "kg"}


_DONE = {
    "tiep", "tiep tuc", "xong", "xong roi", "het", "het roi", "vay thoi", "chi vay thoi",
    "bo qua", "next", "continue", "done", "skip", "none",
}  # fmt: skip


def is_done(text: str) -> bool:
    """A typed "continue" ("tiếp tục", "xong", "bỏ qua", "done"), as if the button was pressed."""
    return fold(text).strip(" .!?") in _DONE


def yes_or_no(text: str) -> bool | None:
    """True for a typed yes ("có", "vâng", "yes"), False for a no ("không", "ko"), else None."""
    folded = fold(text).strip(" .!?")
    if folded in _YES:
        return True
    if folded in _NO:
        return False
    return None
