"""Evidence at rest: with TINBAO_EVIDENCE_KEY set, files are stored encrypted (AES-GCM) under the
original's SHA-256, and everything that shows them still works; `tinbao evidence encrypt` and
`verify` look after the files already stored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from handlers import evidence, seal
from handlers.seal import Keyring, key_id, new_key, parse_key
from tests.conftest import Harness, make_settings, running_bot
from tests.fakebotapi import Upload
from tests.test_officer_flow import ADMIN, GROUP, GROUP_ID, OFFICER, file_report, report_row
from tests.test_report_flow import JPEG, agree, joined, press
from tests.updates import Resident

ROOT = Path(__file__).resolve().parent.parent
KEY = new_key()
OTHER_KEY = new_key()
PDF = b"%PDF-1.4\n" + b"a scammer's contract " * 400


def keys(*texts: str) -> Keyring:
    """A keyring: the first key is the current one."""
    return Keyring(parse_key(texts[0]), tuple(parse_key(t) for t in texts[1:]))


# ------------------------------------------------------------------------- the file format


def test_a_stored_file_is_encrypted_on_disk_and_reads_back_whole(tmp_path: Path) -> None:
    stored = evidence.store(tmp_path, PDF, "application/pdf", keys(KEY))
    on_disk = (tmp_path / stored.path).read_bytes()
    assert on_disk.startswith(seal.MAGIC)
    assert b"scammer" not in on_disk and on_disk != PDF
    assert len(on_disk) == len(PDF) + seal.HEADER_BYTES + seal.TAG_BYTES
    # The hash recorded (and the name on disk) is the original's: the chain of custody holds.
    assert stored.sha256 == hashlib.sha256(PDF).hexdigest() and stored.size == len(PDF)
    assert stored.path.endswith(f"{stored.sha256}.pdf")
    assert evidence.load(tmp_path / stored.path, keys(KEY)) == PDF
    assert seal.sha256_of(tmp_path / stored.path, keys(KEY)) == stored.sha256


def test_every_file_gets_its_own_nonce(tmp_path: Path) -> None:
    first = evidence.store(tmp_path / "a", PDF, "application/pdf", keys(KEY))
    second = evidence.store(tmp_path / "b", PDF, "application/pdf", keys(KEY))
    one = (tmp_path / "a" / first.path).read_bytes()
    two = (tmp_path / "b" / second.path).read_bytes()
    assert seal.parse_header(one).nonce != seal.parse_header(two).nonce
    assert one[seal.HEADER_BYTES :] != two[seal.HEADER_BYTES :]


def test_a_missing_or_wrong_key_says_which_key_the_file_needs(tmp_path: Path) -> None:
    stored = evidence.store(tmp_path, PDF, "application/pdf", keys(KEY))
    path = tmp_path / stored.path
    with pytest.raises(evidence.Unreadable, match="TINBAO_EVIDENCE_KEY is not set"):
        evidence.load(path, None)
    with pytest.raises(evidence.Unreadable) as wrong:
        evidence.load(path, keys(OTHER_KEY))
    message = str(wrong.value)
    assert key_id(parse_key(KEY)) in message and key_id(parse_key(OTHER_KEY)) in message
    assert KEY not in message  # a key id names the key without giving it away
    # An older key still opens the files it sealed.
    assert evidence.load(path, keys(OTHER_KEY, KEY)) == PDF


def test_a_changed_byte_or_a_changed_header_is_detected(tmp_path: Path) -> None:
    stored = evidence.store(tmp_path, PDF, "application/pdf", keys(KEY))
    path = tmp_path / stored.path
    original = path.read_bytes()
    for offset in (len(seal.MAGIC) + 9, seal.HEADER_BYTES + 100, len(original) - 1):
        changed = bytearray(original)
        changed[offset] ^= 0x01
        path.write_bytes(bytes(changed))
        with pytest.raises(evidence.Unreadable, match="damaged or was changed"):
            evidence.load(path, keys(KEY))
    path.write_bytes(original[:-5])
    with pytest.raises(evidence.Unreadable):
        evidence.load(path, keys(KEY))


def test_plaintext_files_stored_before_the_key_stay_readable(tmp_path: Path) -> None:
    old = evidence.store(tmp_path, JPEG, "image/jpeg")
    new = evidence.store(tmp_path, PDF, "application/pdf", keys(KEY))
    assert (tmp_path / old.path).read_bytes() == JPEG
    assert evidence.load(tmp_path / old.path, keys(KEY)) == JPEG
    assert evidence.load(tmp_path / new.path, keys(KEY)) == PDF
    checked = evidence.verify_all(tmp_path, keys(KEY))
    assert (checked.good, checked.encrypted, checked.problems) == (2, 1, [])
    # What the database records must be there too.
    recorded = {old.path: old.sha256, "ab/cd/abcd.jpg": "ab" * 32}
    checked = evidence.verify_all(tmp_path, keys(KEY), recorded)
    assert checked.problems == ["ab/cd/abcd.jpg: recorded in the database but missing on disk"]


def test_the_key_setting_takes_32_bytes_in_base64_and_explains_otherwise(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite+aiosqlite://", evidence_key=KEY)
    assert settings.evidence_keys is not None
    assert settings.evidence_keys.current_id == key_id(parse_key(KEY))
    assert KEY not in repr(settings) and KEY not in repr(settings.evidence_keys)
    assert make_settings(tmp_path, "sqlite+aiosqlite://").evidence_keys is None
    rotated = make_settings(
        tmp_path, "sqlite+aiosqlite://", evidence_key=KEY, evidence_old_keys=f"{OTHER_KEY}, "
    ).evidence_keys
    assert rotated is not None and rotated.find(key_id(parse_key(OTHER_KEY))) is not None
    with pytest.raises(ValueError, match="32 bytes in base64"):
        make_settings(tmp_path, "sqlite+aiosqlite://", evidence_key="c2hvcnQ=")


# ---------------------------------------------------------------- the bot, end to end


@asynccontextmanager
async def sealed_bot(
    tmp_path: Path, db_url: str, *, add_officer: bool = True, **extra: Any
) -> AsyncIterator[Harness]:
    """The bot with an evidence key, an officers' group, one admin and one officer."""
    values: dict[str, Any] = {
        "evidence_key": KEY,
        "officer_chat_id": GROUP_ID,
        "admin_ids": [ADMIN.user_id],
    }
    async with running_bot(tmp_path, db_url, **(values | extra)) as h:
        if add_officer:
            calls = await h.send(ADMIN.command("canbo", f"them {OFFICER.user_id}"))
            assert f"Added officer {OFFICER.user_id}" in joined(calls)
        yield h


