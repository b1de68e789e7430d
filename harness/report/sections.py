"""One suite across the scorecard's columns: its metric table, charts and worst samples.

Columns that ran the suite with different protocol ids or data are split into separate views,
each saying why: their numbers are never put side by side, highlighted against each other, or
compared with the baseline.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from harness.gate.paired import RECORD_ERRORS, metric_specs
from harness.gate.policy import Policy, Rule
from harness.gate.runs import Run, load_records
from harness.report.charts import Chart, Point, dot_chart, fmt
from harness.report.deltas import Delta, suite_deltas
from harness.report.explain_panels import ExplainSection, run_section
from harness.report.samples import WorstSamples, dataset_texts, worst_samples
from harness.report.subjects import Column

SEVERITY = {"pass": 1, "warn": 2, "fail": 3}


@dataclass(frozen=True)
class Cell:
    state: str  # "value", "null", "missing" (metric absent) or "not-run" (suite absent)
    value: float | None = None
    ci: tuple[float, float] | None = None
    n: int | None = None
    reason: str = ""
    badge: str = "none"
    delta: Delta | None = None
    best: bool = False  # the best value of its row, in the direction that is better
    regressed: bool = False  # significantly worse than the baseline, by the gate's rule
    straddles: str = ""  # the CI crosses a badge bound: the badge could go either way


@dataclass(frozen=True)
class MetricRow:
    name: str
    anchor: str
    description: str
    rule: str  # direction / target and badge bounds, in words
    cells: tuple[Cell, ...]
    bounded: bool  # has pass / warn bounds, so its cells carry badges


@dataclass(frozen=True)
class RunSamples:
    label: str
    worst: tuple[WorstSamples, ...]
    note: str
    explained: ExplainSection | None = None  # the run's <suite>.explain.jsonl, when it has one


@dataclass(frozen=True)
class SuiteView:
    name: str
    anchor: str
    kind: str
    description: str
    columns: tuple[Column, ...]
    status: tuple[str, ...]  # per column: "n samples, k errors" or "not run"
    protocols: tuple[str, ...]  # per column ("" when not run)
    protocol: str  # the view's protocol id: the same for every column that ran it
    verdicts: tuple[str, ...]  # per column: worst badge, "no-bounds" or "not-run"
    metrics: tuple[MetricRow, ...]
    charts: tuple[Chart, ...]
    breakdowns: tuple[Chart, ...]
    samples: tuple[RunSamples, ...]
    headline: str  # the metric shown on the collapsed summary line ("" if none)
    n_items: int | None
    data: str  # "built-in mini-probes" or the data source
    builtin: bool
    part: str = ""  # "subgroup metrics" for a split kind's second section
    variant: str = ""  # what sets this view apart from the suite's other views
    apart: str = ""  # why it is shown apart ("" when the suite has one view)

    @property
    def title(self) -> str:
        return self.name + (f" · {self.variant}" if self.variant else "") + (f" — {self.part}" if self.part else "")

    def headline_cells(self) -> tuple[Cell, ...]:
        row = next((r for r in self.metrics if r.name == self.headline), None)
        return row.cells if row else tuple(Cell("not-run") for _ in self.columns)


@dataclass(frozen=True)
class Slot:
    """One column of one suite: the run whose entry fills it."""

    column: Column
    run: Run
    entry: dict[str, Any] | None
    rules: dict[tuple[str, str], Rule]
    is_baseline_run: bool


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def worst_badge(badges: list[str]) -> str:
    rated = [b for b in badges if b in SEVERITY]
    return max(rated, key=SEVERITY.__getitem__) if rated else "no-bounds"


def _ident(entry: dict[str, Any]) -> tuple[Any, Any]:
    return entry.get("protocol"), (entry.get("data") or {}).get("sha256")


def _variant(protocol: str, others: list[str]) -> str:
    """The words of a protocol id that the suite's other protocol ids lack (e.g. `ties=right`)."""
    theirs = {w for o in others for w in o.split()}
    words = [w for w in protocol.split() if w not in theirs]
    return " ".join(words)


