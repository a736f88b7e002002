"""The `tinbao` command line (DESIGN.md, "Contracts"): exit 0, or one clear line and non-zero."""

from __future__ import annotations

import argparse
import asyncio
import csv
import getpass
import json
import logging
import re
import sys
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from bot import logs
from bot.settings import Settings
from handlers.extract import extract_indicators
from handlers.names import safe_name
from handlers.services import Services
from storage import audit
from storage.engine import Database
from storage.migrate import upgrade
from storage.models import AuditEvent, utcnow
from storage.reports import export_reports, submitted_count

log = logging.getLogger("tinbao")

NO_TOKEN = (
    "tinbao: TINBAO_TELEGRAM_TOKEN is not set. Create a bot by sending /newbot to @BotFather "
    "in Telegram, put the token it gives you in .env as TINBAO_TELEGRAM_TOKEN=..., and run "
    "`tinbao run` again; or try the bot without Telegram with `tinbao chat`."
)


class CommandError(Exception):
    """A failure to report as one line on stderr with a non-zero exit code."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tinbao` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    level = logging.INFO if args.command in ("run", "webhook", "web") else logging.WARNING
    logs.configure(level)
    try:
        settings = Settings()
        if settings.log_level:
            level = logging.getLevelNamesMapping()[settings.log_level.upper()]
        logs.configure(level, settings.log_format, secrets=settings.secrets())
        return int(args.func(settings, args) or 0)
    except ValidationError as error:
        first = error.errors()[0]
        name = "TINBAO_" + str(first["loc"][0]).upper() if first["loc"] else "a setting"
        print(f"tinbao: {name} is not valid: {first['msg']}", file=sys.stderr)
        return 2
    except CommandError as error:
        print(f"tinbao: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinbao", description="Report scams and cyber crime to the police, by chat."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="run the Telegram bot with long polling (main job)")
    hook = commands.add_parser(
        "webhook",
        help="serve Telegram's webhook, /healthz, /readyz and /metrics on TINBAO_LISTEN "
        "(several processes may share one PostgreSQL database)",
    )
    hook.set_defaults(func=_webhook)
    web = commands.add_parser(
        "web",
        help="serve the officers' web dashboard and /healthz on TINBAO_LISTEN (for polling "
        "deployments; `tinbao webhook` serves it too)",
    )
    web.set_defaults(func=_web)
    run.set_defaults(func=_run)

    chat = commands.add_parser("chat", help="talk to the bot in this terminal, no Telegram needed")
    chat.add_argument("--lang", choices=["vi", "en"], default="vi", help="your language")
    chat.add_argument("--user", default="console", help="who you are (to try several residents)")
    chat.set_defaults(func=_chat)

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_upgrade = db_commands.add_parser("upgrade", help="apply schema migrations")
    db_upgrade.set_defaults(func=_db_upgrade)

    officer = commands.add_parser("officer", help="add, remove or list officers")
    officer_commands = officer.add_subparsers(
        dest="officer_command", metavar="ACTION", required=True
    )
    for action, about in (("add", "make a user an officer"), ("remove", "remove an officer")):
        sub = officer_commands.add_parser(action, help=about)
        sub.add_argument("user_id", help="the officer's user id (Telegram: a number; /id shows it)")
        sub.add_argument("--channel", default="telegram", help="telegram (default) or console")
        if action == "add":
            sub.add_argument("--name", help="the name other officers see")
        sub.set_defaults(func=_officer)
    listing = officer_commands.add_parser("list", help="list officers and admins")
    listing.add_argument("--channel", default=None, help="only this channel")
    listing.set_defaults(func=_officer)

    user = commands.add_parser("user", help="ban or unban a user, or list the bans in force")
    user_commands = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    ban = user_commands.add_parser(
        "ban", help="stop the bot from handling a user's messages (not officers or admins)"
    )
    ban.add_argument("who", help="a case code (its reporter, e.g. TB-2611-0042) or a user id")
    ban.add_argument("--reason", required=True, help="why (kept with the ban, shown to admins)")
    unban = user_commands.add_parser("unban", help="lift a user's ban")
    unban.add_argument("who", help="the case code or user id the ban was made with")
    for sub in (ban, unban):
        sub.add_argument("--channel", default="telegram", help="telegram (default) or console")
        sub.set_defaults(func=_user)
    bans_list = user_commands.add_parser("list", help="list the bans in force")
    bans_list.add_argument("--channel", default=None, help="only this channel")
    bans_list.set_defaults(func=_user)

    export = commands.add_parser(
        "export", help="print submitted reports (jsonl or csv), or their indicators (csv or stix)"
    )
    export.add_argument("--format", choices=["jsonl", "csv", "stix"], default=None)
    export.add_argument(
        "--indicators",
        action="store_true",
        help="the phones, accounts, links… with their counts and first/last seen, for banks, "
        "telcos and CERTs (csv, the default, or a STIX 2.1 bundle)",
    )
    export.add_argument(
        "--min-reporters",
        type=int,
        default=None,
        help="with --indicators: only those reported by this many residents, or verified "
        "(default TINBAO_CHECK_MIN_REPORTERS)",
    )
    export.add_argument(
        "--with-identity",
        action="store_true",
        help="add who made each named report (app, user id, name, contact phone); needs "
        "--reason, and is recorded in the audit log",
    )
    export.add_argument("--reason", default=None, help="with --with-identity: why (audited)")
    export.set_defaults(func=_export)

    reveal = commands.add_parser(
        "reveal", help="show who made a report (app, user id, name, contact phone), audited"
    )
    reveal.add_argument("code", help="the case code, e.g. TB-2611-0042")
    reveal.add_argument("--reason", default=None, help="why you need to know (audited)")
    reveal.set_defaults(func=_reveal)

    extract = commands.add_parser(
        "extract", help="print the phones, accounts, links… found in a message read on stdin"
    )
    extract.set_defaults(func=_extract)

    check = commands.add_parser(
        "check", help="has this phone, account, link or e-mail been reported? (JSON)"
    )
    check.add_argument("value", nargs="+", help="what to check, e.g. 0912345678")
    check.set_defaults(func=_check)

    stats = commands.add_parser(
        "stats",
        help="reports by status and kind for 7 and 30 days, money lost, subscribers, warnings",
    )
    stats.add_argument("--json", action="store_true", help="print JSON instead of text")
    stats.add_argument(
        "--language", choices=["vi", "en"], default="vi", help="language of the text (vi)"
    )
    stats.set_defaults(func=_stats)

    purge = commands.add_parser(
        "purge",
        help="apply the retention rule now (the bot does it daily): purge finished reports "
        "older than TINBAO_RETENTION_DAYS, delete expired drafts and old raw updates",
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="only count what would be purged; change nothing"
    )
    purge.set_defaults(func=_purge)

    trail = commands.add_parser("audit", help="check or read the audit log (for admins)")
    trail_commands = trail.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = trail_commands.add_parser(
        "verify", help="check the audit log's hash chain; exit code 1 if it is broken"
    )
    verify.add_argument(
        "--anchor",
        metavar="ID:HASH",
        help="an event id and hash noted outside the database earlier (as `verify` prints "
        "them): the chain must still hold that event",
    )
    verify.set_defaults(func=_audit_verify)
    trail_list = trail_commands.add_parser("list", help="audit events, newest first")
    trail_list.add_argument(
        "--report", metavar="CODE", help="only about this report (case code or report number)"
    )
    trail_list.add_argument(
        "--actor",
        help="only by this officer or admin (their user id, as `tinbao officer list` shows "
        "it), or by `cli`, `system` or `resident`",
    )
    trail_list.add_argument(
        "--channel", default="telegram", help="the channel of --actor's id (telegram)"
    )
    trail_list.add_argument(
        "--since",
        help="only from this time on: 2026-11-30 or 2026-11-30T08:00 (Vietnam time unless it "
        "carries an offset), or the last 24h, 7d…",
    )
    trail_list.add_argument(
        "--limit", type=_positive, default=50, help="at most this many events (50)"
    )
    trail_list.add_argument("--json", action="store_true", help="one JSON object per line")
    trail_list.set_defaults(func=_audit_list)

    files = commands.add_parser(
        "evidence", help="evidence files at rest: make a key, encrypt, verify (docs/backup.md)"
    )
    files_commands = files.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    files_commands.add_parser(
        "key", help="print a new random TINBAO_EVIDENCE_KEY (keep a copy apart from backups)"
    ).set_defaults(func=_evidence_key)
    files_commands.add_parser(
        "encrypt",
        help="encrypt every stored file not yet encrypted with TINBAO_EVIDENCE_KEY, in place "
        "(safe to run again, or while the bot runs)",
    ).set_defaults(func=_evidence_encrypt)
    files_commands.add_parser(
        "verify", help="check every stored file against its recorded SHA-256 (exit 1 if any fails)"
    ).set_defaults(func=_evidence_verify)

    backup = commands.add_parser(
        "backup",
        help="write the database and the evidence files to one archive (the bot may be running)",
    )
    backup.add_argument("path", help="the archive to write, or a directory to write it in")
    backup.set_defaults(func=_backup)
    restore = commands.add_parser(
        "restore", help="check a backup, restore it into an empty place, and migrate it"
    )
    restore.add_argument("path", help="the archive written by `tinbao backup`")
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace a database and evidence directory that are not empty (stop the bot first)",
    )
    restore.set_defaults(func=_restore)
    return parser


def _positive(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return int(value)


async def open_database(settings: Settings) -> Database:
    """The database, upgraded to the newest schema."""
    db = Database(settings.effective_database_url)
    try:
        await upgrade(db)
    except Exception as error:
        await db.dispose()
        raise CommandError(
            f"cannot open the database at {_safe_url(settings.effective_database_url)}: {error}"
        ) from error
    return db


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.telegram_token:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    from bot import polling

    log.info("tinbao is running (long polling); stop with Ctrl+C or SIGTERM")
    asyncio.run(polling.run(settings))
    return 0


def _webhook(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.telegram_token:
        raise CommandError(NO_TOKEN.removeprefix("tinbao: "))
    if not settings.webhook_url or not settings.webhook_secret:
        raise CommandError(
            "TINBAO_WEBHOOK_URL (the public https address Telegram posts to) and "
            "TINBAO_WEBHOOK_SECRET (a random string of letters, digits, _ and -) must be set "
            "for `tinbao webhook`; see docs/deploy.md"
        )
    from bot.webhook import serve

    log.info("tinbao webhook: starting")
    asyncio.run(serve(settings))
    return 0


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from bot.web.serve import serve

    log.info("tinbao web: starting")
    asyncio.run(serve(settings))
    return 0


def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from bot.channels.console import chat

    async def go() -> None:
        db = await open_database(settings)
        try:
            await chat(Services.create(settings, db), language=args.lang, user_id=args.user)
        finally:
            await db.dispose()

    asyncio.run(go())
    return 0


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    async def go() -> str | None:
        db = Database(settings.effective_database_url)
        try:
            return await upgrade(db)
        finally:
            await db.dispose()

    try:
        revision = asyncio.run(go())
    except Exception as error:
        raise CommandError(f"upgrade failed: {error}") from error
    print(f"database {_safe_url(settings.effective_database_url)} is at revision {revision}")
    return 0


def _officer(settings: Settings, args: argparse.Namespace) -> int:
    from storage import queue

    async def go() -> list[str]:
        db = await open_database(settings)
        now = utcnow()
        try:
            async with db.session() as session:
                if args.officer_command == "list":
                    people = await queue.staff(session, args.channel)
                    return [
                        "\t".join((u.channel, u.external_id, u.role, safe_name(u.display_name)))
                        for u in people
                    ]
                user_id = args.user_id.strip()
                if args.channel == "telegram" and not user_id.lstrip("-").isdigit():
                    raise CommandError(f"{user_id!r} is not a Telegram user id (a number)")
                admin = settings.is_admin(args.channel, user_id)
                if args.officer_command == "add":
                    role = "admin" if admin else "officer"
                    await queue.set_role(
                        session, args.channel, user_id, role, now=now, name=args.name, by=audit.CLI
                    )
                    return [f"{args.channel}:{user_id} is now an {role}"]
                if admin:
                    raise CommandError(
                        f"{user_id} is an admin from TINBAO_ADMIN_IDS; remove it there"
                    )
                user = await queue.find_user(session, args.channel, user_id)
                if user is None or user.role not in queue.STAFF:
                    raise CommandError(f"{args.channel}:{user_id} is not an officer")
                removed = await queue.remove_officer(session, user, now, audit.CLI)
                lines = [f"{args.channel}:{user_id} is no longer an officer"]
                if removed.released:
                    lines.append(f"{len(removed.released)} report(s) went back to the queue")
                if removed.kept:
                    codes = ", ".join(r.code or "" for r in removed.kept)
                    lines.append(f"still in their name, to reassign in the bot: {codes}")
                return lines
        finally:
            await db.dispose()

    for line in asyncio.run(go()):
        print(line)
    return 0


def _who_runs() -> str:
    """Who is at the command line, for the record of a ban (`cli:<login>`)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in some containers
        return "cli"