async def stored_path(h: Harness, code: str) -> Path:
    """Where the (only) evidence file of a report is on disk."""
    from storage import reports as report_store

    report = await report_row(h, code)
    assert report.id is not None
    async with h.services.db.session() as session:
        attachments = await report_store.list_attachments(session, report.id)
    assert len(attachments) == 1
    return h.services.settings.evidence_dir / attachments[0].stored_path


async def ask_for_files(h: Harness, code: str) -> int:
    """The officer asks for a report's files, and Telegram no longer knows the file id, so the
    bot uploads its stored copy; returns where the calls start."""
    report = await report_row(h, code)
    h.fake.fail_next(
        "sendPhoto", status=400, description="Bad Request: wrong file identifier/HTTP URL specified"
    )
    start = h.fake.mark()
    await h.send(OFFICER.callback(f"o:files:{report.id}", chat=GROUP))
    return start


async def test_the_officer_gets_the_photo_that_is_encrypted_on_disk(
    tmp_path: Path, db_url: str
) -> None:
    async with sealed_bot(tmp_path, db_url) as h:
        code = await file_report(h, Resident(3101, "Lan"), with_photo=True)
        path = await stored_path(h, code)
        on_disk = path.read_bytes()
        assert on_disk.startswith(seal.MAGIC) and JPEG not in on_disk
        assert path.name.startswith(hashlib.sha256(JPEG).hexdigest())
        start = await ask_for_files(h, code)
        documents = [c for c in h.fake.calls[start:] if c.method == "sendDocument"]
        assert len(documents) == 1 and documents[0].chat_id == OFFICER.user_id
        upload = documents[0].params["document"]
        assert isinstance(upload, Upload) and upload.data == JPEG  # decrypted, byte for byte
        assert f"SHA-256 {hashlib.sha256(JPEG).hexdigest()}" in documents[0].params["caption"]


