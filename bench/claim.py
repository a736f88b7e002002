"""Claim benchmark: many officers at once claiming reports from one queue, on SQLite and PostgreSQL.

Run from the repository root::

    python bench/claim.py [--engine sqlite|postgres|both] [--reports N] [--officers M]
    python -m bench.claim  ...

For each engine the script migrates a fresh database (a temporary SQLite file; a scratch
PostgreSQL database created next to ``--postgres-url``'s and dropped afterwards), seeds M officers
and N reports waiting in the queue (status ``new``), untimed, and then starts M officers at once
as asyncio tasks in this one process, as one bot process would run them. Each officer loops:

1. reads a page of the queue (``queue.unclaimed``, its own short transaction) and picks one
   report of it at random, so that officers collide as they do when several press "claim" on
   the same cards;
2. tries to claim it in one transaction shaped like the bot's claim (handlers/officer.py): the
   conditional ``UPDATE … WHERE status = 'new'`` and, if it won, the ``claimed`` audit event.

An officer stops when its page comes back empty. The latency of an attempt is the whole claim
transaction as the officer waits for it: getting a connection (or, on SQLite, the process's
write lock), both statements and the commit. Afterwards the database itself is checked: every
report must be ``in_review`` with an assignee and exactly one ``claimed`` event, made by that
assignee. A report with more than one ``claimed`` event is a double claim.

It prints claims per second (wins ÷ wall time), the p50 / p95 latency of claim attempts and the
double claims. docs/benchmarks.md explains every figure. The exit code is non-zero when a double
claim or an unclaimed report was found, or when a requested engine could not be run.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import exists, func, or_, select
from sqlmodel import col

# `python bench/claim.py` puts bench/ (not the repository root) on sys.path.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scratch import PostgresUnavailable, postgres_url, sqlite_url  # noqa: E402
from storage import queue  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Report, ReportEvent, User, utcnow  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_ENV = "TINBAO_BENCH_POSTGRES_URL"
CHANNEL = "telegram"
SEED_BATCH = 500  # rows per seeding transaction


async def seed(db: Database, reports: int, officers: int) -> list[int]:
    """One resident, `officers` officers and `reports` new reports; returns the officers' ids."""
    now = utcnow()
    async with db.session() as session:
        resident = User(channel=CHANNEL, external_id="1", created_at=now)
        staff = [
            User(
                channel=CHANNEL,
                external_id=str(1_000 + i),
                role="officer",
                display_name=f"Officer {i + 1}",
                created_at=now,
            )
            for i in range(officers)
        ]
        session.add_all([resident, *staff])
        await session.flush()
        reporter_id = resident.id
        officer_ids = [user.id for user in staff if user.id is not None]
    month = now.strftime("%y%m")
    for start in range(0, reports, SEED_BATCH):
        async with db.session() as session:
            batch = []
            for n in range(start + 1, min(start + SEED_BATCH, reports) + 1):
                # Oldest first, one second apart, so the queue's order is the codes' order.
                at = now - timedelta(seconds=reports - n)
                batch.append(
                    Report(
                        code=f"TB-{month}-{n:04d}",
                        reporter_id=reporter_id,
                        channel=CHANNEL,
                        status="new",
                        category="investment",
                        created_at=at,
                        updated_at=at,
                        submitted_at=at,
                        queued_at=at,
                    )
                )
            session.add_all(batch)
    return officer_ids


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    """What the officers did, and what the database says afterwards."""

    engine: str
    reports: int
    officers: int
    attempts: int = 0
    wins: int = 0
    page_reads: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)  # every claim attempt
    won_ms: list[float] = field(default_factory=list)  # the attempts that won
    # From the database, after the run:
    in_review: int = 0
    unclaimed: int = 0  # not in_review, or without an assignee
    double_claims: int = 0  # reports with more than one "claimed" event
    without_event: int = 0  # claimed reports with no "claimed" event
    wrong_actor: int = 0  # "claimed" events whose actor is not the report's assignee

    @property
    def lost(self) -> int:
        """Attempts that found the report already claimed."""
        return self.attempts - self.wins

    @property
    def claims_per_s(self) -> float:
        """Won claims per second of wall clock."""
        return self.wins / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every report claimed exactly once, by the officer it is assigned to."""
        return (
            self.double_claims == 0
            and self.unclaimed == 0
            and self.without_event == 0
            and self.wrong_actor == 0
            and self.wins == self.reports
        )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def officer(
    db: Database, officer_id: int, rng: random.Random, page: int, result: Run
) -> None:
    """One officer: read the queue, claim one of its reports at random, until it is empty."""
    while True:
        async with db.session() as session:
            waiting = [r.id for r in await queue.unclaimed(session, limit=page) if r.id is not None]
        result.page_reads += 1
        if not waiting:
            return
        report_id = rng.choice(waiting)
        began = time.perf_counter()
        async with db.session() as session:
            now = utcnow()
            won = await queue.claim(session, report_id, officer_id, now)
            if won:
                await queue.add_event(
                    session,
                    report_id,
                    actor_id=officer_id,
                    action="claimed",
                    from_status="new",
                    to_status="in_review",
                    now=now,
                    notify=True,
                )
        elapsed_ms = (time.perf_counter() - began) * 1000
        result.attempts += 1
        result.latencies_ms.append(elapsed_ms)
        if won:
            result.wins += 1
            result.won_ms.append(elapsed_ms)


async def verify(db: Database, result: Run) -> None:
    """Count, from the database, claims that went wrong."""
    status, assignee = col(Report.status), col(Report.assignee_id)
    claimed = col(ReportEvent.action) == "claimed"
    event_report, actor = col(ReportEvent.report_id), col(ReportEvent.actor_id)
    reports = select(func.count()).select_from(Report)
    per_report = (
        select(event_report, func.count().label("n"))
        .where(claimed)
        .group_by(event_report)
        .subquery()
    )
    queries = {
        "in_review": reports.where(status == "in_review", assignee.is_not(None)),
        "unclaimed": reports.where(or_(status != "in_review", assignee.is_(None))),
        "double_claims": select(func.count()).select_from(per_report).where(per_report.c.n > 1),
        "without_event": reports.where(
            status == "in_review",
            ~exists().where(claimed, event_report == col(Report.id)),
        ),
        "wrong_actor": select(func.count())
        .select_from(ReportEvent)
        .join(Report, col(Report.id) == event_report)
        .where(claimed, or_(assignee.is_(None), actor.is_(None), actor != assignee)),
    }
    async with db.session() as session:
        for name, query in queries.items():
            setattr(result, name, int((await session.execute(query)).scalar_one()))


async def measure(engine: str, url: str, args: argparse.Namespace) -> Run:
    """Seed a fresh database, let the officers empty the queue, check the outcome."""
    db = Database(url)
    try:
        await upgrade(db)
        officer_ids = await seed(db, args.reports, args.officers)
        result = Run(engine, args.reports, args.officers)
        began = time.perf_counter()
        await asyncio.gather(
            *(
                officer(db, officer_id, random.Random(args.seed * 1_000_003 + i), args.page, result)
                for i, officer_id in enumerate(officer_ids)
            )
        )
        result.seconds = time.perf_counter() - began
        await verify(db, result)
        return result
    finally:
        await db.dispose()


# --------------------------------------------------------------------------- output


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}"


def describe(r: Run) -> None:
    """The figures of one engine."""
    print(f"{r.engine}: {r.reports:,} reports, {r.officers} officers")
    print(
        f"  attempts {r.attempts:,}   wins {r.wins:,}   lost races {r.lost:,}   "
        f"queue reads {r.page_reads:,}"
    )
    print(f"  wall time {r.seconds:.2f} s   claims/s {r.claims_per_s:.1f}")
    print(
        f"  claim latency ms (all attempts)  p50 {_ms(percentile(r.latencies_ms, 50))}"
        f"   p95 {_ms(percentile(r.latencies_ms, 95))}"
        f"   p99 {_ms(percentile(r.latencies_ms, 99))}"
        f"   max {_ms(max(r.latencies_ms, default=math.nan))}"
    )
    print(
        f"  claim latency ms (wins only)     p50 {_ms(percentile(r.won_ms, 50))}"
        f"   p95 {_ms(percentile(r.won_ms, 95))}"
    )
    print(
        f"  double claims {r.double_claims}   (in review with an assignee {r.in_review:,}, "
        f"unclaimed {r.unclaimed}, without a claimed event {r.without_event}, "
        f"event actor ≠ assignee {r.wrong_actor}, wins − reports {r.wins - r.reports})"
        f"   ->  {'OK' if r.ok else 'FAILED'}"
    )


def summary(runs: list[Run]) -> None:
    """One line per engine, the figures the issue asks for."""
    py = ".".join(platform.python_version_tuple()[:2])
    print()
    print(f"tinbao claim benchmark — Python {py}, {os.cpu_count() or 0} CPUs")
    print(
        f"{'engine':12}{'reports':>9}{'officers':>10}{'attempts':>10}{'wins':>7}{'lost':>7}"
        f"{'wall s':>8}{'claims/s':>10}{'p50 ms':>8}{'p95 ms':>8}{'double':>8}"
    )
    for r in runs:
        print(
            f"{r.engine:12}{r.reports:>9}{r.officers:>10}{r.attempts:>10}{r.wins:>7}{r.lost:>7}"
            f"{r.seconds:>8.2f}{r.claims_per_s:>10.1f}{_ms(percentile(r.latencies_ms, 50)):>8}"
            f"{_ms(percentile(r.latencies_ms, 95)):>8}{r.double_claims:>8}"
        )


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> int:
    """Measure each requested engine, print the figures; the exit code."""
    task = asyncio.current_task()
    if task is not None and sys.platform != "win32":  # Windows loops have no signal handlers
        # Without this a SIGTERM would kill us before the scratch database is dropped.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    runs: list[Run] = []
    code = 0
    for engine in engines:
        if engine == "sqlite":
            async with sqlite_url("claim") as url:
                runs.append(await measure("SQLite", url, args))
        else:
            try:
                async with postgres_url(args.postgres_url) as url:
                    runs.append(await measure("PostgreSQL", url, args))
            except PostgresUnavailable as error:
                if args.engine == "postgres":
                    print(f"PostgreSQL could not be reached: {error}", file=sys.stderr)
                    return 2
                print(f"PostgreSQL skipped: could not be reached ({error})")
                continue
        describe(runs[-1])
        print()
        if not runs[-1].ok:
            code = 1
    summary(runs)
    if code:
        print("\nFAILED: some report was claimed twice, not at all, or by the wrong officer")
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine", choices=("sqlite", "postgres", "both"), default="both", help="default both"
    )
    parser.add_argument("--reports", type=int, default=1000, help="reports in the queue")
    parser.add_argument("--officers", type=int, default=100, help="officers claiming at once")
    parser.add_argument(
        "--page", type=int, default=20, help="queue page each officer picks from at random"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the officers' random picks")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_URL,
        help=f"server and admin database for the scratch database (env {POSTGRES_ENV}, "
        f"default {DEFAULT_POSTGRES_URL})",
    )
    args = parser.parse_args(argv)
    if args.reports < 1 or args.officers < 1 or args.page < 1:
        parser.error("--reports, --officers and --page must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = parse_args(argv)
    try:
        return asyncio.run(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; the temporary databases were removed", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
