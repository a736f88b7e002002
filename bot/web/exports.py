"""The queue's current filter as a spreadsheet (CSV or XLSX) for investigators."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from openpyxl import Workbook

from handlers.cards import status_name
from handlers.i18n import VIETNAM, Translator
from handlers.texts import category_label

COLUMNS = (
    "code",
    "status",
    "category",
    "submitted_at",
    "occurred_at",
    "amount_lost_vnd",
    "assignee",
    "indicators",
    "description",
)


def _headers(t: Translator) -> list[str]:
    return [
        t._("Case code"),
        t._("Status"),
        t._("Category"),
        t._("Sent"),
        t._("When it happened"),
        t._("Money lost (VND)"),
        t._("Handled by"),
        t._("Phones, accounts and links"),
        t._("Story"),
    ]


def _cells(row: dict[str, Any], t: Translator) -> list[Any]:
    cells: list[Any] = []
    for column in COLUMNS:
        value = row[column]
        if column == "status":
            value = status_name(t, value)
        elif column == "category":
            value = category_label(t, value)
        elif isinstance(value, datetime):
            value = value.astimezone(VIETNAM).replace(tzinfo=None)
        cells.append(value)
    return cells


def _safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (CSV/formula injection): residents type
    these texts, and a story starting with `=` must stay text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[dict[str, Any]], t: Translator) -> bytes:
    """UTF-8 CSV with a byte-order mark, so Excel shows Vietnamese correctly."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(_headers(t))
    for row in rows:
        writer.writerow(
            [
                _safe(v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else v)
                for v in _cells(row, t)
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: list[dict[str, Any]], t: Translator) -> bytes:
    """An XLSX workbook with one sheet of reports (times in Vietnam time)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(t._("Reports"))
    sheet.append(_headers(t))
    for row in rows:
        sheet.append([_safe(v) for v in _cells(row, t)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
