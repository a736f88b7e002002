"""Three `tinbao webhook` processes on one PostgreSQL database behind a load balancer.

Simulated residents make complete reports while updates are spread over the processes, some
delivered twice and some out of order, and one process is killed with SIGKILL halfway. After
that every report exists exactly once with all its answers and evidence, every update was
handled, and no resident got the same reply twice.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, func, select

from storage.engine import Database
from storage.migrate import upgrade
from storage.models import InboxUpdate
from tests.fakebotapi import FakeBotAPI
from tests.simulated import (
    LoadBalancer,
    Telegram,
    check_complete,
    free_ports,
    reports_made,
    resident,
    start_webhook,
    until,
    wait_ready,
)
from tests.updates import Resident

ROOT = Path(__file__).resolve().parent.parent
SECRET = "scale-out-secret"
RESIDENTS = int(os.environ.get("TINBAO_TEST_SCALE_RESIDENTS", "300"))
# Seconds a person takes to read a question and answer it (real people take longer still),
# and how long one waits for an answer before asking "where was I?" with /baocao.
THINK = (1.0, 3.0)
PATIENCE = 30.0
REPLY_LINE = re.compile(r"update (\d+): message (\d+) sent")

# Timed by simulated people (their patience): run alone, not beside other tests on the CPUs.
pytestmark = pytest.mark.load


async def unhandled(db: Database) -> int:
    """Updates in the inbox not handled yet."""
    async with db.session() as session:
        query = select(func.count()).select_from(InboxUpdate)
        result = await session.execute(query.where(col(InboxUpdate.handled_at).is_(None)))
        return int(result.scalar_one())


async def until_async(read: Any, value: int) -> None:
    """Wait until the coroutine `read()` returns `value` (a database count: no event to wait
    for)."""
    while await read() != value:  # noqa: ASYNC110
        await asyncio.sleep(0.2)


async def test_three_processes_one_killed_every_report_once_and_complete(
    tmp_path: Path, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("several webhook processes share a PostgreSQL database (SQLite serves one)")
    data = tmp_path / "data"
    data.mkdir()
    db = Database(db_url)
    await upgrade(db)  # once, before the processes start (each would do it too)
    ports = free_ports(3)
    backends = [f"http://127.0.0.1:{port}" for port in ports]
    balancer = LoadBalancer(backends)
    processes: list[subprocess.Popen[bytes]] = []
    async with FakeBotAPI() as fake:
        public = await balancer.start()
        try:
            logs = [tmp_path / f"webhook-{n}.log" for n in range(len(ports))]
            for port, log in zip(ports, logs, strict=True):
                processes.append(
                    start_webhook(
                        fake,
                        db_url,
                        data,
                        port,
                        f"{public}/telegram",
                        SECRET,
                        log,
                        TINBAO_INBOX_CLAIM_SECONDS="3",
                        TINBAO_LOG_LEVEL="DEBUG",  # a line for each reply: the update it answers
                    )
                )
            for url, process, log in zip(backends, processes, logs, strict=True):
                await wait_ready(url, process, log)
            assert all(process.poll() is None for process in processes)  # three, not fewer
            tg = Telegram(fake, f"{public}/telegram", SECRET, duplicate_share=0.1)
            await tg.start()
            people = [Resident(600_000 + n, f"Dân {n}") for n in range(RESIDENTS)]
            tasks = [
                asyncio.get_running_loop().create_task(
                    resident(
                        tg,
                        person,
                        phone=f"09{n:08d}",
                        account=f"Vietcombank {1_000_000_000 + n} NGUYEN VAN {n}",
                        think=THINK,
                        patience=PATIENCE,
                    )
                )
                for n, person in enumerate(people)
            ]
            # Kill one process once a third of the residents' updates are in.
            expected = RESIDENTS * 14
            await asyncio.wait_for(
                until(lambda: tg.posted >= expected // 3 or all(t.done() for t in tasks)), 600
            )
            processes[1].send_signal(signal.SIGKILL)
            processes[1].wait(timeout=30)
            outcomes = await asyncio.wait_for(asyncio.gather(*tasks), timeout=600)
            # A resident may be done while a message it sent is still on its way (the "where
            # was I?" /baocao of one who lost patience): every update is handled all the same.
            await asyncio.wait_for(until_async(lambda: unhandled(db), 0), 60)
            await tg.stop()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
            await balancer.stop()

    # Every process took a share of the updates, and Telegram retried what the dead one lost.
    assert all(balancer.forwarded[url] > 0 for url in backends), balancer.forwarded
    assert tg.duplicated > 0
    codes = [o.code for o in outcomes if o.code]
    assert len(set(codes)) == len(codes)  # one case code each
    reports, files, links = await reports_made(db)
    assert await unhandled(db) == 0
    await db.dispose()
    by_reporter = Counter(report.reporter_id for report in reports)
    assert len(reports) == RESIDENTS and set(by_reporter.values()) == {1}  # once each
    for report in reports:
        check_complete(report, files, links)
    for path in (data / "evidence").rglob("*"):
        assert path.is_dir() or path.stat().st_size > 0
    # No reply was sent twice for one update. Each process logs which update every message it
    # sent answers; an update handled twice with its replies sent again would show here.
    answers: dict[tuple[int, int], int] = {}  # (chat, message id) -> the update it answered
    for log in logs:
        for update_id, message_id in REPLY_LINE.findall(log.read_text("utf-8", "replace")):
            chat = tg.chat_of.get(int(update_id))
            if chat is not None:
                key = (chat, int(message_id))
                assert key not in answers, f"message {key} logged twice"
                answers[key] = int(update_id)
    by_update: dict[int, list[tuple[str, str]]] = {}
    sent = 0
    for person in people:
        for call in tg.by_chat[person.user_id]:
            if call.method != "sendMessage":
                continue
            sent += 1
            update_id = answers.get((person.user_id, int(call.result["message_id"])))
            if update_id is not None:
                content = (str(call.params.get("text")), str(call.params.get("reply_markup")))
                by_update.setdefault(update_id, []).append(content)
    twice = {u: texts for u, texts in by_update.items() if len(set(texts)) < len(texts)}
    assert not twice, twice
    # Nearly every message is accounted for (a process killed between sending a message and
    # writing its line, and album acknowledgements sent by a timer, are the exceptions).
    assert sum(map(len, by_update.values())) >= 0.95 * sent, (len(answers), sent)
    recovered = sum(o.recoveries for o in outcomes)
    print(f"{RESIDENTS} residents, {tg.posted} updates, {recovered} asked where they were")