def _user(settings: Settings, args: argparse.Namespace) -> int:
    """`tinbao user ban|unban|list`: the bans, as admins manage them in the bot (/cam, /bocam)."""
    from handlers.bans import reason_text
    from handlers.i18n import translator
    from handlers.officer import CODE
    from storage import bans, queue
    from storage.models import User

    t = translator("en")

    async def target(session: Any, who: str) -> tuple[User, str]:
        if CODE.fullmatch(who.strip()):
            report = await queue.by_code(session, who)
            if report is None or report.status == "draft" or report.code is None:
                raise CommandError(f"no report has the code {who.strip().upper()}")
            user = await session.get(User, report.reporter_id) if report.reporter_id else None
            if user is None:
                raise CommandError(f"the reporter of {report.code} can no longer be identified")
            return user, report.code
        user_id = who.strip()
        if args.channel == "telegram" and not user_id.isdigit():
            raise CommandError(f"{who!r} is neither a case code nor a Telegram user id")
        found = await queue.find_user(session, args.channel, user_id)
        if found is None:
            raise CommandError(f"nobody with the id {user_id} has used the bot")
        return found, f"{found.channel}:{found.external_id}"

    async def go() -> list[str]:
        db = await open_database(settings)
        now = utcnow()
        try:
            async with db.session() as session:
                if args.user_command == "list":
                    lines = []
                    for item in await bans.all_in_force(session, args.channel):
                        by = item.ban.source
                        if item.banned_by is not None:
                            by = f"{item.banned_by.channel}:{item.banned_by.external_id}"
                        lines.append(
                            "\t".join(
                                (
                                    item.ban.via,
                                    item.ban.banned_at.isoformat(timespec="seconds"),
                                    by,
                                    reason_text(t, item.ban.reason),
                                )
                            )
                        )
                    return lines
                user, via = await target(session, args.who)
                assert user.id is not None
                if args.user_command == "unban":
                    lifted = await bans.lift(session, user.id, now=now, source=_who_runs())
                    if lifted is None:
                        raise CommandError(f"{via} is not banned")
                    audit.record(session, audit.CLI, "ban.lifted", "ban", lifted.id, now)
                    return [f"{via}: ban lifted"]
                if user.role in queue.STAFF or settings.is_admin(user.channel, user.external_id):
                    raise CommandError(
                        f"{via} is an officer or an admin; take the role away first "
                        "(tinbao officer remove)"
                    )
                reason = args.reason.strip()
                if not reason:
                    raise CommandError("--reason must say why")
                ban = await bans.impose(
                    session, user.id, reason=reason, via=via, now=now, source=_who_runs()
                )
                if ban is None:
                    raise CommandError(f"{via} is already banned")
                audit.record(session, audit.CLI, "ban.imposed", "ban", ban.id, now)
                return [f"{via}: banned"]
        finally:
            await db.dispose()

    for line in asyncio.run(go()):
        print(line)
    return 0


