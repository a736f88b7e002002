"""How risky a link looks, judged offline from its address alone (no URL is ever fetched).

`analyse` reads a URL or a bare host and returns a `LinkRisk`: the host, its registrable domain
(bundled Public Suffix List with private suffixes, so "x.vercel.app" is its own site), a level and
the reasons behind it. `reason_text` turns one reason into a short sentence for residents.

Scoring
-------
1. A host that is an official domain from `data/official_domains.json`, a subdomain of one, or
   under a trusted suffix (gov.vn) is level "official" with the single reason `official`. Nothing
   else is looked at: a real bank or agency address is never flagged, not even by an officer's
   deny list.
2. An officer's deny entry gives "high" (`denied`, other signals listed after it); an allow entry
   gives "low" with the single reason `allowed` (deny wins over allow).
3. Otherwise these always make the link "high":
   `lookalike` (the name is an official one after folding homoglyphs, digits and diacritics, or
   within edit distance 1 of an official name of 6+ letters, 2 for 10+), `brand_lure` (a bank or
   agency name next to a lure word such as "xacthuc" or "login"), `brand_in_subdomain` (a whole
   official domain placed in front of another site, or before an "@"), `mixed_script` (Latin mixed
   with Cyrillic, Greek… in one label, or a label made only of letters that imitate Latin ones).
4. The remaining signals add points: `brand_elsewhere` 3; `free_hosting`, `shortener`, `ip_host`,
   `at_sign` 2 each; `risky_tld`, `lure_word`, `punycode`, `many_subdomains` 1 each.
   4 points or more is "high" (so a brand name plus any other signal, e.g. on free hosting, a
   risky ending or in punycode, is high), 2–3 is "medium", 1 is "low" with the reason shown,
   0 is "low" with no reason.
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from handlers.extract import _TLD, _idna_host, _normalize_url, _strip_trailing, normalize_text
from handlers.i18n import N_, Translator

__all__ = ["REASON_CODES", "Level", "LinkRisk", "Reason", "analyse", "reason_text"]

Level = Literal["official", "low", "medium", "high"]


@dataclass(frozen=True)
class Reason:
    """One finding about a link; `detail` is what it is about (a domain, a word, an ending)."""

    code: str
    detail: str = ""


@dataclass(frozen=True)
class LinkRisk:
    """The verdict on one link or host."""

    host: str  # ASCII (punycode), lower case
    display_host: str  # Unicode form for display
    domain: str | None  # registrable domain; None for IP addresses
    level: Level
    reasons: tuple[Reason, ...]
    official: str | None  # the official domain the host belongs to, if any


# --- reference data, read once at import ------------------------------------------------------

_DATA = json.loads((Path(__file__).parent / "data" / "official_domains.json").read_text("utf-8"))


@dataclass(frozen=True)
class _Official:
    domain: str
    label: str  # the registrable domain without its public suffix, e.g. "vietcombank"
    skeleton: str


_LETTERS_RE = re.compile(r"[^a-z]+")
_NOT_ALNUM_RE = re.compile(r"[^a-z0-9]+")
_HYPHENS_RE = re.compile(r"[-_]+")
_ASCII_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
_OTHER_SCHEME_RE = re.compile(r"[a-z][a-z0-9+.\-]*:(?!\d)", re.IGNORECASE)
_NUMERIC_HOST_RE = re.compile(r"(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}")

# Letters of other scripts that look like Latin ones, and Latin letters that look like others.
# Written out here because no confusables library (e.g. Unicode's confusables.txt) is installed
# and the project adds no dependency for it; these are the ones seen in phishing hosts.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "һ": "h", "і": "i", "ї": "i", "ј": "j", "к": "k",
    "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "ԁ": "d", "ԛ": "q",
    "ԝ": "w", "ӏ": "l", "ү": "y", "ь": "b", "п": "n", "м": "m", "н": "h", "г": "r",
    # Greek
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "γ": "y", "ω": "w", "η": "n",
    # Armenian
    "օ": "o", "ո": "n", "ս": "u", "հ": "h", "ց": "g", "զ": "q",
    # Latin look-alikes that do not decompose
    "đ": "d", "ı": "i", "ł": "l", "ɑ": "a", "ɡ": "g", "ø": "o", "ß": "ss", "ɩ": "i",
}  # fmt: skip
_DIGIT_FOLD = str.maketrans({"0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b"})


def _latin(text: str) -> str:
    """`text` lower-cased with diacritics stripped and look-alike letters mapped to Latin."""
    if text.isascii():
        return text.lower()
    out = []
    for ch in text.lower():
        if ch.isascii():
            out.append(ch)
        elif ch in _CONFUSABLES:
            out.append(_CONFUSABLES[ch])
        else:
            base = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            out.append(_CONFUSABLES.get(base, base) if base else ch)
    return "".join(out)


def _skeleton(text: str) -> str:
    """What `text` looks like: Latin letters, digits read as letters, "rn" as "m", no hyphens."""
    s = _HYPHENS_RE.sub("", _latin(text)).translate(_DIGIT_FOLD)
    return s.replace("rn", "m").replace("vv", "w").replace("i", "l")


def _words(text: str) -> list[str]:
    return [w for w in _LETTERS_RE.split(text) if w]


_OFFICIALS: dict[str, _Official] = {}
_BRAND_LONG: dict[str, str] = {}  # brand token (7+ letters, matched inside words) -> domain
_BRAND_SHORT: dict[str, str] = {}  # brand token matched as a word or with an affix -> domain
_WEAK_BRANDS: set[str] = set()  # tokens that are also common words: count only with a lure
for _entry in _DATA["domains"]:
    _domain = _entry["domain"]
    _label = _domain[: -len(_TLD(_domain).suffix) - 1]
    _OFFICIALS[_domain] = _Official(_domain, _label, _skeleton(_label))
    for _weak, _key in ((False, "brands"), (True, "weak_brands")):
        for _token in _entry.get(_key, ()):
            (_BRAND_LONG if len(_token) >= 7 else _BRAND_SHORT).setdefault(_token, _domain)
            if _weak:
                _WEAK_BRANDS.add(_token)
_TRUSTED_SUFFIXES = frozenset(_DATA["trusted_suffixes"])
_FREE_HOSTING = frozenset(_DATA["free_hosting"])
_SHORTENERS = frozenset(_DATA["shorteners"])
_RISKY_TLDS = frozenset(_DATA["risky_tlds"])
# Hyphenated lure words first, so "xac-thuc" is named as written rather than as "xacthuc".
_LURES: tuple[str, ...] = tuple(sorted(_DATA["lure_words"], key=lambda w: "-" not in w))
_LURE_SQUASHED = frozenset(w.replace("-", "") for w in _LURES)
# Words written next to a brand in one word ("vcbonline", "sbvhn", "myvcb").
_AFFIXES = _LURE_SQUASHED | frozenset(
    "bank banking ebank ibank digibank online vn hn hcm app web pay smart digital mobile net my "
    "the card viet vietnam h official chinhthuc".split()
)
_EXACT_NAMES = frozenset([*(o.label for o in _OFFICIALS.values()), *_BRAND_LONG, *_BRAND_SHORT])
_first_domain_per_skeleton: dict[str, str] = {}
for _official in _OFFICIALS.values():  # in file order: "techcombank.com.vn" before ".com"
    _first_domain_per_skeleton.setdefault(_official.skeleton, _official.domain)
for _token, _domain in _BRAND_LONG.items():
    _first_domain_per_skeleton.setdefault(_skeleton(_token), _domain)
# (skeleton, its letters, official domain, edit distance allowed) for every official name and
# long brand.
_LOOKALIKE_TARGETS: tuple[tuple[str, frozenset[str], str, int], ...] = tuple(
    (
        skeleton,
        frozenset(skeleton),
        domain,
        2 if len(skeleton) >= 10 else 1 if len(skeleton) >= 6 else 0,
    )
    for skeleton, domain in _first_domain_per_skeleton.items()
)

# Severity order of reasons in a verdict.
REASON_CODES: tuple[str, ...] = (
    "official",
    "allowed",
    "denied",
    "brand_in_subdomain",
    "lookalike",
    "brand_lure",
    "mixed_script",
    "brand_elsewhere",
    "punycode",
    "at_sign",
    "ip_host",
    "shortener",
    "free_hosting",
    "risky_tld",
    "lure_word",
    "many_subdomains",
)
_ORDER = {code: i for i, code in enumerate(REASON_CODES)}
_HIGH = frozenset({"denied", "brand_in_subdomain", "lookalike", "brand_lure", "mixed_script"})
_POINTS = {
    "brand_elsewhere": 3,
    "free_hosting": 2,
    "shortener": 2,
    "ip_host": 2,
    "at_sign": 2,
    "risky_tld": 1,
    "lure_word": 1,
    "punycode": 1,
    "many_subdomains": 1,
}


# --- helpers ----------------------------------------------------------------------------------


def _distance(a: str, b: str, limit: int) -> int:
    """Edit distance with transpositions (optimal string alignment); `limit + 1` once above."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=8192)
