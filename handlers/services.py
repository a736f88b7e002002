"""What handlers need from the outside world, passed in explicitly (no module-level state)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from storage.models import utcnow

if TYPE_CHECKING:
    from bot.settings import Settings
    from handlers.core import Outbox
    from handlers.sender import WarningTransport
    from storage.engine import Database

log = logging.getLogger(__name__)


class FloodGuard:
    """A per-user sliding window: at most `limit` messages in `window` seconds.

    It lives in the process's memory on purpose: it protects this process from a flood before
    the database is touched, and losing its counts on restart costs nothing. With several
    webhook processes each counts the updates it handles, so one user can get up to `limit`
    through each process in a window (docs/deploy.md); the reports-per-day limit and bans are
    kept in the database and hold across processes.
    """

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}
        self._swept = 0.0

    def check(self, key: str, now: float | None = None) -> str:
        """`ok` to go on, `warn` to tell the user once to slow down, `drop` to ignore quietly."""
        now = time.monotonic() if now is None else now
        if now - self._swept > self.window:
            self._sweep(now)
        seen = self._seen.setdefault(key, deque())
        while seen and now - seen[0] > self.window:
            seen.popleft()
        seen.append(now)
        if len(seen) <= self.limit:
            return "ok"
        if now - self._warned.get(key, -1e9) > self.window:
            self._warned[key] = now
            return "warn"
        return "drop"

    def _sweep(self, now: float) -> None:
        # Forget users quiet for a whole window, so a bot with many users keeps no count of
        # each of them forever (once a window, so it costs little per message).
        self._swept = now
        quiet = [k for k, seen in self._seen.items() if not seen or now - seen[-1] > self.window]
        for key in quiet:
            del self._seen[key]
            self._warned.pop(key, None)

    def __len__(self) -> int:
        """How many users are being counted now."""
        return len(self._seen)


class Debouncer:
    """Runs an action once things have been quiet for a while (used to acknowledge albums).

    Telegram sends an album as separate updates with no count and no end marker, so the only way
    to acknowledge "3 photos" once is to wait until no more arrive.
    """

    def __init__(self) -> None:
        self._pending: dict[str, tuple[asyncio.TimerHandle, Callable[[], Awaitable[None]]]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def schedule(self, key: str, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` after `delay` seconds, unless `key` is scheduled again before then."""
        previous = self._pending.pop(key, None)
        if previous is not None:
            previous[0].cancel()
        loop = asyncio.get_running_loop()
        handle = loop.call_later(delay, self._fire, key)
        self._pending[key] = (handle, action)

    def postpone(self, key: str, delay: float) -> None:
        """Push `key`'s pending action back to `delay` seconds from now (if one is pending)."""
        entry = self._pending.get(key)
        if entry is not None:
            self.schedule(key, delay, entry[1])

    def _fire(self, key: str) -> None:
        entry = self._pending.pop(key, None)
        if entry is None:
            return
        task = asyncio.get_running_loop().create_task(self._run(entry[1]))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    @staticmethod
    async def _run(action: Callable[[], Awaitable[None]]) -> None:
        try:
            await action()
        except Exception:
            log.exception("a delayed action failed")

    async def flush(self) -> None:
        """Run every pending action now and wait for all of them (on shutdown)."""
        for key in list(self._pending):
            handle, _ = self._pending[key]
            handle.cancel()
            self._fire(key)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)


@dataclass
class Services:
    """Everything a handler may use: settings, the database, and the process's helpers."""

    settings: Settings
    db: Database
    flood: FloodGuard
    debouncer: Debouncer = field(default_factory=Debouncer)
    clock: Callable[[], datetime] = utcnow
    # Called with each update's id once its replies are sent (tests wait on it; metrics later).
    observers: list[Callable[[int | None], None]] = field(default_factory=list)
    # Wake this process's broadcast senders (a warning was started or resumed).
    senders: list[Callable[[], None]] = field(default_factory=list)
    # Each channel running in this process, by name: how a message reaches someone on another
    # channel than the update's (a Zalo resident told of an officer's action on Telegram).
    outboxes: dict[str, Outbox] = field(default_factory=dict)
    # Each channel's sender of scam warnings, by name, for recipients on another channel than
    # the warning's (a Telegram admin's warning to Zalo followers).
    warning_transports: dict[str, WarningTransport] = field(default_factory=dict)

    def poke_senders(self) -> None:
        """Tell the broadcast senders there is work, instead of waiting for their next look."""
        for poke in self.senders:
            poke()

    @classmethod
    def create(cls, settings: Settings, db: Database) -> Services:
        """Services built from the settings."""
        return cls(
            settings=settings,
            db=db,
            flood=FloodGuard(settings.flood_messages, settings.flood_window_seconds),
        )