def _reveal(settings: Settings, args: argparse.Namespace) -> int:
    """`tinbao reveal CODE --reason …`: who made a report, as `/danhtinh` shows an admin."""
    from handlers.officer import CODE
    from storage import identity, queue

    reason = _reason(args.reason, "reveal")
    code = args.code.strip().upper()
    if not CODE.fullmatch(code):
        raise CommandError(f"{args.code!r} is not a case code (e.g. TB-2611-0042)")

    async def go() -> list[str]:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                report = await queue.by_code(session, code)
                if report is None or report.status == "draft":
                    raise CommandError(f"no report has the code {code}")
                found = await identity.reveal(session, report)
                audit.record(
                    session,
                    audit.CLI,
                    "identity.revealed",
                    "report",
                    report.id,
                    utcnow(),
                    {
                        "code": report.code,
                        "reason": reason[: audit.MAX_STRING],
                        "result": found.state,
                    },
                )
        finally:
            await db.dispose()
        if found.state == "anonymous":
            return [f"{code}: the reporter chose to stay anonymous; nothing is revealed"]
        if found.state == "erased":
            return [f"{code}: the reporter's identity was deleted; nothing to reveal"]
        return [
            f"code\t{code}",
            f"channel\t{found.channel}",
            f"external_id\t{found.external_id}",
            f"name\t{safe_name(found.name)}",
            f"contact_phone\t{found.phone or ''}",
            f"handle\t{found.handle}",
        ]

    for line in asyncio.run(go()):
        print(line)
    return 0


