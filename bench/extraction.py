"""Extraction benchmark: precision and recall of indicators and amounts on a labeled corpus.

Run from the repository root::

    python bench/extraction.py [--errors] [--corpus PATH]
    python -m bench.extraction  ...

The corpus (``bench/data/extraction_corpus.jsonl``, one JSON object a line) holds realistic
Vietnamese messages written for the project: fake bank SMS, police impersonation, task scams,
transfer instructions, shopping, loan, romance, investment, hacked-account and "money recovery"
scams, and benign or tricky messages (OTP codes, dates, order and ID card numbers, prices).
Each line is ``{"id", "type", "text", "expect": {"phone": [...], "bank_account": [...],
"url": [...], "domain": [...], "email": [...], "amount": [...]}}`` with values in the project's
normalized form: E.164 phones (1800/1900 hotlines as bare digits), accounts as ``"VCB:0123456789"``
(bare digits when the message names no bank), normalized URLs, registrable lower-case punycode
domains, lower-case e-mails and amounts as integers of VND. Labels say what a careful human would
want extracted (a defanged ``vcb-xacthuc[.]com`` is the domain ``vcb-xacthuc.com``; a spelled-out
``năm triệu`` is 5,000,000), not what the extractor finds today.

What runs, per message, is what the bot runs on a resident's text:

- ``handlers.extract.extract_indicators(text)`` for phones, bank accounts, URLs, domains and
  e-mails (``social`` indicators are not scored);
- ``handlers.extract.find_amounts(text)``, keeping amounts above 0, for amounts: the intake
  (``handlers/intake.py`` ``_remember_amount``) reads money from free text this way.

Scoring, per kind: the predicted and the expected values of a message are compared as sets
(duplicates count once). A true positive (TP) is an expected value that was predicted, a false
negative (FN) one that was not, a false positive (FP) a predicted value that was not expected.
Precision = TP / (TP + FP), recall = TP / (TP + FN), F1 their harmonic mean; "overall" adds up
the counts of all kinds (micro average). Bank accounts compare by account number, and by bank
only where the label names one: a label ``"VCB:0123456789"`` matches only the prediction
``"VCB:0123456789"``; a bare label ``"0123456789"`` (no bank in the message) matches a prediction
of those digits with or without a bank, since the label asserts only the number. A prediction
with the right digits but a wrong or missing bank counts as one FN and one FP, and is also
counted in the "wrong bank" column. The goals (from the issue): precision and recall ≥ 0.95 for
phones and bank accounts, ≥ 0.90 for amounts and links (URLs and domains).

With ``--errors`` it lists, per message, the misses (``-``) and false positives (``+``).
docs/benchmarks.md explains the corpus and the figures. The exit code is 0 whatever the figures,
2 when the corpus is malformed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# `python bench/extraction.py` puts bench/ (not the repository root) on sys.path.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from handlers.extract import extract_indicators, find_amounts  # noqa: E402

DEFAULT_CORPUS = ROOT / "bench" / "data" / "extraction_corpus.jsonl"
KINDS = ("phone", "bank_account", "url", "domain", "email", "amount")
GOALS = {"phone": 0.95, "bank_account": 0.95, "url": 0.90, "domain": 0.90, "amount": 0.90}

Value = str | int


class CorpusError(Exception):
    """The corpus file is missing or a line is not a well-formed example."""


@dataclass
class Example:
    """One labeled message."""

    id: str
    type: str
    text: str
    expect: dict[str, list[Value]]


@dataclass
class Outcome:
    """What the extractor got right and wrong on one message."""

    example: Example
    tp: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[str, Value]] = field(default_factory=list)
    extra: list[tuple[str, Value, str]] = field(default_factory=list)  # kind, value, raw
    wrong_bank: int = 0


@dataclass
class Tally:
    """Counts of one kind (or of all kinds, or of one message type)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    wrong_bank: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else math.nan

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else math.nan

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        if math.isnan(p) or math.isnan(r) or p + r == 0:
            return math.nan
        return 2 * p * r / (p + r)


# --------------------------------------------------------------------------- corpus


def _check_values(kind: str, values: Any, where: str) -> list[Value]:
    if not isinstance(values, list):
        raise CorpusError(f"{where}: expect.{kind} must be a list")
    out: list[Value] = []
    for value in values:
        if kind == "amount":
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise CorpusError(f"{where}: amount {value!r} must be a positive integer (VND)")
        elif not isinstance(value, str) or not value:
            raise CorpusError(f"{where}: {kind} {value!r} must be a non-empty string")
        if value not in out:
            out.append(value)
    return out


def load_corpus(path: Path) -> list[Example]:
    """Every example of the JSONL file at `path`; CorpusError when anything is malformed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CorpusError(f"{path}: {error}") from error
    examples: list[Example] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{where}: not JSON ({error})") from error
        if not isinstance(obj, dict):
            raise CorpusError(f"{where}: not a JSON object")
        ident, kind, text = obj.get("id"), obj.get("type"), obj.get("text")
        expect = obj.get("expect")
        if not isinstance(ident, str) or not ident or ident in seen:
            raise CorpusError(f"{where}: missing or duplicate id {ident!r}")
        if not isinstance(kind, str) or not kind or not isinstance(text, str) or not text:
            raise CorpusError(f"{where}: type and text must be non-empty strings")
        if not isinstance(expect, dict) or set(expect) - set(KINDS):
            raise CorpusError(f"{where}: expect must be an object with keys among {KINDS}")
        seen.add(ident)
        labels = {k: _check_values(k, expect.get(k, []), where) for k in KINDS}
        examples.append(Example(ident, kind, text, labels))
    if not examples:
        raise CorpusError(f"{path}: no examples")
    return examples


# --------------------------------------------------------------------------- scoring


def predict(text: str) -> dict[str, list[tuple[Value, str]]]:
    """(value, raw) per kind, as the bot extracts them from a resident's text."""
    found: dict[str, list[tuple[Value, str]]] = {k: [] for k in KINDS}
    for indicator in extract_indicators(text):
        if indicator.kind in found:
            found[indicator.kind].append((indicator.value, indicator.raw))
    seen: set[int] = set()
    for vnd, raw in find_amounts(text):
        if vnd > 0 and vnd not in seen:
            seen.add(vnd)
            found["amount"].append((vnd, raw))
    return found


