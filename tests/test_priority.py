"""How the queue ranks reports, and which workflow moves exist."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.cards import day_only, priority
from handlers.officer import TRANSITIONS
from storage.models import Report

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def report(amount: int | None, hours_ago: float | None = None, category: str = "other") -> Report:
    occurred = NOW - timedelta(hours=hours_ago) if hours_ago is not None else None
    return Report(
        channel="telegram",
        status="new",
        category=category,
        amount_lost_vnd=amount,
        occurred_at=occurred,
        submitted_at=NOW,
    )


def test_more_money_lost_ranks_higher() -> None:
    scores = [priority(report(a, 100), 0, NOW) for a in (None, 500_000, 5_000_000, 500_000_000)]
    assert scores == sorted(scores) and len(set(scores)) == 4


def test_a_transfer_in_the_last_24_hours_outranks_the_same_loss_last_week() -> None:
    fresh = priority(report(20_000_000, 3), 0, NOW)
    days = priority(report(20_000_000, 60), 0, NOW)
    week = priority(report(20_000_000, 24 * 6), 0, NOW)
    old = priority(report(20_000_000, 24 * 30), 0, NOW)
    assert fresh - days == 15 and days - week == 10 and week - old == 5


def test_reports_sharing_indicators_rank_higher_up_to_a_cap() -> None:
    base = report(1_000_000, 100)
    assert [priority(base, n, NOW) for n in (0, 1, 4, 10)] == [
        priority(base, 0, NOW) + bonus for bonus in (0, 5, 20, 20)
    ]


def test_impersonating_police_outranks_other_and_scores_stay_within_100() -> None:
    assert priority(report(None, category="police"), 0, NOW) > priority(report(None), 0, NOW)
    assert priority(report(10**12, 1, "police"), 50, NOW) == 100


def test_a_day_without_a_time_is_recognised_by_its_noon() -> None:
    assert day_only(datetime(2026, 11, 22, 5, 0, tzinfo=UTC))  # 12:00 in Vietnam
    assert not day_only(datetime(2026, 11, 22, 5, 1, tzinfo=UTC))


def test_the_workflow_has_no_dead_ends_and_every_end_can_be_reopened() -> None:
    for status, targets in TRANSITIONS.items():
        assert targets, status
        assert all(target in TRANSITIONS for target in targets)
    for end in ("closed", "rejected", "spam"):
        assert TRANSITIONS[end] == ("in_review",)
    assert "forwarded" not in TRANSITIONS["in_review"]  # verify before forwarding
