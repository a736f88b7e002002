"""The officers' web dashboard: aiohttp routes, sessions, CSRF, security headers, templates.

Pages are rendered on the server with Jinja2 (autoescaping on: every value a resident typed is
shown as text), in the officer's language from the bot's own catalogs. There is no JavaScript,
so the Content-Security-Policy allows none. Signing in needs no password: the bot sends an
officer a one-time link (`/dashboard`), which starts a session kept in the database.

Actions (claim, status, note, question) run the chat's officer logic (`handlers.dashboard.act`);
the cards and notices it produces are sent after the commit through `handlers.delivery`, with the
bot of this process, so the reporter and the other officers see exactly what a button press in
the chat would have shown them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from importlib.resources import files
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.settings import Settings
from bot.web import charts, exports
from handlers import cards, dashboard
from handlers.cards import REJECT_REASONS
from handlers.core import Outbox
from handlers.delivery import deliver
from handlers.evidence import load as load_evidence
from handlers.i18n import LANGUAGES, VIETNAM, Translator, pick_language, translator
from handlers.names import safe_filename
from handlers.officer import TRANSITIONS
from handlers.services import Services
from handlers.texts import CATEGORIES, category_label
from storage import audit, identity, intel, queue
from storage import dashboard as store
from storage import reports as report_store
from storage.models import Attachment, Report, User

log = logging.getLogger(__name__)

COOKIE = "tinbao_session"
# No scripts at all; styles and images from this server only; forms post here only; never
# framed (clickjacking); no referrer, so a login link never leaks through one.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
THUMB = (320, 320)
# Pictures shown in the page (Pillow decodes them for thumbnails); anything else, HEIC
# included, is a download.
PICTURES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
STATS_DAYS = 30
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OutboxFactory = Callable[[], Outbox | None]


@dataclass
class Page:
    """One request of a signed-in officer."""

    request: web.Request
    signed: store.SignedIn
    t: Translator

    @property
    def user(self) -> User:
        """The officer (their role was checked when the session was read)."""
        return self.signed.user

    @property
    def admin(self) -> bool:
        """Whether the officer is an admin."""
        return self.user.role == "admin"


class Dashboard:
    """The dashboard's routes, mounted on an aiohttp application (`mount`)."""

    def __init__(
        self, settings: Settings, services: Services, outbox: OutboxFactory | None = None
    ) -> None:
        self.settings = settings
        self.services = services
        self.outbox = outbox or (lambda: None)
        self.env = Environment(
            loader=PackageLoader("bot.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.css = (files("bot.web") / "static" / "style.css").read_bytes()
        self.secure = settings.public_url.lower().startswith("https://")
        # Messages for others are sent in the background: the officer's page does not wait
        # for Telegram. They are kept here so shutdown can wait for them.
        self.sending: set[asyncio.Task[None]] = set()

    def mount(self, app: web.Application) -> None:
        """Add the dashboard's routes and headers to `app`."""
        app.on_response_prepare.append(_security_headers)
        r = app.router
        r.add_get("/", self._page(self.queue_page))
        r.add_get("/login", self.login)
        r.add_post("/logout", self._form(self.logout))
        r.add_post("/language", self._form(self.language))
        r.add_get("/reports/{code}", self._page(self.report_page))
        r.add_post("/reports/{code}/{verb}", self._form(self.report_action))
        r.add_get("/evidence/{id:\\d+}", self._page(self.evidence))
        r.add_get("/evidence/{id:\\d+}/thumb", self._page(partial(self.evidence, thumb=True)))
        r.add_get("/indicator", self._page(self.indicator_page))
        r.add_get("/stats", self._page(self.stats_page))
        r.add_get("/export.{fmt:csv|xlsx}", self._page(self.export))
        r.add_get("/audit", self._page(self.audit_page))
        r.add_get("/static/style.css", self.style)
        app.on_shutdown.append(self._drain)

    async def _drain(self, app: web.Application) -> None:
        if self.sending:
            await asyncio.wait(self.sending, timeout=20)

    # ----------------------------------------------------------------------------- plumbing

    def render(
        self, page: Page | None, name: str, status: int = 200, **values: Any
    ) -> web.Response:
        """A template rendered in the page's language."""
        t = page.t if page is not None else translator("vi")
        template = self.env.get_template(name)
        body = template.render(
            _=t._,
            ngettext=t.ngettext,
            t=t,
            page=page,
            csrf=page.signed.csrf if page else "",
            languages=LANGUAGES,
            **values,
        )
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def _guest(self, request: web.Request) -> Translator:
        return translator(pick_language(None, request.headers.get("Accept-Language", "")))

    def signed_out(self, request: web.Request, status: int = 401) -> web.Response:
        """The page for a browser without a (valid) session: how to sign in."""
        t = self._guest(request)
        body = self.env.get_template("signin.html").render(_=t._, t=t, page=None, csrf="")
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    async def _signed(self, request: web.Request) -> store.SignedIn | None:
        sid = request.cookies.get(COOKIE, "")
        if not sid:
            return None
        async with self.services.db.session() as session:
            return await store.load_session(session, sid, self.services.clock())

    def _page(self, handler: Callable[[Page], Awaitable[web.StreamResponse]]) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            signed = await self._signed(request)
            if signed is None:
                return self.signed_out(request)
            page = Page(request, signed, translator(pick_language(signed.language, None)))
            try:
                return await handler(page)
            except web.HTTPException:
                raise
            except Exception:
                log.exception("a dashboard page failed")
                return self._failed(page)

        return wrapped

    def _form(self, handler: Callable[[Page, Any], Awaitable[web.StreamResponse]]) -> Handler:
        """A POST from a signed-in officer whose form carries the session's CSRF token."""

        async def wrapped(request: web.Request) -> web.StreamResponse:
            signed = await self._signed(request)
            if signed is None:
                return self.signed_out(request, 403)
            page = Page(request, signed, translator(pick_language(signed.language, None)))
            form = await request.post()
            given = str(form.get("csrf", ""))
            if not hmac.compare_digest(given.encode(), signed.csrf.encode()):
                log.warning("refused a dashboard form without its CSRF token")
                return self.render(
                    page,
                    "message.html",
                    403,
                    message=page.t._(
                        "This form has expired or did not come from the dashboard. Please open "
                        "the page again and retry."
                    ),
                )
            try:
                return await handler(page, form)
            except Exception:
                log.exception("a dashboard action failed")
                return self._failed(page)

        return wrapped

    def _failed(self, page: Page) -> web.Response:
        """The polite page for a failure of ours (the log has the details)."""
        return self.render(
            page,
            "message.html",
            500,
            message=page.t._(
                "Sorry, something went wrong on our side. Please try again in a moment."
            ),
        )

    async def style(self, request: web.Request) -> web.Response:
        """The stylesheet (served from the package: no CDN)."""
        return web.Response(
            body=self.css,
            content_type="text/css",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    # ------------------------------------------------------------------------ sign in / out

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Open a login link: a fresh, unused token starts a session; anything else is refused."""
        token = request.query.get("token", "")
        now = self.services.clock()
        async with self.services.db.session() as session:
            user_id = await store.consume_token(session, token, now)
            user = await store.staff_by_id(session, user_id) if user_id is not None else None
            sid = None
            if user is not None and user.id is not None:
                lifetime = timedelta(hours=self.settings.dashboard_session_hours)
                language = pick_language(user.language, None)
                sid = await store.start_session(session, user.id, language, now, lifetime)
        if sid is None:
            t = self._guest(request)
            body = self.env.get_template("signin.html").render(
                _=t._, t=t, page=None, csrf="", refused=True
            )
            return web.Response(text=body, status=403, content_type="text/html", charset="utf-8")
        response = _redirect("/")
        response.set_cookie(
            COOKIE,
            sid,
            max_age=int(self.settings.dashboard_session_hours * 3600),
            httponly=True,
            secure=self.secure or request.secure,
            samesite="Lax",
            path="/",
        )
        return response

    async def logout(self, page: Page, form: Any) -> web.StreamResponse:
        """End this browser's session."""
        async with self.services.db.session() as session:
            await store.end_session(session, page.signed.id_hash)
        response = _redirect("/")
        response.del_cookie(COOKIE, path="/")
        return response

    async def language(self, page: Page, form: Any) -> web.StreamResponse:
        """Show the pages in another language."""
        chosen = str(form.get("language", ""))
        if chosen in LANGUAGES:
            async with self.services.db.session() as session:
                await store.set_language(session, page.signed.id_hash, chosen)
        return _redirect(_back(str(form.get("back", "/"))))

    # --------------------------------------------------------------------------------- queue

    def _filter(self, page: Page) -> tuple[store.Filter, list[str]]:
        """The queue's filter from the query string, and what could not be understood."""
        q = page.request.query
        wrong: list[str] = []

        def day(name: str) -> date | None:
            raw = q.get(name, "").strip()
            if not raw:
                return None
            try:
                return date.fromisoformat(raw)
            except ValueError:
                wrong.append(name)
                return None

        def money(name: str) -> int | None:
            raw = re.sub(r"[\s.,₫đ]|vnd", "", q.get(name, "").strip().lower())
            if not raw:
                return None
            if not raw.isdigit() or len(raw) > 15:
                wrong.append(name)
                return None
            return int(raw)

        status = q.get("status", "").strip() or None
        if status is not None and status not in store.STATUSES:
            wrong.append("status")
            status = None
        assignee: int | str | None = None
        raw_assignee = q.get("assignee", "").strip()
        if raw_assignee == "none":
            assignee = "none"
        elif raw_assignee == "me":
            assignee = page.user.id
        elif raw_assignee.isdigit():
            assignee = int(raw_assignee)
        elif raw_assignee:
            wrong.append("assignee")
        text = q.get("q", "").strip()[:200] or None
        found = store.Filter(
            status=status,
            category=q.get("category", "").strip()[:32] or None,
            since=day("since"),
            until=day("until"),
            assignee=assignee,
            min_lost=money("min_lost"),
            max_lost=money("max_lost"),
            text=text,
            values=dashboard.search_values(text) if text else (),
        )
        return found, wrong

    async def queue_page(self, page: Page) -> web.StreamResponse:
        """The reports, filtered and searched, newest first, a page at a time."""
        f, wrong = self._filter(page)
        number = _int(page.request.query.get("page", "1"), 1, 1, 10_000)
        async with self.services.db.session() as session:
            rows = await store.find(session, f, VIETNAM, page=number, peek=True)
            if f.text:
                # Counting every match of a text search would read every story: one row past
                # this page says whether there is a next one.
                cap = (number - 1) * store.PAGE + store.PAGE
                total = (number - 1) * store.PAGE + len(rows)
            else:
                cap = store.COUNT_CAP
                total = await store.count(session, f, VIETNAM, cap)
            rows = rows[: store.PAGE]
            # The staff of today (no scan of the reports for every officer who ever held one).
            people = await queue.staff(session)
            if f.text:
                audit.record(
                    session,
                    audit.actor(page.user),
                    "reports.searched",
                    "search",
                    None,
                    self.services.clock(),
                    {"by": "dashboard", "kinds": ["text"], "found": len(rows)},
                )
        query = {k: v for k, v in page.request.query.items() if k != "page" and v}
        return self.render(
            page,
            "queue.html",
            rows=rows,
            total=total,
            cap=cap,
            number=number,
            more=number * store.PAGE < total,
            query=query,
            prev_link="?" + urlencode(query | {"page": str(number - 1)}),
            next_link="?" + urlencode(query | {"page": str(number + 1)}),
            export_query=urlencode(query),
            wrong=wrong,
            statuses=store.STATUSES,
            categories=list(CATEGORIES),
            people=people,
            status_name=partial(cards.status_name, page.t),
            category=partial(category_label, page.t),
            officer_name=partial(cards.officer_name, page.t),
            when=page.t.when,
        )

    # -------------------------------------------------------------------------------- report

    async def _report(self, session: AsyncSession, code: str) -> Report | None:
        report = await queue.by_code(session, code)
        return None if report is None or report.status == "draft" else report

    async def report_page(self, page: Page) -> web.StreamResponse:
        """Everything about one report, and what this officer can do with it."""
        t = page.t
        code = page.request.match_info["code"]
        now = self.services.clock()
        async with self.services.db.session() as session:
            report = await self._report(session, code)
            if report is None:
                return self.render(
                    page,
                    "message.html",
                    404,
                    message=t._("No report has the code {code}.").format(code=code[:20]),
                )
            assert report.id is not None
            audit.record(
                session,
                audit.actor(page.user),
                "report.viewed",
                "report",
                report.id,
                now,
                {"code": report.code},
            )
            facts = await cards.facts(session, report)
            events = await queue.events_of(session, report.id)
            people = await queue.users_by_id(
                session, {e.actor_id for e in events if e.actor_id is not None}
            )
            attachments = await report_store.list_attachments(session, report.id)
            handle = await identity.reporter_handle(session, report)
        mine = page.admin or report.assignee_id == page.user.id
        score = cards.priority(report, facts.shared, now)
        return self.render(
            page,
            "report.html",
            report=report,
            facts=facts,
            reporter=cards.reporter_line(t, report, handle),
            priority=cards.priority_label(t, score),
            timeline=cards.timeline(t, report, events, people),
            attachments=attachments,
            thumbable=PICTURES,
            status_name=partial(cards.status_name, t),
            category=category_label(t, report.category),
            officer_name=partial(cards.officer_name, t),
            indicator_line=partial(cards.indicator_line, t),
            when=t.when,
            occurred=cards.when(t, report.occurred_at) if report.occurred_at else None,
            purged=cards.purged_note(t, report.purged_at) if report.purged_at else None,
            moves=[s for s in TRANSITIONS.get(report.status, ()) if s != report.status],
            reasons=REJECT_REASONS,
            mine=mine,
            can_ask=mine and report.status in queue.OPEN,
            said=_said(page),
        )

    async def report_action(self, page: Page, form: Any) -> web.StreamResponse:
        """Claim, change the status, add a note, ask the reporter (as in the chat)."""
        code = page.request.match_info["code"]
        verb = page.request.match_info["verb"]
        async with self.services.db.session() as session:
            report = await self._report(session, code)
        if report is None or report.id is None:
            return self.render(
                page,
                "message.html",
                404,
                message=page.t._("No report has the code {code}.").format(code=code[:20]),
            )
        seen = str(form.get("seen", ""))
        if verb == "status" and seen and seen != report.status:
            # The officer decided on a page showing another status: never act on a stale view.
            said = [
                page.t._("{code} was changed by someone else just now; it is {status}.").format(
                    code=report.code, status=cards.status_name(page.t, report.status).lower()
                )
            ]
        else:
            done = await dashboard.act(
                self.services,
                page.user.channel,
                page.user.external_id,
                report.id,
                verb,
                to=str(form.get("to", "")),
                reason=str(form.get("reason", "")),
                text=str(form.get("text", ""))[:4000],
                language=page.t.language,
            )
            said = done.said
            if done.send:
                self._send(done)
        said = said[:5]
        shown = [("said", s) for s in said] + [("sig", _sign(page.signed.csrf, said))]
        target = f"/reports/{report.code}?" + urlencode(shown)
        return _redirect(target)

    def _send(self, done: dashboard.Done) -> None:
        outbox = self.outbox()
        if outbox is None:
            # No bot in this process: the timers of `tinbao run` find the unsent notices to
            # reporters and send them; the cards catch up at the report's next change.
            log.warning("no bot to send %d messages with; the timers will", len(done.send))
            return
        task = asyncio.get_running_loop().create_task(
            deliver(self.services, outbox, done.inbound, done.send)
        )
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    # ------------------------------------------------------------------------------ evidence

    async def evidence(self, page: Page, thumb: bool = False) -> web.StreamResponse:
        """An evidence file: images inline (or as a thumbnail), anything else as a download."""
        number = int(page.request.match_info["id"])
        async with self.services.db.session() as session:
            attachment = await session.get(Attachment, number)
            report = await session.get(Report, attachment.report_id) if attachment else None
            if (
                attachment is None
                or report is None
                or report.status == "draft"
                or attachment.purged_at is not None
            ):
                return self.render(
                    page, "message.html", 404, message=page.t._("That file is not available.")
                )
            if not thumb:
                audit.record(
                    session,
                    audit.actor(page.user),
                    "report.evidence_viewed",
                    "report",
                    report.id,
                    self.services.clock(),
                    {"code": report.code, "files": 1},
                )
        path = self.settings.evidence_dir / attachment.stored_path
        try:
            data = await asyncio.to_thread(load_evidence, path, self.settings.evidence_keys)
        except Exception:
            log.exception("an evidence file could not be opened")
            return self.render(page, "message.html", 404, message=cards.unreadable_file(page.t))
        image = attachment.mime in PICTURES
        if thumb:
            if not image:
                return web.Response(status=404)
            small = await asyncio.to_thread(_thumbnail, data)
            if small is None:
                return web.Response(status=404)
            return web.Response(body=small, content_type="image/png")
        name = safe_filename(attachment.original_name, Path(attachment.stored_path).suffix)
        name = name or f"{report.code}-{attachment.id}{Path(attachment.stored_path).suffix}"
        disposition = "inline" if image else "attachment"
        return web.Response(
            body=data,
            headers={
                "Content-Type": attachment.mime if image else _download_type(attachment.mime),
                "Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(name)}",
            },
        )

    # ----------------------------------------------------------------------------- indicator

    async def indicator_page(self, page: Page) -> web.StreamResponse:
        """Every report carrying a phone, account or link, and the cluster they belong to."""
        kind = page.request.query.get("kind", "")[:16]
        value = page.request.query.get("value", "")[:512]
        async with self.services.db.session() as session:
            found = await store.indicator(session, kind, value)
            if found is None or found.id is None:
                return self.render(
                    page,
                    "message.html",
                    404,
                    message=page.t._("No report matches “{query}”.").format(query=value[:100]),
                )
            reports = await store.reports_with(session, found.id)
            cluster: set[int] = set()
            for report in reports[:20]:
                if report.id is not None and report.id not in cluster:
                    cluster |= await _cluster(session, report.id)
            linked = await store.reports_by_id(
                session, sorted(cluster - {r.id for r in reports if r.id is not None})
            )
        return self.render(
            page,
            "indicator.html",
            line=cards.indicator_line(page.t, kind, value, None),
            reports=reports,
            linked=linked,
            status_name=partial(cards.status_name, page.t),
            category=partial(category_label, page.t),
            when=page.t.when,
        )

    # ---------------------------------------------------------------------------- statistics

    async def stats_page(self, page: Page) -> web.StreamResponse:
        """Trends of the last 30 days as SVG charts."""
        t = page.t
        now = self.services.clock()
        after = timedelta(minutes=self.settings.escalate_after_minutes)
        async with self.services.db.session() as session:
            trend = await store.trends(session, now, VIETNAM, STATS_DAYS, after)
        labels = [d.strftime("%d/%m") for d in trend.days]
        per_day = charts.stacked_bars(
            labels, {category_label(t, k): v for k, v in trend.per_day.items()}
        )
        lost = charts.bars(labels, trend.lost_per_day, t.money)
        edges = [15, 60, 240, 1440]
        claim_labels = [
            t._("under 15 min"),
            t._("15–60 min"),
            t._("1–4 hours"),
            t._("4–24 hours"),
            t._("over a day"),
        ]
        claims = charts.bars(claim_labels, store.histogram(trend.claim_minutes, edges), t.number)
        minutes = sorted(trend.claim_minutes)
        median = minutes[len(minutes) // 2] if minutes else None
        ranked = charts.ranking(
            [
                cards.indicator_line(t, kind, value, None)[:48]
                for kind, value, _ in trend.top_indicators
            ],
            [n for _, _, n in trend.top_indicators],
            t.number,
        )
        return self.render(
            page,
            "stats.html",
            ranked=ranked,
            per_day=per_day,
            lost=lost,
            claims=claims,
            total=sum(sum(v) for v in trend.per_day.values()),
            lost_total=sum(trend.lost_per_day),
            median=cards.duration(t, now - timedelta(minutes=median), now) if median else None,
            claimed=len(minutes),
            overdue=trend.overdue,
            top=trend.top_indicators,
            indicator_line=partial(cards.indicator_line, t),
            category=partial(category_label, t),
            ago=partial(cards.ago, t),
            now=now,
            days=STATS_DAYS,
        )

    # ------------------------------------------------------------------------------- exports

    async def export(self, page: Page) -> web.StreamResponse:
        """The current filter's reports as CSV or XLSX (no reporter identity)."""
        fmt = page.request.match_info["fmt"]
        f, _ = self._filter(page)
        async with self.services.db.session() as session:
            rows = await store.export_rows(session, f, VIETNAM)
            audit.record(
                session,
                audit.actor(page.user),
                "reports.exported",
                "export",
                None,
                self.services.clock(),
                {"format": f"dashboard-{fmt}", "reports": len(rows)},
            )
        stamp = self.services.clock().astimezone(VIETNAM).strftime("%Y%m%d-%H%M")
        if fmt == "csv":
            body = exports.to_csv(rows, page.t)
            kind = "text/csv; charset=utf-8"
        else:
            body = await asyncio.to_thread(exports.to_xlsx, rows, page.t)
            kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return web.Response(
            body=body,
            headers={
                "Content-Type": kind,
                "Content-Disposition": f'attachment; filename="tinbao-{stamp}.{fmt}"',
            },
        )

    # --------------------------------------------------------------------------------- audit

    async def audit_page(self, page: Page) -> web.StreamResponse:
        """The latest audit events (admins only)."""
        if not page.admin:
            return self.render(
                page, "message.html", 403, message=page.t._("This page is for admins only.")
            )
        async with self.services.db.session() as session:
            events = await audit.events(session, limit=200)
            people = await queue.users_by_id(
                session, {e.actor_id for e in events if e.actor_id is not None}
            )
        return self.render(
            page,
            "audit.html",
            events=events,
            people=people,
            officer_name=partial(cards.officer_name, page.t),
            when=page.t.when,
        )


async def _cluster(session: AsyncSession, report_id: int) -> set[int]:
    return await intel.cluster(session, report_id, limit=200)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)


def _thumbnail(data: bytes) -> bytes | None:
    """A small PNG of an image (decoded by Pillow; evidence was checked at receipt)."""
    try:
        with Image.open(BytesIO(data)) as image:
            image.thumbnail(THUMB)
            out = BytesIO()
            image.convert("RGB").save(out, "PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _download_type(mime: str) -> str:
    # Anything but an image is downloaded, never rendered: a PDF or HTML a scammer made
    # stays a file.
    return mime if mime and "/" in mime and "html" not in mime else "application/octet-stream"


def _quote(name: str) -> str:
    return quote(name, safe="")


def _sign(key: str, said: list[str]) -> str:
    """A signature of what an action said, so the page after the redirect shows only what
    this dashboard wrote, never a text someone put in a link."""
    return hmac.new(key.encode(), "\n".join(said).encode(), "sha256").hexdigest()


def _said(page: Page) -> list[str]:
    """What the last action told the officer (from the redirect's signed query)."""
    said = page.request.query.getall("said", [])[:5]
    sig = page.request.query.get("sig", "")
    if said and hmac.compare_digest(sig.encode(), _sign(page.signed.csrf, said).encode()):
        return said
    return []


def _redirect(location: str) -> web.Response:
    """303 See Other: after a form, the browser loads the page with a GET."""
    return web.Response(status=303, headers={"Location": location})


def _int(raw: str, default: int, low: int, high: int) -> int:
    return min(high, max(low, int(raw))) if raw.isdigit() and len(raw) < 7 else default


def _back(target: str) -> str:
    """A path on this site to return to (never another site)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
