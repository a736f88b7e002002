"""Properties: extraction and parsing never raise, stay fast, and round-trip what they find."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import phonenumbers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from handlers.extract import extract_indicators, find_amounts, parse_amount
from handlers.when import parse_when

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any text: every Unicode category including surrogates and control characters.
any_text = st.text(alphabet=st.characters(codec=None, categories=None), max_size=300)
scammy_alphabet = st.sampled_from(
    [*"0123456789 .-+/:@()đĐtrkTRK", "vcb", "stk", "http://", "www.", ".com", "triệu", "\n"]
)
scammy_text = st.lists(scammy_alphabet, max_size=80).map("".join)

VN_MOBILE_PREFIXES = [
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "38",
    "39",
    "70",
    "76",
    "77",
    "78",
    "79",
    "81",
    "82",
    "83",
    "84",
    "85",
    "86",
    "88",
    "89",
    "90",
    "91",
    "93",
    "94",
    "96",
    "97",
    "98",
]
words = st.sampled_from(
    [
        "gọi",
        "cho",
        "tôi",
        "lừa",
        "đảo",
        "anh",
        "ơi",
        "số",
        "này",
        "hôm",
        "qua",
        "nhé",
        "ạ",
        "😡",
        "Xin",
        "chào",
        "là",
        "của",
    ]
)


def _check_indicators(text: str) -> None:
    for ind in extract_indicators(text):
        assert ind.value
        if ind.kind == "phone":
            assert re.fullmatch(r"\+\d{7,15}|1[89]00\d{4,6}", ind.value), ind
        elif ind.kind == "domain":
            assert ind.value.isascii() and ind.value == ind.value.lower() and "." in ind.value
        elif ind.kind == "email":
            assert ind.value == ind.value.lower() and "@" in ind.value
        elif ind.kind == "url":
            assert ind.value.startswith(("http://", "https://"))
        elif ind.kind == "bank_account":
            assert re.fullmatch(r"(?:[A-Z]+:)?\d{6,19}", ind.value), ind
        elif ind.kind == "social":
            assert re.fullmatch(r"(facebook|zalo|telegram|tiktok):.+", ind.value), ind


@SETTINGS
@given(any_text)
def test_nothing_raises_on_arbitrary_text(text: str) -> None:
    _check_indicators(text)
    find_amounts(text)
    parse_amount(text)
    parse_when(text, NOW)


@SETTINGS
@given(scammy_text)
def test_nothing_raises_on_number_and_link_soup(text: str) -> None:
    _check_indicators(text)
    for vnd, _raw in find_amounts(text):
        assert vnd >= 0
    parse_amount(text)
    parse_when(text, NOW)


@SETTINGS
@given(st.lists(st.text(max_size=50), max_size=5))
def test_links_of_any_text_never_raise(links: list[str]) -> None:
    extract_indicators("", links=links)


@SETTINGS
@given(
    st.lists(words, max_size=6),
    st.sampled_from(VN_MOBILE_PREFIXES),
    st.integers(min_value=0, max_value=9_999_999),
    st.sampled_from(["plain", "spaces", "dots", "dashes", "plus84"]),
    st.lists(words, max_size=6),
)
def test_inserted_mobile_number_is_found(
    before: list[str], prefix: str, rest: int, form: str, after: list[str]
) -> None:
    national = f"0{prefix}{rest:07d}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(national, "VN")))
    written = {
        "plain": national,
        "spaces": f"{national[:4]} {national[4:7]} {national[7:]}",
        "dots": f"{national[:4]}.{national[4:7]}.{national[7:]}",
        "dashes": f"{national[:4]}-{national[4:7]}-{national[7:]}",
        "plus84": f"+84 {national[1:4]} {national[4:7]} {national[7:]}",
    }[form]
    text = " ".join([*before, written, *after])
    phones = [i.value for i in extract_indicators(text) if i.kind == "phone"]
    assert "+84" + national[1:] in phones


@SETTINGS
@given(
    st.integers(min_value=1000, max_value=10**12),
    st.sampled_from(["đ", " đ", " VND", " vnđ", " đồng", ""]),
    st.sampled_from([".", ","]),
)
def test_formatted_amount_parses_back(vnd: int, currency: str, sep: str) -> None:
    text = f"{vnd:,}".replace(",", sep) + currency
    assert parse_amount(text) == vnd
    assert [v for v, _ in find_amounts(f"mất {text} rồi")] == [vnd]


@SETTINGS
@given(
    st.integers(min_value=1, max_value=999), st.sampled_from(["tr", " triệu", "k", " nghìn", " tỷ"])
)
def test_number_with_unit_parses_back(n: int, unit: str) -> None:
    mult = {"tr": 10**6, " triệu": 10**6, "k": 10**3, " nghìn": 10**3, " tỷ": 10**9}[unit]
    assert parse_amount(f"{n}{unit}") == n * mult


def test_huge_inputs_are_fast() -> None:
    samples = [
        "a" * 100_000,
        "1 " * 50_000,
        "0912345678 " * 9_000,
        "a@" * 50_000,
        "http://" + "a" * 100_000,
        "5tr " * 25_000,
        "vietcombank 0123456789 NGUYEN VAN A " * 2_800,
        "1." * 50_000,
        "x" + "-a" * 50_000,
        "a." * 50_000,
        "@" * 100_000,
        "😡" * 100_000,
    ]
    for text in samples:
        start = time.perf_counter()
        extract_indicators(text)
        find_amounts(text)
        parse_amount(text)
        parse_when(text, NOW)
        assert time.perf_counter() - start < 2.0, text[:20]