CSV_COLUMNS = [
    "code",
    "status",
    "category",
    "description",
    "occurred_at",
    "amount_lost_vnd",
    "channel",
    "created_at",
    "submitted_at",
    "assignee",
    "indicators",
    "attachments",
    "reporter_handle",
    "reporter_contact_allowed",
    "purged_at",
]
# Added only by `--with-identity`.
IDENTITY_COLUMNS = ["reporter_channel", "reporter_external_id", "reporter_name", "reporter_phone"]
# The minimum an identity export's reason must say (as `/danhtinh` asks in the bot).
MIN_REASON_WORDS = 3


def csv_row(report: dict[str, Any], with_identity: bool = False) -> dict[str, Any]:
    """A report flattened for CSV: lists joined with `;`, the reporter in two columns (six
    with the identity)."""
    reporter = report["reporter"] or {}
    row = {key: report[key] for key in CSV_COLUMNS[:12]}
    row["indicators"] = ";".join(f"{i['kind']}:{i['value']}" for i in report["indicators"])
    row["attachments"] = ";".join(a["sha256"] for a in report["attachments"])
    row["reporter_handle"] = reporter.get("handle")
    row["reporter_contact_allowed"] = reporter.get("contact_allowed")
    if with_identity:
        row["reporter_channel"] = reporter.get("channel")
        row["reporter_external_id"] = reporter.get("external_id")
        row["reporter_name"] = reporter.get("name")
        row["reporter_phone"] = reporter.get("contact_phone")
    row["purged_at"] = report["purged_at"]
    return row


