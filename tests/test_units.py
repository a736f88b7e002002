"""Small pieces with edge cases of their own: splitting, flood guard, debouncer, evidence."""

from __future__ import annotations

import asyncio
import hashlib
import html
from pathlib import Path

from bot.channels.telegram import render_html
from handlers import evidence
from handlers.core import Button, Outbound
from handlers.services import Debouncer, FloodGuard


def test_long_texts_are_split_under_telegrams_limit_without_losing_a_character() -> None:
    story = "\n".join(f"Dòng {n}: kẻ gian nói <chuyển tiền> & dọa bắt" for n in range(400))
    chunks = render_html(Outbound(story, title="Lời kể"))
    assert len(chunks) > 1
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert chunks[0].startswith("<b>Lời kể</b>\n")
    body = "\n".join(chunks)[len("<b>Lời kể</b>\n") :]
    assert html.unescape(body) == story


def test_a_single_line_longer_than_a_message_is_cut_between_escapes() -> None:
    line = "&" * 5000  # every character becomes "&amp;" when escaped
    chunks = render_html(Outbound(line))
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert all(not chunk.endswith(("&", "&a", "&am", "&amp")) for chunk in chunks)
    assert html.unescape("".join(chunks)) == line


def test_user_text_is_escaped() -> None:
    (chunk,) = render_html(Outbound("<script>x</script> & <b>"))
    assert chunk == "&lt;script&gt;x&lt;/script&gt; &amp; &lt;b&gt;"


def test_callback_data_over_64_bytes_is_refused() -> None:
    try:
        Button("x", "r:" + "đ" * 40)
    except ValueError as error:
        assert "64 bytes" in str(error)
    else:
        raise AssertionError("long callback data was accepted")


def test_flood_guard_warns_once_per_window_then_drops_then_recovers() -> None:
    guard = FloodGuard(limit=3, window=10)
    verdicts = [guard.check("u", now=float(n) / 10) for n in range(6)]
    assert verdicts == ["ok", "ok", "ok", "warn", "drop", "drop"]
    assert guard.check("other", now=0.6) == "ok"  # per user
    assert guard.check("u", now=30.0) == "ok"  # the window moved on


async def test_debouncer_runs_once_after_the_last_event() -> None:
    debouncer = Debouncer()
    runs: list[int] = []
    done = asyncio.Event()

    async def action(n: int) -> None:
        runs.append(n)
        done.set()

    for n in range(5):
        debouncer.schedule("album", 0.05, lambda n=n: action(n))
        await asyncio.sleep(0.01)
    await asyncio.wait_for(done.wait(), 2)
    assert runs == [4]


async def test_debouncer_postpone_pushes_back_a_pending_action_only() -> None:
    debouncer = Debouncer()
    runs: list[str] = []
    done = asyncio.Event()

    async def action() -> None:
        runs.append("ack")
        done.set()

    debouncer.postpone("album", 60)  # nothing pending: nothing scheduled
    debouncer.schedule("album", 0.2, action)
    debouncer.postpone("album", 60)  # another part is being read: wait for it
    await asyncio.sleep(0.4)
    assert runs == []
    debouncer.postpone("album", 0.01)
    await asyncio.wait_for(done.wait(), 2)
    assert runs == ["ack"]


async def test_debouncer_flush_runs_pending_actions_at_shutdown() -> None:
    debouncer = Debouncer()
    runs: list[str] = []

    async def action() -> None:
        runs.append("ran")

    debouncer.schedule("album", 60, action)
    await debouncer.flush()
    assert runs == ["ran"]


def test_evidence_is_typed_from_its_bytes_and_stored_once_by_sha256(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
    assert evidence.sniff(png) == "image/png"
    assert evidence.sniff(b"%PDF-1.7\n...") == "application/pdf"
    assert evidence.sniff(b"MZ\x90\x00" + b"\x00" * 60) not in evidence.ALLOWED
    assert not evidence.is_allowed(evidence.sniff(b"PK\x03\x04" + b"\x00" * 40))
    assert not evidence.is_allowed(None)
    first = evidence.store(tmp_path, png, "image/png")
    second = evidence.store(tmp_path, png, "image/png")
    assert first == second
    assert first.sha256 == hashlib.sha256(png).hexdigest()
    assert first.path == f"{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}.png"
    assert (tmp_path / first.path).read_bytes() == png
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [f"{first.sha256}.png"]
    evidence.remove(tmp_path, [first.path])
    assert not (tmp_path / first.path).exists()


def test_every_setting_is_documented_in_env_example_and_readme() -> None:
    from bot.settings import Settings

    root = Path(__file__).resolve().parent.parent
    example = (root / ".env.example").read_text("utf-8")
    readme = (root / "README.md").read_text("utf-8")
    names = [f"TINBAO_{name.upper()}" for name in Settings.model_fields]
    assert [n for n in names if n not in example] == []
    assert [n for n in names if n not in readme] == []
