"""Pull scam indicators (phones, bank accounts, links, e-mails, profiles) and amounts out of text.

Everything here returns data only. Every function accepts any `str` (empty, huge, emoji, control
characters, lone surrogates) without raising: every pattern is anchored at token starts with a
look-behind and has no nested unbounded repeats, so scanning is linear in the text length.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal
from urllib.parse import parse_qs, urlsplit, urlunsplit

import phonenumbers
import tldextract

from handlers.banks import Bank, find_banks, fold

__all__ = [
    "Indicator",
    "IndicatorKind",
    "extract_indicators",
    "find_amounts",
    "normalize_text",
    "parse_amount",
]

IndicatorKind = Literal["phone", "bank_account", "url", "domain", "email", "social"]


@dataclass(frozen=True)
class Indicator:
    """One thing a report can be checked against: a phone, an account, a link…

    `value` is normalized (E.164 phone, "VCB:0123456789", punycode lower-case domain…) and
    `raw` is the text as the resident wrote it. `holder` is only set for bank accounts whose
    holder's name was written next to them, upper-case ASCII as banks show it.
    """

    kind: IndicatorKind
    value: str
    raw: str
    holder: str | None = None


def normalize_text(text: str) -> str:
    """`text` in NFC: some keyboards send decomposed diacritics, which would defeat matching."""
    try:
        return unicodedata.normalize("NFC", text)
    except (TypeError, ValueError):
        return text


# The bundled Public Suffix List snapshot, never the network; private suffixes keep
# "state-bank.vercel.app" whole instead of collapsing every such site into "vercel.app".
_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)

# Platforms whose own domain says nothing about who the scammer is.
_PLATFORM_DOMAINS = frozenset(
    {"facebook.com", "fb.com", "fb.me", "zalo.me", "t.me", "telegram.me", "tiktok.com"}
)
# Endings of file names that are also top-level domains ("anh.zip", "video.mov").
_FILE_EXTENSIONS = frozenset(
    "jpg jpeg png gif webp heic bmp svg pdf doc docx xls xlsx ppt pptx txt csv zip rar 7z "
    "apk exe mp3 mp4 mov avi mkv wav m4a ogg json xml html htm js py".split()
)

_URL_RE = re.compile(r"(?<![\w@/.])(?:https?://|www\.)[^\s<>\"'`{}|\\^\[\]]+", re.IGNORECASE)
_EMAIL_RE = re.compile(r"(?<![\w.+\-])[\w.+\-]{1,64}@[\w\-]{1,63}(?:\.[\w\-]{1,63})+")
_SOCIAL_RE = re.compile(
    r"(?<![\w.@/\-])(?:https?://)?(?:(?:www|m|mbasic|web|mobile|vi-vn|vn|id)\.)?"
    r"(facebook\.com|fb\.com|fb\.me|zalo\.me|t\.me|telegram\.me|tiktok\.com)"
    r"/([^\s<>\"'`]{1,300})",
    re.IGNORECASE,
)
_DOMAIN_TOKEN_RE = re.compile(r"(?<![\w.\-])[\w\-]+(?:\.[\w\-]+)+")
_HANDLE_RE = re.compile(r"(?<![\w@.])@([A-Za-z][A-Za-z0-9_]{3,31})(?![\w@])")
_TELEGRAM_WORD_RE = re.compile(r"(?<![a-z0-9])(?:telegram|tele|tg|telegam|tlg)(?![a-z0-9])")
_TRAILING_PUNCT = ".,;:!?)»\"'”’…>]}"

# A run of digits as people write phone and account numbers: groups joined by one space, dot or
# dash, optionally behind "+84" or "(+84)". Each repeat must start with a separator, so there is
# only one way to match a run and no backtracking blow-up.
_NUMBER_RUN_RE = re.compile(
    r"(?<![\w+.,/])(?:\((?:\+?\d{1,3}|0\d{3})\)[ \t]?|\+[ \t]?)?\d+(?:[ \t.\-\u00a0]\d+)*"
)
_DATE_RUN_RE = re.compile(r"\d{1,2}([.\-])\d{1,2}\1(?:\d{2}|\d{4})|\d{4}([.\-])\d{1,2}\2\d{1,2}")
_MONEY_GROUPS_RE = re.compile(r"[1-9]\d{0,2}(?:([.,])\d{3})(?:\1\d{3})*")

_ACCOUNT_WORDS = (
    r"stk|so tk|so tai khoan|tai khoan|tk|tknh|acc|account|acct|a/c|ck vao|ck qua|ck toi|"
    r"chuyen khoan vao|chuyen khoan qua|chuyen khoan toi|chuyen khoan|chuyen tien vao|"
    r"chuyen vao|nhan tien|so the|the atm|the ngan hang|vi dien tu|nap tien vao|nap vao|"
    r"ctk|chu tk|chu tai khoan|stk nhan|ngan hang|bank"
)
_PHONE_WORDS = (
    r"sdt|sđt|so dt|so dien thoai|dien thoai|dt|dd|di dong|hotline|goi|goi cho|goi den|goi toi|"
    r"lien he|lh|zalo|phone|tel|call|sms|nhan tin|tin nhan|alo|so may|may|whatsapp|viber|"
    r"telegram|tele|hoac|ho tro|tong dai|cskh"
)
_CONTEXT_RE = re.compile(
    rf"(?<![a-z0-9])(?:(?P<acct>{_ACCOUNT_WORDS})|(?P<phone>{_PHONE_WORDS}))(?![a-z0-9])"
)
_OTP_BEFORE_RE = re.compile(
    r"(?<![a-z0-9])(?:otp|ma|code|pin|ma xac nhan|ma xac thuc|ma bao mat|ma otp|passcode)"
    r"[\s:=\-]*(?:la|cua ban la|cua quy khach la|is)?[\s:=\-]*$"
)
# Identity card, tax and case numbers are evidence of identity theft, not scam indicators.
_ID_BEFORE_RE = re.compile(
    r"(?<![a-z0-9])(?:cccd|cmnd|cmt|can cuoc|can cuoc cong dan|chung minh nhan dan|mst|"
    r"ma so thue|ho chieu|passport|bhxh|so bhxh|ma don|ma van don|ma giao dich|ma gd|"
    r"so hieu|bien so)[\s:#.\-]*(?:so|la)?[\s:#.\-]*$"
)
_MONEY_BEFORE_RE = re.compile(
    r"(?<![a-z0-9])(?:so tien|tong tien|tong|gia|phi|le phi|vnd|usd|mat|het|thiet hai)"
    r"[\s:=\-]*$"
)
_UNIT_AFTER_RE = re.compile(
    r"[ \t]?(?:d|vnd|dong|k|tr|trieu|nghin|ngan(?!\s*hang)|ty|ti|toi|cu|lit|usd|\$|%|nam|thang)"
    r"(?![a-z#])"
)
_OTP_LENGTHS = range(4, 9)
_CODE_BEFORE_RE = re.compile(
    r"(?<![a-z0-9])ma(?: don| don hang| hang)?[\s:#.\-]*(?:la|so)?[\s:#]*$"
)
# A form's next line naming the bank: "STK: 0123456789\nNgân hàng: BIDV".
_NEXT_LINE_BANK_RE = re.compile(r"[ \t,.;:\-]*\n[ \t]*(?:ngan hang|nh|bank|tai)?[ \t]*:?[ \t]*")


# --- amounts ----------------------------------------------------------------------------------
# No library parses Vietnamese money talk ("1tr5", "2 tỏi", "50 lít", "1 triệu rưỡi"), so this is
# a small hand-written scanner over the folded text (lower-case, no diacritics).

_UNITS: dict[str, int] = {
    "ty": 10**9,
    "ti": 10**9,
    "toi": 10**9,
    "trieu": 10**6,
    "tr": 10**6,
    "cu": 10**6,
    "m": 10**6,
    "lit": 10**5,
    "nghin": 10**3,
    "ngan": 10**3,
    "k": 10**3,
}
_AMOUNT_NUM_RE = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*")
_SP = r"[ \t\u00a0]{0,2}"
_AMOUNT_UNIT_RE = re.compile(rf"{_SP}(trieu|tr|ty|ti|toi|cu|lit|nghin|ngan|k|m)(?![a-z#])")
# "5 ngàn hàng" (ngân hàng) is no 5,000 and "50 lít xăng" is fuel, not five million.
_NOT_MONEY_AFTER_RE = re.compile(r"\s?(?:hang|xang|dau|nuoc|sua|bia|ruou|khi)(?![a-z])")
# A grouped number counting something else: "2.350 điểm" (reward points), "1.200 lượt".
_COUNTED_AFTER_RE = re.compile(r"[ \t]?(?:diem|luot|nguoi|lan|km|m2)(?![a-z0-9])")
_AMOUNT_NEXT_RE = re.compile(rf"{_SP}(\d+(?:[.,]\d+)*)")
# "1tr5", "2 triệu 5": the digits may end a clause ("nạp 4tr8, rồi", "mất 2 triệu 5. Số…"), but
# not be the start of a grouped or decimal number ("2 triệu 5.000", "1 tỷ 2,5 tỷ").
_AMOUNT_TAIL_RE = re.compile(rf"{_SP}(\d{{1,3}})(?!\d|[.,]\d)")
_HALF_RE = re.compile(rf"{_SP}ruoi(?![a-z#])")
_CURRENCY_RE = re.compile(rf"{_SP}(?:vnd|vnđ|dong|d)(?![a-z#])")
_CURRENCY_BEFORE_RE = re.compile(r"(?<![a-z])vnd[ \t:]{0,2}$")
# "50.000 USD", "5 nghìn đô la": money, but no VND amount; matched on the folded text. A lone
# "đô" is left out: folded, it is "do" (because).
_FOREIGN_AFTER_RE = re.compile(
    rf"{_SP}(?:usd|eur|euro|gbp|jpy|cny|krw|sgd|aud|thb|\$|€|£|do la|do my|dola|bang anh|"
    r"yen nhat|nhan dan te)(?![a-z#])"
)


_BARE_ANSWER_RE = re.compile(
    r"[\W_]*(?:(?:khoang|tam|hon|gan|chung|tong|tong cong|la|mat|het|co|duoc|chi|tat ca|"
    r"len toi|toi|tren|duoi)\s+)*\d[\d.,]*\s*(?:a|thoi|nhe|do|roi|ak|ah)?[\W_]*"
)


def _number(numstr: str, with_unit: bool) -> Decimal | None:
    """The value of "5", "2,5", "2.5", "5.000.000", "5,000,000"; None when it is no number."""
    if _MONEY_GROUPS_RE.fullmatch(numstr):
        return Decimal(numstr.replace(".", "").replace(",", ""))
    if numstr.isdigit():
        return Decimal(numstr)
    if with_unit and re.fullmatch(r"\d+[.,]\d{1,2}", numstr):
        # Before a unit, "2,5 triệu" and "2.5tr" are decimals.
        return Decimal(numstr.replace(",", "."))
    return None


# Only the diacritics that occur in money words are folded for unit matching; other accented
# letters become "#" so that "tôi" (I), "cứ", "cũ" never read as "tỏi", "củ".
_UNIT_LETTERS = frozenset("ỷỉỏủíệìàđồưỡ")


def _unit_fold(t: str, f: str) -> str:
    """Like `fold`, but a non-ASCII letter outside money words becomes "#"."""
    if t.isascii():
        return f
    return "".join(
        fc if (c.isascii() or c.lower() in _UNIT_LETTERS or not c.isalpha()) else "#"
        for c, fc in zip(t, f, strict=True)
    )


def _scan_amounts(f: str, af: str, lenient: bool) -> list[tuple[int, int, int]]:
    """(vnd, start, end) for amounts. `f` is the folded text and `af` its `_unit_fold`.

    `lenient` also takes bare numbers.
    """
    out: list[tuple[int, int, int]] = []
    pos = 0
    n = len(f)
    while pos < n:
        m = _AMOUNT_NUM_RE.search(af, pos)
        if m is None:
            break
        pos = m.end()
        total = Decimal(0)
        end = m.end()
        numstr = m.group()
        unit_m = _AMOUNT_UNIT_RE.match(af, end)
        if unit_m is not None and _NOT_MONEY_AFTER_RE.match(f, unit_m.end()):
            continue  # "50 lít xăng" is fuel: the number is no amount at all
        if unit_m is not None and unit_m.group(1) == "m" and not lenient:
            unit_m = None  # "5m" is five metres as often as five million in a long text
        if unit_m is not None:
            value = _number(numstr, True)
            if value is None:
                continue
            last_unit = _UNITS[unit_m.group(1)]
            total = value * last_unit
            end = unit_m.end()
            while True:
                nxt = _AMOUNT_NEXT_RE.match(af, end)
                if nxt is not None:
                    sub_unit = _AMOUNT_UNIT_RE.match(af, nxt.end())
                    if sub_unit is not None and _UNITS[sub_unit.group(1)] < last_unit:
                        sub_val = _number(nxt.group(1), True)
                        if sub_val is not None:
                            total += sub_val * _UNITS[sub_unit.group(1)]
                            last_unit = _UNITS[sub_unit.group(1)]
                            end = sub_unit.end()
                            continue
                break
            half = _HALF_RE.match(af, end)
            tail = _AMOUNT_TAIL_RE.match(af, end)
            if half is not None:
                total += Decimal(last_unit) / 2
                end = half.end()
            elif (
                tail is not None and last_unit >= 1000 and not _UNIT_AFTER_RE.match(af, tail.end())
            ):
                # "1tr5", "1 tỷ 2": trailing digits are the next places down (1.5 million).
                digits = tail.group(1)
                total += Decimal(digits) * last_unit / (10 ** len(digits))
                end = tail.end()
            cur = _CURRENCY_RE.match(af, end)
            if cur is not None:
                end = cur.end()
        else:
            cur = _CURRENCY_RE.match(af, end)
            value = _number(numstr, False)
            if value is None or (cur is None and _COUNTED_AFTER_RE.match(f, end)):
                continue
            if cur is not None:
                end = cur.end()
            elif _CURRENCY_BEFORE_RE.search(f, max(0, m.start() - 6), m.start()):
                pass
            elif _MONEY_GROUPS_RE.fullmatch(numstr) and (lenient or len(numstr) >= 5):
                pass
            elif lenient and numstr.isdigit() and not numstr.startswith("0") and len(numstr) <= 13:
                pass
            else:
                continue
            total = value
        pos = end
        if _FOREIGN_AFTER_RE.match(f, end):
            continue
        out.append((int(total), m.start(), end))
    return out


def find_amounts(text: str) -> list[tuple[int, str]]:
    """(vnd, raw) for every amount of money mentioned in `text`, in order.

    Only numbers with a unit or currency ("5tr", "500k", "3 củ", "200 nghìn đồng", "5.000 đ")
    or money grouping ("5.000.000") count, so phone numbers, years and account numbers don't.
    """
    t = normalize_text(text)
    f = fold(t)
    af = _unit_fold(t, f)
    sf, saf, starts, ends = _spell_out(f, af)
    return [
        (vnd, t[starts[s] : ends[e - 1]]) for vnd, s, e in _scan_amounts(sf, saf, lenient=False)
    ]


# Number words, for answers like "hai triệu", "năm trăm nghìn", "2 trăm nghìn", "mười lăm triệu".
_DIGIT_WORDS = {
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "lam": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
}
_NUMBER_WORD_RE = re.compile(r"(?<![a-z])(?:tram|muoi|chuc)(?![a-z])")


def _words_to_digits(f: str) -> str:
    """Folded text with spelled-out numbers below a thousand turned into digits.

    No maintained library reads Vietnamese number words, and only this small part is needed:
    the units (nghìn, triệu, tỷ) stay words and `_scan_amounts` multiplies as usual. The result
    still needs such a unit to count as money, so "năm 2024" stays a year.
    """
    out: list[str] = []
    total: int | None = None
    pending: int | None = None
    after_tens = False

    def flush() -> None:
        nonlocal total, pending, after_tens
        if total is not None or pending is not None:
            out.append(str((total or 0) + (pending or 0)))
        total, pending, after_tens = None, None, False

    for token in f.split():
        word = token.strip(".,;:!?")
        value = int(word) if word.isdigit() and len(word) <= 3 else _DIGIT_WORDS.get(word)
        if word in ("muoi", "chuc"):
            total = (total or 0) + (pending or 1) * 10
            pending, after_tens = None, True
        elif word == "tram" and (pending is not None or total is None):
            total = (total or 0) + (pending if pending is not None else 1) * 100
            pending, after_tens = None, False
        elif word in ("linh", "le") and total is not None:
            continue
        elif value is not None and pending is None:
            pending = value
            if after_tens:
                flush()
        else:
            flush()
            out.append(token)
    flush()
    return " ".join(out)


_SPELL_TOKEN_RE = re.compile(r"[a-z0-9]+")


def _spell_out(f: str, af: str) -> tuple[str, str, list[int], list[int]]:
    """`f` and `af` with spelled-out numbers right before a money unit written as digits.

    "mất hai mươi triệu" becomes "mat 20 trieu", read as `_words_to_digits` reads a short answer.
    Only a run of number words directly followed by a unit (triệu, nghìn, tỷ…) is rewritten, so
    "ba" (father), "năm" (year) and "2 triệu ba" stay as they are. The last two lists map each
    character of the result back to its original (start, exclusive end) offsets in `f`.
    """
    out_f: list[str] = []
    out_af: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    copied = 0
    run: list[tuple[int, int, str]] = []  # (start, end, word) of the current run of number words

    def emit(upto: int) -> None:
        nonlocal copied
        out_f.append(f[copied:upto])
        out_af.append(af[copied:upto])
        starts.extend(range(copied, upto))
        ends.extend(range(copied + 1, upto + 1))
        copied = upto

    def flush() -> None:
        nonlocal run, copied
        words = [w for _, _, w in run]
        if any(not w.isdigit() for w in words):
            lo, hi = run[0][0], run[-1][1]
            unit = _AMOUNT_UNIT_RE.match(af, hi)
            digits = _words_to_digits(" ".join(words))
            if unit is not None and unit.group(1) != "m" and digits.isdigit():
                emit(lo)
                out_f.append(digits)
                out_af.append(digits)
                starts.extend([lo] * len(digits))
                ends.extend([hi] * len(digits))
                copied = hi
        run = []

    for m in _SPELL_TOKEN_RE.finditer(f):
        word = m.group()
        is_number = (
            word in _DIGIT_WORDS
            or word in ("muoi", "chuc", "tram", "linh", "le")
            or (word.isdigit() and len(word) <= 3)
        )
        # A run is broken by anything but blanks between its words ("hai, ba").
        if run and (not is_number or f[run[-1][1] : m.start()].strip(" \t\u00a0")):
            flush()
        if is_number and (run or word not in ("linh", "le")):
            run.append((m.start(), m.end(), word))
    if run:
        flush()
    emit(len(f))
    return "".join(out_f), "".join(out_af), starts, ends


def parse_amount(text: str) -> int | None:
    """The amount of VND a short answer names ("5 triệu", "khoảng 30tr", "5000000"), else None.

    A bare number is taken literally in VND; one starting with 0 (a phone number) is not an
    amount. With several amounts, the first one counts.
    """
    t = normalize_text(text)
    f = fold(t)
    af = _unit_fold(t, f)
    found = _scan_amounts(f, af, lenient=False)
    if not found and (not any(c.isdigit() for c in f) or _NUMBER_WORD_RE.search(f)):
        spelled = _words_to_digits(f)
        if spelled != f:
            found = _scan_amounts(spelled, spelled, lenient=False)
    if not found:
        # A bare number counts only when it is the whole answer ("5000000", "khoảng 5000000 ạ"),
        # so "2 lần" is no amount.
        if len(f) > 200 or not _BARE_ANSWER_RE.fullmatch(f):
            return None
        found = _scan_amounts(f, af, lenient=True)
    return found[0][0] if found else None


# --- links, e-mails, domains, profiles --------------------------------------------------------


def _strip_trailing(raw: str) -> str:
    while raw and raw[-1] in _TRAILING_PUNCT:
        if raw[-1] == ")" and raw.count("(") >= raw.count(")"):
            break
        raw = raw[:-1]
    return raw


def _idna_host(host: str) -> str | None:
    host = host.lower().rstrip(".")
    if not host:
        return None
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except (UnicodeError, ValueError):
        return None


def _registrable(host: str) -> str | None:
    """The registrable domain of an ASCII host under the bundled PSL, else None."""
    if not host or len(host) > 253 or re.fullmatch(r"[\d.]+|\[.*\]", host):
        return None
    try:
        parts = _TLD(host)
    except (ValueError, UnicodeError, IndexError):
        return None
    top = parts.top_domain_under_public_suffix
    if not parts.suffix or not parts.domain or not top:
        return None
    return top.lower()


def _normalize_url(raw: str) -> tuple[str, str | None] | None:
    """(normalized url, ASCII host) or None when `raw` is no usable http(s) URL."""
    url = raw if "://" in raw[:10] else "http://" + raw
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        return None
    ascii_host = _idna_host(host)
    if ascii_host is None:
        return None
    netloc = ascii_host
    if ":" in ascii_host:
        netloc = f"[{ascii_host}]"
    if port is not None:
        netloc += f":{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment)), ascii_host


_FB_RESERVED = frozenset(
    "sharer share share.php sharer.php login login.php home.php watch reel reels photo photo.php "
    "photos story.php permalink.php events marketplace gaming hashtag help policies privacy "
    "settings notifications messages dialog plugins tr l.php video.php videos ads business "
    "pages search friends bookmarks stories".split()
)


def _social(host: str, path_and_query: str) -> str | None:
    """`platform:id` for a profile link on a big platform, else None."""
    host = host.lower()
    for prefix in ("www.", "m.", "mbasic.", "web.", "mobile.", "vi-vn.", "vn.", "id."):
        if host.startswith(prefix):
            host = host[len(prefix) :]
            break
    path, _, query = path_and_query.partition("?")
    path = path.split("#", 1)[0]
    query = query.split("#", 1)[0]
    segs = [s for s in path.split("/") if s]
    if not segs:
        return None
    first = segs[0]
    if host in ("facebook.com", "fb.com", "fb.me"):
        if first.lower() == "profile.php":
            ids = parse_qs(query).get("id")
            return f"facebook:{ids[0]}" if ids and ids[0].isdigit() else None
        if first.lower() == "people" and len(segs) >= 3 and segs[2].isdigit():
            return f"facebook:{segs[2]}"
        if first.lower() == "groups" and len(segs) >= 2:
            return f"facebook:groups/{segs[1].lower()}"
        if first.lower() in _FB_RESERVED or not re.fullmatch(r"[A-Za-z0-9.\-]{1,80}", first):
            return None
        return f"facebook:{first.lower()}"
    if host == "zalo.me":
        if first.lower() == "g" and len(segs) >= 2:
            return f"zalo:g/{segs[1]}"
        return f"zalo:{first}" if re.fullmatch(r"[A-Za-z0-9_.\-]{3,64}", first) else None
    if host in ("t.me", "telegram.me"):
        if first.lower() in ("s", "joinchat") and len(segs) >= 2:
            first = segs[1] if first.lower() == "s" else "+" + segs[1]
        if first.startswith("+") and re.fullmatch(r"\+[A-Za-z0-9_\-]{4,64}", first):
            return f"telegram:{first}"  # invite hashes are case-sensitive
        if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", first):
            return f"telegram:{first.lower()}"
        return None
    if host == "tiktok.com" and first.startswith("@") and len(first) > 1:
        name = first[1:]
        return f"tiktok:{name.lower()}" if re.fullmatch(r"[A-Za-z0-9_.]{1,64}", name) else None
    return None


_BARE_PATH_RE = re.compile(r"/[^\s<>\"'«»]*")

# Defanged links, as police warnings and forwarded scam SMS write them so they can't be clicked:
# "vcb-xacthuc[.]com", "ghtk(.)net", "x{.}top", "x[dot]info", "hxxps://host/path". A match
# counts only with a bracketed dot or an "hxxp" scheme; plain links are left to the passes below.
# Each separator starts with a character no label has, so a host is matched in one way only.
_DEFANG_DOT = r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\{dot\}"
_DEFANGED_RE = re.compile(
    r"(?<![\w@/.\-\[({])(?P<scheme>(?:hxxps?|https?)(?:\[:\]|:)//)?"
    rf"(?P<host>[\w\-]{{1,63}}(?:(?:{_DEFANG_DOT}|\.)[\w\-]{{1,63}}){{1,8}})"
    r"(?P<path>/[^\s<>\"'«»]*)?",
    re.IGNORECASE,
)
_DEFANG_DOT_RE = re.compile(_DEFANG_DOT, re.IGNORECASE)
# "sacombank-xacthuc . app", "abc-vn dot com": a spaced dot is also how sentences end ("xong .
# Com"), so it needs an ASCII label a Vietnamese word can't be (a dash, a digit, or 8+ letters:
# no Vietnamese syllable is that long) and a lower-case top-level domain scam sites use.
_SPACED_DOT_RE = re.compile(
    r"(?<![\w.\-])(?P<label>[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?)[ \t]{1,2}(?:\.|dot)[ \t]{1,2}"
    r"(?P<tld>com|net|org|info|app|top|xyz|shop|vip|cc|icu|click|online|site|live|store|club|"
    r"pro|biz|me|io|link|tk|asia|cloud|website|vn)(?![\w.\-]|\.\w)"
)


def _defanged_indicators(t: str, taken: bytearray) -> list[tuple[int, Indicator]]:
    """Indicators of the defanged links in `t`, marking their spans in `taken`."""
    out: list[tuple[int, Indicator]] = []
    for m in _DEFANGED_RE.finditer(t):
        scheme = (m.group("scheme") or "").lower().replace("[:]", ":")
        if not (_DEFANG_DOT_RE.search(m.group("host")) or scheme.startswith("hxxp")):
            continue
        host = _DEFANG_DOT_RE.sub(".", m.group("host")).strip("-")
        raw = _strip_trailing(m.group())
        path = raw[m.start("path") - m.start() :] if m.group("path") else ""
        if not _plausible_domain_token(host):
            continue
        if scheme or len(path) > 1:
            url = scheme.replace("hxxp", "http") + host + path if scheme else host + path
            for at, indicator in _url_indicators(url, m.start()):
                out.append((at, replace(indicator, raw=raw)))
        else:
            ascii_host = _idna_host(host)
            domain = _registrable(ascii_host) if ascii_host else None
            if domain is None or domain in _PLATFORM_DOMAINS:
                continue
            out.append((m.start(), Indicator("domain", domain, raw)))
        _mark(taken, m.start(), m.start() + len(raw))
    for m in _SPACED_DOT_RE.finditer(t):
        label = m.group("label")
        if any(taken[m.start() : m.end()]):
            continue
        if not ("-" in label or any(c.isdigit() for c in label) or len(label) >= 8):
            continue
        domain = _registrable(f"{label}.{m.group('tld')}")
        if domain is not None:
            out.append((m.start(), Indicator("domain", domain, m.group())))
            _mark(taken, m.start(), m.end())
    return out


def _plausible_domain_token(token: str) -> bool:
    labels = token.split(".")
    if any(not lab or lab.startswith("-") or lab.endswith("-") or "_" in lab for lab in labels):
        return False
    last = labels[-1]
    if not any(ch.isalpha() for ch in last) or last.lower() in _FILE_EXTENSIONS:
        return False
    if all(len(lab) <= 3 for lab in labels) and any(ch.isupper() for ch in token):
        return False  # abbreviations: "TS.BS", "TP.HCM", "Q.BT"
    # A sentence missing its space after the full stop: "chuyen tien.Lam ngay".
    return not (
        len(last) > 1 and last[0].isupper() and last[1:].islower() and labels[0][1:].islower()
    )


# --- phones and bank accounts -----------------------------------------------------------------


@dataclass
class _Run:
    start: int
    end: int
    raw: str
    digits: str
    plus: bool


def _split_runs(t: str, taken: bytearray) -> list[_Run]:
    runs: list[_Run] = []
    for m in _NUMBER_RUN_RE.finditer(t):
        raw = m.group()
        pieces = [(m.start(), raw)]
        groups = re.split(r"[ \t\u00a0]", raw)
        body = groups[1:] if groups[0].startswith(("+", "(")) and len(groups) > 1 else groups
        if len(groups) > 1 and any(len(re.sub(r"\D", "", g)) >= 7 for g in body):
            # Several numbers side by side ("0912345678 0987654321"), not one grouped number.
            pieces = []
            off = m.start()
            for g in groups:
                pieces.append((off, g))
                off += len(g) + 1
            if groups[0].startswith(("+", "(")) and len(groups[0]) <= 6:
                pieces = [(m.start(), groups[0] + raw[len(groups[0])] + groups[1]), *pieces[2:]]
        for start, piece in pieces:
            digits = re.sub(r"\D", "", piece)
            end = start + len(piece)
            if not digits or any(taken[start:end]):
                continue
            runs.append(_Run(start, end, piece, digits, piece.startswith(("+", "("))))
    return runs


def _phone_value(run: _Run) -> str | None:
    """E.164 for a phone-looking run, the digits for 1800/1900 hotlines, else None."""
    digits = run.digits
    if not run.plus and re.fullmatch(r"1[89]00\d{4,6}", digits):
        # Hotlines only work inside Vietnam and have no E.164 form people would recognise.
        return digits
    if not run.plus and digits.startswith("00") and len(digits) > 6:
        # "00" is the international prefix, but a written "+" is needed to trust a non-valid one.
        run_text, intl = "+" + digits[2:], False
    else:
        # "(0236) 337 3630" is a landline's area code in brackets, not a country code.
        run_text, intl = run.raw, run.plus and not run.raw.startswith("(0")
    try:
        number = phonenumbers.parse(run_text, "VN")
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if intl:
        # Spoofed or unassigned numbers written with a "+" are still worth reporting as written.
        plain = re.sub(r"\D", "", run_text)
        return "+" + plain if 7 <= len(plain) <= 15 else None
    return None


_SURNAMES = frozenset(
    "nguyen tran le pham hoang huynh phan vu vo dang bui do ho ngo duong ly dinh doan trinh "
    "truong lam mai cao ha luong luu ta chu quach tang thai trieu to kieu lai la vuong van phung "
    "khuc au dam tong giang thach chau diep mac ong an nghiem quan ton lo hua ninh tieu".split()
)
_NAME_STOP = frozenset(
    "ngan hang nh chi nhanh cn so tk stk tai khoan noi dung nd ck chuyen vui long xin cam on va "
    "hoac de la cua tien vnd dong sdt zalo ten chu nguoi nhan thu huong tai pgd gui lien he lh "
    "hotline ma otp bank account name holder the".split()
)
_HOLDER_KW_RE = re.compile(
    r"(?<![a-z0-9])(?:ten chu tai khoan|ten chu tk|chu tai khoan|chu tk|ctk|ten tai khoan|"
    r"ten tk|ten nguoi nhan|nguoi nhan|nguoi thu huong|thu huong|account name|account holder|"
    r"holder|ten)(?![a-z0-9])[ \t]*[:\-–=]?[ \t]*"
)
_NAME_WORD_RE = re.compile(r"[^\W\d_]{1,20}")
_SEPARATORS_RE = re.compile(r"[ \t:,\-–()|/]{0,6}")


def _read_name(t: str, f: str, pos: int, after_keyword: bool) -> str | None:
    words: list[str] = []
    while len(words) < 6:
        m = _NAME_WORD_RE.match(t, pos)
        if m is None:
            break
        word = m.group()
        fw = f[m.start() : m.end()]
        if fw in _NAME_STOP and not (words and fw in ("van", "thi", "la", "ha", "mai")):
            break
        if not after_keyword and not word[0].isupper():
            break
        words.append(fw)
        gap = re.match(r"[ \t]{1,2}", t[m.end() : m.end() + 2])
        if gap is None:
            pos = m.end()
            break
        pos = m.end() + gap.end()
    if len(words) < 2:
        return None
    if not after_keyword:
        if words[0] not in _SURNAMES:
            return None
    name = " ".join(words).upper()
    return name if name.isascii() else None


def _holder(
    t: str, f: str, run: _Run, lo: int, hi: int, bank_after: tuple[int, int] | None
) -> str | None:
    pos = run.end
    sep = _SEPARATORS_RE.match(t, pos)
    pos = sep.end() if sep else pos
    if bank_after is not None and bank_after[0] <= pos + 1 and bank_after[1] > pos:
        pos = bank_after[1]
        sep = _SEPARATORS_RE.match(t, pos)
        pos = sep.end() if sep else pos
    kw = _HOLDER_KW_RE.match(f, pos)
    if kw is not None:
        return _read_name(t, f, kw.end(), True)
    direct = _read_name(t, f, pos, False)
    if direct is not None:
        return direct
    for kw in _HOLDER_KW_RE.finditer(f, max(lo, run.start - 100), min(hi, run.end + 100)):
        if kw.group().strip() in ("ten",) and kw.start() < run.start:
            continue
        name = _read_name(t, f, kw.end(), True)
        if name is not None:
            return name
    return None


def _accounts_and_phones(
    t: str, f: str, taken: bytearray, banks: list[tuple[Bank, int, int]]
) -> list[tuple[int, Indicator]]:
    out: list[tuple[int, Indicator]] = []
    af = _unit_fold(t, f)
    runs = _split_runs(t, taken)
    long_runs = [r for r in runs if len(r.digits) >= 6]
    long_ends = [r.end for r in long_runs]
    long_starts = [r.start for r in long_runs]
    bank_starts = [bs for _, bs, _ in banks]
    bank_ends = [be for _, _, be in banks]
    for run in runs:
        if len(run.digits) < 6 and not re.fullmatch(r"1[89]00\d{4}", run.digits):
            continue
        nxt_char = t[run.end : run.end + 1]
        if nxt_char and (nxt_char.isalpha() or nxt_char in "/_@"):
            continue  # glued to a word: "5000000đ", "2026abc", part of a path
        if t[run.start - 1 : run.start] in ("/", "@", "#", "$"):
            continue
        if _DATE_RUN_RE.fullmatch(run.raw) or _MONEY_GROUPS_RE.fullmatch(run.raw):
            continue
        if _UNIT_AFTER_RE.match(af, run.end):
            continue
        k = bisect.bisect_right(long_ends, run.start)
        prev_end = long_ends[k - 1] if k else 0
        k = bisect.bisect_left(long_starts, run.end)
        next_start = long_starts[k] if k < len(long_starts) else len(t)
        window_lo = max(prev_end, run.start - 60)
        before = f[window_lo : run.start]
        if len(run.digits) in _OTP_LENGTHS and _OTP_BEFORE_RE.search(before[-30:]):
            continue
        if _ID_BEFORE_RE.search(before[-25:]):
            continue
        hotline = re.fullmatch(r"1[89]00\d{4,6}", run.digits) is not None
        if not run.plus and not hotline and _MONEY_BEFORE_RE.search(before[-20:]):
            continue
        # What was said last before the number decides what it is: "SĐT" or "STK"/a bank.
        last_kind: str | None = None
        last_pos = -1
        for cm in _CONTEXT_RE.finditer(f, window_lo, run.start):
            last_kind, last_pos = ("acct" if cm.group("acct") else "phone"), cm.end()
        # A 1800/1900 number is a hotline even after a bank's name ("Tổng đài Vietcombank là
        # 1900 545413"); only an account word ("STK 1900…") makes it an account.
        hotline_not_acct = hotline and last_kind != "acct"
        bank_before: Bank | None = None
        k = bisect.bisect_right(bank_ends, run.start)
        if k and banks[k - 1][1] >= window_lo and banks[k - 1][2] >= last_pos:
            bank_before, last_kind, last_pos = banks[k - 1][0], "acct", banks[k - 1][2]
        bank_after: tuple[Bank, int, int] | None = None
        k = bisect.bisect_left(bank_starts, run.end)
        if k < len(banks):
            bank, bs, be = banks[k]
            gap = f[run.end : bs]
            if (
                bs - run.end <= 40
                and be <= next_start
                and ("\n" not in gap.strip(" \t") or _NEXT_LINE_BANK_RE.fullmatch(gap))
                and len(gap.split()) <= 3
                # A bank right before the next number belongs to that number ("…, VCB 0987…").
                and not (next_start < len(t) and next_start - be <= bs - run.end)
            ):
                bank_after = (bank, bs, be)
        earlier_bank: Bank | None = None
        k = bisect.bisect_right(bank_ends, run.start)
        if k and run.start - banks[k - 1][2] <= 200:
            earlier_bank = banks[k - 1][0]
        phone = _phone_value(run) if len(run.digits) <= 15 else None
        account_ctx = last_kind == "acct" or bank_after is not None
        is_account = (
            not run.plus
            and 6 <= len(run.digits) <= 19
            and account_ctx
            and last_kind != "phone"
            and not hotline_not_acct
        )
        if is_account:
            # Else a bank named a little earlier in the message ("Ngân hàng: VCB\nSTK: …").
            named = bank_before or (bank_after[0] if bank_after else None) or earlier_bank
            value = f"{named.code}:{run.digits}" if named else run.digits
            holder = _holder(
                t,
                f,
                run,
                prev_end,
                next_start,
                (bank_after[1], bank_after[2]) if bank_after else None,
            )
            out.append((run.start, Indicator("bank_account", value, run.raw, holder)))
        elif phone is not None and not (
            # "Đơn hàng mã 581236947": nine digits without the leading 0 after "mã" are a code.
            not run.plus and not run.digits.startswith("0") and _CODE_BEFORE_RE.search(before[-20:])
        ):
            out.append((run.start, Indicator("phone", phone, run.raw)))
    return out


def _mark(taken: bytearray, start: int, end: int) -> None:
    taken[start:end] = b"\x01" * (end - start)


def _url_indicators(raw: str, pos: int) -> list[tuple[int, Indicator]]:
    norm = _normalize_url(raw)
    if norm is None:
        return []
    url, host = norm
    out = [(pos, Indicator("url", url, raw))]
    parts = urlsplit(url)
    social = _social(host or "", parts.path + ("?" + parts.query if parts.query else ""))
    if social is not None:
        out.append((pos, Indicator("social", social, raw)))
        out.extend(_zalo_phone(social, raw, pos))
    domain = _registrable(host or "")
    if domain is not None and domain not in _PLATFORM_DOMAINS:
        out.append((pos, Indicator("domain", domain, raw)))
    return out


def _zalo_phone(social: str, raw: str, pos: int) -> list[tuple[int, Indicator]]:
    if not social.startswith("zalo:"):
        return []
    ident = social[5:]
    if not ident.isdigit():
        return []
    value = _phone_value(_Run(0, len(ident), ident, ident, False))
    return [(pos, Indicator("phone", value, raw))] if value else []


def _link_indicators(link: str, pos: int) -> list[tuple[int, Indicator]]:
    link = normalize_text(link).strip()
    low = link.lower()
    if low.startswith("mailto:"):
        addr = link[7:].split("?", 1)[0]
        m = _EMAIL_RE.fullmatch(addr)
        return [(pos, Indicator("email", addr.lower(), link))] if m else []
    if low.startswith("tel:"):
        number = link[4:]
        digits = re.sub(r"\D", "", number)
        run = _Run(0, len(number), number.strip(), digits, number.strip().startswith("+"))
        value = _phone_value(run) if digits else None
        return [(pos, Indicator("phone", value, link))] if value else []
    if "://" in link[:10] and not low.startswith(("http://", "https://")):
        return []
    return _url_indicators(link, pos)


def extract_indicators(text: str, links: Sequence[str] = ()) -> list[Indicator]:
    """Every indicator in `text` (and in `links`, a message's hidden link targets), in order.

    Results are deduplicated by (kind, value); the first occurrence's `raw` is kept. Indicators
    from `links` come after those found in the text.
    """
    t = normalize_text(text)
    f = fold(t)
    n = len(t)
    taken = bytearray(n)
    found: list[tuple[int, Indicator]] = []

    # Defanged links first: "https://x[.]com" would otherwise yield the URL "https://x".
    found.extend(_defanged_indicators(t, taken))

    for m in _URL_RE.finditer(t):
        if taken[m.start()]:
            continue
        raw = _strip_trailing(m.group())
        found.extend(_url_indicators(raw, m.start()))
        _mark(taken, m.start(), m.start() + len(raw))

    for m in _SOCIAL_RE.finditer(t):
        if any(taken[m.start() : m.end()]):
            continue
        raw = _strip_trailing(m.group())
        path = _strip_trailing(m.group(2))
        social = _social(m.group(1), path)
        if social is not None:
            found.append((m.start(), Indicator("social", social, raw)))
            found.extend(_zalo_phone(social, raw, m.start()))
        _mark(taken, m.start(), m.start() + len(raw))

    for m in _EMAIL_RE.finditer(t):
        if any(taken[m.start() : m.end()]):
            continue
        raw = _strip_trailing(m.group())
        domain_part = raw.rsplit("@", 1)[1]
        host = _idna_host(domain_part)
        if host is None or _registrable(host) is None:
            continue
        found.append((m.start(), Indicator("email", raw.lower(), raw)))
        _mark(taken, m.start(), m.start() + len(raw))

    for m in _DOMAIN_TOKEN_RE.finditer(t):
        if any(taken[m.start() : m.end()]):
            continue
        raw = m.group().strip("-")
        if not _plausible_domain_token(raw):
            continue
        host = _idna_host(raw)
        domain = _registrable(host) if host else None
        if domain is None or domain in _PLATFORM_DOMAINS:
            continue
        tail = _BARE_PATH_RE.match(t, m.start() + len(raw))
        link = _strip_trailing(t[m.start() : tail.end()]) if tail else raw
        if len(link) > len(raw) + 1:
            # "bit.ly/3xYzAbc" without a scheme: the path identifies the campaign, keep it whole.
            for at, indicator in _url_indicators("http://" + link, m.start()):
                found.append((at, replace(indicator, raw=link)))
            _mark(taken, m.start(), m.start() + len(link))
            continue
        found.append((m.start(), Indicator("domain", domain, raw)))
        _mark(taken, m.start(), m.end())

    for m in _HANDLE_RE.finditer(t):
        if any(taken[m.start() : m.end()]):
            continue
        if _TELEGRAM_WORD_RE.search(f, max(0, m.start() - 50), min(n, m.end() + 50)):
            handle = f"telegram:{m.group(1).lower()}"
            found.append((m.start(), Indicator("social", handle, m.group())))
            _mark(taken, m.start(), m.end())

    banks = [b for b in find_banks(t) if not any(taken[b[1] : b[2]])]
    found.extend(_accounts_and_phones(t, f, taken, banks))

    for i, link in enumerate(links):
        if isinstance(link, str) and link:
            found.extend(_link_indicators(link, n + i))

    found.sort(key=lambda item: item[0])
    seen: set[tuple[str, str]] = set()
    result: list[Indicator] = []
    for _, ind in found:
        key = (ind.kind, ind.value)
        if key not in seen:
            seen.add(key)
            result.append(ind)
    return result