def _lookalike(name: str) -> str | None:
    """The official domain `name` (one label or word, as written) imitates, if any."""
    if name in _EXACT_NAMES:
        return None
    skeleton = _skeleton(name)
    size = len(skeleton)
    letters = frozenset(skeleton)
    best: tuple[int, str] | None = None
    for target, target_letters, domain, limit in _LOOKALIKE_TARGETS:
        if skeleton == target:
            return domain
        if limit and abs(size - len(target)) <= limit:
            # Letters in one and not the other bound the edit distance from below, cheaply.
            if len(letters - target_letters) > limit or len(target_letters - letters) > limit:
                continue
            d = _distance(skeleton, target, limit)
            if d <= limit and (best is None or d < best[0]):
                best = (d, domain)
    return best[1] if best else None


def _brand_in(text: str) -> tuple[str | None, str | None, str | None]:
    """(strong brand domain, weak brand domain, lure word written onto the brand) in `text`."""
    squashed = _NOT_ALNUM_RE.sub("", text)
    strong = weak = lure = None
    for token, domain in _BRAND_LONG.items():
        if token in squashed:
            strong = strong or domain
    for word in _words(text):
        hits: list[tuple[str, str | None]] = []
        if word in _BRAND_SHORT:
            hits.append((word, None))
        for k in range(2, len(word) - 1):
            head, tail = word[:k], word[k:]
            if head in _BRAND_SHORT and tail in _AFFIXES:
                hits.append((head, tail))
            elif tail in _BRAND_SHORT and head in _AFFIXES:
                hits.append((tail, head))
        for token, affix in hits:
            if token in _WEAK_BRANDS:
                weak = weak or _BRAND_SHORT[token]
            else:
                strong = strong or _BRAND_SHORT[token]
            if affix in _LURE_SQUASHED:
                lure = lure or affix
    return strong, weak, lure


