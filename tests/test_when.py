"""When the resident says it happened, relative to a fixed now: 2026-11-22 10:00 in Vietnam."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from handlers.when import parse_when

VN = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=VN)


def at(y: int, mo: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=VN)


CASES: list[tuple[str, datetime]] = [
    ("hôm nay", at(2026, 11, 22)),
    ("nay", at(2026, 11, 22)),
    ("hôm qua", at(2026, 11, 21)),
    ("qua", at(2026, 11, 21)),
    ("hôm kia", at(2026, 11, 20)),
    ("3 ngày trước", at(2026, 11, 19)),
    ("tuần trước", at(2026, 11, 15)),
    ("tháng trước", at(2026, 10, 22)),
    ("sáng nay", at(2026, 11, 22, 9)),
    ("chiều nay", at(2026, 11, 22, 15)),
    ("tối qua", at(2026, 11, 21, 20)),
    ("20/11", at(2026, 11, 20)),
    ("20/11/2026", at(2026, 11, 20)),
    ("20-11-2026", at(2026, 11, 20)),
    ("20.11.2026", at(2026, 11, 20)),
    ("20/11/26", at(2026, 11, 20)),
    ("2026-11-20", at(2026, 11, 20)),
    ("14h30 20/11", at(2026, 11, 20, 14, 30)),
    ("20/11 lúc 14:30", at(2026, 11, 20, 14, 30)),
    ("14:05 hôm qua", at(2026, 11, 21, 14, 5)),
    ("ngày 20 tháng 11", at(2026, 11, 20)),
    ("20 tháng 11 năm 2026", at(2026, 11, 20)),
    ("today", at(2026, 11, 22)),
    ("yesterday", at(2026, 11, 21)),
    ("3 days ago", at(2026, 11, 19)),
    ("last week", at(2026, 11, 15)),
    ("Nov 20", at(2026, 11, 20)),
    ("20 Nov 2026", at(2026, 11, 20)),
    ("hom qua", at(2026, 11, 21)),
    ("3 ngay truoc", at(2026, 11, 19)),
    ("toi qua", at(2026, 11, 21, 20)),
    ("HÔM QUA", at(2026, 11, 21)),
    ("tôi bị lừa hôm qua", at(2026, 11, 21)),
    ("8 giờ tối qua", at(2026, 11, 21, 20)),
    ("lúc 9h sáng hôm qua", at(2026, 11, 21, 9)),
    ("2 tuần trước", at(2026, 11, 8)),
    ("2 giờ trước", at(2026, 11, 22, 8)),
    ("vừa xong", NOW),
    ("lúc 14h", at(2026, 11, 22, 14)),
    ("1/1/2025", at(2025, 1, 1)),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=t) for t, e in CASES])
def test_parse_when_understands_common_answers(text: str, expected: datetime) -> None:
    got = parse_when(text, NOW)
    assert got == expected
    assert got is not None and got.tzinfo is VN


def test_date_without_time_is_noon_so_utc_keeps_the_day() -> None:
    got = parse_when("20/11/2026", NOW)
    assert got is not None
    assert got.hour == 12
    assert got.astimezone(ZoneInfo("UTC")).date() == got.date()


@pytest.mark.parametrize(
    "text", ["31/02", "31/02/2026", "30/2", "32/1", "20/13/2026", "2026-02-30"]
)
def test_impossible_dates_are_none(text: str) -> None:
    assert parse_when(text, NOW) is None


@pytest.mark.parametrize("text", ["", "không nhớ", "abc", "😡", "lâu rồi", "tôi quá mệt"])
def test_unclear_answers_are_none(text: str) -> None:
    assert parse_when(text, NOW) is None


def test_date_without_year_is_the_latest_not_in_the_future() -> None:
    assert parse_when("25/12", NOW) == at(2025, 12, 25)
    assert parse_when("22/11", NOW) == at(2026, 11, 22)
    assert parse_when("Dec 25", NOW) == at(2025, 12, 25)
    assert parse_when("29/02", NOW) == at(2024, 2, 29)


def test_future_date_with_year_is_returned_as_is() -> None:
    assert parse_when("30/12/2026", NOW) == at(2026, 12, 30)


def test_last_month_clamps_to_the_end_of_a_short_month() -> None:
    now = datetime(2026, 3, 31, 10, 0, tzinfo=VN)
    assert parse_when("tháng trước", now) == at(2026, 2, 28)
