"""The answers of a report in progress, kept in the dialogue row as JSON."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DraftIndicator(BaseModel):
    """A phone, account, link… the resident gave, as found and normalised."""

    kind: str
    value: str
    raw: str = ""
    holder: str | None = None


class Draft(BaseModel):
    """Everything answered so far. Validated on every load: the row is data, not trusted code."""

    report_id: int
    category: str | None = None
    lost_money: bool | None = None
    amount_vnd: int | None = None
    # An amount the story or a forwarded message mentioned, offered at the money question.
    suggested_amount: int | None = None
    occurred_at: datetime | None = None
    # A day without a time is stored at noon (see docs/export.md) and shown as a day only.
    occurred_day_only: bool = False
    indicators: list[DraftIndicator] = Field(default_factory=list)
    pending_account: str | None = None
    description: str = ""
    contact_allowed: bool | None = None
    contact_phone: str | None = None
    history: list[str] = Field(default_factory=list)
    editing: bool = False
    # Read from screenshots (QR codes, OCR) and waiting for the resident to confirm them.
    proposed: list[DraftIndicator] = Field(default_factory=list)

    def add(self, found: DraftIndicator) -> bool:
        """Add an indicator unless it is already there; True if it was new."""
        if any(i.kind == found.kind and i.value == found.value for i in self.indicators):
            return False
        self.indicators.append(found)
        return True

    def accounts(self) -> list[DraftIndicator]:
        """The bank accounts money went to."""
        return [i for i in self.indicators if i.kind == "bank_account"]

    def contacts(self) -> list[DraftIndicator]:
        """How the scammer reached the resident: phones, links, social accounts, emails."""
        return [i for i in self.indicators if i.kind != "bank_account"]