def _reason(reason: str | None, option: str) -> str:
    """The reason given for seeing identities, or a one-line error asking for one."""
    text = (reason or "").strip()
    if len(text.split()) < MIN_REASON_WORDS:
        raise CommandError(
            f"{option} needs --reason saying why, in a few words "
            '(e.g. --reason "court request 12/2026 for case TB-2611-0042")'
        )
    return text


def _export(settings: Settings, args: argparse.Namespace) -> int:
    if args.indicators:
        return _export_indicators(settings, args)
    if args.format == "stix":
        raise CommandError("--format stix is for --indicators; reports export as jsonl or csv")
    args.format = args.format or "jsonl"
    with_identity = bool(args.with_identity)
    if with_identity:
        reason = _reason(args.reason, "--with-identity")
    elif args.reason is not None:
        raise CommandError("--reason goes with --with-identity")

    async def go() -> None:
        from storage import identity

        db = await open_database(settings)
        try:
            # On record, committed, before the first row is written: an export cut short has
            # still left the building in part. Reporters without a handle get one first, as
            # the export only reads.
            async with db.session() as session:
                await identity.give_handles(session)
                count = await submitted_count(session)
                now = utcnow()
                audit.record(
                    session,
                    audit.CLI,
                    "reports.exported",
                    "export",
                    None,
                    now,
                    {"format": args.format, "reports": count},
                )
                if with_identity:
                    named = await identity.named_count(session)
                    audit.record(
                        session,
                        audit.CLI,
                        "export.identity",
                        "export",
                        None,
                        now,
                        {
                            "format": args.format,
                            "reason": reason[: audit.MAX_STRING],
                            "count": named,
                        },
                    )
        except Exception:
            await db.dispose()
            raise
        columns = CSV_COLUMNS + (IDENTITY_COLUMNS if with_identity else [])
        writer = csv.DictWriter(sys.stdout, fieldnames=columns) if args.format == "csv" else None
        if writer is not None:
            writer.writeheader()
        try:
            async with db.session() as session:
                async for report in export_reports(session, with_identity=with_identity):
                    if writer is not None:
                        writer.writerow(csv_row(report, with_identity))
                    else:
                        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
        finally:
            await db.dispose()

    asyncio.run(go())
    return 0


INDICATOR_COLUMNS = [
    "kind", "value", "reports", "reporters", "first_seen", "last_seen", "verified",
]  # fmt: skip
# STIX has observable types for links, domains and e-mails; phones and bank accounts get custom
# ones (the x- prefix is STIX's way), so receivers can still match on them.
STIX_TYPES = {
    "url": "url",
    "domain": "domain-name",
    "email": "email-addr",
    "phone": "x-tinbao-phone",
    "bank_account": "x-tinbao-bank-account",
    "social": "x-tinbao-social-account",
}
# Indicator ids are derived from the value, so a receiver importing twice updates, not doubles.
STIX_NAMESPACE = uuid.UUID("0d4a8a6e-6f0b-5b8e-9d55-7469e6261f6f")


