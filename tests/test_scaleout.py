"""Three `tinbao webhook` processes on one PostgreSQL database behind a load balancer.

Simulated residents make complete reports while updates are spread over the processes, some
delivered twice and some out of order, and one process is killed with SIGKILL halfway. After
that every report exists exactly once with all its answers and evidence, every update was
handled, and no resident got the same reply twice.
"""

from __future__ import annotations

import asyncio
import itertools
import os
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
    free_port,
    reports_made,
    resident,
    start_webhook,
    wait_ready,
)
from tests.updates import Resident

ROOT = Path(__file__).resolve().parent.parent
SECRET = "scale-out-secret"
RESIDENTS = int(os.environ.get("TINBAO_TEST_SCALE_RESIDENTS", "300"))


async def until(condition: Any) -> None:
    """Wait until `condition()` holds (it reads counters other tasks update)."""
    while True:
        if condition():
            return
        await asyncio.sleep(0.05)


async def test_three_processes_one_killed_every_report_once_and_complete(
    tmp_path: Path, db_url: str
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("several webhook processes share a PostgreSQL database (SQLite serves one)")
    data = tmp_path / "data"
    data.mkdir()
    db = Database(db_url)
    await upgrade(db)  # once, before the processes start (each would do it too)
    ports = [free_port() for _ in range(3)]
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
                    )
                )
            for url, process, log in zip(backends, processes, logs, strict=True):
                await wait_ready(url, process, log)
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
    async with db.session() as session:
        unhandled = (
            await session.execute(
                select(func.count())
                .select_from(InboxUpdate)
                .where(col(InboxUpdate.handled_at).is_(None))
            )
        ).scalar_one()
    await db.dispose()
    assert unhandled == 0
    by_reporter = Counter(report.reporter_id for report in reports)
    assert len(reports) == RESIDENTS and set(by_reporter.values()) == {1}  # once each
    for report in reports:
        check_complete(report, files, links)
    for path in (data / "evidence").rglob("*"):
        assert path.is_dir() or path.stat().st_size > 0
    # No reply was sent twice: the same message never follows itself in a chat. (Except the
    # "continue your report?" prompt: it answers each /baocao of a resident who, getting no
    # answer under this load, asks again, and may rightly come twice in a row.)
    for person in people:
        texts = [
            (str(c.params.get("text", "")), str(c.params.get("reply_markup")))
            for c in tg.by_chat[person.user_id]
            if c.method == "sendMessage" and "resume:go" not in str(c.params.get("reply_markup"))
        ]
        assert all(a != b for a, b in itertools.pairwise(texts)), person.user_id
