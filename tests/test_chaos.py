"""Chaos: `tinbao run` on its embedded SQLite database is killed with SIGKILL and restarted ten
times while residents keep making reports. Afterwards the database passes SQLite's integrity
and foreign-key checks, every report whose submission the bot confirmed exists with all its
answers and evidence, every resident has finished exactly one report, and the evidence files
on disk are whole.

The residents are the simulated people of the scale-out test (`tests/simulated.resident`):
when no answer comes they do what a person does, send /baocao again and go on from where the
bot says they are. Updates reach the bot by long polling from the fake Bot API, as in a
province's single-process deployment.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import signal
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from storage.engine import Database
from storage.migrate import upgrade
from storage.models import Attachment
from tests.fakebotapi import FakeBotAPI
from tests.simulated import Telegram, check_complete, reports_made, resident, until
from tests.test_crash import start_bot
from tests.updates import Resident

RESIDENTS = 20
KILLS = 10
# Messages the bot sends between two kills: at most 10 × 25 of the residents'
# ~340 answers, so all ten kills come while they are still reporting.
ANSWERS_BETWEEN_KILLS = (8, 25)

# Timed by simulated people (their patience): run alone, not beside other tests on the CPUs.
pytestmark = pytest.mark.load


class PollingTelegram(Telegram):
    """Telegram's side of long polling: an update waits in the fake until the bot fetches it."""

    async def post(self, update: dict[str, Any]) -> None:
        self.posted += 1
        self.fake.push_update(update)


def unhandled(path: Path) -> int:
    """Updates in the inbox of the database at `path` not handled yet."""
    with sqlite3.connect(path) as raw:
        row = raw.execute("SELECT count(*) FROM inboxupdate WHERE handled_at IS NULL").fetchone()
    return int(row[0])


def answers(fake: FakeBotAPI) -> int:
    """Messages the bot has sent so far."""
    return sum(1 for call in fake.calls if call.method == "sendMessage")


async def test_ten_sigkills_under_load_lose_no_confirmed_report(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    path = tmp_path / "tinbao.db"
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    await upgrade(db)
    rng = random.Random(11)
    kills = 0
    interrupted = 0  # updates stored but not handled when the bot was killed
    async with FakeBotAPI() as fake:
        bot = start_bot(fake, url, data, TINBAO_OCR="false")
        try:
            tg = PollingTelegram(fake, "", "")
            await tg.start()
            people = [Resident(700_000 + n, f"Dân {n}") for n in range(RESIDENTS)]
            tasks = [
                asyncio.get_running_loop().create_task(
                    resident(
                        tg,
                        person,
                        phone=f"09{n + 10:08d}",
                        account=f"Vietcombank {2_000_000_000 + n} TRAN THI {n}",
                        patience=6.0,
                    )
                )
                for n, person in enumerate(people)
            ]
            while kills < KILLS and not all(t.done() for t in tasks):
                # Kill once the new process has answered a few messages: the kills land
                # while people are mid-report, and ten of them come before the residents'
                # 20 × 17 updates can be done, however fast or slow the machine is.
                target = answers(fake) + rng.randint(*ANSWERS_BETWEEN_KILLS)

                def progressed(target: int = target) -> bool:
                    return answers(fake) >= target or all(t.done() for t in tasks)

                await asyncio.wait_for(until(progressed), 120)
                if all(t.done() for t in tasks):
                    break
                bot.send_signal(signal.SIGKILL)
                bot.wait(timeout=30)
                kills += 1
                interrupted += unhandled(path)
                bot = start_bot(fake, url, data, TINBAO_OCR="false")
            outcomes = await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
            await tg.stop()
        finally:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
            try:
                bot.wait(timeout=60)
            except subprocess.TimeoutExpired:
                bot.kill()
    assert kills == KILLS, f"the residents finished after {kills} kills"
    # The kills landed while residents' messages were stored and not yet handled. (Since
    # `tinbao run` keeps them in its inbox, the restarted process answers them within the
    # residents' patience: nobody may even have had to ask again.)
    assert interrupted > 0, interrupted

    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []

    reports, files, links = await reports_made(db)
    async with db.session() as session:
        stored = list((await session.execute(select(Attachment))).scalars())
    await db.dispose()

    # Every resident finished exactly one report; every confirmed one is there, complete.
    assert Counter(Counter(r.reporter_id for r in reports).values()) == {1: RESIDENTS}
    confirmed = {o.code for o in outcomes if o.code}
    assert confirmed <= {r.code for r in reports}
    assert len(confirmed) >= RESIDENTS // 2  # most saw their confirmation despite the kills
    # The evidence on disk is what was recorded: no torn or empty file survived a kill.
    for attachment in stored:
        content = (data / "evidence" / attachment.stored_path).read_bytes()
        assert hashlib.sha256(content).hexdigest() == attachment.sha256, attachment.stored_path
    # Every answer and both photos of each album: `tinbao run` stores each batch of updates
    # in its inbox before confirming it to Telegram, so a kill loses none (bot/polling.py).
    for report in reports:
        check_complete(report, files, links)
