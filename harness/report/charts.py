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
class RefLine:
    x: float
    label: str
    kind: str  # "pass", "warn" or "target"
    y1: float = 4
    y2: float | None = None  # None: down to the axis


@dataclass(frozen=True)
class Row:
    label: str
    y: float
    marks: tuple[Mark, ...]
    note: str = ""  # e.g. "null: no items"
    refs: tuple[RefLine, ...] = ()  # this row's own bounds (a chart of several metrics)


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


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


def nice_number(x: float, round_: bool) -> float:
    """Heckbert's "nice number" (Graphics Gems, 1990): 1, 2 or 5 times a power of ten, near x
    (rounded) or at least x (not rounded)."""
    exponent = math.floor(math.log10(x))
    fraction = x / 10**exponent
    if round_:
        nice = 1 if fraction < 1.5 else 2 if fraction < 3 else 5 if fraction < 7 else 10
    else:
        nice = 1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10
    return nice * 10**exponent


def nice_ticks(lo: float, hi: float, max_ticks: int = 5) -> tuple[list[float], float]:
    """Loose labelling: tick values on multiples of a 1-2-5 step that enclose [lo, hi], and the step."""
    if hi - lo < 1e-12:  # a single value: 0 gets the axis [0, 1] (a rate of zero), others +-10%
        lo, hi = (0.0, 1.0) if lo == 0 else (lo - abs(lo) * 0.1, hi + abs(hi) * 0.1)
    step = nice_number(nice_number(hi - lo, False) / (max_ticks - 1), True)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [k * step for k in range(first, last + 1)], step


def tick_label(value: float, step: float) -> str:
    """A tick's label with exactly the decimals its step needs: step 0.02 -> "0.14", step 5 -> "15"."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    text = f"{value:.{decimals}f}"
    return "0" if float(text) == 0 else text


def log_tick_label(exponent: int) -> str:
    return f"{10.0**exponent:.{max(0, -exponent)}f}" if -4 <= exponent <= 6 else f"1e{exponent}"


def _scale(lo: float, hi: float, log: bool, left: float, right: float):  # type: ignore[no-untyped-def]
    """x of a value, and the ticks: 1-2-5 steps (linear) or powers of ten (log), the axis spanning them."""
    if log:
        first, last = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
        ticks = [(10.0**e, log_tick_label(e)) for e in range(first, last + 1)]
        a, b = float(first), float(last)
    else:
        values, step = nice_ticks(lo, hi)
        ticks = [(v, tick_label(v, step)) for v in values]
        a, b = values[0], values[-1]

    def to_x(v: float) -> float:
        t = math.log10(v) if log else v
        return round(left + (t - a) / (b - a) * (right - left), 2)

    return to_x, [Tick(to_x(v), label) for v, label in ticks]


def dot_chart(
    title: str,
    points: list[Point],
    refs: tuple[tuple[float, str], ...] = (),
    row_refs: dict[str, tuple[tuple[float, str], ...]] | None = None,
) -> Chart | None:
    """A chart with one row per distinct `row` label, or None when nothing has a value. `refs`
    are reference lines across the chart; `row_refs` belong to one row each (a chart of a metric
    family, each metric with its own bounds)."""
    row_refs = row_refs or {}
    numbers = [v for p in points if p.value is not None for v in (p.value, *(p.ci or ()))]
    if not numbers:
        return None  # reference lines alone are not a chart
    numbers += [r[0] for r in refs] + [r[0] for rs in row_refs.values() for r in rs]
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
        band = ROW_H + SPREAD * (n - 1)
        center = top + band / 2
        own = tuple(RefLine(to_x(v), f"{label}: {kind} {fmt(v)}", kind, round(top + 2, 2), round(top + band - 2, 2)) for v, kind in row_refs.get(label, ()))
        top += band
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
        rows.append(Row(label, center, tuple(marks), "; ".join(notes), own))
    height = int(top + 24)
    ref_lines = tuple(RefLine(to_x(v), f"{kind} {fmt(v)}", kind) for v, kind in refs)
    return Chart(title, WIDTH, height, left, right, tuple(rows), tuple(ticks), ref_lines, log)
