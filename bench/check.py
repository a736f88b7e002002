"""Instant-check benchmark: how fast `/kiemtra` answers over a large intelligence database.

Run from the repository root::

    python bench/check.py [--engine sqlite|postgres|both] [--indicators N] [--reports M]
                          [--users U] [--checks C]
    python -m bench.check  ...

For each engine the script migrates a fresh database with the project's migrations (a
temporary SQLite file; a scratch PostgreSQL database created next to ``--postgres-url``'s and
dropped afterwards) and seeds it, untimed and in bulk (``sqlite3`` executemany on SQLite, COPY on
PostgreSQL), with a realistic shape: U residents (default 50,000), M reports (default 200,000;
statuses mostly new / in_review / closed, some verified or forwarded, some rejected, spam or
draft, each with its audit events) and N indicators (default 1,000,000: phones ``+849…``, bank
accounts ``VCB:0123456789`` with the bundled banks' codes, bare account numbers, domains, links
and e-mails). Every indicator is in at least one report; each report carries 5–8 of them (a
link's domain goes with it), and a few indicators, drawn with a Zipf-like skew, are in hundreds
of reports while most are in one.

It then times C checks (default 5,000) through the bot's own code path: each is
``handlers.check.check(session, settings, text)`` in its own ``Database.session()``, the whole
block timed (connection, every query, commit). The inputs are an equal, shuffled mix of:

- ``popular phone``     a phone in the most reports (hundreds);
- ``unpopular phone``   a phone in one report;
- ``unknown phone``     a phone nobody reported;
- ``account+bank``      ``VCB 0123456789``: an account with its bank (2 stored forms);
- ``bare account``      ``0123456789``: a number alone, looked up in ~50 forms (with every
  bank's code and without);
- ``link``              a reported URL (its domain counts first, then the URL itself);
- ``unknown link``      a URL on a domain nobody reported.

A phone check also looks the national number up as a bank account (many accounts are the
owner's phone number), and a link check reads the officers' rules for its host; each check is
one statement all the same (``storage.intel.lookup``). For each kind and overall it prints
p50 / p95 / p99 / max latency in milliseconds, the SQL statements per check and checks per
second (checks ÷ wall time, one check at a time). It also prints the query plan (``EXPLAIN
QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL) of the sighting statement, captured from a
real check, to show which indexes it uses. The goal is p99 under 5 ms on SQLite.
docs/benchmarks.md explains every figure.

Every verdict is checked as well: a reported input must be found in its reports and an unknown
one in none. The exit code is 1 when a verdict was wrong, 2 when ``--engine postgres`` was asked
for and the server could not be reached, 0 otherwise (a missed latency goal is printed, not an
error: it depends on the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

# `python bench/check.py` puts bench/ (not the repository root) on sys.path.
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scratch import PostgresUnavailable, postgres_url, sqlite_url  # noqa: E402
from bot.settings import Settings  # noqa: E402
from handlers.banks import all_banks  # noqa: E402
from handlers.check import check  # noqa: E402
from handlers.extract import extract_indicators  # noqa: E402
from storage.engine import Database  # noqa: E402
from storage.intel import COUNTED  # noqa: E402
from storage.migrate import upgrade  # noqa: E402

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_ENV = "TINBAO_BENCH_POSTGRES_URL"
CHANNEL = "telegram"
GOAL_P99_MS = 5.0
FLOOR_RUNS = 1_000  # runs of the floor and of the query alone
SEED_BATCH = 50_000  # rows per executemany / COPY
KINDS = (
    "popular phone",
    "unpopular phone",
    "unknown phone",
    "account+bank",
    "bare account",
    "link",
    "unknown link",
)
# Report statuses and their share of the reports.
STATUSES = {
    "new": 20,
    "in_review": 15,
    "needs_info": 3,
    "closed": 40,
    "verified": 6,
    "forwarded": 2,
    "rejected": 6,
    "spam": 5,
    "draft": 3,
}
# Share of the indicators of each kind ("bare" = a bank account stored without its bank).
SHARES = {"phone": 40, "account": 28, "bare": 5, "domain": 8, "url": 12, "email": 7}
WORDS = (
    "vcb xacthuc bidv hotro nhanqua trungthuong vay nhanh dautu coin sieu loi shop vip "
    "giaohang ghtk shopee lazada tiki momo zalo otp baohiem thue evn congan"
).split()
TLDS = ("com", "net", "xyz", "top", "vip", "online", "app", "info", "cc", "shop", "site")
MAILS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com")
# Zipf-like popularity: rank = N × u^SKEW (about 1,000 reports for the top indicator, 1 for most).
SKEW = 2.5


# --------------------------------------------------------------------------- the data


@dataclass
class Data:
    """Rows to load (tuples in `COLUMNS` order) and the values the checks look up."""

    users: list[tuple[Any, ...]] = field(default_factory=list)
    reports: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    indicators: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[tuple[Any, ...]] = field(default_factory=list)
    inputs: dict[str, list[str]] = field(default_factory=dict)  # kind → texts to check


COLUMNS = {
    "user": ("id", "channel", "external_id", "role", "created_at"),
    "report": (
        "id",
        "code",
        "reporter_id",
        "channel",
        "status",
        "category",
        "anonymous",
        "contact_allowed",
        "created_at",
        "submitted_at",
        "updated_at",
    ),
    "reportevent": ("report_id", "action", "from_status", "to_status", "created_at", "notify"),
    "indicator": ("id", "kind", "value", "first_seen_at"),
    "reportindicator": ("report_id", "indicator_id", "raw"),
}


def _unique(rng: random.Random, n: int, make: Any, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        value = make(rng)
        if value not in taken:
            taken.add(value)
            out.append(value)
    return out


# Vietnamese mobile prefixes (after the 0) the extractor reads as phones.
PREFIXES = (
    "32 33 34 35 36 37 38 39 56 58 59 70 76 77 78 79 81 82 83 84 85 86 88 90 91 93 94 96 97 98"
).split()


def _phone(rng: random.Random) -> str:
    return f"+84{rng.choice(PREFIXES)}{rng.randrange(10**7):07d}"


def _number(rng: random.Random) -> str:
    width = rng.randint(8, 14)
    return f"{rng.randrange(10**width):0{width}d}"


def _domain(rng: random.Random) -> str:
    a, b = rng.sample(WORDS, 2)
    return f"{a}-{b}{rng.randrange(10_000)}.{rng.choice(TLDS)}"


def generate(n_indicators: int, n_reports: int, n_users: int, n_checks: int, seed: int) -> Data:
    """Every row of the seed, and the inputs of the checks."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    data = Data()
    data.users = [
        (i, CHANNEL, str(100_000_000 + i), "resident", now - timedelta(days=800))
        for i in range(1, n_users + 1)
    ]

    # Indicators, kind by kind; ids follow the list's order.
    total = sum(SHARES.values())
    counts = {kind: n_indicators * share // total for kind, share in SHARES.items()}
    counts["phone"] += n_indicators - sum(counts.values())
    taken: set[str] = set()
    phones = _unique(rng, counts["phone"], _phone, taken)
    codes = [bank.code for bank in all_banks()]
    weights = [max(1, 20 - i) for i in range(len(codes))]  # the big banks are more common

    def account(r: random.Random) -> str:
        # One account in ten is the owner's phone number (MB, Techcombank…).
        number = "0" + r.choice(phones)[3:] if r.random() < 0.1 else _number(r)
        return f"{r.choices(codes, weights)[0]}:{number}"

    accounts = _unique(rng, counts["account"], account, taken)
    bare = _unique(rng, counts["bare"], _number, taken)
    domains = _unique(rng, counts["domain"], _domain, taken)
    url_domain: list[int] = []  # a URL's domain, as an index into `domains`

    def url(r: random.Random) -> str:
        url_domain.append(min(int(len(domains) * r.random() ** 2), len(domains) - 1))
        path = f"{r.choice(WORDS)}/{r.randrange(10**6)}"
        return f"https://{domains[url_domain[-1]]}/{path}"

    urls: list[str] = []
    while len(urls) < counts["url"]:
        value = url(rng)
        if value in taken:
            url_domain.pop()
            continue
        taken.add(value)
        urls.append(value)

    def email(r: random.Random) -> str:
        return f"{r.choice(WORDS)}{r.randrange(10**6)}@{r.choice(MAILS)}"

    emails = _unique(rng, counts["email"], email, taken)
    kinds = [
        ("phone", phones),
        ("bank_account", accounts),
        ("bank_account", bare),
        ("domain", domains),
        ("url", urls),
        ("email", emails),
    ]
    values: list[str] = []
    kind_of: list[str] = []
    for kind, group in kinds:
        values += group
        kind_of += [kind] * len(group)
    n = len(values)
    domain_base = len(phones) + len(accounts) + len(bare)  # index of the first domain
    url_base = domain_base + len(domains)

    # Reports: every indicator once (dealt out ~N/M a report), then 0–3 extra ones drawn by
    # popularity, and a link's domain with it.
    dealt = list(range(n))
    rng.shuffle(dealt)
    popular = list(range(n))
    rng.shuffle(popular)  # popularity rank → indicator, so every kind has hot ones
    statuses, status_weights = list(STATUSES), list(STATUSES.values())
    reporters = len(data.users)
    links_of: list[int] = [0] * n
    counted: list[int] = [0] * n  # links from reports the check counts
    first_seen: list[datetime | None] = [None] * n
    month = now.strftime("%y%m")
    for r in range(n_reports):
        report_id = r + 1
        at = now - timedelta(seconds=rng.randrange(730 * 86_400))
        status = rng.choices(statuses, status_weights)[0]
        reporter = min(int(reporters * rng.random() ** 1.5), reporters - 1) + 1
        data.reports.append(
            (
                report_id,
                None if status == "draft" else f"TB-{month}-{report_id}",
                reporter,
                CHANNEL,
                status,
                "investment",
                False,
                False,
                at,
                None if status == "draft" else at,
                at,
            )
        )
        data.events += _events(report_id, status, at)
        carried = set(dealt[r * n // n_reports : (r + 1) * n // n_reports])
        for _ in range(rng.randint(0, 3)):
            carried.add(popular[min(int(n * rng.random() ** SKEW), n - 1)])
        for index in list(carried):
            if url_base <= index < url_base + len(urls):
                carried.add(domain_base + url_domain[index - url_base])
        for index in carried:
            links_of[index] += 1
            counted[index] += status in COUNTED
            if first_seen[index] is None:
                first_seen[index] = at
            data.links.append((report_id, index + 1, values[index]))
    data.indicators = [(i + 1, kind_of[i], values[i], first_seen[i] or now) for i in range(n)]

    # The inputs: what a resident would type.
    phone_range = range(len(phones))
    # The 200 phones in the most reports (at least 3 that count, at a small --indicators).
    ranked = sorted(phone_range, key=lambda i: -counted[i])
    hot_phones = [i for i in ranked[:200] if counted[i] >= 3] or ranked[:1]
    cold_phones = [i for i in phone_range if links_of[i] == 1 and counted[i]][:2_000]
    # Every stored account (with its bank or bare) in a report that counts.
    step = max(1, n // 20_000)
    known = [i for i in range(len(phones), domain_base, step) if counted[i]]
    known_accounts = [values[i] for i in known if ":" in values[i]]
    bare_numbers = [values[i].rpartition(":")[2] for i in known]
    # A 10-digit number starting 03/05/07/08/09 reads as a phone: keep only what reads as
    # an account number.
    bare_numbers = [b for b in bare_numbers if not extract_indicators(b)][:2_000]
    known_urls = [
        values[i]
        for i in range(url_base, url_base + len(urls), step)
        if counted[i] or counted[domain_base + url_domain[i - url_base]]
    ]
    per_kind = math.ceil(n_checks / len(KINDS))
    pick = rng.choice
    data.inputs = {
        "popular phone": ["0" + values[pick(hot_phones)][3:] for _ in range(per_kind)],
        "unpopular phone": ["0" + values[pick(cold_phones)][3:] for _ in range(per_kind)],
        "unknown phone": ["0" + p[3:] for p in _unique(rng, per_kind, _phone, set(taken))],
        "account+bank": [
            "STK {1} {0}".format(*pick(known_accounts).split(":")) for _ in range(per_kind)
        ],
        "bare account": [pick(bare_numbers) for _ in range(per_kind)],
        "link": [pick(known_urls) for _ in range(per_kind)],
        "unknown link": [
            f"https://{d}/dang-nhap" for d in _unique(rng, per_kind, _domain, set(taken))
        ],
    }
    return data


def _events(report_id: int, status: str, at: datetime) -> list[tuple[Any, ...]]:
    """A report's audit trail, shaped like the bot's."""
    if status == "draft":
        return []
    steps = [("submitted", None, "new")]
    if status not in ("new",):
        steps.append(("claimed", "new", "in_review"))
    if status in ("verified", "forwarded") or (status == "closed" and report_id % 7 == 0):
        steps.append(("verified", "in_review", "verified"))
    if status == "forwarded":
        steps.append(("forwarded", "verified", "forwarded"))
    elif status == "closed":
        steps.append(("closed", steps[-1][2], "closed"))
    elif status in ("needs_info", "rejected", "spam"):
        steps.append((status, "in_review", status))
    return [
        (report_id, action, old, new, at + timedelta(hours=k), k > 0)
        for k, (action, old, new) in enumerate(steps)
    ]


# --------------------------------------------------------------------------- seeding


def _batches(rows: Sequence[tuple[Any, ...]]) -> Iterable[Sequence[tuple[Any, ...]]]:
    for start in range(0, len(rows), SEED_BATCH):
        yield rows[start : start + SEED_BATCH]


def _tables(data: Data) -> list[tuple[str, list[tuple[Any, ...]]]]:
    return [
        ("user", data.users),
        ("report", data.reports),
        ("reportevent", data.events),
        ("indicator", data.indicators),
        ("reportindicator", data.links),
    ]


def _sqlite_value(value: Any) -> Any:
    # As SQLAlchemy stores UTCDateTime on SQLite: naive UTC, "YYYY-MM-DD HH:MM:SS.ffffff".
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def seed_sqlite(path: str, data: Data) -> None:
    """Load every row with the stdlib driver, in one transaction."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("BEGIN")
        for table, rows in _tables(data):
            columns = COLUMNS[table]
            sql = (
                f'INSERT INTO "{table}" ({", ".join(columns)}) '
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            for batch in _batches(rows):
                connection.executemany(sql, [tuple(_sqlite_value(v) for v in row) for row in batch])
        connection.execute("COMMIT")
    finally:
        connection.close()


async def seed_postgres(db: Database, data: Data) -> None:
    """Load every row with COPY, then let the planner see the data (as autovacuum would)."""
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        for table, rows in _tables(data):
            for batch in _batches(rows):
                await driver.copy_records_to_table(table, records=batch, columns=COLUMNS[table])
        for table in ("user", "report", "indicator", "reportevent"):
            await driver.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                f'(SELECT max(id) FROM "{table}"))'
            )
        await driver.execute("ANALYZE")


# --------------------------------------------------------------------------- the run


@dataclass
class Run:
    """What the checks measured on one engine."""

    engine: str
    indicators: int
    reports: int
    links: int
    seed_seconds: float = 0.0
    seconds: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statements: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    wrong: list[str] = field(default_factory=list)  # inputs with a wrong verdict
    plans: list[tuple[str, list[str]]] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)  # a session with SELECT 1
    query_ms: dict[str, list[float]] = field(default_factory=dict)  # sighting query alone

    @property
    def all_ms(self) -> list[float]:
        """Every check's latency."""
        return [ms for values in self.latencies_ms.values() for ms in values]

    @property
    def checks_per_s(self) -> float:
        """Checks per second of wall clock, one at a time."""
        return len(self.all_ms) / self.seconds if self.seconds > 0 else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _correct(kind: str, verdicts: list[Any]) -> bool:
    if not verdicts:
        return False
    seen = verdicts[0].seen
    if kind.startswith("unknown"):
        return seen.reports == 0
    if kind == "popular phone":
        return verdicts[0].reported and seen.reporters >= 2
    return seen.reports >= 1


async def explain(db: Database, captured: dict[str, tuple[str, Any]], result: Run) -> None:
    """The query plans of the sighting query, as captured from real checks."""
    async with db.engine.connect() as connection:
        for label, (statement, parameters) in captured.items():
            prefix = "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN "
            rows = (await connection.exec_driver_sql(prefix + statement, parameters)).all()
            if db.is_sqlite:  # (id, parent, notused, detail): indent by depth
                depth: dict[int, int] = {0: 0}
                lines = []
                for node, parent, _, detail in rows:
                    depth[node] = depth.get(parent, 0) + 1
                    lines.append("  " * (depth[node] - 1) + str(detail))
            else:
                lines = [str(row[0]) for row in rows]
            result.plans.append((label, lines))


def query_alone(path: str, statement: str, parameters: Any) -> list[float]:
    """The sighting query's own cost on SQLite: the stdlib driver, no SQLAlchemy, no thread."""
    connection = sqlite3.connect(path)
    try:
        out = []
        for _ in range(FLOOR_RUNS):
            start = time.perf_counter()
            connection.execute(statement, parameters).fetchall()
            out.append((time.perf_counter() - start) * 1000)
        return out
    finally:
        connection.close()


async def measure(engine: str, url: str, args: argparse.Namespace, data: Data) -> Run:
    """Migrate and seed a fresh database, then time the checks."""
    result = Run(engine, len(data.indicators), len(data.reports), len(data.links))
    db = Database(url)
    try:
        await upgrade(db)
        began = time.perf_counter()
        if db.is_sqlite:
            await db.dispose()
            await asyncio.to_thread(seed_sqlite, make_url(url).database or "", data)
        else:
            await seed_postgres(db, data)
        result.seed_seconds = time.perf_counter() - began
        print(
            f"{engine}: seeded {len(data.users):,} users, {result.reports:,} reports, "
            f"{len(data.events):,} events, {result.indicators:,} indicators, "
            f"{result.links:,} report links in {result.seed_seconds:.1f} s",
            flush=True,
        )

        with tempfile.TemporaryDirectory(prefix="tinbao-check-data-") as tmp:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                telegram_token="x",
                data_dir=Path(tmp),
                database_url=url,
            )
            counter = [0]
            captured: dict[str, tuple[str, Any]] = {}
            current = [""]

            def on_execute(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
                counter[0] += 1
                if "count(distinct" in statement.lower() and current[0] not in captured:
                    captured[current[0]] = (statement, params)

            event.listen(db.engine.sync_engine, "before_cursor_execute", on_execute)
            rng = random.Random(args.seed)
            work = [(kind, text) for kind, texts in data.inputs.items() for text in texts]
            rng.shuffle(work)
            work = work[: args.checks]
            # Warm up the pool, the statement caches and the page cache a little (untimed).
            for _kind, typed in work[:50]:
                async with db.session() as session:
                    await check(session, settings, typed)
            began = time.perf_counter()
            for kind, typed in work:
                current[0] = kind
                before = counter[0]
                start = time.perf_counter()
                async with db.session() as session:
                    verdicts = await check(session, settings, typed)
                result.latencies_ms[kind].append((time.perf_counter() - start) * 1000)
                result.statements[kind] += counter[0] - before
                if not _correct(kind, verdicts):
                    result.wrong.append(f"{kind}: {typed!r}")
            result.seconds = time.perf_counter() - began
            event.remove(db.engine.sync_engine, "before_cursor_execute", on_execute)
            # The floor: what any check pays before its first lookup.
            for _ in range(FLOOR_RUNS):
                start = time.perf_counter()
                async with db.session() as session:
                    await session.execute(text("SELECT 1"))
                result.floor_ms.append((time.perf_counter() - start) * 1000)
        plan_of = {k: captured[k] for k in ("popular phone", "bare account") if k in captured}
        await explain(db, plan_of, result)
        if db.is_sqlite:
            path = make_url(url).database or ""
            for label, (statement, parameters) in plan_of.items():
                result.query_ms[label] = query_alone(path, statement, parameters)
        return result
    finally:
        await db.dispose()


# --------------------------------------------------------------------------- output


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.2f}"


def _row(label: str, values: list[float], statements: int) -> str:
    per = statements / len(values) if values else math.nan
    return (
        f"  {label:27}{len(values):>7}{_ms(percentile(values, 50)):>9}"
        f"{_ms(percentile(values, 95)):>9}{_ms(percentile(values, 99)):>9}"
        f"{_ms(max(values, default=math.nan)):>9}{per:>8.1f}"
    )


def describe(r: Run) -> None:
    """The figures of one engine."""
    print(
        f"{r.engine}: {r.indicators:,} indicators, {r.reports:,} reports, {r.links:,} links; "
        f"seeded in {r.seed_seconds:.1f} s"
    )
    print(
        f"  {'input':27}{'checks':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
        f"{'SQL/chk':>8}"
    )
    for kind in KINDS:
        print(_row(kind, r.latencies_ms.get(kind, []), r.statements.get(kind, 0)))
    print(_row("overall", r.all_ms, sum(r.statements.values())))
    p99 = percentile(r.all_ms, 99)
    goal = ""
    if r.engine == "SQLite":
        goal = f"   goal p99 < {GOAL_P99_MS:g} ms: {'met' if p99 < GOAL_P99_MS else 'NOT met'}"
    print(_row("floor: SELECT 1", r.floor_ms, len(r.floor_ms)))
    for label, values in r.query_ms.items():
        print(_row(f"query only: {label}", values, len(values))[:-8])
    print(f"  wall time {r.seconds:.2f} s   checks/s {r.checks_per_s:,.0f}{goal}")
    print(f"  wrong verdicts {len(r.wrong)}{'' if not r.wrong else ', e.g. ' + r.wrong[0]}")
    for label, lines in r.plans:
        print(f"  query plan of the sighting query ({label}):")
        for line in lines:
            print(f"    {line}")


def summary(runs: list[Run]) -> None:
    """One line per engine."""
    py = ".".join(platform.python_version_tuple()[:2])
    print()
    print(f"tinbao instant-check benchmark — Python {py}, {os.cpu_count() or 0} CPUs")
    print(
        f"{'engine':12}{'indicators':>11}{'reports':>9}{'seed s':>8}{'checks':>8}"
        f"{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>8}{'checks/s':>10}{'wrong':>7}"
    )
    for r in runs:
        ms = r.all_ms
        print(
            f"{r.engine:12}{r.indicators:>11}{r.reports:>9}{r.seed_seconds:>8.1f}{len(ms):>8}"
            f"{_ms(percentile(ms, 50)):>8}{_ms(percentile(ms, 95)):>8}"
            f"{_ms(percentile(ms, 99)):>8}{_ms(max(ms, default=math.nan)):>8}"
            f"{r.checks_per_s:>10.0f}{len(r.wrong):>7}"
        )


# --------------------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> int:
    """Measure each requested engine, print the figures; the exit code."""
    task = asyncio.current_task()
    if task is not None and sys.platform != "win32":  # Windows loops have no signal handlers
        # Without this a SIGTERM would kill us before the scratch database is dropped.
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    began = time.perf_counter()
    data = generate(args.indicators, args.reports, args.users, args.checks, args.seed)
    print(f"generated the rows in {time.perf_counter() - began:.1f} s", flush=True)
    engines = ["sqlite", "postgres"] if args.engine == "both" else [args.engine]
    runs: list[Run] = []
    code = 0
    for engine in engines:
        if engine == "sqlite":
            async with sqlite_url("check") as url:
                runs.append(await measure("SQLite", url, args, data))
        else:
            try:
                async with postgres_url(args.postgres_url) as url:
                    runs.append(await measure("PostgreSQL", url, args, data))
            except PostgresUnavailable as error:
                if args.engine == "postgres":
                    print(f"PostgreSQL could not be reached: {error}", file=sys.stderr)
                    return 2
                print(f"PostgreSQL skipped: could not be reached ({error})")
                continue
        describe(runs[-1])
        print()
        if runs[-1].wrong:
            code = 1
    summary(runs)
    if code:
        print("\nFAILED: some check found an unknown value, or missed a reported one")
    return code


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine", choices=("sqlite", "postgres", "both"), default="sqlite", help="default sqlite"
    )
    parser.add_argument("--indicators", type=int, default=1_000_000, help="indicators stored")
    parser.add_argument("--reports", type=int, default=200_000, help="reports stored")
    parser.add_argument("--users", type=int, default=50_000, help="residents who reported")
    parser.add_argument("--checks", type=int, default=5_000, help="checks timed")
    parser.add_argument("--seed", type=int, default=1, help="seed of the data and the inputs")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(POSTGRES_ENV) or DEFAULT_POSTGRES_URL,
        help=f"server and admin database for the scratch database (env {POSTGRES_ENV}, "
        f"default {DEFAULT_POSTGRES_URL})",
    )
    args = parser.parse_args(argv)
    if min(args.indicators, args.reports, args.users, args.checks) < 1:
        parser.error("--indicators, --reports, --users and --checks must be positive")
    if args.indicators < max(args.reports, 1_000):
        parser.error("--indicators must be at least --reports and at least 1,000")
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