def _digits(account: str) -> str:
    return account.rpartition(":")[2]


def score(example: Example) -> Outcome:
    """Compare the extractor's output on one example with its labels."""
    outcome = Outcome(example)
    predicted = predict(example.text)
    for kind in KINDS:
        expected = list(example.expect[kind])
        remaining = list(predicted[kind])
        for value in expected:
            match = next((p for p in remaining if p[0] == value), None)
            if match is None and kind == "bank_account":
                assert isinstance(value, str)
                if ":" not in value:
                    # A bare label asserts only the number: any bank the extractor adds is fine.
                    match = next(
                        (p for p in remaining if _digits(str(p[0])) == value),
                        None,
                    )
                elif any(_digits(str(p[0])) == _digits(value) for p in remaining):
                    outcome.wrong_bank += 1
            if match is None:
                outcome.missed.append((kind, value))
            else:
                remaining.remove(match)
                outcome.tp[kind] += 1
        outcome.extra.extend((kind, value, raw) for value, raw in remaining)
    return outcome


def tally(outcomes: list[Outcome]) -> dict[str, Tally]:
    """Counts per kind, plus "overall"."""
    tallies = {kind: Tally() for kind in (*KINDS, "overall")}
    for outcome in outcomes:
        for kind in KINDS:
            tallies[kind].tp += outcome.tp[kind]
        for kind, _ in outcome.missed:
            tallies[kind].fn += 1
        for kind, _, _ in outcome.extra:
            tallies[kind].fp += 1
        tallies["bank_account"].wrong_bank += outcome.wrong_bank
    total = tallies["overall"]
    for kind in KINDS:
        total.tp += tallies[kind].tp
        total.fp += tallies[kind].fp
        total.fn += tallies[kind].fn
    total.wrong_bank = tallies["bank_account"].wrong_bank
    return tallies


# --------------------------------------------------------------------------- output


def _ratio(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def _goal(kind: str, t: Tally) -> str:
    goal = GOALS.get(kind)
    if goal is None:
        return "—"
    met = all(not math.isnan(v) and v >= goal for v in (t.precision, t.recall))
    return f"≥{goal:.2f} {'met' if met else 'NOT met'}"


def print_table(outcomes: list[Outcome]) -> None:
    """The per-kind table and a per-message-type summary."""
    examples = [o.example for o in outcomes]
    types = Counter(e.type for e in examples)
    print(
        f"tinbao extraction benchmark — {len(examples)} messages ("
        + ", ".join(f"{name} {n}" for name, n in types.most_common())
        + ")"
    )
    print()
    print(
        f"{'kind':14}{'labels':>8}{'TP':>6}{'FP':>6}{'FN':>6}{'precision':>11}{'recall':>8}"
        f"{'F1':>7}{'wrong bank':>12}  goal"
    )
    tallies = tally(outcomes)
    for kind, t in tallies.items():
        if kind == "overall":
            print("-" * 90)
        wrong = str(t.wrong_bank) if kind in ("bank_account", "overall") else ""
        print(
            f"{kind:14}{t.tp + t.fn:>8}{t.tp:>6}{t.fp:>6}{t.fn:>6}{_ratio(t.precision):>11}"
            f"{_ratio(t.recall):>8}{_ratio(t.f1):>7}{wrong:>12}  {_goal(kind, t)}"
        )
    print()
    print(f"{'message type':16}{'messages':>9}{'exact':>7}{'labels':>8}{'FP':>6}{'FN':>6}")
    for name, count in sorted(types.items()):
        mine = [o for o in outcomes if o.example.type == name]
        exact = sum(1 for o in mine if not o.missed and not o.extra)
        labels = sum(len(v) for o in mine for v in o.example.expect.values())
        fp = sum(len(o.extra) for o in mine)
        fn = sum(len(o.missed) for o in mine)
        print(f"{name:16}{count:>9}{exact:>7}{labels:>8}{fp:>6}{fn:>6}")
    exact = sum(1 for o in outcomes if not o.missed and not o.extra)
    print(f"{'all':16}{len(outcomes):>9}{exact:>7}")


def print_errors(outcomes: list[Outcome]) -> None:
    """Misses (-) and false positives (+) of every message that has any."""
    print()
    print("Errors (- missed, + false positive):")
    for outcome in outcomes:
        if not outcome.missed and not outcome.extra:
            continue
        example = outcome.example
        text = example.text.replace("\n", " ⏎ ")
        print(f"\n[{example.id}] {text}")
        for kind, value in outcome.missed:
            print(f"    - {kind} {value}")
        for kind, value, raw in outcome.extra:
            print(f"    + {kind} {value}   (from {raw!r})")


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--corpus", type=Path, default=DEFAULT_CORPUS, help=f"default {DEFAULT_CORPUS}"
    )
    parser.add_argument(
        "--errors", action="store_true", help="list the misses and false positives per message"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        examples = load_corpus(args.corpus)
    except CorpusError as error:
        print(f"malformed corpus: {error}", file=sys.stderr)
        return 2
    outcomes = [score(example) for example in examples]
    print_table(outcomes)
    if args.errors:
        print_errors(outcomes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
