"""Vietnamese banks and e-wallets (with their VietQR BINs) and finding them in free text.

The list lives in `handlers/data/banks.json` so it can be refreshed without touching code.
Matching works on a "folded" copy of the text (lower-case, no diacritics, đ → d) that has
exactly one character per original character, so offsets found in the folded copy are offsets
in the text the caller gave.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = ["Bank", "all_banks", "bank_by_bin", "bank_by_code", "find_banks", "fold", "match_bank"]


@dataclass(frozen=True)
class Bank:
    """A bank or e-wallet. `bin` is the VietQR BIN, None for wallets that have none."""

    code: str
    bin: str | None
    name: str
    full_name: str
    kind: str  # "bank" | "ewallet"
    aliases: tuple[str, ...]


_FOLD_CACHE: dict[str, str] = {"đ": "d", "Đ": "d"}


def _fold_char(c: str) -> str:
    folded = _FOLD_CACHE.get(c)
    if folded is None:
        base = "".join(
            ch for ch in unicodedata.normalize("NFD", c) if not unicodedata.combining(ch)
        ).lower()
        # Keeping exactly one character per input character is what lets callers reuse offsets.
        folded = base if len(base) == 1 else c
        if len(_FOLD_CACHE) < 100_000:
            _FOLD_CACHE[c] = folded
    return folded


def fold(text: str) -> str:
    """Lower-case `text` and strip Vietnamese diacritics, keeping its length and offsets."""
    if text.isascii():
        return text.lower()
    return "".join(map(_fold_char, text))


# Generic words that name a bank only after "ngân hàng"/"NH" (or as a whole short answer):
# "quân đội" alone is more often the army than MB Bank.
_BANK_PREFIXES = ("ngan hang", "nh", "ngan hang tmcp", "nh tmcp")
_TOKEN_SPLIT = re.compile(r"[\s\-.]+")
# Between the words of an alias people put a space, a dash, a dot, or nothing ("mbbank").
_SEP = r"[ \t.\-_]{0,3}"
_WORD_CHARS = "a-z0-9"


def _tokens(alias: str) -> tuple[str, ...]:
    return tuple(t for t in _TOKEN_SPLIT.split(fold(alias)) if t)


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", fold(text))


class _Trie:
    __slots__ = ("children", "end")

    def __init__(self) -> None:
        self.children: dict[str, _Trie] = {}
        self.end = False


def _trie_pattern(node: _Trie) -> str:
    # A trie-shaped regex keeps the scan fast on long texts (one branch per first word instead
    # of hundreds of alternatives), and its greedy optional tails make the longest alias win.
    alts = []
    for tok in sorted(node.children, key=lambda t: (-len(t), t)):
        child = node.children[tok]
        sub = re.escape(tok)
        if child.children:
            rest = _trie_pattern(child)
            sub += f"(?:{_SEP}{rest})?" if child.end else f"{_SEP}{rest}"
        alts.append(sub)
    return "(?:" + "|".join(alts) + ")"


@dataclass(frozen=True)
class _Index:
    banks: tuple[Bank, ...]
    by_code: dict[str, Bank]
    by_bin: dict[str, Bank]
    by_strong: dict[str, Bank]
    by_squashed: dict[str, Bank]
    pattern: re.Pattern[str]


def _load_json() -> dict[str, Any]:
    raw = resources.files("handlers").joinpath("data/banks.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(raw)
    return data


@functools.cache
def _index() -> _Index:
    banks: list[Bank] = []
    by_tokens: dict[tuple[str, ...], Bank] = {}
    by_squashed: dict[str, Bank] = {}
    by_strong: dict[str, Bank] = {}
    for entry in _load_json()["banks"]:
        weak = [str(a) for a in entry.get("weak_aliases", [])]
        strong = [str(a) for a in entry["aliases"]]
        # A parenthesised note in a full name ("(nay là VCBNeo)") is not how anyone writes it.
        strong += [entry["name"], re.sub(r"\s*\(.*?\)", "", entry["full_name"])]
        strong += [f"{p} {w}" for w in weak for p in _BANK_PREFIXES]
        bank = Bank(
            code=entry["code"],
            bin=entry["bin"],
            name=entry["name"],
            full_name=entry["full_name"],
            kind=entry["kind"],
            aliases=tuple(dict.fromkeys([*entry["aliases"], *weak])),
        )
        banks.append(bank)
        for alias in strong:
            toks = _tokens(alias)
            if toks:
                by_tokens.setdefault(toks, bank)
                by_strong.setdefault(_squash(alias), bank)
        for alias in [*strong, *weak]:
            by_squashed.setdefault(_squash(alias), bank)
    trie = _Trie()
    for toks in by_tokens:
        node = trie
        for tok in toks:
            node = node.children.setdefault(tok, _Trie())
        node.end = True
    pattern = re.compile(rf"(?<![{_WORD_CHARS}]){_trie_pattern(trie)}(?![{_WORD_CHARS}])")
    return _Index(
        banks=tuple(banks),
        by_code={b.code: b for b in banks},
        by_bin={b.bin: b for b in banks if b.bin},
        by_strong=by_strong,
        by_squashed=by_squashed,
        pattern=pattern,
    )


def all_banks() -> tuple[Bank, ...]:
    """Every bank and e-wallet in the bundled list, in the list's order."""
    return _index().banks


def bank_by_code(code: str) -> Bank | None:
    """The bank with this short code ("VCB"), case-insensitive, else None."""
    return _index().by_code.get(code.strip().upper())


def bank_by_bin(bin: str) -> Bank | None:
    """The bank with this 6-digit VietQR BIN ("970436"), else None."""
    return _index().by_bin.get(bin.strip())


def _find_in_folded(folded: str) -> list[tuple[Bank, int, int]]:
    idx = _index()
    found: list[tuple[Bank, int, int]] = []
    for m in idx.pattern.finditer(folded):
        bank = idx.by_strong.get(_squash(m.group()))
        if bank is not None:
            found.append((bank, m.start(), m.end()))
    return found


def find_banks(text: str) -> list[tuple[Bank, int, int]]:
    """Every bank named in `text` as (bank, start, end) offsets into `text`, in order.

    Matching ignores case and diacritics and only takes whole words, so "mb" matches in
    "chuyển qua MB nhé" but not in "mbps"; the longest alias wins and matches never overlap.
    """
    try:
        return _find_in_folded(fold(text))
    except (TypeError, ValueError):
        return []


_ANSWER_FILLER = re.compile(r"^(?:(?:la|cua|o|tai|qua|bang|tk|stk|tai khoan)\s+)+")


def match_bank(text: str) -> Bank | None:
    """The bank a short answer names ("vietcom", "Ngân hàng Quân Đội", "tcb"), else None.

    Unlike `find_banks`, a whole answer may be a generic word ("quân đội") or a small typo
    ("vietconbank"), since the resident was asked which bank it was.
    """
    idx = _index()
    folded = fold(text).strip()
    if not folded or len(folded) > 200:
        return None
    folded = _ANSWER_FILLER.sub("", folded)
    squashed = _squash(folded)
    if not squashed:
        return None
    bank = idx.by_squashed.get(squashed)
    if bank is None and squashed.isdigit():
        bank = idx.by_bin.get(squashed)
    if bank is not None:
        return bank
    named = {b.code: b for b, _, _ in _find_in_folded(folded)}
    if len(named) == 1:
        return next(iter(named.values()))
    if len(named) > 1 or len(squashed) < 5:
        return None
    close = difflib.get_close_matches(squashed, list(idx.by_squashed), n=1, cutoff=0.86)
    return idx.by_squashed[close[0]] if close else None