def _lure_in(text: str) -> str | None:
    squashed = _NOT_ALNUM_RE.sub("", text)
    words = set(_words(text))
    for lure in _LURES:
        if "-" in lure:
            if lure in text:
                return lure
        elif (lure in squashed) if len(lure) >= 5 else (lure in words):
            return lure
    return None


def _script(ch: str) -> str:
    # The first word of a letter's Unicode name is its script ("LATIN", "CYRILLIC", "GREEK"…);
    # the standard library has no script property, and this is exact enough for host letters.
    name = unicodedata.name(ch, "")
    first = name.split(" ", 1)[0]
    return "CJK" if first in ("CJK", "HIRAGANA", "KATAKANA") else first


def _mixed_script(label: str) -> bool:
    """Latin mixed with another script, or a label written wholly in Latin look-alikes."""
    letters = [ch for ch in label if ch.isalpha()]
    scripts = {_script(ch) for ch in letters if not ch.isascii()}
    if any(ch.isascii() for ch in letters):
        scripts.add("LATIN")
    if len(scripts) > 1:
        return True
    # "аррӏе" in Cyrillic reads as "apple": every letter imitates a Latin one.
    return (
        len(letters) >= 3 and "LATIN" not in scripts and all(ch in _CONFUSABLES for ch in letters)
    )


def _display(host: str) -> str:
    labels = []
    for label in host.split("."):
        if label.startswith("xn--"):
            try:
                label = label.encode("ascii").decode("idna")
            except (UnicodeError, ValueError):
                pass
        labels.append(label)
    return ".".join(labels)


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _suffix_in(host: str, names: frozenset[str]) -> str | None:
    labels = host.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in names:
            return candidate
    return None


def _official_of(host: str, domain: str) -> str | None:
    labels = host.split(".")
    for i in range(len(labels)):
        candidate = ".".join(labels[i:])
        if candidate in _OFFICIALS:
            return candidate
        if candidate in _TRUSTED_SUFFIXES and i > 0:
            return domain
    return None


