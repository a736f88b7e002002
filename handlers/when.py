"""Understand when something happened from a resident's short answer ("hôm qua", "20/11 lúc 14h").

No library fits: dateparser is a heavy dependency whose Vietnamese support misses colloquial
forms ("tối qua", "hôm kia", "3 ngay truoc" without diacritics) and babel only formats dates.
So this is a small hand-written parser over the folded text (lower-case, no diacritics).

Choices a caller must know:
- Without a time of day the result is 12:00 noon, so that converting it to UTC (07:00) never
  moves it to the previous day.
- "sáng" is 9:00, "trưa" 12:00, "chiều" 15:00, "tối" 20:00, "đêm"/"khuya" 23:00.
- A date without a year is the most recent such date that is not in the future.
- Dates more than a day ahead are returned as they are: refusing them is the caller's call.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime, timedelta

from handlers.banks import fold
from handlers.extract import normalize_text

__all__ = ["parse_when"]

_NOON = 12
_PERIOD_HOURS = {"sang": 9, "trua": 12, "chieu": 15, "toi": 20, "dem": 23, "khuya": 23}
_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH_NAMES = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"

_TIME_RE = re.compile(
    r"(?<![\d/.\-])([01]?\d|2[0-3])[ \t]*(?:gio|h|g|:)[ \t]*([0-5]\d)?(?:[ \t]*(?:p|phut))?"
    r"(?![\d/])(?:[ \t]*(sang|trua|chieu|toi|dem|khuya|am|pm)(?![a-z]))?"
)
_PERIOD_RE = re.compile(
    r"(?<![a-z])(sang|trua|chieu|toi|dem|khuya)[ \t]+(?=nay|qua|hom|kia|ngay|mai|\d)"
)
_ISO_RE = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_DMY_RE = re.compile(r"(?<![\d.:])(\d{1,2})([/.\-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d:]|[.\-/]\d)")
_VN_DATE_RE = re.compile(
    r"(?<!\d)(\d{1,2})[ \t]*(?:thang|/)[ \t]*(\d{1,2})(?:[ \t,]*(?:nam)?[ \t]*(\d{4}))?(?!\d)"
)
_EN_DMY_RE = re.compile(
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th)?[ \t]+{_MONTH_NAMES}(?:,?[ \t]+(\d{{4}}))?"
)
_EN_MDY_RE = re.compile(
    rf"(?<![a-z]){_MONTH_NAMES}[ \t]+(\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?[ \t]+(\d{{4}}))?"
)
_AGO_RE = re.compile(
    r"(\d{1,3})[ \t]*(ngay|tuan|thang|nam|gio|tieng|phut|days?|weeks?|months?|years?|hours?|"
    r"minutes?)[ \t]*(?:truoc|ago|qua)(?![a-z])"
)
_WORD_DAY_RE = re.compile(
    r"(?<![a-z])(hom nay|bua nay|today|hom qua|bua qua|yesterday|hom kia|bua kia|"
    r"tuan truoc|tuan roi|last week|thang truoc|thang roi|last month|nam ngoai|nam truoc|"
    r"last year|vua xong|vua nay|ban nay|just now)(?![a-z])"
)
_BARE_DAY_RE = re.compile(r"(?<![a-z])(nay|qua|kia)(?![a-z])")
_DAY_OFFSETS = {
    "hom nay": 0, "bua nay": 0, "today": 0, "nay": 0,
    "hom qua": 1, "bua qua": 1, "yesterday": 1, "qua": 1,
    "hom kia": 2, "bua kia": 2, "kia": 2,
    "tuan truoc": 7, "tuan roi": 7, "last week": 7,
}  # fmt: skip


# How the words whose folded forms are ambiguous must be written when diacritics are used.
_DIACRITIC_FORMS = {
    "sang": "sáng", "trua": "trưa", "chieu": "chiều", "toi": "tối", "dem": "đêm",
    "khuya": "khuya", "nay": "nay", "qua": "qua", "kia": "kia",
}  # fmt: skip


def _written_as(o: str, start: int, end: int) -> bool:
    word = o[start:end]
    if word.isascii():
        return True  # typed without diacritics: give it the benefit of the doubt
    return _DIACRITIC_FORMS.get(fold(word)) == word


def _months_back(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _without_year(month: int, day: int, today: date) -> date | None:
    # The most recent such date not in the future; 29/02 looks back to the last leap year.
    for year in range(today.year, today.year - 8, -1):
        d = _valid(year, month, day)
        if d is not None and d <= today:
            return d
    return None


def _absolute_date(f: str, today: date) -> tuple[date | None, bool]:
    """(date, found): found is True when a date was written, even an impossible one."""
    m = _ISO_RE.search(f)
    if m:
        return _valid(int(m[1]), int(m[2]), int(m[3])), True
    for regex, order in ((_EN_DMY_RE, "dmy"), (_EN_MDY_RE, "mdy")):
        m = regex.search(f)
        if m:
            if order == "dmy":
                day, month, year = int(m[1]), _MONTHS[m[2]], m[3]
            else:
                month, day, year = _MONTHS[m[1]], int(m[2]), m[3]
            if year:
                return _valid(int(year), month, day), True
            if not 1 <= month <= 12 or not 1 <= day <= 31:
                return None, True
            return _without_year(month, day, today), True
    m = _VN_DATE_RE.search(f)
    if m and "thang" in m[0]:
        day, month, year_s = int(m[1]), int(m[2]), m[3]
    else:
        m = _DMY_RE.search(f)
        if not m:
            return None, False
        day, month, year_s = int(m[1]), int(m[3]), m[4]
    if year_s:
        year = int(year_s)
        if len(year_s) == 2:
            year += 2000
        return _valid(year, month, day), True
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        return None, True
    return _without_year(month, day, today), True


def _relative_date(
    f: str, now: datetime, whole: str, o: str
) -> tuple[date | None, datetime | None]:
    """(day, exact instant) for relative phrases; the instant is set for "2 giờ trước"."""
    today = now.date()
    m = _AGO_RE.search(f)
    if m:
        n, unit = int(m[1]), m[2]
        if unit.startswith(("gio", "tieng", "hour")):
            return None, now - timedelta(hours=n)
        if unit.startswith(("phut", "minute")):
            return None, now - timedelta(minutes=n)
        if unit.startswith(("ngay", "day")):
            return today - timedelta(days=n), None
        if unit.startswith(("tuan", "week")):
            return today - timedelta(weeks=n), None
        if unit.startswith(("thang", "month")):
            return _months_back(today, n), None
        return _months_back(today, 12 * n), None
    m = _WORD_DAY_RE.search(f)
    if m:
        word = m[1]
        if word in ("vua xong", "vua nay", "ban nay", "just now"):
            return None, now
        if word in ("thang truoc", "thang roi", "last month"):
            return _months_back(today, 1), None
        if word in ("nam ngoai", "nam truoc", "last year"):
            return _months_back(today, 12), None
        return today - timedelta(days=_DAY_OFFSETS[word]), None
    # "nay"/"qua" alone are also "này"/"quá"/"qua" (via): only as a whole answer or after a
    # part of the day ("tối qua").
    for m in _BARE_DAY_RE.finditer(f):
        if not _written_as(o, m.start(1), m.end(1)):
            continue
        if whole in ("nay", "qua", "kia"):
            return today - timedelta(days=_DAY_OFFSETS[m[1]]), None
        p = re.search(rf"({'|'.join(_PERIOD_HOURS)})[ \t]+$", f[: m.start(1)])
        if p is not None and _written_as(o, p.start(1), p.end(1)):
            return today - timedelta(days=_DAY_OFFSETS[m[1]]), None
    return None, None


def parse_when(text: str, now: datetime) -> datetime | None:
    """When the resident says it happened, as an aware datetime in `now`'s zone, else None.

    `now` must be timezone-aware (Asia/Ho_Chi_Minh). See the module docstring for defaults.
    """
    try:
        return _parse_when(text, now)
    except (ValueError, OverflowError, TypeError, KeyError):
        return None


def _parse_when(text: str, now: datetime) -> datetime | None:
    # `o` is the lower-case text with its diacritics, kept aligned with the folded `f` so that
    # "tôi" (I) and "quá" (too) are not taken for "tối" (evening) and "qua" (yesterday).
    o = re.sub(r"\s+", " ", normalize_text(text[:2000]).lower()).strip(" .,!?")
    f = fold(o)
    if len(f) != len(o):
        o = f
    if not f:
        return None
    ago = _AGO_RE.search(f)
    if ago and ago[2].startswith(("gio", "tieng", "hour", "phut", "minute")):
        # "2 giờ trước" is an instant, and its "2 giờ" is not a time of day.
        return _relative_date(f, now, f, f)[1]
    hour: int | None = None
    minute = 0
    tm = _TIME_RE.search(f)
    if tm:
        hour, minute = int(tm[1]), int(tm[2] or 0)
        period = tm[3]
        if period in ("chieu", "toi", "pm") and hour < 12:
            hour += 12
        elif period in ("dem", "khuya") and 6 <= hour < 12:
            hour += 12
        f = f[: tm.start()] + " " + f[tm.end() :]
        o = o[: tm.start()] + " " + o[tm.end() :]
    pm = _PERIOD_RE.search(f) or re.fullmatch(r"(sang|trua|chieu|toi|dem|khuya)", f.strip())
    if pm and not _written_as(o, pm.start(1), pm.end(1)):
        pm = None
    if pm and hour is None:
        hour = _PERIOD_HOURS[pm[1]]
    whole = f.strip(" .,!?")
    f_rel = f
    day, found = _absolute_date(f, now.date())
    if found and day is None:
        return None
    instant: datetime | None = None
    if day is None:
        day, instant = _relative_date(f_rel, now, whole, o)
    if instant is not None:
        return instant
    if day is None:
        if hour is None or not tm:
            return None
        day = now.date()  # "lúc 14h30" alone: today
    return datetime(
        day.year, day.month, day.day, _NOON if hour is None else hour, minute, tzinfo=now.tzinfo
    )
