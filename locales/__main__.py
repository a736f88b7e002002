"""Catalog maintenance: `python -m locales update` after changing texts, `check` in CI.

`update` extracts every message from the code into `tinbao.pot`, merges it into the Vietnamese
and English catalogs, and fills English with the source text (English is the source language).
`check` fails if a catalog is out of date with the code, a message is untranslated or fuzzy,
or a translation lost or invented a `{placeholder}` (which would break `.format` at run time).
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po, write_po

from locales import DOMAIN, LOCALES_DIR

ROOT = LOCALES_DIR.parent
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"
LANGUAGES = ("vi", "en")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _pybabel(*args: str) -> None:
    CommandLineInterface().run(["pybabel", "-q", *args])


def _extract(target: Path) -> None:
    _pybabel(
        "extract",
        "-F",
        str(ROOT / "pyproject.toml"),
        "--no-location",
        "--sort-output",
        "--omit-header",
        "-k",
        "N_",
        "-o",
        str(target),
        str(ROOT / "bot"),
        str(ROOT / "handlers"),
    )


def _po(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def update() -> int:
    """Extract, merge and fill English; print what still needs a Vietnamese translation."""
    _extract(TEMPLATE)
    for language in LANGUAGES:
        po = _po(language)
        if not po.exists():
            _pybabel(
                "init", "-i", str(TEMPLATE), "-d", str(LOCALES_DIR), "-D", DOMAIN, "-l", language
            )
        _pybabel(
            "update",
            "-i",
            str(TEMPLATE),
            "-d",
            str(LOCALES_DIR),
            "-D",
            DOMAIN,
            "-l",
            language,
            "--no-fuzzy-matching",
            "--ignore-obsolete",
        )
    english = _read(_po("en"), "en")
    for message in english:
        if message.id:
            message.string = message.id
            message.flags.discard("fuzzy")
    with _po("en").open("wb") as handle:
        write_po(handle, english, width=100, omit_header=False)
    missing = problems()
    for line in missing:
        print(line)
    return 0


def problems() -> list[str]:
    """Everything wrong with the catalogs, one line each."""
    found: list[str] = []
    template = _read(TEMPLATE)
    expected = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    for language in LANGUAGES:
        catalog = _read(_po(language), language)
        present = {}
        for message in catalog:
            if not message.id:
                continue
            key = message.id if isinstance(message.id, str) else message.id[0]
            present[key] = message
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if not all(strings):
                found.append(f"{language}: untranslated: {key!r}")
            if message.fuzzy:
                found.append(f"{language}: fuzzy: {key!r}")
            wanted = set(PLACEHOLDER.findall(key))
            for string in strings:
                if string and set(PLACEHOLDER.findall(string)) != wanted:
                    found.append(f"{language}: placeholders differ: {key!r}")
        for key in sorted(expected - present.keys()):
            found.append(f"{language}: missing (run `python -m locales update`): {key!r}")
        for key in sorted(present.keys() - expected):
            found.append(f"{language}: no longer used (run `python -m locales update`): {key!r}")
    return found


def check() -> int:
    """Exit non-zero if the catalogs do not match the code exactly."""
    with tempfile.TemporaryDirectory() as temp:
        fresh = Path(temp) / "fresh.pot"
        _extract(fresh)
        old = {m.id for m in _read(TEMPLATE) if m.id}
        new = {m.id for m in _read(fresh) if m.id}
        if old != new:
            print("locales/tinbao.pot is out of date with the code: run `python -m locales update`")
            return 1
    found = problems()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command not in ("update", "check"):
        print("usage: python -m locales update|check", file=sys.stderr)
        sys.exit(2)
    sys.exit(update() if command == "update" else check())
