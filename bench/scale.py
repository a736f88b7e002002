"""Scale-out benchmark: `tinbao webhook` with 1, 2 and 4 processes on PostgreSQL, and 1 on SQLite.

Run from the repository root::

    python bench/scale.py [--residents N] [--processes 1,2,4] [--sqlite/--no-sqlite]
                          [--postgres-url URL]
    python -m bench.scale ...

Each configuration gets a fresh database (a temporary SQLite file; a scratch PostgreSQL database
next to ``--postgres-url``'s, dropped afterwards) and the same simulated load: N residents
(default 200) each making one complete report through the real webhook processes — about 14
updates each: the privacy notice, the category, money and when, an account, a phone number, the
story, an album of two photos delivered out of order, anonymity, the summary — waiting for the
bot's answer before the next step, as people do, all at once. The processes (``tinbao
webhook``, started exactly as in production) sit behind a round-robin load balancer; Telegram is
the project's fake Bot API, in this process; the load is the same code as
``tests/test_scaleout.py`` (``tests/simulated.py``).

For each configuration it prints the updates handled per second (updates posted ÷ wall time from
the first update to the last answer) and the p50 / p95 / max time from posting an update to the
bot's answer, as a resident feels it. The simulated residents, the balancer and the fake Bot
API share the machine with the processes under test: on a small machine they take a good part
of it, so read the ratios between configurations rather than the absolute figures.
``docs/benchmarks.md`` has the results.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import PostgresUnavailable, postgres_url, sqlite_url
from storage.engine import Database
from storage.migrate import upgrade
from tests.fakebotapi import FakeBotAPI
from tests.simulated import LoadBalancer, Telegram, free_ports, resident, start_webhook, wait_ready
from tests.updates import Resident

ROOT = Path(__file__).resolve().parent.parent
SECRET = "bench-scale-secret"


@dataclass
class Result:
    label: str
    residents: int
    updates: int
    wall: float
    p50: float
    p95: float
    worst: float
    recoveries: int

    @property
    def rate(self) -> float:
        return self.updates / self.wall if self.wall else 0.0


# PostgreSQL connections the processes under test may hold together: the server's default
# `max_connections` is 100, and this script and the simulated Telegram need a few.
CONNECTION_BUDGET = 90


def inbox_workers(processes: int) -> int:
    """`TINBAO_INBOX_WORKERS` per process, so that all of them fit the connection budget: a
    process uses about its workers + 10 connections under this load (webhook stores, timers;
    docs/deploy.md sizes for peaks, 10 more). Past the budget PostgreSQL refuses connections,
    and an update that meets a refusal waits or is answered with an apology."""
    return max(2, min(16, CONNECTION_BUDGET // processes - 12))


async def measure(label: str, db_url: str, processes: int, residents: int) -> Result:
    db = Database(db_url)
    await upgrade(db)
    await db.dispose()
    with tempfile.TemporaryDirectory(prefix="tinbao-scale-") as tmp:
        data = Path(tmp)
        ports = free_ports(processes)
        backends = [f"http://127.0.0.1:{port}" for port in ports]
        balancer = LoadBalancer(backends)
        running: list[subprocess.Popen[bytes]] = []
        async with FakeBotAPI() as fake:
            public = await balancer.start()
            try:
                workers = str(inbox_workers(processes))
                running = [
                    start_webhook(
                        fake,
                        db_url,
                        data,
                        port,
                        f"{public}/telegram",
                        SECRET,
                        TINBAO_INBOX_WORKERS=workers,
                    )
                    for port in ports
                ]
                for url, process in zip(backends, running, strict=True):
                    await wait_ready(url, process)
                tg = Telegram(fake, f"{public}/telegram", SECRET)
                await tg.start()
                people = [Resident(700_000 + n, f"Dân {n}") for n in range(residents)]
                started = time.monotonic()
                outcomes = await asyncio.gather(
                    *(
                        resident(
                            tg,
                            person,
                            phone=f"09{n:08d}",
                            account=f"Vietcombank {2_000_000_000 + n} TRAN VAN {n}",
                            patience=60.0,
                        )
                        for n, person in enumerate(people)
                    )
                )
                wall = time.monotonic() - started
                await tg.stop()
            finally:
                for process in running:
                    process.send_signal(signal.SIGTERM)
                for process in running:
                    try:
                        process.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        process.kill()
                await balancer.stop()
    answers = sorted(a for o in outcomes for a in o.answers)
    p95 = answers[min(len(answers) - 1, int(0.95 * len(answers)))] if answers else 0.0
    return Result(
        label,
        residents,
        tg.posted,
        wall,
        statistics.median(answers) if answers else 0.0,
        p95,
        answers[-1] if answers else 0.0,
        sum(o.recoveries for o in outcomes),
    )


async def run(args: argparse.Namespace) -> int:
    results: list[Result] = []
    if args.sqlite:
        async with sqlite_url("scale") as url:
            print("SQLite, 1 process …", flush=True)
            results.append(await measure("SQLite, 1 process", url, 1, args.residents))
    for n in args.processes:
        try:
            async with postgres_url(args.postgres_url) as url:
                label = f"PostgreSQL, {n} process{'es' if n > 1 else ''}"
                print(f"{label} …", flush=True)
                results.append(await measure(label, url, n, args.residents))
        except PostgresUnavailable as error:
            print(f"PostgreSQL unavailable: {error}", file=sys.stderr)
            return 2
    print()
    print(f"tinbao scale-out benchmark — Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print(
        f"{'configuration':<24}{'residents':>10}{'updates':>9}{'wall s':>8}{'upd/s':>8}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'retries':>9}"
    )
    for r in results:
        print(
            f"{r.label:<24}{r.residents:>10}{r.updates:>9}{r.wall:>8.1f}{r.rate:>8.1f}"
            f"{r.p50 * 1000:>9.0f}{r.p95 * 1000:>9.0f}{r.worst * 1000:>9.0f}{r.recoveries:>9}"
        )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=200, help="simulated residents")
    parser.add_argument(
        "--processes",
        type=lambda s: [int(p) for p in s.split(",") if p],
        default=[1, 2, 4],
        help="PostgreSQL process counts, comma-separated (default 1,2,4; empty: none)",
    )
    parser.add_argument(
        "--sqlite",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also one process on SQLite (default on)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TINBAO_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        ),
        help="server and admin database for the scratch databases",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