def _export_indicators(settings: Settings, args: argparse.Namespace) -> int:
    """Indicators with counts, as CSV or as a STIX 2.1 bundle; never who reported them."""
    from storage.intel import indicator_stats

    fmt = args.format or "csv"
    if fmt == "jsonl":
        raise CommandError("--indicators exports as csv or stix")
    least = args.min_reporters if args.min_reporters is not None else settings.check_min_reporters

    async def go() -> list[Any]:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                found = list(await indicator_stats(session, max(1, least)))
                # Committed with the query, before anything is printed.
                audit.record(
                    session,
                    audit.CLI,
                    "indicators.exported",
                    "export",
                    None,
                    utcnow(),
                    {"format": fmt, "indicators": len(found), "min_reporters": max(1, least)},
                )
                return found
        finally:
            await db.dispose()

    stats = asyncio.run(go())
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=INDICATOR_COLUMNS)
        writer.writeheader()
        for item in stats:
            writer.writerow(
                {
                    "kind": item.kind,
                    "value": item.value,
                    "reports": item.reports,
                    "reporters": item.reporters,
                    "first_seen": item.first_seen.isoformat(),
                    "last_seen": item.last_seen.isoformat(),
                    "verified": "yes" if item.verified else "no",
                }
            )
        return 0
    import stix2

    objects = []
    for item in stats:
        quoted = item.value.replace("\\", "\\\\").replace("'", "\\'")
        observable = STIX_TYPES.get(item.kind, "x-tinbao-" + item.kind)
        objects.append(
            stix2.Indicator(
                id=f"indicator--{uuid.uuid5(STIX_NAMESPACE, f'{item.kind}:{item.value}')}",
                name=f"{item.kind} {item.value}",
                description=f"Reported to the police by {item.reporters} resident(s) "
                f"in {item.reports} report(s)"
                + ("; verified by an officer" if item.verified else ""),
                indicator_types=["malicious-activity"],
                pattern=f"[{observable}:value = '{quoted}']",
                pattern_type="stix",
                valid_from=item.first_seen,
                created=item.first_seen,
                modified=item.last_seen,
                confidence=85 if item.verified else 50,
                allow_custom=True,
                x_tinbao_kind=item.kind,
                x_tinbao_reports=item.reports,
                x_tinbao_reporters=item.reporters,
                x_tinbao_last_seen=item.last_seen,
                x_tinbao_verified=item.verified,
            )
        )
    bundle = stix2.Bundle(*objects, allow_custom=True) if objects else stix2.Bundle()
    print(bundle.serialize(pretty=True, ensure_ascii=False))
    return 0


def _extract(settings: Settings, args: argparse.Namespace) -> int:
    text = sys.stdin.read()
    for indicator in extract_indicators(text):
        print(
            json.dumps(
                {"kind": indicator.kind, "value": indicator.value, "raw": indicator.raw},
                ensure_ascii=False,
            )
        )
    return 0


def _check(settings: Settings, args: argparse.Namespace) -> int:
    """The bot's instant check as JSON: counts and dates, never who reported."""
    from handlers import check

    text = " ".join(args.value)

    async def go() -> list[check.Verdict]:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                return await check.check(session, settings, text)
        finally:
            await db.dispose()

    verdicts = asyncio.run(go())
    if not verdicts:
        print("tinbao: no phone number, account, link or e-mail found in that", file=sys.stderr)
    print(
        json.dumps(
            {"input": text, "verdicts": [v.as_json() for v in verdicts]},
            ensure_ascii=False,
            indent=2,
        )
    )
    return 0 if verdicts else 1


def _stats(settings: Settings, args: argparse.Namespace) -> int:
    """The figures of `/thongke`, as text or JSON."""
    from handlers import stats
    from handlers.i18n import translator
    from storage import stats as figures_of
    from storage.models import utcnow

    async def go() -> figures_of.Figures:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                return await figures_of.figures(session, utcnow())
        finally:
            await db.dispose()

    figures = asyncio.run(go())
    if args.json:
        print(json.dumps(stats.as_json(figures), ensure_ascii=False, indent=2))
    else:
        print(stats.text(translator(args.language), figures))
    return 0


# ------------------------------------------------------------------------------ retention

