"""Geometry of the scorecard's inline SVG charts: dots with CI whiskers on a shared axis.

This module computes coordinates only; the template draws them, so every label goes through
jinja's autoescaping like any other text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 560
LABEL_W = 150  # left margin for row labels
ROW_H = 22
PAD = 12
SPREAD = 6  # vertical gap between the runs' marks in one row


@dataclass(frozen=True)
class Mark:
    x: float
    lo: float | None  # whisker ends (None: no CI)
    hi: float | None
    y: float  # several runs in one row sit a few pixels apart
    series: int  # which run (colour)
    title: str  # tooltip: run, value and CI
    hollow: bool = False  # the baseline


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    marks: tuple[Mark, ...]
    note: str = ""  # e.g. "null: no items"


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class RefLine:
    x: float
    label: str
    kind: str  # "pass" or "warn"


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    plot_left: float
    plot_right: float
    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]
    refs: tuple[RefLine, ...]
    log: bool


@dataclass(frozen=True)
class Point:
    """One value to plot: a run's value (and CI) in one row."""

    row: str
    series: int
    series_label: str
    value: float | None
    ci: tuple[float, float] | None
    hollow: bool = False
    reason: str = ""


def fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1e5 or abs(x) < 1e-3:
        return f"{x:.3g}"
    return f"{x:.4g}"


def _scale(lo: float, hi: float, log: bool, left: float, right: float):  # type: ignore[no-untyped-def]
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 if not log else lo - 0.1, hi + 0.5 if not log else hi + 0.1
    span = hi - lo
    lo, hi = lo - 0.05 * span, hi + 0.05 * span

    def to_x(v: float) -> float:
        t = math.log10(v) if log else v
        return round(left + (t - lo) / (hi - lo) * (right - left), 2)

    def ticks() -> list[Tick]:
        values = [lo + (hi - lo) * i / 4 for i in range(5)]
        return [Tick(to_x(10**v if log else v), fmt(10**v if log else v)) for v in values]

    return to_x, ticks


def dot_chart(title: str, points: list[Point], refs: tuple[tuple[float, str], ...] = ()) -> Chart | None:
    """A chart with one row per distinct `row` label, or None when nothing has a value."""
    numbers = [v for p in points if p.value is not None for v in (p.value, *(p.ci or ()))]
    if not numbers:
        return None  # reference lines alone are not a chart
    numbers += [r[0] for r in refs]
    if not all(math.isfinite(v) for v in numbers):
        return None
    lo, hi = min(numbers), max(numbers)
    log = lo > 0 and hi / lo > 100
    left, right = LABEL_W, WIDTH - 34  # room for the last tick's label
    to_x, ticks = _scale(lo, hi, log, left, right)
    labels = list(dict.fromkeys(p.row for p in points))
    rows, top = [], float(PAD)
    for label in labels:
        mine = [p for p in points if p.row == label]
        n = max(len(mine), 1)
        center = top + (ROW_H + SPREAD * (n - 1)) / 2
        top += ROW_H + SPREAD * (n - 1)
        marks, notes = [], []
        for j, p in enumerate(mine):
            if p.value is None:
                notes.append(f"{p.series_label}: null ({p.reason})" if p.reason else f"{p.series_label}: no value")
                continue
            ci_text = f" [{fmt(p.ci[0])}, {fmt(p.ci[1])}]" if p.ci else ""
            marks.append(
                Mark(
                    x=to_x(p.value),
                    lo=to_x(p.ci[0]) if p.ci else None,
                    hi=to_x(p.ci[1]) if p.ci else None,
                    y=round(center + (j - (n - 1) / 2) * SPREAD, 2),
                    series=p.series,
                    title=f"{p.series_label}: {fmt(p.value)}{ci_text}",
                    hollow=p.hollow,
                )
            )
        rows.append(Row(label, center, tuple(marks), "; ".join(notes)))
    height = int(top + 24)
    ref_lines = tuple(RefLine(to_x(v), f"{kind} {fmt(v)}", kind) for v, kind in refs)
    return Chart(title, WIDTH, height, left, right, tuple(rows), tuple(ticks()), ref_lines, log)