async def test_a_file_that_cannot_be_opened_gets_the_officer_a_polite_note(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with sealed_bot(tmp_path, db_url) as h:
        code = await file_report(h, Resident(3102, "Lan"), with_photo=True)
        # The operator started the bot with another key.
        h.services.settings.evidence_key = SecretStr(OTHER_KEY)
        with caplog.at_level(logging.ERROR):
            start = await ask_for_files(h, code)
        texts = [
            str(c.params.get("text"))
            for c in h.fake.calls[start:]
            if c.method == "sendMessage" and c.chat_id == OFFICER.user_id
        ]
        assert any("couldn't open the stored copy" in t and code in t for t in texts), texts
        assert not [c for c in h.fake.calls[start:] if c.method == "sendDocument"]
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert f"encrypted with key id {key_id(parse_key(KEY))}" in logged
        assert "Traceback" not in "\n".join(texts)

        # A damaged file: the same note, and the log says what is wrong.
        h.services.settings.evidence_key = SecretStr(KEY)
        path = await stored_path(h, code)
        damaged = bytearray(path.read_bytes())
        damaged[-1] ^= 0xFF
        path.write_bytes(bytes(damaged))
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            start = await ask_for_files(h, code)
        assert any(
            "couldn't open the stored copy" in str(c.params.get("text"))
            for c in h.fake.calls[start:]
            if c.method == "sendMessage"
        )
        assert "damaged or was changed" in "\n".join(r.getMessage() for r in caplog.records)


async def test_the_operator_is_told_at_start_when_the_files_need_another_key(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    evidence.store(tmp_path / "data" / "evidence", PDF, "application/pdf", keys(OTHER_KEY))
    with caplog.at_level(logging.INFO):
        async with sealed_bot(tmp_path, db_url, add_officer=False):
            pass
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(f"key id {key_id(parse_key(OTHER_KEY))}" in e for e in errors), errors
        caplog.clear()
        async with sealed_bot(tmp_path, db_url, add_officer=False, evidence_key=None):
            pass
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("TINBAO_EVIDENCE_KEY is not set" in e for e in errors), errors
        caplog.clear()
        async with sealed_bot(tmp_path, db_url, add_officer=False, evidence_old_keys=OTHER_KEY):
            pass
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_files_stored_before_the_key_still_reach_the_officer(
    tmp_path: Path, db_url: str
) -> None:
    async with sealed_bot(tmp_path, db_url, evidence_key=None) as h:
        code = await file_report(h, Resident(3103, "Lan"), with_photo=True)
        assert (await stored_path(h, code)).read_bytes() == JPEG
        h.services.settings.evidence_key = SecretStr(KEY)  # the key is set later
        start = await ask_for_files(h, code)
        documents = [c for c in h.fake.calls[start:] if c.method == "sendDocument"]
        assert documents and documents[0].params["document"].data == JPEG


async def test_a_vietqr_screenshot_is_still_read_when_evidence_is_encrypted(
    tmp_path: Path, db_url: str
) -> None:
    from tests.test_screenshots import encode, qr_image, vietqr

    async with sealed_bot(tmp_path, db_url) as h:
        person = Resident(3105)
        png = encode(qr_image(vietqr(account="0123400777", name="TRAN THI B")), "PNG")
        await agree(h, person)
        calls = await h.send(person.command("baocao"))
        calls = await press(h, person, calls, "Vay tiền")
        file_id, unique = h.fake.add_file(png)
        calls = await h.send(person.photo(file_id, unique, size=len(png)))
        assert "Vietcombank 0123400777 – TRAN THI B" in joined(calls)
        stored = list(evidence.stored_files(h.services.settings.evidence_dir))
        assert len(stored) == 1 and stored[0].read_bytes().startswith(seal.MAGIC)


async def test_ocr_still_reads_a_screenshot_when_evidence_is_encrypted(
    tmp_path: Path, db_url: str
) -> None:
    from handlers.screenshots import ocr_available
    from tests.test_screenshots import _FONT, TRANSFER_LINES, text_screenshot

    if not ocr_available() or _FONT is None:
        pytest.skip("tesseract with vie/eng data, or the DejaVu font, is not installed")
    async with sealed_bot(tmp_path, db_url, ocr=True) as h:
        person = Resident(3106)
        jpeg = text_screenshot(TRANSFER_LINES)
        await agree(h, person)
        calls = await h.send(person.command("baocao"))
        calls = await press(h, person, calls, "Vay tiền")
        file_id, unique = h.fake.add_file(jpeg)
        calls = await h.send(person.photo(file_id, unique, size=len(jpeg)), timeout=60)
        assert "0123456789" in joined(calls)
        stored = list(evidence.stored_files(h.services.settings.evidence_dir))
        assert len(stored) == 1 and stored[0].read_bytes().startswith(seal.MAGIC)


# ------------------------------------------------------- `tinbao evidence encrypt|verify`


def tinbao(*args: str, cwd: Path, key: str | None = KEY) -> subprocess.CompletedProcess[str]:
    """Run `tinbao ARGS` on an SQLite database in `cwd/data`, with `key` as the evidence key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TINBAO_DATA_DIR"] = str(cwd / "data")
    if key is not None:
        env["TINBAO_EVIDENCE_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_evidence_key_prints_a_new_usable_key(tmp_path: Path) -> None:
    result = tinbao("evidence", "key", cwd=tmp_path, key=None)
    assert result.returncode == 0, result.stderr
    name, _, value = result.stdout.strip().partition("=")
    assert name == "TINBAO_EVIDENCE_KEY" and len(parse_key(value)) == 32
    assert "apart from the backups" in result.stderr
    assert tinbao("evidence", "key", cwd=tmp_path).stdout != result.stdout


def test_encrypt_is_idempotent_and_verify_finds_a_damaged_file(tmp_path: Path) -> None:
    evidence_dir = tmp_path / "data" / "evidence"
    photo = evidence.store(evidence_dir, JPEG, "image/jpeg")
    document = evidence.store(evidence_dir, PDF, "application/pdf")
    (evidence_dir / photo.path).with_name(".incoming-x1y2").write_bytes(b"half a write")

    result = tinbao("evidence", "verify", cwd=tmp_path, key=None)
    assert result.returncode == 0, result.stderr
    assert "2 file(s) match their recorded SHA-256 (0 encrypted)" in result.stdout

    assert tinbao("evidence", "encrypt", cwd=tmp_path, key=None).returncode == 1
    result = tinbao("evidence", "encrypt", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 file(s) encrypted" in result.stdout
    sealed = {p: p.read_bytes() for p in evidence.stored_files(evidence_dir)}
    assert all(data.startswith(seal.MAGIC) for data in sealed.values())
    assert evidence.load(evidence_dir / photo.path, keys(KEY)) == JPEG
    assert evidence.load(evidence_dir / document.path, keys(KEY)) == PDF

    again = tinbao("evidence", "encrypt", cwd=tmp_path)
    assert again.returncode == 0 and "0 file(s) encrypted" in again.stdout
    assert "2 already encrypted" in again.stdout
    assert {p: p.read_bytes() for p in evidence.stored_files(evidence_dir)} == sealed

    result = tinbao("evidence", "verify", cwd=tmp_path)
    assert result.returncode == 0 and "(2 encrypted)" in result.stdout

    damaged = bytearray(sealed[evidence_dir / document.path])
    damaged[seal.HEADER_BYTES + 7] ^= 0x20
    (evidence_dir / document.path).write_bytes(bytes(damaged))
    result = tinbao("evidence", "verify", cwd=tmp_path)
    assert result.returncode == 1
    assert document.path in result.stderr and "damaged or was changed" in result.stderr
    assert "1 file(s) match" in result.stdout

    wrong = tinbao("evidence", "verify", cwd=tmp_path, key=OTHER_KEY)
    assert wrong.returncode == 1 and key_id(parse_key(KEY)) in wrong.stderr


def test_verify_finds_a_plaintext_file_that_no_longer_matches_its_hash(tmp_path: Path) -> None:
    evidence_dir = tmp_path / "data" / "evidence"
    stored = evidence.store(evidence_dir, PDF, "application/pdf")
    (evidence_dir / stored.path).write_bytes(PDF.replace(b"contract", b"CONTRACT", 1))
    result = tinbao("evidence", "verify", cwd=tmp_path, key=None)
    assert result.returncode == 1 and f"but {stored.sha256} was recorded" in result.stderr
    # Encrypting it would hide the damage: it is left as it is, and said so.
    result = tinbao("evidence", "encrypt", cwd=tmp_path)
    assert result.returncode == 1 and "left as it was" in result.stderr
    assert not (evidence_dir / stored.path).read_bytes().startswith(seal.MAGIC)


def test_a_crash_while_encrypting_leaves_the_old_file_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = evidence.store(tmp_path, PDF, "application/pdf")

    def crash(source: Any, target: Any) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(evidence.os, "replace", crash)
    done = evidence.encrypt_all(tmp_path, keys(KEY))
    assert done.refused and "power cut" in done.refused[0]
    monkeypatch.undo()
    assert (tmp_path / stored.path).read_bytes() == PDF
    assert [p.name for p in (tmp_path / stored.path).parent.iterdir()] == [
        (tmp_path / stored.path).name
    ]  # no temporary file left behind
    assert evidence.encrypt_all(tmp_path, keys(KEY)).sealed == [stored.path]


def test_encrypt_moves_files_from_an_older_key_to_the_current_one(tmp_path: Path) -> None:
    stored = evidence.store(tmp_path, PDF, "application/pdf", keys(OTHER_KEY))
    done = evidence.encrypt_all(tmp_path, keys(KEY, OTHER_KEY))
    assert done.resealed == [stored.path]
    assert seal.header_of(tmp_path / stored.path).key_id == key_id(parse_key(KEY))
    assert evidence.load(tmp_path / stored.path, keys(KEY)) == PDF
