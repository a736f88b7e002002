"""Sending a scam warning to every subscriber: at the platform's rate, resumable, never twice.

One `Sender` runs in each bot process. It takes a broadcast in `sending` under a lease (a
conditional write: one sender per broadcast, whichever process gets there first), then
repeatedly waits for its pacing slot, marks the next due recipients `sending` (committed), sends
to them, and records what became of each (`sent`, `blocked`, `failed`, or `pending` again with
a time to retry).

Never twice: a recipient is marked `sending` before its message goes out, and only a
`pending` recipient is ever sent to. If the process dies (even `kill -9`) between that mark and
the answer, nobody can know whether the message arrived, so the next sender records it as
`unknown` ("may have received it") and does not send it again. We chose at most once: a second
copy of a police warning looks like a scam itself and teaches people to ignore them. At most
one pacing slot of recipients (one at the default rate, ~50 at 1,000/s) is at risk per crash,
and the admin's summary counts them.

Pacing: at most the rate's worth of messages (the progress edits included) in any sliding
second, as the platform counts them (see `Pacer`). A 429 answer ("retry after N s") holds every
send for N seconds (Telegram's flood wait is for the whole bot) and slows the rate by a tenth,
which then creeps back to the configured rate. Blocked users (403, "chat not found",
deactivated) are unsubscribed; server and network errors retry with backoff up to
`TINBAO_BROADCAST_MAX_ATTEMPTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal, Protocol

from handlers import warnings
from handlers.core import Inbound, Outbound, Outbox
from handlers.services import Services
from storage import broadcasts
from storage.broadcasts import Outcome, Recipient
from storage.models import Broadcast

log = logging.getLogger(__name__)

# How often the sender renews its lease and notices a pause or a cancel.
CHECK_SECONDS = 1.0
# Results are written in groups, at least this often.
FLUSH_SECONDS = 0.5
# A flood wait slows the rate to this fraction of what it was (never below FLOOR of the target),
# and the rate climbs back by RECOVERY of the target per second.
SLOWDOWN = 0.9
FLOOR = 0.5
RECOVERY = 0.05
# Sends may go out together in groups this long (10 at 1,000/s; one at a time below 100/s).
BURST_SECONDS = 0.01


@dataclass(frozen=True)
class SendResult:
    """What the platform said to one warning.

    `retry`: not delivered, safe to send again (a flood wait when `retry_after` is set; a
    server or connection error otherwise). `unknown`: it may have arrived (a timeout after the
    request went out), so it is not sent again. `skipped`: not sent, because the platform's
    quota for that person is used up (Zalo's warnings per follower and month).
    """

    outcome: Literal["sent", "blocked", "retry", "failed", "unknown", "skipped"]
    retry_after: float | None = None
    error: str | None = None
    photo_id: str | None = None


class WarningTransport(Protocol):
    """Sends one warning to one chat on a channel, reporting exactly what happened."""

    async def send_warning(
        self,
        chat_id: str,
        message: Outbound,
        photo_id: str | None,
        on_wire: Callable[[], None] | None = None,
    ) -> SendResult:
        """Send `message` (its `file` is the photo; `photo_id` the platform's id once uploaded).

        `on_wire`, when the transport can tell, is called as the request goes out (for the
        pacer's count); otherwise the sender counts the message when the answer comes."""
        ...


class Pacer:
    """Keeps sends at the rate, and within the platform's limit as the platform counts it.

    Three rules, each for a reason:
    - a schedule of one slot every 1/rate seconds: the rate itself. Sends go in small groups
      (`burst`: 10 ms worth, or one at a time below 100/s), because one sleep per send costs
      more than a millisecond at 1,000/s. Time lost to a stall (a slow database write, a busy
      event loop) is made up, at most one window's worth, rather than lost for good;
    - making up goes no faster than twice the rate (`burst` sends per `burst` half-steps), so
      a stall is not followed by one burst;
    - whatever the schedule says, at most `cap` messages in any sliding `window` (cap = ⌈rate⌉,
      window = cap / rate: 30 in 1.02 s at 29.4/s), which is how the platform counts: without
      it, making up after a stall can put 31 messages into one second at 0.98 of a limit of 30,
      and the 429 that follows costs a whole second.
    A flood wait holds every send for `retry_after` seconds and restarts the schedule after it;
    the rate is then cut by a tenth and climbs back. The sender's edits of the progress message
    take slots too (`wait`): the platform counts them against the same limit.
    """

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = rate
        self.rate = rate
        self.clock = clock
        self.cap = max(1, math.ceil(rate))
        self.window = self.cap / rate
        # The window counts messages when they went out (`written`), as the platform counts
        # them when they arrive; a slot granted and not yet written counts as "now". (A busy
        # event loop may write sends granted some milliseconds apart together.) What the
        # platform's own clock adds cannot be seen from here: at 1,000/s the 2 % headroom is
        # 20 ms, and bench/broadcast.py still draws an occasional 429 from its fake's jitter.
        self.wire: deque[float] = deque()
        self.unwritten = 0
        self.granted: deque[float] = deque(maxlen=1000)
        self.next = clock()
        self.hold_until = 0.0
        self.last_cut = -1e9
        self.updated = clock()
        self.floods = 0

    def delay(self) -> float:
        """Seconds until the next send may start (0: now, and the slot is taken)."""
        now = self.clock()
        if now < self.hold_until:
            return self.hold_until - now
        self.rate = min(self.target, self.rate + self.target * RECOVERY * (now - self.updated))
        self.updated = now
        step = 1.0 / self.rate
        burst = max(1, int(self.rate * BURST_SECONDS))
        # The schedule: a whole group may go once its first slot is due.
        self.next = max(self.next, now - self.window)
        if self.next - now > (burst - 1) * step + 1e-9:
            return self.next - now
        # The platform's count (below the target after a flood wait, fewer fit).
        wire = self.wire
        while wire and wire[0] <= now - self.window + 1e-9:  # (float rounding)
            wire.popleft()
        cap = max(1, math.floor(self.rate * self.window + 1e-9))
        over = len(wire) + self.unwritten - cap
        if over >= 0:
            # The oldest message in the window leaves it at wire[over] + window; if the
            # granted ones alone fill it, wait for them to go out.
            return wire[over] + self.window - now if over < len(wire) else 0.001
        # Never faster than twice the rate.
        granted = self.granted
        span = burst * 0.5 * step
        if len(granted) >= burst and now - granted[-burst] < span - 1e-9:
            return granted[-burst] + span - now
        granted.append(now)
        self.unwritten += 1
        self.next += step
        return 0.0

    def written(self, at: float | None = None) -> float:
        """A message granted a slot went out (or its request ended without saying when).
        Returns the time it counts from, for `refused`."""
        at = self.clock() if at is None else at
        self.unwritten = max(0, self.unwritten - 1)
        stamp = max(at, self.wire[-1]) if self.wire else at
        self.wire.append(stamp)
        return stamp

    def refused(self, stamp: float) -> None:
        """The message written at `stamp` was refused (the person blocked the bot, or the
        chat is gone): it does not count against the limit, and its slot is given back.

        Telegram does not document whether refused messages count; the Bot API's limit is
        described as messages sent to users, and a refused one reaches nobody. Spending a
        slot on each of them costs a broadcast as many slots as it has blocked subscribers
        (2 % of the limit in our benchmark). If Telegram counts them after all, the worst is
        an occasional 429, which holds and slows the sender like any flood wait.
        """
        with contextlib.suppress(ValueError):  # already out of the window
            self.wire.remove(stamp)
            self.next -= 1.0 / self.rate

    async def wait(self) -> None:
        """Wait for the next slot (re-checked after sleeping: a flood wait may have begun)."""
        pause = self.delay()
        while pause > 0:
            await asyncio.sleep(pause)
            pause = self.delay()

    def unused(self) -> None:
        """The slot just taken was not used (there was nobody to send to)."""
        if self.unwritten and self.granted:
            self.unwritten -= 1
            self.granted.pop()
            self.next -= 1.0 / self.rate

    def flood(self, retry_after: float) -> None:
        """A flood wait: everyone waits `retry_after` seconds, then goes on a little slower."""
        now = self.clock()
        self.floods += 1
        self.hold_until = max(self.hold_until, now + retry_after)
        self.next = max(self.next, self.hold_until)
        if now - self.last_cut > retry_after:  # one slowdown per wait, however many sends hit it
            self.rate = max(self.target * FLOOR, self.rate * SLOWDOWN)
            self.last_cut = now
        self.updated = max(self.updated, self.hold_until)


def batch_size(rate: float) -> int:
    """Recipients marked `sending` at a time: one per slot at normal rates, ~50 ms worth at
    paid rates (so the database is written ~20 times a second, not a thousand)."""
    return max(1, int(rate * 0.05))


def max_in_flight(rate: float) -> int:
    """Sends waiting for an answer at once: enough for the rate at ~0.5 s per answer."""
    return max(8, int(rate / 2))


def backoff(attempts: int) -> timedelta:
    """Wait before retrying after a server or network error: 2, 4, 8 … seconds, at most 5 min."""
    return timedelta(seconds=min(300, 2 ** max(1, attempts)))


@dataclass
class _Run:
    broadcast: Broadcast
    photo_id: str | None
    messages: dict[str, Outbound] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    queue: deque[Recipient] = field(default_factory=deque)
    # For the progress message: (monotonic time, recipients finished) of the last update,
    # and the update being shown now.
    mark: tuple[float, int] = (0.0, 0)
    rate: float = 0.0
    showing: asyncio.Task[None] | None = None
    # "sending" until done, paused, cancelled, or None once another sender holds the lease.
    status: str | None = "sending"
    stop: asyncio.Event = field(default_factory=asyncio.Event)


class Sender:
    """This process's broadcast sender (see the module's docstring)."""

    def __init__(
        self,
        services: Services,
        transport: WarningTransport,
        outbox: Outbox,
        channel: str,
        *,
        poll_seconds: float = 2.0,
    ) -> None:
        self.services = services
        self.transport = transport
        self.outbox = outbox
        self.channel = channel
        self.owner = f"{channel}:{uuid.uuid4().hex[:16]}"
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()
        self.stopping = False
        self.pacer = Pacer(services.settings.broadcast_rate)

    def poke(self) -> None:
        """Look for work now (a broadcast was started or resumed)."""
        self.wake.set()

    async def run_forever(self) -> None:
        """Send whatever broadcast is due, until cancelled or stopped."""
        while not self.stopping:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the broadcast sender failed; trying again shortly")
                worked = False
            if not worked and not self.stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.poll_seconds)
                self.wake.clear()

    def stop(self) -> None:
        """Finish the sends in flight and record them, then return from `run_forever`."""
        self.stopping = True
        self.wake.set()

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.services.settings.broadcast_lease_seconds)

    async def run_once(self) -> bool:
        """Take one broadcast due for sending and work on it; False if there was none."""
        services = self.services
        async with services.db.session() as session:
            broadcast_id = await broadcasts.take_lease(
                session, self.owner, services.clock(), self.lease
            )
            if broadcast_id is None:
                return False
            broadcast = await session.get(Broadcast, broadcast_id)
            assert broadcast is not None
            interrupted = await broadcasts.mark_interrupted(session, broadcast_id)
        if interrupted:
            log.warning(
                "broadcast %s: %s deliveries were under way when a sender stopped; they may "
                "have arrived and are not sent again",
                broadcast_id,
                interrupted,
            )
        log.info("broadcast %s: sending (sender %s)", broadcast_id, self.owner)
        await self._send(_Run(broadcast, broadcast.photo_file_id))
        return True

    async def _send(self, run: _Run) -> None:
        broadcast_id = run.broadcast.id
        assert broadcast_id is not None
        settings = self.services.settings
        self.pacer = Pacer(settings.broadcast_rate)
        batch = batch_size(settings.broadcast_rate)
        cap = max_in_flight(settings.broadcast_rate)
        run.mark = (time.monotonic(), await self._finished(broadcast_id))
        # Recording results, renewing the lease and showing progress happen beside the sends,
        # in a task of their own: a database write in this loop holds every send behind it
        # (measured at 1,000/s: ~100 ms each second, made up in bursts that drew 429s).
        keeper = asyncio.get_running_loop().create_task(self._keep(run))
        try:
            while run.status == "sending" and not self.stopping:
                if len(run.in_flight) >= cap:
                    await asyncio.wait(
                        run.in_flight, timeout=0.2, return_when=asyncio.FIRST_COMPLETED
                    )
                    continue
                if not run.queue:
                    pause = self.pacer.delay()
                    if pause > 0:
                        await asyncio.sleep(min(pause, CHECK_SECONDS))
                        continue
                    # The slot is ours: take the next recipients only now, so that as few as
                    # possible are marked `sending` before their message goes out.
                    async with self.services.db.session() as session:
                        taken = await broadcasts.claim_due(
                            session, broadcast_id, self.services.clock(), batch
                        )
                    if not taken:
                        self.pacer.unused()
                        if await self._idle(run):
                            run.status = "done"
                        continue
                    run.queue.extend(taken)
                else:
                    await self.pacer.wait()
                recipient = run.queue.popleft()
                task = asyncio.get_running_loop().create_task(self._one(run, recipient))
                run.in_flight.add(task)
                task.add_done_callback(run.in_flight.discard)
                if run.broadcast.photo_path and run.photo_id is None:
                    await task  # this send uploads the photo; the others reuse its id
        finally:
            run.stop.set()
            await keeper
        await self._stop(run, run.status)

    async def _keep(self, run: _Run) -> None:
        """Beside the sends: record results, renew the lease (which tells of a pause or a
        cancel, or that another sender took over) and start the progress edits."""
        broadcast_id = run.broadcast.id
        assert broadcast_id is not None
        settings = self.services.settings
        last_check = time.monotonic()
        last_progress = 0.0
        while not run.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.stop.wait(), FLUSH_SECONDS)
            if run.stop.is_set():
                return  # `_stop` records the rest once the sends in flight are answered
            now = time.monotonic()
            try:
                await self._flush(run)
                if now - last_check >= CHECK_SECONDS:
                    last_check = now
                    status = await self._renew(broadcast_id)
                    if run.status == "sending":
                        run.status = status
            except Exception:
                log.exception("broadcast %s: recording progress failed; trying again", broadcast_id)
                continue
            if now - last_progress >= settings.broadcast_progress_seconds and (
                run.showing is None or run.showing.done()
            ):
                # In a task of its own too: editing the admin's message waits for a pacing
                # slot, and through the bot's rate limiter for any flood wait.
                run.showing = asyncio.get_running_loop().create_task(self._progress(run, "sending"))
                last_progress = now

    async def _idle(self, run: _Run) -> bool:
        """Nothing due now: True once every recipient is finished, else wait a little."""
        broadcast_id = run.broadcast.id
        assert broadcast_id is not None
        if run.in_flight:
            await asyncio.wait(run.in_flight, timeout=0.2, return_when=asyncio.FIRST_COMPLETED)
            return False
        await self._flush(run)
        async with self.services.db.session() as session:
            count, earliest = await broadcasts.pending(session, broadcast_id)
        if count == 0:
            return True
        wait = CHECK_SECONDS
        if earliest is not None:
            wait = min(wait, max(0.05, (earliest - self.services.clock()).total_seconds()))
        await asyncio.sleep(wait)
        return False

    async def _one(self, run: _Run, recipient: Recipient) -> None:
        settings = self.services.settings
        message = self._message(run, recipient.language)
        pacer = self.pacer
        wired = False

        stamp: float | None = None

        def on_wire() -> None:
            nonlocal wired, stamp
            if not wired:  # (a photo refused by its id is sent again, uploaded)
                wired = True
                stamp = pacer.written()

        transport: WarningTransport | None = self.transport
        if recipient.channel != self.channel:
            # Someone on another channel (a Zalo follower): that channel's own transport,
            # which knows its rules; the photo id is this channel's, so it is not passed on.
            transport = self.services.warning_transports.get(recipient.channel)
        try:
            if transport is None:
                result = SendResult("failed", error=f"{recipient.channel} is not running here")
            elif transport is self.transport:
                result = await transport.send_warning(
                    recipient.chat_id, message, run.photo_id, on_wire
                )
            else:
                result = await transport.send_warning(recipient.chat_id, message, None, on_wire)
        except Exception as failure:  # a bug or an unexpected answer: it may have gone out
            log.exception("broadcast %s: sending one warning failed", run.broadcast.id)
            result = SendResult("unknown", error=type(failure).__name__)
        on_wire()  # if the transport could not tell, count it now: later is the safe side
        now = self.services.clock()
        outcome = result.outcome
        error = (result.error or "")[:200] or None
        if outcome == "sent":
            if result.photo_id and result.photo_id != run.photo_id:
                run.photo_id = result.photo_id
                async with self.services.db.session() as session:
                    await broadcasts.set_photo_id(session, run.broadcast.id or 0, result.photo_id)
            run.outcomes.append(Outcome(recipient.user_id, "sent"))
        elif outcome == "retry" and result.retry_after is not None:
            # A flood wait says nothing about this person: it is not counted against them,
            # except to stop a chat that is always refused from looping for ever.
            self.pacer.flood(result.retry_after)
            due = now + timedelta(seconds=result.retry_after)
            state = (
                "pending" if recipient.attempts < settings.broadcast_max_attempts * 4 else "failed"
            )
            run.outcomes.append(
                Outcome(recipient.user_id, state, error, due if state == "pending" else None)
            )
        elif outcome == "retry":
            if recipient.attempts < settings.broadcast_max_attempts:
                due = now + backoff(recipient.attempts)
                run.outcomes.append(Outcome(recipient.user_id, "pending", error, due))
            else:
                run.outcomes.append(Outcome(recipient.user_id, "failed", error))
        else:
            if outcome == "blocked" and stamp is not None:
                pacer.refused(stamp)
            run.outcomes.append(Outcome(recipient.user_id, outcome, error))

    def _message(self, run: _Run, language: str) -> Outbound:
        message = run.messages.get(language)
        if message is None:
            message = warnings.resident_message(self.services.settings, run.broadcast, language)
            run.messages[language] = message
        return message

    async def _flush(self, run: _Run) -> None:
        if not run.outcomes:
            return
        outcomes, run.outcomes = run.outcomes, []
        try:
            async with self.services.db.session() as session:
                await broadcasts.record(
                    session, run.broadcast.id or 0, outcomes, self.services.clock()
                )
        except BaseException:
            run.outcomes[:0] = outcomes  # kept for the next try, not lost
            raise

    async def _renew(self, broadcast_id: int) -> str | None:
        async with self.services.db.session() as session:
            return await broadcasts.renew_lease(
                session, broadcast_id, self.owner, self.services.clock(), self.lease
            )

    async def _finished(self, broadcast_id: int) -> int:
        async with self.services.db.session() as session:
            figures = await broadcasts.counts(session, broadcast_id)
        return sum(n for state, n in figures.items() if state not in ("pending", "sending"))

    async def _stop(self, run: _Run, status: str | None) -> None:
        """Let the sends in flight finish, record them, and tell the admin where things stand."""
        broadcast_id = run.broadcast.id
        assert broadcast_id is not None
        if run.in_flight:
            await asyncio.wait(run.in_flight, timeout=30)
        if run.showing is not None and not run.showing.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(run.showing, 10)
        # What was claimed but not started goes back to the queue untouched.
        leftover = [r.user_id for r in run.queue]
        run.queue.clear()
        run.outcomes += [Outcome(user_id, "pending") for user_id in leftover]
        await self._flush(run)
        now = self.services.clock()
        async with self.services.db.session() as session:
            if status == "done":
                await broadcasts.finish(session, broadcast_id, now)
            elif status == "cancelled":
                await broadcasts.store_counts(session, broadcast_id)
            if status is not None:
                await broadcasts.release_lease(session, broadcast_id, self.owner)
            broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None:
            return
        run.broadcast = broadcast
        if status is None:
            log.warning("broadcast %s: another sender took it over", broadcast_id)
            return
        log.info("broadcast %s: %s", broadcast_id, status if not self.stopping else "stopped")
        if self.stopping and status == "sending":
            return  # shutting down: another process (or this one, restarted) goes on
        await self._progress(run, status)
        if status in ("done", "cancelled"):
            await self._summary(run)

    async def _progress(self, run: _Run, status: str) -> None:
        try:
            await self._show_progress(run, status)
        except Exception:
            log.exception("updating a broadcast's progress failed")

    async def _show_progress(self, run: _Run, status: str) -> None:
        broadcast = run.broadcast
        if broadcast.progress_chat is None or broadcast.id is None:
            return
        async with self.services.db.session() as session:
            figures = await broadcasts.counts(session, broadcast.id)
            fresh = await session.get(Broadcast, broadcast.id)
        if fresh is not None and fresh.progress_message:
            broadcast.progress_message = fresh.progress_message
        finished = sum(n for state, n in figures.items() if state not in ("pending", "sending"))
        now = time.monotonic()
        then, before = run.mark
        if now - then >= 1.0:
            run.rate = max(0.0, (finished - before) / (now - then))
            run.mark = (now, finished)
        message = await warnings.progress_message(
            self.services, broadcast, figures, run.rate, status, self.pacer.floods
        )
        await self._show(broadcast, message)

    async def _show(self, broadcast: Broadcast, message: Outbound) -> None:
        """Edit the progress message in place, or post it anew if it cannot be edited."""
        inbound = Inbound(channel=self.channel, user_id="", chat_id=broadcast.progress_chat or "")
        if broadcast.progress_message:
            message.edit = broadcast.progress_message
        try:
            sent = await self._paced(inbound, message)
        except Exception:
            log.exception("updating a broadcast's progress failed")
            return
        if sent is None and message.edit:
            message.edit = None
            sent = await self._paced(inbound, message)
        if sent is not None and sent != broadcast.progress_message and broadcast.id is not None:
            broadcast.progress_message = sent
            async with self.services.db.session() as session:
                await broadcasts.set_progress_message(session, broadcast.id, sent)

    async def _summary(self, run: _Run) -> None:
        broadcast = run.broadcast
        if broadcast.progress_chat is None:
            return
        message = await warnings.summary_message(self.services, broadcast)
        inbound = Inbound(channel=self.channel, user_id="", chat_id=broadcast.progress_chat)
        try:
            await self._paced(inbound, message)
        except Exception:
            log.exception("sending a broadcast's summary failed")

    async def _paced(self, inbound: Inbound, message: Outbound) -> str | None:
        """Send a message to the admin in a slot of the pacer: the platform counts it too."""
        pacer = self.pacer
        await pacer.wait()
        try:
            return await self.outbox.send(inbound, message)
        finally:
            pacer.written()