class SuiteBuilder:
    """One suite across its slots: groups them by protocol and data, loads deltas once."""

    def __init__(self, suite: str, kind_name: str, kind: Any, slots: list[Slot], baseline: Run | None,
                 policy: Policy, worst_k: int, headlines: tuple[str, ...]) -> None:
        self.suite, self.kind_name, self.kind, self.slots = suite, kind_name, kind, slots
        self.policy, self.worst_k, self.headlines = policy, worst_k, headlines
        # One group per (protocol id, data hash), in order of first appearance; columns that did
        # not run the suite go with the first group.
        self.idents: list[Any] = list(dict.fromkeys(_ident(s.entry) for s in slots if s.entry is not None)) or [None]
        self.groups = [
            [s for s in slots if (s.entry is None and g == 0) or (s.entry is not None and _ident(s.entry) == ident)]
            for g, ident in enumerate(self.idents)
        ]
        # Deltas against the baseline, by column: for the columns in the baseline's group (or all
        # model columns, saying so, when the baseline did not run the suite); a classifier is
        # never compared with a model.
        base_slot = next((s for s in slots if s.is_baseline_run), None)
        self.deltas: dict[int, dict[str, Delta]] = {}
        if baseline is not None and base_slot is not None:
            for s in slots:
                if s.entry is not None and not s.is_baseline_run and (base_slot.entry is None or _ident(s.entry) == _ident(base_slot.entry)):
                    self.deltas[s.column.series] = suite_deltas(
                        kind, suite, baseline, s.run, seed=policy.seed, replicates=policy.replicates, confidence=policy.confidence
                    )

    def views(self, keep: Callable[[str], bool], with_samples: bool) -> list[SuiteView]:
        out = []
        for g, slots in enumerate(self.groups):
            view = self._view(g, slots, keep, with_samples)
            if view is not None:
                out.append(view)
        return out

    def _apart(self, g: int) -> tuple[str, str]:
        if len(self.idents) < 2:
            return "", ""
        protocol, sha = self.idents[g]
        others = [i for j, i in enumerate(self.idents) if j != g]
        variant = _variant(str(protocol or ""), [str(p or "") for p, _ in others])
        reasons = []
        if any(p != protocol for p, _ in others):
            reasons.append(f"protocol id {protocol!s} (others: {', '.join(sorted({str(p) for p, _ in others if p != protocol}))})")
        if any(s != sha for _, s in others):
            reasons.append(f"data sha256 {str(sha)[:12]}… (others: {', '.join(sorted({str(s)[:12] + '…' for _, s in others if s != sha}))})")
            variant = variant or f"data {str(sha)[:8]}"
        text = "Shown apart from the other results of this suite, never compared with them: " + "; ".join(reasons) + "."
        return variant or ("" if g == 0 else f"protocol {g + 1}"), text

    def _view(self, g: int, slots: list[Slot], keep: Callable[[str], bool], with_samples: bool) -> SuiteView | None:
        entries = [s.entry for s in slots]
        measured = [m for e in entries if e for m in e.get("metrics", {})]
        # Metrics a threshold or the policy names are rows even when no run reports them.
        ruled = [m for s in slots for (suite, m) in s.rules if suite == self.suite]
        names = list(dict.fromkeys(m for m in measured + ruled if keep(m)))
        bys = list(dict.fromkeys(b for e in entries if e for b in e.get("breakdowns", {}) if keep(b)))
        if not names and not bys:
            return None
        first = next((e for e in entries if e), None)
        if first is None:
            where = next((r.where for s in slots for (suite, _), r in s.rules.items() if suite == self.suite), "the policy")
            first = {"description": f"No run evaluated this suite, but {where} gates it."}
        variant, apart = self._apart(g)
        part = "" if with_samples else "subgroup metrics"
        anchor = f"suite-{slug(self.suite)}" + (f"-{g + 1}" if g else "") + (f"-{slug(part)}" if part else "")
        rows = [self._row(m, slots, anchor) for m in names]
        verdicts = tuple(
            "not-run" if s.entry is None else worst_badge([r.cells[i].badge for r in rows]) for i, s in enumerate(slots)
        )
        data = first.get("data") or {}
        n_items = [e.get("n_samples") for e in entries if e and isinstance(e.get("n_samples"), int)]
        return SuiteView(
            name=self.suite,
            anchor=anchor,
            kind=self.kind_name,
            description=str(first.get("description", "")),
            columns=tuple(s.column for s in slots),
            status=tuple("not run" if e is None else f"{e.get('n_samples', '?')} samples, {e.get('n_errors', 0)} errors" for e in entries),
            protocols=tuple("" if e is None else str(e.get("protocol") or "") for e in entries),
            protocol=str(first.get("protocol") or ""),
            verdicts=verdicts,
            metrics=tuple(rows),
            charts=tuple(self._charts(rows, slots)),
            breakdowns=tuple(self._breakdowns(bys, slots)),
            samples=tuple(self._samples(names, slots)) if with_samples and self.worst_k > 0 else (),
            headline=self._headline(rows),
            n_items=max(n_items) if n_items else None,
            data="built-in mini-probes" if data.get("builtin") else str(data.get("source") or ""),
            builtin=bool(data.get("builtin")),
            part=part,
            variant=variant,
            apart=apart,
        )

    def _headline(self, rows: list[MetricRow]) -> str:
        names = [r.name for r in rows]
        preferred = [h.split(":", 1)[1] for h in self.headlines if h.split(":", 1)[0] == self.kind_name]
        for name in preferred:
            if name in names:
                return name
        with_values = [r for r in rows if any(c.state == "value" for c in r.cells)]
        return next((r.name for r in with_values if r.bounded), with_values[0].name if with_values else "")

    def _rule(self, slot: Slot, metric: str, definition: dict[str, Any]) -> Rule | None:
        rule = slot.rules.get((self.suite, metric))
        if rule is not None and rule.direction is None and definition.get("direction") in ("lower", "higher", "target"):
            rule = replace(rule, direction=definition["direction"], target=definition.get("target"))
        return rule

    def _row(self, metric: str, slots: list[Slot], anchor: str) -> MetricRow:
        cells: list[Cell] = []
        definition: dict[str, Any] = {}
        for s in slots:
            if s.entry is None:
                cells.append(Cell("not-run", reason="this run did not evaluate the suite"))
                continue
            m = s.entry.get("metrics", {}).get(metric)
            rule = self._rule(s, metric, m or {})
            if m is None:
                cells.append(Cell("missing", reason=self._missing(metric, rule)))
                continue
            definition = definition or m
            value, ci = m.get("value"), (tuple(m["ci95"]) if m.get("ci95") else None)
            badge = rule.badge(value) if rule else ("null" if value is None else "none")
            delta = self.deltas.get(s.column.series, {}).get(metric)
            cells.append(
                Cell("value" if value is not None else "null", value, ci, m.get("n"), m.get("reason") or "", badge, delta,  # type: ignore[arg-type]
                     regressed=_regressed(delta, rule, self._base_value(metric)),
                     straddles=_straddles(rule, ci))
            )
        definition = definition or self._declared(metric) or {}
        rule = next((self._rule(s, metric, definition) for s in slots if s.rules.get((self.suite, metric))), None)
        text = rule.describe() if rule else ""
        if not text:
            text = f"target {definition.get('target')}" if definition.get("direction") == "target" else f"{definition.get('direction', '?')} is better"
        direction = (rule.direction if rule else None) or definition.get("direction")
        target = (rule.target if rule and rule.target is not None else definition.get("target"))
        cells = _mark_best(cells, direction, target)
        bounded = bool(rule and rule.pass_bound is not None and rule.direction)
        return MetricRow(metric, f"{anchor}--{slug(metric)}", str(definition.get("description", "")), text, tuple(cells), bounded)

    def _base_value(self, metric: str) -> float:
        base = next((s.entry for s in self.slots if s.is_baseline_run and s.entry), None) or {}
        return float(((base.get("metrics") or {}).get(metric) or {}).get("value") or 0.0)

    def _declared(self, metric: str) -> dict[str, Any] | None:
        """The kind's own definition of a metric no run reports, if the kind declares it."""
        for m in getattr(self.kind, "metrics", ()):
            if m.name == metric:
                return m.to_dict()
        return None

    def _missing(self, metric: str, rule: Rule | None) -> str:
        reason = "this run reports no such metric"
        if rule is not None and rule.where:
            reason += f", though {rule.where} names it"
        if hasattr(self.kind, "metrics") and self._declared(metric) is None:
            reason += f"; suite kind {self.kind_name!r} has no metric of that name"
        return reason

    def _charts(self, rows: list[MetricRow], slots: list[Slot]) -> list[Chart]:
        """One chart per metric family, every column on the same axis: the metrics on a 0-1 scale
        (rates, probabilities, AUCs); metrics sharing a name stem (`ll_spread_gender`,
        `ll_spread_age`, ...); then one chart each for the rest (perplexities, gaps)."""
        charted = [r for r in rows if any(c.state == "value" for c in r.cells)]
        unit = [r for r in charted if all(0 <= v <= 1 for c in r.cells if c.state == "value" for v in (c.value, *(c.ci or ())))]
        rest = [r for r in charted if r not in unit]
        families: dict[str, list[MetricRow]] = {}
        if len(unit) > 1:
            families[f"{self.suite}: metrics on a 0–1 scale"] = unit
        else:
            rest = unit + rest
        for row in rest:
            families.setdefault(_stem(row.name, [r.name for r in rest]), []).append(row)
        charts = []
        for title, members in families.items():
            if len(members) == 1:
                chart = dot_chart(members[0].name, self._points(members[0].name, members[0], slots), self._refs(members[0].name, slots))
            else:
                points = [p for row in members for p in self._points(row.name, row, slots)]
                chart = dot_chart(title, points, row_refs={row.name: self._refs(row.name, slots) for row in members})
            if chart is not None:
                charts.append(chart)
        return charts

    def _points(self, label: str, row: MetricRow, slots: list[Slot]) -> list[Point]:
        return [
            Point(label, s.column.series, s.column.label, c.value, c.ci, s.column.is_baseline, c.reason)
            for s, c in zip(slots, row.cells)
            if c.state in ("value", "null")
        ]

    def _refs(self, metric: str, slots: list[Slot]) -> tuple[tuple[float, str], ...]:
        rule = next((self._rule(s, metric, (s.entry or {}).get("metrics", {}).get(metric) or {}) for s in slots if s.rules.get((self.suite, metric))), None)
        if rule and rule.pass_bound is not None and rule.direction in ("lower", "higher"):
            return ((rule.pass_bound, "pass"),) + (((rule.warn_bound, "warn"),) if rule.warn_bound is not None else ())
        if rule and rule.direction == "target" and rule.target is not None:
            return ((rule.target, "target"),)
        return ()

    def _breakdowns(self, bys: list[str], slots: list[Slot]) -> list[Chart]:
        charts = []
        for by in bys:
            metrics = list(dict.fromkeys(m for s in slots if s.entry for g in s.entry.get("breakdowns", {}).get(by, {}).values() for m in g))
            for metric in metrics:
                points = []
                for s in slots:
                    for group, values in ((s.entry or {}).get("breakdowns", {}).get(by) or {}).items():
                        m = values.get(metric)
                        if m is not None:
                            ci = tuple(m["ci95"]) if m.get("ci95") else None
                            points.append(Point(group, s.column.series, s.column.label, m.get("value"), ci, s.column.is_baseline, m.get("reason") or ""))
                chart = dot_chart(f"{metric} by {by}", points)
                if chart is not None:
                    charts.append(chart)
        return charts

    def _samples(self, names: list[str], slots: list[Slot]) -> list[RunSamples]:
        out = []
        for s in slots:
            if s.entry is None:
                continue
            label = s.column.label
            if isinstance(self.kind, str):
                out.append(RunSamples(label, (), f"no per-sample scores: {self.kind}"))
                continue
            records = load_records(s.run, self.suite)
            if isinstance(records, str):
                out.append(RunSamples(label, (), records))
                continue
            specs = [m for m in metric_specs(s.entry) if m.name in names]
            texts, note = dataset_texts(self.kind, s.entry)
            try:
                worst = tuple(worst_samples(self.kind, specs, records, texts, self.worst_k))
            except RECORD_ERRORS as e:
                worst, note = (), f"no per-sample scores: the suite kind cannot read these records ({type(e).__name__}: {e})"
            out.append(RunSamples(label, worst, note, run_section(s.run.path, self.suite)))
        return out


