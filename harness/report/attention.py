""""Needs attention": what a reviewer must look at, each a link to its row.

Failing and warning metrics; significant regressions against the baseline (paired, by the
gate's rule); and inconclusive results: a CI that straddles a badge bound, a metric with no
value, built-in mini-probe data, fewer than 100 items. One flag per metric row, naming the
columns it concerns, so ten models make ten names on one line, not ten lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.report.charts import fmt
from harness.report.sections import Cell, MetricRow, SuiteView

MIN_ITEMS = 100  # fewer items than this: a CI too wide to decide on


@dataclass(frozen=True)
class Flag:
    what: str  # e.g. "toxicity · expected_max_toxicity"
    who: tuple[str, ...]  # the columns, each with its value: "model-b 0.55"
    detail: str  # e.g. "lower is better; pass ≤ 0.3, warn 0.5" (a tooltip)
    anchor: str  # the row (or suite) it links to

    @property
    def names(self) -> str:
        return ", ".join(self.who)


@dataclass(frozen=True)
class AttentionGroup:
    id: str  # fail, warn, regression, straddles, no-value, builtin, small
    title: str
    flags: tuple[Flag, ...]

    @property
    def count(self) -> int:
        return sum(max(len(f.who), 1) for f in self.flags)


TITLES = {
    "fail": "Failing",
    "warn": "Warning",
    "regression": "Significant regressions against the baseline (paired, as the gate decides)",
    "straddles": "Inconclusive: the CI straddles a badge bound",
    "no-value": "Inconclusive: no value",
    "builtin": "Inconclusive: built-in mini-probe data (a smoke test, not a benchmark)",
    "small": f"Inconclusive: fewer than {MIN_ITEMS} items",
}


def _value(cell: Cell) -> str:
    return f" {fmt(cell.value)}" if cell.value is not None else ""


def _row_flags(view: SuiteView, row: MetricRow) -> dict[str, Flag]:
    picks: dict[str, list[str]] = {k: [] for k in ("fail", "warn", "regression", "straddles", "no-value")}
    details: dict[str, str] = {"fail": row.rule, "warn": row.rule, "no-value": "", "straddles": "", "regression": ""}
    for column, cell in zip(view.columns, row.cells):
        if cell.state == "value" and cell.badge in ("fail", "warn"):
            picks[cell.badge].append(column.label + _value(cell))
        if cell.regressed and cell.delta is not None and cell.delta.diff is not None:
            picks["regression"].append(f"{column.label} Δ {cell.delta.diff:+.3g}")
            details["regression"] = cell.delta.note
        if cell.straddles and cell.ci is not None:
            picks["straddles"].append(f"{column.label}{_value(cell)} [{fmt(cell.ci[0])}, {fmt(cell.ci[1])}]")
            details["straddles"] = f"the CI crosses a badge bound ({row.rule}): the badge could go either way"
        if cell.state in ("null", "missing") and row.bounded:
            picks["no-value"].append(column.label)
            details["no-value"] = cell.reason or cell.state
    what = f"{view.title} · {row.name}"
    return {k: Flag(what, tuple(who), details[k], row.anchor) for k, who in picks.items() if who}


def attention(views: Sequence[SuiteView]) -> tuple[AttentionGroup, ...]:
    groups: dict[str, list[Flag]] = {k: [] for k in TITLES}
    for view in views:
        for row in view.metrics:
            for key, flag in _row_flags(view, row).items():
                groups[key].append(flag)
        if view.part:
            continue  # the suite's own view already flags its data
        items = f"{view.n_items} items" if view.n_items is not None else ""
        if view.builtin:
            groups["builtin"].append(Flag(view.title, (), items, view.anchor))
        elif view.n_items is not None and view.n_items < MIN_ITEMS:
            groups["small"].append(Flag(view.title, (), items, view.anchor))
    return tuple(AttentionGroup(k, TITLES[k], tuple(v)) for k, v in groups.items() if v)
