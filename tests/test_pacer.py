"""The broadcast sender's pacer, on a clock the test moves: never more than the limit in any
sliding second, stalls caught up, flood waits held and recovered from."""

from __future__ import annotations

import itertools

from handlers.sender import FLOOR, SLOWDOWN, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(pacer: Pacer, clock: Clock, until: float, *, busy: float = 0.0) -> list[float]:
    """Take every slot the pacer gives until `until`; `busy` seconds pass after each send
    (the event loop doing other work). Returns the times of the sends."""
    times = []
    while clock.now < until:
        pause = pacer.delay()
        if pause > 0:
            clock.now += pause
            continue
        times.append(clock.now)
        pacer.written()
        clock.now += busy
    return times


def most_in_any_second(times: list[float]) -> int:
    """The largest number of sends whose times fall in one half-open second."""
    best = start = 0
    for end, t in enumerate(times):
        while t - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_the_rate_is_kept_and_no_second_holds_more_than_the_limit() -> None:
    for limit in (25, 30, 1000):
        clock = Clock()
        pacer = Pacer(limit * 0.98, clock)
        times = drive(pacer, clock, clock.now + 60)
        assert most_in_any_second(times) <= limit
        assert abs(len(times) / 60 - limit * 0.98) < limit * 0.02


def test_a_stall_is_caught_up_without_passing_the_limit() -> None:
    clock = Clock()
    pacer = Pacer(29.4, clock)
    times = drive(pacer, clock, clock.now + 10)
    clock.now += 0.3  # the event loop was busy for 300 ms
    times += drive(pacer, clock, clock.now + 9.7)
    # A fixed schedule that starts afresh after a stall would have lost ~9 sends.
    assert len(times) >= int(29.4 * 20) - 2
    assert most_in_any_second(times) <= 30
    # Caught up in small steps, not as one burst.
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.5 / 29.4 - 1e-9


def test_slow_sends_are_not_made_up_beyond_the_window() -> None:
    clock = Clock()
    pacer = Pacer(30, clock)
    # Each send keeps the loop busy for 50 ms: 20/s is all that fits.
    times = drive(pacer, clock, clock.now + 10, busy=0.05)
    assert 195 <= len(times) <= 201
    assert most_in_any_second(times) <= 30


def test_a_flood_wait_holds_every_send_then_slows_and_recovers() -> None:
    clock = Clock()
    pacer = Pacer(30, clock)
    drive(pacer, clock, clock.now + 5)
    start = clock.now
    pacer.flood(3.0)
    pacer.flood(3.0)  # many sends in flight hit the same wait: one slowdown
    assert pacer.floods == 2
    assert abs(pacer.delay() - 3.0) < 1e-9
    assert pacer.rate == 30 * SLOWDOWN
    clock.now = start + 3.0
    times = drive(pacer, clock, start + 4.0)
    assert times and times[0] >= start + 3.0
    assert len(times) <= 30
    drive(pacer, clock, start + 30)
    assert pacer.rate == 30  # back to the target


def test_repeated_flood_waits_never_slow_below_the_floor() -> None:
    clock = Clock()
    pacer = Pacer(30, clock)
    for _ in range(40):
        pacer.flood(1.0)
        clock.now += 1.01
    assert pacer.rate >= 30 * FLOOR
    assert pacer.rate < 30 * SLOWDOWN


def test_an_unused_slot_is_given_back() -> None:
    clock = Clock()
    pacer = Pacer(1000, clock)
    for _ in range(1000):
        assert pacer.delay() == 0
        pacer.unused()
    assert len(drive(pacer, clock, clock.now + 1.0)) >= 970


def test_at_paid_rates_sends_go_in_small_groups_never_faster_than_twice_the_rate() -> None:
    clock = Clock()
    pacer = Pacer(980, clock)
    times = drive(pacer, clock, clock.now + 0.5)
    clock.now += 0.2  # a stall: caught up at twice the rate, in groups of 9
    times += drive(pacer, clock, clock.now + 4.3)
    assert most_in_any_second(times) <= 1000
    assert len(times) >= 980 * 5 - 20
    groups = [list(g) for _, g in itertools.groupby(times)]
    assert max(len(g) for g in groups) == 9  # one sleep per group, not per send
    for i in range(len(times) - 9):
        assert times[i + 9] - times[i] >= 9 * 0.5 / 980 - 1e-9


def test_the_window_counts_messages_when_they_went_out() -> None:
    clock = Clock()
    pacer = Pacer(30, clock)
    start = clock.now
    for _ in range(30):  # 30 slots granted over one second, none written yet
        while (pause := pacer.delay()) > 0:
            clock.now += pause
    assert pacer.unwritten == 30
    clock.now = start + 1.5
    # Granted but not written: they still count, whenever they will arrive.
    assert pacer.delay() == 0.001
    for _ in range(30):
        pacer.written()  # all out at once, 1.5 s in (a busy event loop)
    # None may follow until a whole window after they went out.
    assert abs(pacer.delay() - 1.0) < 1e-9
    clock.now = start + 2.5
    assert pacer.delay() == 0


def test_an_unused_slot_does_not_count() -> None:
    clock = Clock()
    pacer = Pacer(30, clock)
    assert pacer.delay() == 0
    pacer.unused()
    assert pacer.unwritten == 0 and not pacer.wire


def test_refused_messages_give_their_slots_back() -> None:
    def sends_in_ten_seconds(refusing: bool) -> int:
        clock = Clock()
        pacer = Pacer(30, clock)
        end = clock.now + 10
        sent = 0
        while clock.now < end:
            pause = pacer.delay()
            if pause > 0:
                clock.now += pause
                continue
            stamp = pacer.written()
            sent += 1
            if refusing and sent % 10 == 0:  # a tenth of the people blocked the bot
                pacer.refused(stamp)
        return sent

    plain, refused = sends_in_ten_seconds(False), sends_in_ten_seconds(True)
    assert 299 <= plain <= 301
    assert refused >= plain * 10 / 9 - 2  # the refused ones took no slot
    pacer = Pacer(30, Clock())
    pacer.written()
    pacer.refused(-1.0)  # long out of the window: nothing to give back
    assert len(pacer.wire) == 1
