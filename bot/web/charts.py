"""Charts drawn as inline SVG on the server: no JavaScript, no library, nothing fetched.

A chart library would need scripts in the browser (which the dashboard's Content-Security-Policy
forbids) or a plotting stack on the server far larger than these few rectangles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

# A colour per series (colour-blind-safe palette, Okabe–Ito), repeated if more are needed.
COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#999")
WIDTH, HEIGHT, LEFT, BOTTOM = 720, 220, 8, 40


@dataclass(frozen=True)
class Bar:
    """One rectangle, with its tooltip."""

    x: float
    y: float
    w: float
    h: float
    colour: str
    title: str


@dataclass(frozen=True)
class Chart:
    """What a template draws: bars, x labels, a legend."""

    width: int
    height: int
    bars: list[Bar]
    labels: list[tuple[float, str]]
    legend: list[tuple[str, str]]
    top: str


def stacked_bars(labels: Sequence[str], series: dict[str, Sequence[int]]) -> Chart:
    """One bar per label, stacked by series (reports per day by category)."""
    n = max(1, len(labels))
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    peak = max([*totals, 1])
    step = (WIDTH - LEFT) / n
    plot = HEIGHT - BOTTOM
    bars: list[Bar] = []
    for i, label in enumerate(labels):
        y = float(plot)
        for j, (name, values) in enumerate(series.items()):
            value = values[i]
            if not value:
                continue
            h = plot * value / peak
            y -= h
            bars.append(
                Bar(
                    LEFT + i * step + 1,
                    y,
                    max(1.0, step - 2),
                    h,
                    COLOURS[j % len(COLOURS)],
                    f"{label} · {name}: {value}",
                )
            )
    legend = [(COLOURS[j % len(COLOURS)], name) for j, name in enumerate(series)]
    return Chart(WIDTH, HEIGHT, bars, _ticks(labels, step), legend, str(peak))


def bars(labels: Sequence[str], values: Sequence[int], fmt: Callable[[int], str]) -> Chart:
    """One bar per label (money lost per day, time to claim)."""
    n = max(1, len(labels))
    peak = max([*values, 1])
    step = (WIDTH - LEFT) / n
    plot = HEIGHT - BOTTOM
    out = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot * value / peak
        out.append(
            Bar(
                LEFT + i * step + 1,
                plot - h,
                max(1.0, step - 2),
                h,
                COLOURS[0],
                f"{label}: {fmt(value)}",
            )
        )
    return Chart(WIDTH, HEIGHT, out, _ticks(labels, step), [], fmt(peak))


def _ticks(labels: Sequence[str], step: float) -> list[tuple[float, str]]:
    # At most about ten labels under the axis, so they never overlap.
    every = max(1, len(labels) // 10)
    return [(LEFT + i * step + step / 2, label) for i, label in enumerate(labels) if i % every == 0]


@dataclass(frozen=True)
class Row:
    """One horizontal bar with its label and figure."""

    y: float
    w: float
    label: str
    figure: str


@dataclass(frozen=True)
class Ranking:
    """Horizontal bars, longest first (the phones, accounts and links in most reports)."""

    width: int
    height: int
    left: int
    bar: int
    rows: list[Row]


def ranking(labels: Sequence[str], values: Sequence[int], fmt: Callable[[int], str]) -> Ranking:
    """One horizontal bar per label, scaled to the largest value."""
    left, bar, gap = 300, 18, 6
    peak = max([*values, 1])
    room = WIDTH - left - 60
    rows = [
        Row(i * (bar + gap), max(1.0, room * value / peak), label, fmt(value))
        for i, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    return Ranking(WIDTH, max(bar, len(rows) * (bar + gap)), left, bar, rows)