def _entries(values: Iterable[str]) -> list[str]:
    """Officers' allow/deny entries as ASCII hosts (a pasted URL counts for its host)."""
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            continue
        value = normalize_text(value).strip().lower()
        if "/" in value or "@" in value:
            norm = _normalize_url(value)
            host = norm[1] if norm else None
        else:
            host = _idna_host(value.strip("."))
        if host and host.startswith("www."):
            host = host[4:]
        if host:
            out.append(host)
    return out


def _is_ip(host: str) -> bool:
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    # Browsers also take "3232235777", "0xC0.0xA8.1.1" and "192.168.257" as addresses.
    return _NUMERIC_HOST_RE.fullmatch(host) is not None


def _level(codes: set[str]) -> Level:
    if codes & _HIGH:
        return "high"
    points = sum(_POINTS.get(code, 0) for code in codes)
    return "high" if points >= 4 else "medium" if points >= 2 else "low"


def _verdict(
    host: str, display: str, domain: str | None, found: dict[str, str], denied: str | None
) -> LinkRisk:
    if denied is not None:
        found = {"denied": denied, **found}
    reasons = tuple(
        Reason(code, detail) for code, detail in sorted(found.items(), key=lambda i: _ORDER[i[0]])
    )
    return LinkRisk(host, display, domain, _level(set(found)), reasons, None)


def rule_candidates(value: str) -> list[str]:
    """The names an officer's allow / deny entry for `value` could be stored under: its host and
    every parent domain (`a.b.example.com` → itself, `b.example.com`, `example.com`, `com`), so
    the check reads only the rules that can apply instead of all of them."""
    if not isinstance(value, str):
        return []
    raw = _strip_trailing(normalize_text(value).strip())[:4096]
    if "://" not in raw[:10] and "@" in raw.split("/", 1)[0]:
        return []  # an e-mail address is no website
    norm = _normalize_url(raw)
    host = norm[1] if norm else None
    if not host:
        return []
    if _is_ip(host):
        return [host]
    labels = host.split(".")
    return [".".join(labels[i:]) for i in range(len(labels))]


# --- the analysis -----------------------------------------------------------------------------