PURGE_LINES = (
    ("reports", "finished reports purged", "finished reports to purge"),
    ("files", "evidence files deleted", "evidence files to delete"),
    ("drafts", "expired drafts deleted", "expired drafts to delete"),
    ("inbox", "stored updates deleted", "stored updates to delete"),
    ("update_ids", "processed update ids forgotten", "processed update ids to forget"),
)


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    """The daily retention job, run now; with --dry-run, only the counts (docs/privacy.md)."""
    from handlers import retention

    async def go() -> dict[str, int]:
        db = await open_database(settings)
        try:
            services = Services.create(settings, db)
            return await retention.purge(services, dry_run=args.dry_run, who=audit.CLI)
        finally:
            await db.dispose()

    counts = asyncio.run(go())
    print(
        f"retention: {settings.retention_days} days after closing, "
        f"drafts {settings.draft_days} days"
        + (" (dry run: nothing was changed)" if args.dry_run else "")
    )
    for key, done, planned in PURGE_LINES:
        print(f"{planned if args.dry_run else done}: {counts[key]}")
    return 0


# ------------------------------------------------------------------------------ audit log


def _audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Walk the hash chain: OK and the count on stdout, or the first broken event and why as
    the one line on stderr, with exit code 1."""
    anchor = None
    if args.anchor is not None:
        found = re.fullmatch(r"#?(\d+):([0-9a-fA-F]{64})", args.anchor.strip())
        if found is None:
            raise CommandError(
                f"--anchor {args.anchor!r} is not ID:HASH (an event number, a colon and its "
                "64-character hash, as `tinbao audit verify` prints them)"
            )
        anchor = (int(found.group(1)), found.group(2).lower())

    async def go() -> audit.Verdict:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                return await audit.verify(session, anchor)
        finally:
            await db.dispose()

    verdict = asyncio.run(go())
    if verdict.broken is None:
        if not verdict.count:
            print("OK: the audit log is empty")
        else:
            print(
                f"OK: {verdict.count} audit events, the chain is unbroken; "
                f"last event #{verdict.last_id} {verdict.last_hash}"
            )
        return 0
    broken = verdict.broken
    raise CommandError(
        f"audit chain BROKEN at event #{broken.event_id} ({broken.kind}): {broken.reason}; "
        f"the {verdict.count} events before it verify"
    )


RELATIVE = re.compile(r"(\d+)\s*([hd])")


def _since(value: str, now: datetime) -> datetime:
    """`--since`: a relative span (24h, 7d) or an ISO date or time, Vietnam time if naive."""
    from handlers.i18n import VIETNAM

    relative = RELATIVE.fullmatch(value.strip().lower())
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2)
        return now - (timedelta(hours=amount) if unit == "h" else timedelta(days=amount))
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--since {value!r} is not a time: write 2026-11-30, 2026-11-30T08:00, 24h or 7d"
        ) from None
    return moment.replace(tzinfo=VIETNAM) if moment.tzinfo is None else moment


def _audit_list(settings: Settings, args: argparse.Namespace) -> int:
    """Audit events matching the filters, newest first, as text or JSON lines."""
    from handlers.i18n import VIETNAM
    from storage import queue

    now = utcnow()
    since = _since(args.since, now) if args.since else None

    async def go() -> tuple[list[AuditEvent], dict[int, Any]]:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                filters: dict[str, Any] = {"since": since, "limit": args.limit}
                if args.report is not None:
                    wanted = args.report.strip()
                    report = None if wanted.isdigit() else await queue.by_code(session, wanted)
                    if not wanted.isdigit() and (report is None or report.id is None):
                        raise CommandError(f"no report has the code {wanted}")
                    number = int(wanted) if report is None else report.id
                    filters |= {"object_kind": "report", "object_id": number}
                if args.actor is not None:
                    who = args.actor.strip().lower()
                    if who in ("cli", "system", "resident"):
                        filters["actor_role"] = who
                    else:
                        user = await queue.find_user(session, args.channel, args.actor.strip())
                        if user is None or user.id is None:
                            raise CommandError(
                                f"no user has the id {args.actor} on {args.channel}; "
                                "`tinbao officer list` shows the officers' ids"
                            )
                        filters["actor_id"] = user.id
                found = await audit.events(session, **filters)
                people = await queue.users_by_id(
                    session, {e.actor_id for e in found if e.actor_id is not None}
                )
                return found, dict(people)
        finally:
            await db.dispose()

    found, people = asyncio.run(go())
    for event in found:
        user = people.get(event.actor_id) if event.actor_id is not None else None
        who = (
            f"{user.channel}:{user.external_id}"
            if user is not None
            else (f"#{event.actor_id}" if event.actor_id is not None else None)
        )
        if args.json:
            row = {
                "id": event.id,
                "at": event.at.isoformat(),
                "actor_role": event.actor_role,
                "actor_id": event.actor_id,
                "actor": who,
                "action": event.action,
                "object_kind": event.object_kind,
                "object_id": event.object_id,
                "detail": event.detail,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
            }
            print(json.dumps(row, ensure_ascii=False))
            continue
        detail = " ".join(
            f"{key}={','.join(map(str, value)) if isinstance(value, list) else value}"
            for key, value in sorted(event.detail.items())
        )
        target = event.object_kind + (f":{event.object_id}" if event.object_id else "")
        actor_text = event.actor_role + (f" {who}" if who else "")
        when = event.at.astimezone(VIETNAM).isoformat(timespec="seconds")
        print("\t".join((f"#{event.id}", when, actor_text, event.action, target, detail)))
    return 0


def _evidence_key(settings: Settings, args: argparse.Namespace) -> int:
    from handlers.seal import key_id, new_key, parse_key

    key = new_key()
    print(f"TINBAO_EVIDENCE_KEY={key}")
    print(
        f"tinbao: a new evidence key (id {key_id(parse_key(key))}). Keep a copy somewhere safe "
        "and apart from the backups: without it encrypted evidence can never be read again.",
        file=sys.stderr,
    )
    return 0


def _evidence_encrypt(settings: Settings, args: argparse.Namespace) -> int:
    from handlers import evidence

    keys = settings.evidence_keys
    if keys is None:
        raise CommandError(
            "TINBAO_EVIDENCE_KEY is not set; make one with `tinbao evidence key` (docs/backup.md)"
        )
    done = evidence.encrypt_all(settings.evidence_dir, keys)
    print(
        f"{len(done.sealed)} file(s) encrypted, {len(done.resealed)} moved to key "
        f"{keys.current_id}, {done.already} already encrypted with it"
    )
    for refusal in done.refused:
        print(f"tinbao: left as it was: {refusal}", file=sys.stderr)
    if done.refused:
        raise CommandError(
            f"{len(done.refused)} file(s) could not be encrypted; run `tinbao evidence verify`"
        )
    return 0


def _evidence_verify(settings: Settings, args: argparse.Namespace) -> int:
    from handlers import evidence
    from storage.reports import recorded_files

    async def go() -> dict[str, str]:
        db = await open_database(settings)
        try:
            async with db.session() as session:
                return await recorded_files(session)
        finally:
            await db.dispose()

    found = evidence.verify_all(settings.evidence_dir, settings.evidence_keys, asyncio.run(go()))
    for problem in found.problems:
        print(f"tinbao: {problem}", file=sys.stderr)
    print(
        f"{found.good} file(s) match their recorded SHA-256 ({found.encrypted} encrypted), "
        f"{len(found.problems)} problem(s)"
    )
    if found.problems:
        raise CommandError(f"{len(found.problems)} evidence file(s) failed verification")
    return 0


def _backup(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot import backup
    from storage.dump import DumpError

    try:
        made = asyncio.run(backup.backup(settings, Path(args.path)))
    except (backup.BackupError, DumpError) as error:
        raise CommandError(f"backup failed: {error}") from error
    encrypted = f", {made.encrypted} of them encrypted" if made.encrypted else ""
    print(
        f"wrote {made.path} ({made.size / 1024 / 1024:.1f} MB): the {made.engine} database at "
        f"revision {made.revision} and {made.files} evidence file(s){encrypted}"
    )
    if made.encrypted:
        print(
            "tinbao: the evidence in this backup is encrypted; keep TINBAO_EVIDENCE_KEY apart "
            "from it, and safe: a restore cannot read the files without it",
            file=sys.stderr,
        )
    return 0


def _restore(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot import backup
    from storage.dump import DumpError

    try:
        done = asyncio.run(backup.restore(settings, Path(args.path), force=args.force))
    except (backup.BackupError, DumpError) as error:
        raise CommandError(f"restore failed: {error}") from error
    print(
        f"restored the backup made at {done.made_at}: the {done.engine} database "
        f"({done.reports} report(s), {done.submitted} submitted; schema {done.revision}, now "
        f"{done.now_at}) into {_safe_url(settings.effective_database_url)}, and "
        f"{done.files} evidence file(s) ({done.encrypted} encrypted) into {settings.evidence_dir}"
    )
    if done.missing_keys:
        print(
            f"tinbao: {done.encrypted} evidence file(s) are encrypted with key id(s) "
            f"{', '.join(done.missing_keys)}, which TINBAO_EVIDENCE_KEY does not hold: set that "
            "key before starting the bot, or officers cannot open them",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
