"""Names and filenames made safe to show to officers.

Anyone can name themselves, a forwarded chat, an account holder or a file. Invisible characters
turn that into a disguise: a right-to-left override (U+202E) makes `hoadon<U+202E>fdp.exe`
show as `hoadonexe.pdf`, a zero-width space makes `Vietcom<U+200B>bank` look like the bank's
own name while matching nothing, and a name of fillers looks empty. Every name and filename
that reaches an officer (cards, report details, evidence captions and uploads, relayed
answers, the officer list) goes through `safe_name` or `safe_filename` first.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that draw nothing yet are letters or symbols by category, so the category test
# below misses them: Hangul fillers, the braille blank and the Mongolian vowel separator are
# the usual "invisible name" tricks.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")
# Categories removed: controls (Cc), formats (Cf: bidi embeddings, overrides and isolates,
# LRM/RLM, zero-width space/joiners, word joiner, BOM, soft hyphen, tag characters…),
# and surrogates (Cs). Unassigned code points stay: they are mostly emoji newer than Python.
_REMOVED = frozenset(("Cc", "Cf", "Cs"))
# Line and paragraph separators.
_BREAKS = frozenset(("Zl", "Zp"))
_SPACES = re.compile(r"\s+")
# What a filename may not contain on any system officers open evidence on.
_PATH_CHARS = re.compile(r'[/\\:*?"<>|]')


def safe_name(text: str | None, limit: int = 128) -> str:
    """`text` without bidi controls, zero-width and other invisible or control characters.

    Vietnamese diacritics stay: the result is in NFC, so a name typed with combining marks
    reads the same as a precomposed one. Whitespace runs (tabs, newlines, odd spaces) become one
    space; the result is trimmed and cut to `limit` characters. It may be empty (a name made
    only of invisible characters); callers show their usual stand-in then.
    """
    if not text:
        return ""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch.isspace() or category in _BREAKS:
            kept.append(" ")  # tabs and line breaks too: a name is one line
        elif category not in _REMOVED and ch not in _FILLERS:
            kept.append(ch)
    # Composed after the removal: a mark separated from its letter by a zero-width character
    # joins it again.
    cleaned = _SPACES.sub(" ", unicodedata.normalize("NFC", "".join(kept))).strip()
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1].rstrip() + "…"
    return cleaned


def safe_filename(name: str | None, extension: str | None = None, limit: int = 100) -> str:
    """A filename to show or upload: `safe_name`, no path separators, no leading dots.

    With `extension` (the type read from the file's own bytes, e.g. `pdf`), a name that does
    not end in it gets it appended, so what the officer's device opens matches what the file is.
    Returns "" when nothing usable is left.
    """
    cleaned = _PATH_CHARS.sub("_", safe_name(name, limit)).lstrip(". ")
    if extension:
        suffix = "." + extension.lower().lstrip(".")
        if cleaned and not cleaned.lower().endswith(suffix):
            cleaned = cleaned[: limit - len(suffix)] + suffix
    return cleaned