def analyse(value: str, *, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> LinkRisk | None:
    """The risk of the link or host `value`; None when it is no usable http(s) URL or host.

    `allow` and `deny` are hosts or registrable domains officers marked safe or as scams; they
    match the host and its subdomains.
    """
    if not isinstance(value, str):
        return None
    raw = _strip_trailing(normalize_text(value).strip())
    if not raw or len(raw) > 4096:
        return None
    has_scheme = "://" in raw[:10]
    if not has_scheme and ("@" in raw.split("/", 1)[0] or _OTHER_SCHEME_RE.match(raw)):
        return None  # an e-mail address, "mailto:", "tel:", "javascript:"…
    norm = _normalize_url(raw)
    if norm is None or norm[1] is None:
        return None
    url, host = norm[0], norm[1]
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    deny_hit = next((e for e in _entries(deny) if _within(host, e)), None)
    allow_hit = next((e for e in _entries(allow) if _within(host, e)), None)
    found: dict[str, str] = {}
    userinfo = unquote(parts.netloc.rpartition("@")[0]) if "@" in parts.netloc else None
    path = unquote(parts.path + ("?" + parts.query if parts.query else ""))[:300].lower()

    if _is_ip(host):
        if not has_scheme and not (":" in host or host.count(".") == 3):
            return None  # a bare number is no address
        if deny_hit is None and allow_hit is not None:
            return LinkRisk(host, host, None, "low", (Reason("allowed", allow_hit),), None)
        found["ip_host"] = host
        if userinfo is not None:
            found["at_sign"] = userinfo[:60]
        if lure := _lure_in(path):
            found["lure_word"] = lure
        return _verdict(host, host, None, found, deny_hit)

    if len(host) > 253 or not all(_ASCII_LABEL_RE.fullmatch(lab) for lab in host.split(".")):
        return None
    extracted = _TLD(host)
    domain = extracted.top_domain_under_public_suffix.lower()
    if not extracted.suffix or not extracted.domain or not domain:
        return None
    display = _display(host)

    official = _official_of(host, domain)
    if official is not None:
        reasons = (Reason("official", official),)
        return LinkRisk(host, display, domain, "official", reasons, official)
    if deny_hit is None and allow_hit is not None:
        return LinkRisk(host, display, domain, "low", (Reason("allowed", allow_hit),), None)

    suffix_labels = extracted.suffix.count(".") + 1
    site_labels = display.split(".")[:-suffix_labels]  # Unicode, without the public suffix
    site_text = _latin(".".join(site_labels))
    sub_labels = [lab for lab in extracted.subdomain.split(".") if lab and lab != "www"]

    # A whole official domain in front of another site, or before an "@".
    dotted = "." + host + "."
    for text in (dotted, "." + (userinfo or "").lower() + "."):
        for name in (*_OFFICIALS, *_TRUSTED_SUFFIXES):
            at = text.find("." + name + ".")
            if at >= 0 and "brand_in_subdomain" not in found:
                start = text.rfind(".", 0, at) + 1 if name in _TRUSTED_SUFFIXES else at + 1
                found["brand_in_subdomain"] = text[start : at + len(name) + 1].strip(".")

    if any(lab.startswith("xn--") for lab in host.split(".")):
        found["punycode"] = host
    for label in display.split("."):
        if _mixed_script(label):
            found["mixed_script"] = label
            break

    imitated = _lookalike(site_labels[-1])
    if imitated is None:
        for label in site_labels:
            for word in _HYPHENS_RE.split(label):
                if len(word) >= 5 and (imitated := _lookalike(word)):
                    break
            if imitated:
                break
    if imitated is not None:
        found["lookalike"] = imitated

    free = _suffix_in(host, _FREE_HOSTING)
    brand_texts = [site_text]
    if userinfo:
        brand_texts.append(_latin(userinfo))
    if free:
        found["free_hosting"] = free
        brand_texts.append(path)  # sites.google.com/view/<name>, <user>.github.io/<name>
    strong = weak = lure = None
    for text in brand_texts:
        s, w, lu = _brand_in(text)
        strong, weak, lure = strong or s, weak or w, lure or lu

    shortener = _suffix_in(host, _SHORTENERS)
    if shortener:
        found["shortener"] = shortener
    else:
        lure = lure or _lure_in(site_text) or _lure_in(path)
        if userinfo and not lure:
            lure = _lure_in(_latin(userinfo))
    if lure:
        found["lure_word"] = lure
    brand = strong or weak
    if brand and lure:
        found["brand_lure"] = brand
    elif strong and not ({"lookalike", "brand_in_subdomain"} & found.keys()):
        found["brand_elsewhere"] = strong

    tld = host.rsplit(".", 1)[-1]
    if tld in _RISKY_TLDS:
        found["risky_tld"] = tld
    if userinfo is not None:
        found["at_sign"] = userinfo[:60]
    if len(sub_labels) >= 3:
        found["many_subdomains"] = domain
    return _verdict(host, display, domain, found, deny_hit)


# --- texts ------------------------------------------------------------------------------------

_TEXTS: dict[str, str] = {
    "official": N_("This is a known official website: {detail}."),
    "allowed": N_("An officer has marked {detail} as a safe website."),
    "denied": N_("An officer has marked {detail} as a scam website."),
    "brand_in_subdomain": N_(
        "The address starts with {detail}, but it leads to a different website."
    ),
    "lookalike": N_("This address looks like {detail}, but it is a different website."),
    "brand_lure": N_(
        "This address uses the name of {detail} with words like “login” or “verify”, "
        "but it is not the real {detail}."
    ),
    "mixed_script": N_(
        "The name {detail} uses letters from another alphabet that look like ordinary ones. "
        "This is a common trick."
    ),
    "brand_elsewhere": N_(
        "This address uses the name of {detail}, but it is not a known official website."
    ),
    "punycode": N_("The address uses special letters. Its real form is {detail}."),
    "at_sign": N_(
        "The address contains an @ sign: the part before it ({detail}) is only a disguise."
    ),
    "ip_host": N_(
        "The address is a number ({detail}) instead of a name. Banks and agencies do not do this."
    ),
    "shortener": N_("This is a short link ({detail}) that hides where it really goes."),
    "free_hosting": N_(
        "This website is on a free hosting service ({detail}) where anyone can make a site."
    ),
    "risky_tld": N_("The address ends in .{detail}, an ending often used by scam websites."),
    "lure_word": N_("The address contains the word “{detail}”, often used to trick people."),
    "many_subdomains": N_("The address is very long to hide the real website, which is {detail}."),
}
_UNKNOWN = N_("This address shows a warning sign: {detail}.")


def reason_text(t: Translator, reason: Reason) -> str:
    """One reason as a short sentence in the user's language."""
    return t._(_TEXTS.get(reason.code, _UNKNOWN)).format(detail=reason.detail)
