"""The offline link risk analyser: official sites never flagged, scam tricks always named."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from handlers.extract import _registrable
from handlers.i18n import translator
from handlers.linkrisk import (
    REASON_CODES,
    LinkRisk,
    Reason,
    analyse,
    reason_text,
    rule_candidates,
)

_DATA = json.loads(
    (Path(__file__).parent.parent / "handlers" / "data" / "official_domains.json").read_text(
        "utf-8"
    )
)
OFFICIAL_DOMAINS = [entry["domain"] for entry in _DATA["domains"]]


def _risk(value: str, **kwargs: list[str]) -> LinkRisk:
    risk = analyse(value, **kwargs)
    assert risk is not None, value
    return risk


def _codes(risk: LinkRisk) -> list[str]:
    return [reason.code for reason in risk.reasons]


def _detail(risk: LinkRisk, code: str) -> str:
    return next(reason.detail for reason in risk.reasons if reason.code == code)


# --- the official list ------------------------------------------------------------------------


@pytest.mark.parametrize("domain", OFFICIAL_DOMAINS)
@pytest.mark.parametrize("prefix", ["", "www.", "ibanking.", "a.b."])
def test_every_official_domain_and_its_subdomains_are_official(domain: str, prefix: str) -> None:
    risk = _risk(f"https://{prefix}{domain}/dang-nhap?next=/xac-thuc")
    assert risk.level == "official"
    assert risk.reasons == (Reason("official", domain),)
    assert risk.official == domain
    assert risk.domain == domain
    assert "lookalike" not in _codes(risk)


def test_official_data_is_consistent() -> None:
    brands: list[str] = []
    for entry in _DATA["domains"]:
        assert entry["source"] in _DATA["sources"], entry
        assert _registrable(entry["domain"]) == entry["domain"], "list registrable domains only"
        tokens = entry["brands"] + entry.get("weak_brands", [])
        assert all(t.isascii() and t == t.lower() and t.isalnum() for t in tokens), entry
        brands += tokens
    assert len(brands) == len(set(brands)), "a brand word names one organisation"
    assert "vietcombank.com.vn" in OFFICIAL_DOMAINS and "sbv.gov.vn" in OFFICIAL_DOMAINS
    assert _DATA["trusted_suffixes"] == ["gov.vn"]


@pytest.mark.parametrize(
    "value",
    [
        "vietcombank.com.vn",
        "https://ibanking.vietcombank.com.vn/login",
        "HTTPS://VietcomBank.com.vn/Login",
        "dichvucong.gov.vn",
        "https://congan.hanoi.gov.vn/tin-tuc",
        "vneid.gov.vn",
        "http://www.sbv.gov.vn.",
    ],
)
def test_real_bank_and_government_addresses_are_never_flagged(value: str) -> None:
    risk = _risk(value)
    assert risk.level == "official"
    assert _codes(risk) == ["official"]


def test_any_site_under_gov_vn_is_official_as_its_registrable_domain() -> None:
    risk = _risk("https://thuvien.hanoi.gov.vn/")
    assert risk.level == "official"
    assert risk.official == "hanoi.gov.vn"


def test_an_officer_cannot_deny_a_real_bank_by_mistake() -> None:
    risk = _risk("vietcombank.com.vn", deny=["vietcombank.com.vn"])
    assert risk.level == "official"
    assert _codes(risk) == ["official"]


# --- officers' allow and deny lists -----------------------------------------------------------


def test_allowed_domain_is_low_with_only_the_allowed_reason() -> None:
    risk = _risk("https://login.shop-online.top/account", allow=["shop-online.top"])
    assert risk.level == "low"
    assert risk.reasons == (Reason("allowed", "shop-online.top"),)
    assert risk.official is None


def test_denied_domain_is_high_and_covers_subdomains() -> None:
    risk = _risk("https://m.scam-shop.vn/sp/123", deny=["scam-shop.vn"])
    assert risk.level == "high"
    assert risk.reasons[0] == Reason("denied", "scam-shop.vn")
    assert _risk("other-shop.vn", deny=["scam-shop.vn"]).level == "low"


def test_deny_wins_over_allow_and_entries_may_be_urls_or_unicode() -> None:
    both = _risk("scam-shop.vn", allow=["scam-shop.vn"], deny=["scam-shop.vn"])
    assert both.level == "high" and _codes(both)[0] == "denied"
    assert _risk("scam-shop.vn", deny=["https://www.scam-shop.vn/path"]).level == "high"
    unicode = _risk("https://xn--bnhm-5na3e.vn/", deny=["Bánhmì.vn"])
    assert _codes(unicode)[0] == "denied"


def test_deny_applies_to_ip_addresses() -> None:
    risk = _risk("http://203.0.113.7/x", deny=["203.0.113.7"])
    assert risk.level == "high"
    assert _codes(risk)[:2] == ["denied", "ip_host"]


# --- the three examples of the brief and their kin ----------------------------------------------


def test_brand_with_lure_word_is_high() -> None:
    risk = _risk("https://vietcombank-xacthuc.com/")
    assert risk.level == "high"
    assert _detail(risk, "brand_lure") == "vietcombank.com.vn"
    assert _detail(risk, "lure_word") == "xacthuc"


def test_short_bank_name_with_lure_on_risky_ending_is_high() -> None:
    risk = _risk("vcb-online.top")
    assert risk.level == "high"
    assert _detail(risk, "brand_lure") == "vietcombank.com.vn"
    assert _detail(risk, "risky_tld") == "top"


def test_official_domain_in_front_of_another_site_is_high() -> None:
    risk = _risk("bidv.com.vn.secure-login.xyz")
    assert risk.level == "high"
    assert risk.domain == "secure-login.xyz"
    assert risk.reasons[0] == Reason("brand_in_subdomain", "bidv.com.vn")
    assert _detail(risk, "many_subdomains") == "secure-login.xyz"


def test_gov_vn_name_in_front_of_another_site_is_high() -> None:
    risk = _risk("http://dichvucong.gov.vn.thanh-toan.com/")
    assert risk.level == "high"
    assert _detail(risk, "brand_in_subdomain") == "dichvucong.gov.vn"
    other = _risk("hanoi.gov.vn.evil.com")
    assert _detail(other, "brand_in_subdomain") == "hanoi.gov.vn"


@pytest.mark.parametrize(
    ("value", "official"),
    [
        ("vcbxacthuc.com", "vietcombank.com.vn"),
        ("momo-nhanthuong.com", "momo.vn"),
        ("https://cskh-techcombank.net/", "techcombank.com.vn"),
        ("mb-xac-thuc.com", "mbbank.com.vn"),  # "mb" counts next to a lure word only
        ("thue-hoantien.com", "gdt.gov.vn"),
        ("http://example.com/", None),
    ],
)
def test_brand_lure_variants(value: str, official: str | None) -> None:
    risk = _risk(value)
    if official is None:
        assert "brand_lure" not in _codes(risk)
    else:
        assert risk.level == "high"
        assert _detail(risk, "brand_lure") == official


def test_weak_brand_words_alone_are_not_flagged() -> None:
    for value in ("cho-thue-xe.vn", "mb-fashion.vn"):
        risk = _risk(value)
        assert risk.level == "low" and risk.reasons == (), value


# --- look-alikes, homoglyphs and punycode ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "official"),
    [
        ("vietcornbank.com.vn", "vietcombank.com.vn"),  # rn -> m
        ("vietc0mbank.com", "vietcombank.com.vn"),  # 0 -> o
        ("vletcombank.com.vn", "vietcombank.com.vn"),  # l for i
        ("sacombamk.com", "sacombank.com.vn"),  # one letter changed
        ("techcombnak.com", "techcombank.com.vn"),  # two letters swapped
        ("vietconbank-vn.com", "vietcombank.com.vn"),  # a misspelt brand word
        ("techc0mbank-login.com", "techcombank.com.vn"),
        ("agrlbank.vn", "agribank.com.vn"),
    ],
)
def test_lookalikes_name_the_official_domain(value: str, official: str) -> None:
    risk = _risk(value)
    assert risk.level == "high"
    assert _detail(risk, "lookalike") == official


def test_short_names_need_more_than_one_changed_letter_to_be_ordinary() -> None:
    # "acd" is one letter from "acb": too short to call a look-alike.
    risk = _risk("acd.vn")
    assert risk.level == "low"
    assert "lookalike" not in _codes(risk)


def test_cyrillic_letter_in_bank_name_is_mixed_script_punycode_and_lookalike() -> None:
    risk = _risk("https://vietcombаnk.com.vn/")  # Cyrillic "а"
    assert risk.host == "xn--vietcombnk-6qi.com.vn"
    assert risk.display_host == "vietcombаnk.com.vn"
    assert risk.level == "high"
    assert _detail(risk, "mixed_script") == "vietcombаnk"
    assert _detail(risk, "lookalike") == "vietcombank.com.vn"
    assert _detail(risk, "punycode") == "xn--vietcombnk-6qi.com.vn"


def test_punycode_form_is_read_like_the_unicode_form() -> None:
    risk = _risk("http://xn--vietcombnk-6qi.com.vn/login")
    assert risk.display_host == "vietcombаnk.com.vn"
    assert {"punycode", "mixed_script", "lookalike"} <= set(_codes(risk))


def test_greek_letter_in_any_latin_name_is_mixed_script() -> None:
    risk = _risk("gοogle.com")  # Greek omicron
    assert risk.level == "high"
    assert _detail(risk, "mixed_script") == "gοogle"


def test_label_written_only_in_latin_lookalike_letters_is_mixed_script() -> None:
    risk = _risk("https://www.xn--80ak6aa92e.com/")
    assert risk.display_host == "www.аррӏе.com"  # Cyrillic, reads as "apple"
    assert risk.level == "high"
    assert _detail(risk, "mixed_script") == "аррӏе"
    # Ordinary Russian words contain letters with no Latin twin.
    assert "mixed_script" not in _codes(_risk("почта.рф"))


def test_vietnamese_diacritics_on_a_bank_name_are_a_lookalike_not_mixed_script() -> None:
    risk = _risk("vietcombánk.com.vn")
    assert risk.level == "high"
    assert "mixed_script" not in _codes(risk)
    assert _detail(risk, "lookalike") == "vietcombank.com.vn"


def test_plain_vietnamese_idn_is_only_a_weak_punycode_signal() -> None:
    risk = _risk("bánhmì.vn")
    assert risk.host == "xn--bnhm-5na3e.vn"
    assert risk.display_host == "bánhmì.vn"
    assert risk.level == "low"
    assert _codes(risk) == ["punycode"]


def test_punycode_with_a_brand_is_high() -> None:
    risk = _risk("ngânhàng-vietcombank.vn")
    assert risk.level == "high"
    assert {"punycode", "brand_elsewhere"} <= set(_codes(risk))


# --- brand elsewhere, hosting, shorteners, IPs -------------------------------------------------


def test_brand_in_another_domain_without_lure_is_medium() -> None:
    risk = _risk("sbvhn.com")  # seen impersonating the State Bank
    assert risk.level == "medium"
    assert risk.reasons == (Reason("brand_elsewhere", "sbv.gov.vn"),)
    assert _risk("vietcombank.vn").reasons == (Reason("brand_elsewhere", "vietcombank.com.vn"),)


def test_free_hosting_site_is_its_own_site() -> None:
    one, two = _risk("https://x.vercel.app/"), _risk("https://y.vercel.app/")
    assert one.domain == "x.vercel.app" and two.domain == "y.vercel.app"
    assert one.level == "medium"
    assert one.reasons == (Reason("free_hosting", "vercel.app"),)


def test_brand_on_free_hosting_is_high() -> None:
    risk = _risk("https://state-bank.vercel.app/app.apk")  # seen impersonating the State Bank
    assert risk.level == "high"
    assert _detail(risk, "free_hosting") == "vercel.app"
    assert {"lookalike", "brand_elsewhere"} & set(_codes(risk))
    sites = _risk("https://sites.google.com/view/vietcombank-vn")
    assert sites.level == "high"
    assert _detail(sites, "free_hosting") == "sites.google.com"
    assert _detail(sites, "brand_elsewhere") == "vietcombank.com.vn"
    assert _risk("https://sites.google.com/view/clb-cau-long").level == "medium"


@pytest.mark.parametrize(
    ("value", "shortener"),
    [
        ("bit.ly/3xYzAbc", "bit.ly"),
        ("https://tinyurl.com/abc", "tinyurl.com"),
        ("https://s.id/login", "s.id"),
        ("http://www.cutt.ly/x", "cutt.ly"),
    ],
)
def test_shorteners_are_medium_and_their_codes_are_not_read(value: str, shortener: str) -> None:
    risk = _risk(value)
    assert risk.level == "medium"
    assert risk.reasons == (Reason("shortener", shortener),)


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("http://203.0.113.7/", "203.0.113.7"),
        ("203.0.113.7", "203.0.113.7"),
        ("http://[2001:db8::1]/a", "2001:db8::1"),
        ("http://3232235777/", "3232235777"),
        ("http://0xC0.0xA8.1.1/", "0xc0.0xa8.1.1"),
    ],
)
def test_ip_hosts(value: str, host: str) -> None:
    risk = _risk(value)
    assert risk.host == host
    assert risk.domain is None and risk.official is None
    assert risk.level == "medium"
    assert risk.reasons[0] == Reason("ip_host", host)


def test_ip_with_a_disguise_before_an_at_sign_is_high() -> None:
    risk = _risk("http://vietcombank@203.0.113.7/login")
    assert risk.level == "high"
    assert _detail(risk, "at_sign") == "vietcombank"


def test_at_sign_hides_the_real_host() -> None:
    risk = _risk("http://vietcombank.com.vn@evil-site.com/")
    assert risk.host == "evil-site.com"
    assert risk.level == "high"
    assert _detail(risk, "brand_in_subdomain") == "vietcombank.com.vn"
    assert _detail(risk, "at_sign") == "vietcombank.com.vn"
    plain = _risk("http://guest@example.com/")
    assert plain.level == "medium"
    assert plain.reasons == (Reason("at_sign", "guest"),)


# --- weak signals ------------------------------------------------------------------------------


def test_risky_ending_alone_is_low_and_with_a_lure_word_medium() -> None:
    alone = _risk("myshop.top")
    assert alone.level == "low"
    assert alone.reasons == (Reason("risky_tld", "top"),)
    with_lure = _risk("https://quick-login.xyz/")
    assert with_lure.level == "medium"
    assert set(_codes(with_lure)) == {"risky_tld", "lure_word"}


def test_lure_word_alone_is_low_and_named_as_written() -> None:
    risk = _risk("dang-nhap-ngay.com")
    assert risk.level == "low"
    assert risk.reasons == (Reason("lure_word", "dang-nhap"),)
    in_path = _risk("http://example.com/tai-khoan/xac-thuc")
    assert in_path.reasons[0].code == "lure_word"


def test_many_subdomains_alone_is_low_and_names_the_real_site() -> None:
    risk = _risk("a.b.c.example.com")
    assert risk.level == "low"
    assert risk.reasons == (Reason("many_subdomains", "example.com"),)


def test_free_hosting_with_a_lure_is_medium() -> None:
    risk = _risk("https://xacthuc-tai-khoan.pages.dev/")
    assert risk.level == "medium"
    assert {"free_hosting", "lure_word"} == set(_codes(risk))


@pytest.mark.parametrize(
    "value",
    [
        "google.com",
        "vnexpress.net",
        "https://tuoitre.vn/thoi-su.htm",
        "shopee.vn",
        "lazada.vn",
        "tiki.vn",
        "dantri.com.vn",
        "vietnamnet.vn",
        "viettel.vn",
        "vnpt.vn",
        "fpt.com.vn",
        "thanhnien.vn",
        "chinhphu.vn",
        "zalo.me",
    ],
)
def test_ordinary_sites_are_low_without_reasons(value: str) -> None:
    risk = _risk(value)
    assert risk.level == "low"
    assert risk.reasons == ()
    assert risk.official is None


# --- inputs that are no link --------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "not a link",
        "localhost",
        "12345",
        "com.vn",
        "gov.vn",
        "ftp://example.com/",
        "mailto:ab@example.com",
        "ab@example.com",
        "javascript:alert(1)",
        "tel:0912345678",
        "http://",
        "http://exa mple.com/",
        "http://" + "a" * 64 + ".com/",
    ],
)
def test_values_that_are_no_usable_link_give_none(value: str) -> None:
    assert analyse(value) is None


def test_result_is_frozen_and_ports_paths_and_trailing_punctuation_are_ignored() -> None:
    risk = _risk("https://vcb-online.top:8443/a?b=c).")
    assert risk.host == "vcb-online.top"
    with pytest.raises(AttributeError):
        risk.level = "low"  # type: ignore[misc]
    assert hash(risk) == hash(_risk("vcb-online.top"))


def test_analysis_is_fast() -> None:
    values = [f"http://shop{i}-khuyenmai-{i * 7}.com/login" for i in range(500)]
    start = time.perf_counter()
    results = [analyse(v) for v in values]
    assert time.perf_counter() - start < 2.0  # about 0.2 ms each on a laptop
    assert all(r is not None and r.level == "low" for r in results)


# --- texts -------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", REASON_CODES)
def test_reason_text_fills_the_detail_for_every_code(code: str) -> None:
    text = reason_text(translator("en"), Reason(code, "example-detail.top"))
    assert "example-detail.top" in text
    assert "{" not in text and "}" not in text
    assert len(text) > len("example-detail.top") + 10


def test_reason_text_differs_per_code_and_handles_unknown_codes() -> None:
    t = translator("en")
    texts = {reason_text(t, Reason(code, "x.vn")) for code in REASON_CODES}
    assert len(texts) == len(REASON_CODES)
    assert "x.vn" in reason_text(t, Reason("something_new", "x.vn"))


def test_every_reason_code_is_produced_somewhere() -> None:
    produced: set[str] = set()
    for value in [
        "vietcombank.com.vn",
        "bidv.com.vn.secure-login.xyz",
        "vietcombаnk.com.vn",
        "vietcombank-xacthuc.com",
        "sbvhn.com",
        "x.vercel.app",
        "bit.ly/abc",
        "http://203.0.113.7/",
        "http://guest@example.com/",
    ]:
        produced |= set(_codes(_risk(value)))
    produced |= set(_codes(_risk("ok.vn", allow=["ok.vn"])))
    produced |= set(_codes(_risk("bad.vn", deny=["bad.vn"])))
    assert produced == set(REASON_CODES)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "https://a.b.example.com/x?y=1",
            ["a.b.example.com", "b.example.com", "example.com", "com"],
        ),
        ("vietcombánk.com", ["xn--vietcombnk-z4a.com", "com"]),
        ("http://192.168.1.10/login", ["192.168.1.10"]),
        ("ban@example.com", []),
        ("", []),
    ],
)
def test_rule_candidates_are_the_host_and_its_parents(value: str, expected: list[str]) -> None:
    # The instant check reads only the officers' rules stored under these names.
    assert rule_candidates(value) == expected
