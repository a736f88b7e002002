"""Properties of the whole bot: random updates through the real application never crash it,
every message and button press gets an answer, and Telegram never refuses what the bot sends.

Hypothesis writes the updates: random Unicode (bidi overrides, zero-width characters, combining
marks), HTML and Markdown fragments, texts of exactly 4,096 characters, entities pointing
anywhere, photos and files with odd names, stickers, places, contacts, forwards, edits, message
kinds the bot does not read, unknown commands, and button presses with made-up data or taken
from the bot's own older messages. The fake Bot API refuses, as Telegram does, broken HTML,
texts over 4,096 characters (captions over 1,024) after parsing, and bad buttons
(`tests/fakebotapi.check_outgoing`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Harness, running_bot
from tests.fakebotapi import Call
from tests.test_report_flow import JPEG
from tests.updates import Resident, _now

# Characters that make text lie about itself: bidi embeddings, overrides and isolates,
# zero-width joiners and spaces, the BOM, a combining accent.
ODD = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u2060\ufeff\u0301"
FRAGMENTS = [
    "<b>", "</b>", "<i>", "</i>", "<a href='javascript:alert(1)'>", "</a>", "<script>", "&amp;",
    "&", "<", ">", "&lt;", "*đậm*", "_nghiêng_", "`mã`", "```", "[bấm](https://vcb-khoa.top)",
    "||ẩn||", "0912 345 678", "+84 912345678", "https://bit.ly/3xYz", "vietcombank 1234567890",
    "50 triệu", "5.000.000đ", "hôm qua", "\n", " ", "🙂", "👨‍👩‍👧", "/baocao", "/start", "@admin",
]  # fmt: skip
COMMANDS = [
    "start", "baocao", "report", "kiemtra", "check", "tinbao", "myreports", "nhancanhbao",
    "huynhan", "huy", "cancel", "ngonngu", "trogiup", "help", "canhbao", "thongke", "hang",
    "xem", "dashboard", "khongcolenhnay", "start@tinbao_test_bot",
]  # fmt: skip
CALLBACK_PREFIXES = [
    "consent:yes:vi:menu", "consent:no", "consent:lang:en", "menu:report", "menu:check",
    "menu:mine", "menu:lang", "menu:help", "r:category:", "r:lost:", "r:amount:", "r:when:",
    "r:account:", "r:contact:", "r:evidence:", "r:description:", "r:summary:", "resume:go",
    "resume:new", "sub:yes", "sub:no", "lang:", "cancel:ask", "ans:", "o:claim:", "o:view:",
    "bc:send:", "bc:cancel:",
]  # fmt: skip

ENTITY_TYPES = [
    "bold", "italic", "url", "text_link", "mention", "bot_command", "code", "pre", "spoiler",
    "blockquote", "phone_number", "custom_emoji",
]  # fmt: skip
MIME_TYPES = [
    "application/pdf", "image/png", "application/vnd.android.package-archive", "text/html",
]  # fmt: skip

chars = st.characters(codec="utf-8", exclude_categories=("Cs",))
odd_text = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(ODD), st.text(chars, max_size=8)),
    min_size=1,
    max_size=40,
).map("".join)
long_text = st.builds(
    lambda piece: (piece * 4096)[:4096], st.sampled_from([*FRAGMENTS, "ừ", "a", "<b>&amp;"])
)
texts = st.one_of(st.text(chars, min_size=1, max_size=200), odd_text, long_text).filter(
    lambda t: t.strip() != ""
)
names = st.one_of(st.text(chars, min_size=1, max_size=40), odd_text.map(lambda t: t[:64]))
entities = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                [
                    "bold",
                    "italic",
                    "url",
                    "text_link",
                    "mention",
                    "bot_command",
                    "code",
                    "pre",
                    "spoiler",
                    "blockquote",
                    "phone_number",
                    "custom_emoji",
                ]
            ),
            "offset": st.integers(0, 5000),
            "length": st.integers(0, 5000),
        },
        optional={
            "url": st.sampled_from(["https://vcb-khoa.top", "tg://user?id=1", "javascript:"])
        },
    ),
    max_size=3,
)

# One step: (kind, parameters); the test turns it into an update for one of its residents.
steps = st.one_of(
    st.tuples(st.just("text"), texts, entities),
    st.tuples(st.just("command"), st.sampled_from(COMMANDS), st.text(chars, max_size=30)),
    st.tuples(
        st.just("press"),
        st.one_of(
            st.builds(
                lambda p, s: (p + s)[:64],
                st.sampled_from(CALLBACK_PREFIXES),
                st.text(chars, max_size=12),
            ),
            st.text(chars, min_size=1, max_size=20),
            st.just("old"),  # a button from one of the bot's earlier messages
        ),
        st.integers(0, 10_000),
    ),
    st.tuples(st.just("photo"), st.one_of(st.none(), texts.map(lambda t: t[:1100])), st.none()),
    st.tuples(
        st.just("document"),
        names,
        st.sampled_from(MIME_TYPES),
    ),
    st.tuples(st.just("sticker"), st.sampled_from(["😀", "👍", ODD[0]]), st.none()),
    st.tuples(st.just("location"), st.floats(-90, 90), st.floats(-180, 180)),
    st.tuples(st.just("contact"), st.text("0123456789+ -", min_size=1, max_size=20), names),
    st.tuples(st.just("forward"), texts, names),
    st.tuples(st.just("edit"), texts, st.none()),
    st.tuples(st.just("unread"), st.sampled_from(["dice", "story", "game"]), st.none()),
)
residents = st.lists(
    st.tuples(names, st.sampled_from(["vi", "en", "fr", None])), min_size=1, max_size=3
)


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Harness]:
    # On SQLite only: what this tests lies above the database (both engines run the rest).
    url = f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
    async with running_bot(tmp_path, url, admin_ids=[7_000_001]) as h:
        yield h


def update_for(h: Harness, r: Resident, step: tuple[Any, Any, Any]) -> dict[str, Any]:
    kind, a, b = step
    if kind == "text":
        return r.text(a, entities=b or None)
    if kind == "command":
        return r.command(a, a and b)
    if kind == "press":
        data = a
        if data == "old":
            pressed = [d for c in h.fake.calls for _, d in Harness.buttons(c) if d]
            data = pressed[b % len(pressed)] if pressed else "menu:report"
        return r.callback(data, message_id=1 + b)
    if kind == "photo":
        file_id, unique = h.fake.add_file(JPEG)
        return r.photo(file_id, unique, caption=a)
    if kind == "document":
        file_id, unique = h.fake.add_file(b"%PDF-1.4 fuzz")
        return r.document(file_id, unique, file_name=a, mime_type=b)
    if kind == "sticker":
        return r.sticker(emoji=a)
    if kind == "location":
        return r.location(a, b)
    if kind == "contact":
        return r.contact(a, b)
    if kind == "forward":
        return r.forwarded_text(a, sender_name=b)
    if kind == "edit":
        message = r.text(a)["message"]
        return {"edited_message": {**message, "edit_date": _now()}}
    content = {
        "dice": {"emoji": "🎲", "value": 4},
        "story": {"chat": r.chat, "id": 5},
        "game": {"title": "x", "description": "y", "photo": []},
    }[a]  # fmt: skip
    return r.message(**{a: content})


# Programs of 60–100 updates each; more for a deeper search than the suite's run
# (TINBAO_TEST_FUZZ_EXAMPLES=200 takes some ten minutes).
EXAMPLES = int(os.environ.get("TINBAO_TEST_FUZZ_EXAMPLES", "12"))


def answered(calls: list[Call], chat_id: int) -> bool:
    """Whether the bot answered this chat (a message, an edit, a file, a button's toast)."""
    return any(
        c.chat_id == chat_id or c.method == "answerCallbackQuery"
        for c in calls
        if c.method != "getUpdates"
    )


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=residents, program=st.lists(steps, min_size=60, max_size=100))
async def test_random_updates_are_always_answered_and_never_refused(
    bot: Harness,
    people: list[tuple[str, str | None]],
    program: list[tuple[Any, Any, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = bot
    caplog.set_level(logging.WARNING)
    base = 5_000_000 + len(h.fake.calls) * 10  # fresh people for every example
    cast = [Resident(base + i, name, language_code=lang) for i, (name, lang) in enumerate(people)]
    for index, step in enumerate(program):
        r = cast[index % len(cast)]
        start = h.fake.mark()
        update = update_for(h, r, step)
        await h.send(update, timeout=30)
        if "callback_query" in update:
            # The press's spinner is stopped after the replies: wait for it.
            await h.fake.wait_for(lambda c: c.method == "answerCallbackQuery", start=start)
        calls = h.fake.calls[start:]
        assert answered(calls, r.user_id), f"no answer to {step!r}"
        refused = [c for c in calls if c.status == 400]
        assert not refused, "\n".join(
            f"{c.method} refused: {str(c.params.get('text') or c.params.get('caption'))[:300]!r}"
            for c in refused
        )
    problems = [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert not problems, [rec.getMessage() for rec in problems]