def _stem(name: str, names: list[str]) -> str:
    """The longest leading part of `name` (whole `_`-separated words) that another of `names`
    starts with, as `stem_*`; the name itself when none does."""
    words = name.split("_")
    for k in range(len(words) - 1, 0, -1):
        stem = "_".join(words[:k]) + "_"
        if any(other != name and other.startswith(stem) for other in names):
            return stem + "*"
    return name


def _mark_best(cells: list[Cell], direction: str | None, target: float | None) -> list[Cell]:
    values = [c.value for c in cells if c.state == "value" and c.value is not None and math.isfinite(c.value)]
    if len(values) < 2 or len(set(values)) < 2 or direction not in ("lower", "higher", "target"):
        return cells
    if direction == "target":
        if target is None:
            return cells
        best = min(values, key=lambda v: abs(v - target))
        return [replace(c, best=True) if c.state == "value" and c.value is not None and abs(c.value - target) == abs(best - target) else c for c in cells]
    best = min(values) if direction == "lower" else max(values)
    return [replace(c, best=True) if c.state == "value" and c.value == best else c for c in cells]


def _straddles(rule: Rule | None, ci: tuple[float, float] | None) -> str:
    """Which badge bound the CI crosses, in words ("" when none): the badge is then uncertain."""
    if rule is None or ci is None or rule.pass_bound is None or rule.direction is None:
        return ""
    bounds = [("pass", rule.pass_bound), ("warn", rule.warn_bound)]
    for name, bound in bounds:
        if bound is None:
            continue
        edges = (rule.target - bound, rule.target + bound) if rule.direction == "target" and rule.target is not None else (bound,)
        for edge in edges:
            if ci[0] < edge < ci[1]:
                return f"its CI [{fmt(ci[0])}, {fmt(ci[1])}] straddles the {name} bound {fmt(edge)}"
    return ""


def _regressed(delta: Delta | None, rule: Rule | None, base_value: float) -> bool:
    """The gate's rule on a paired delta: McNemar's test for a binary metric, else the lower end of
    the worsening's CI above the worsening the rule's tolerances allow."""
    if delta is None or delta.verdict != "worse":
        return False
    if delta.mcnemar:
        return True
    if delta.worsening_ci is None:
        return False  # unpaired: not the gate's comparison
    allowed = rule.allowed_worsening(base_value) if rule else 0.0
    return delta.worsening_ci[0] > allowed
