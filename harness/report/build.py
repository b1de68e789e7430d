"""The scorecard's content: runs side by side, organised by ethics concern.

Everything the template shows is computed here into frozen dataclasses; the template only lays
it out (and escapes it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from harness.gate.paired import RECORD_ERRORS, metric_specs
from harness.gate.policy import Policy, Rule, merged, rules_from_summary
from harness.gate.runs import Run, load_records, suite_kind
from harness.report.charts import Chart, Point, dot_chart
from harness.report.concerns import CONCERNS, OTHER, Concern, concern_of, split_concern
from harness.report.deltas import Delta, suite_deltas
from harness.report.repro import ReproSuite, repro_runs, repro_suites
from harness.report.samples import WorstSamples, dataset_texts, worst_samples


@dataclass(frozen=True)
class Column:
    label: str
    path: str
    series: int
    is_baseline: bool


@dataclass(frozen=True)
class Cell:
    state: str  # "value", "null", "missing" (metric absent) or "not-run" (suite absent)
    value: float | None = None
    ci: tuple[float, float] | None = None
    n: int | None = None
    reason: str = ""
    badge: str = "none"
    delta: Delta | None = None


@dataclass(frozen=True)
class MetricRow:
    name: str
    description: str
    rule: str  # direction / target and badge bounds, in words
    cells: tuple[Cell, ...]
    chart: Chart | None


@dataclass(frozen=True)
class RunSamples:
    label: str
    worst: tuple[WorstSamples, ...]
    note: str


@dataclass(frozen=True)
class SuiteView:
    name: str
    anchor: str
    kind: str
    description: str
    status: tuple[str, ...]  # per column: "n samples, k errors" or "not run"
    metrics: tuple[MetricRow, ...]
    breakdowns: tuple[Chart, ...]
    samples: tuple[RunSamples, ...]
    part: str = ""  # "subgroup metrics" for a split kind's second section


@dataclass(frozen=True)
class ConcernView:
    id: str
    title: str
    question: str
    suites: tuple[SuiteView, ...]


@dataclass(frozen=True)
class Scorecard:
    title: str
    generated_at: str
    columns: tuple[Column, ...]
    concerns: tuple[ConcernView, ...]
    repro_runs: tuple[tuple[str, tuple[str, ...]], ...]  # (field, value per column)
    repro_suites: tuple[ReproSuite, ...]
    policy: str
    has_baseline: bool
    confidence: float  # of the deltas' CIs (the policy's `confidence`)


def _labels(runs: list[Run]) -> list[str]:
    labels = [r.label for r in runs]
    return [f"{lab} ({r.path.name})" if labels.count(lab) > 1 else lab for lab, r in zip(labels, runs)]


def build_scorecard(runs: list[Run], baseline: Run | None, policy: Policy, worst_k: int = 5) -> Scorecard:
    ordered = ([baseline] if baseline else []) + runs
    labels = _labels(ordered)
    columns = tuple(Column(lab, str(r.path), i, baseline is not None and i == 0) for i, (lab, r) in enumerate(zip(labels, ordered)))
    rules = [_rules(r, policy) for r in ordered]
    # A suite the policy gates but no run evaluated is shown too, as not run.
    suite_names = list(dict.fromkeys([*(s for r in ordered for s in r.summary["suites"]), *(s for s, _ in policy.rules)]))
    sections: dict[str, list[SuiteView]] = {c.id: [] for c in (*CONCERNS, OTHER)}
    for suite in suite_names:
        kind_name = next(
            (str(r.summary["suites"][suite].get("kind")) for r in ordered if suite in r.summary["suites"]), None
        ) or _declared_kind(suite)
        ctx = _SuiteContext(suite, kind_name, ordered, columns, rules, baseline, policy, worst_k)
        home = concern_of(kind_name)
        main = ctx.view(lambda name, kn=kind_name: split_concern(kn, name) is None, with_samples=True)
        if main is not None:
            sections[home.id].append(main)
        for concern in CONCERNS:
            part = ctx.view(lambda name, kn=kind_name, cid=concern.id: split_concern(kn, name) == cid, with_samples=False)
            if part is not None and concern.id != home.id:
                sections[concern.id].append(part)
    concerns = [_concern(c, sections[c.id]) for c in CONCERNS]
    if sections[OTHER.id]:
        concerns.append(_concern(OTHER, sections[OTHER.id]))
    return Scorecard(
        title="Ethics scorecard: " + ", ".join(labels[1:] if baseline else labels),
        generated_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        columns=columns,
        concerns=tuple(concerns),
        repro_runs=repro_runs(ordered),
        repro_suites=repro_suites(ordered, suite_names),
        policy=str(policy.path) if policy.path else "",
        has_baseline=baseline is not None,
        confidence=policy.confidence,
    )


def _declared_kind(suite: str) -> str:
    """The kind of a suite no run evaluated: from this harness's suite YAML of that name."""
    from harness.errors import HarnessError
    from harness.resources import load_suite_spec

    try:
        return load_suite_spec(suite).kind
    except HarnessError:
        return "unknown"


def _concern(c: Concern, suites: list[SuiteView]) -> ConcernView:
    return ConcernView(c.id, c.title, c.question, tuple(suites))


def _rules(run: Run, policy: Policy) -> dict[tuple[str, str], Rule]:
    rules = rules_from_summary(run.summary, f"{run.path}/summary.json")
    for key, rule in policy.rules.items():
        rules[key] = merged(rules[key], rule) if key in rules else rule
    return rules


class _SuiteContext:
    """One suite across all runs: loads the kind, records and deltas once, builds views."""

    def __init__(self, suite, kind_name, runs, columns, rules, baseline, policy, worst_k):  # type: ignore[no-untyped-def]
        self.suite, self.kind_name, self.runs, self.columns = suite, kind_name, runs, columns
        self.rules, self.baseline, self.policy, self.worst_k = rules, baseline, policy, worst_k
        self.kind = suite_kind(suite, kind_name)
        self.entries = [r.summary["suites"].get(suite) for r in runs]
        self.deltas: list[dict[str, Delta]] = []
        for i, (run, entry) in enumerate(zip(runs, self.entries)):
            if baseline is None or entry is None or (i == 0):
                self.deltas.append({})
                continue
            self.deltas.append(
                suite_deltas(self.kind, suite, baseline, run, seed=policy.seed, replicates=policy.replicates, confidence=policy.confidence)
            )

    def view(self, keep, with_samples: bool) -> SuiteView | None:  # type: ignore[no-untyped-def]
        measured = [m for e in self.entries if e for m in e.get("metrics", {})]
        # Metrics a threshold or the policy names are rows even when no run reports them.
        ruled = [m for rules in self.rules for (s, m) in rules if s == self.suite]
        names = list(dict.fromkeys(m for m in measured + ruled if keep(m)))
        bys = list(dict.fromkeys(b for e in self.entries if e for b in e.get("breakdowns", {}) if keep(b)))
        if not names and not bys:
            return None
        first = next((e for e in self.entries if e), None)
        if first is None:
            where = next(r.where for rules in self.rules for (s, _), r in rules.items() if s == self.suite)
            first = {"description": f"No run evaluated this suite, but {where} gates it."}
        status = tuple(
            "not run" if e is None else f"{e.get('n_samples', '?')} samples, {e.get('n_errors', 0)} errors" for e in self.entries
        )
        part = "" if with_samples else "subgroup metrics"
        return SuiteView(
            name=self.suite,
            anchor=f"suite-{self.suite}" + ("-" + part.replace(" ", "-") if part else ""),
            kind=self.kind_name,
            description=str(first.get("description", "")),
            status=status,
            metrics=tuple(self._row(m) for m in names),
            breakdowns=tuple(self._breakdowns(bys)),
            samples=tuple(self._samples(names)) if with_samples else (),
            part=part,
        )

    def _row(self, metric: str) -> MetricRow:
        cells, points = [], []
        definition: dict[str, Any] = {}
        for i, (col, entry) in enumerate(zip(self.columns, self.entries)):
            rule = self.rules[i].get((self.suite, metric))
            if entry is None:
                cells.append(Cell("not-run", reason="this run did not evaluate the suite"))
                continue
            m = entry.get("metrics", {}).get(metric)
            if m is None:
                cells.append(Cell("missing", reason=self._missing(metric, rule)))
                continue
            definition = definition or m
            if rule is not None and rule.direction is None and m.get("direction") in ("lower", "higher", "target"):
                rule = replace(rule, direction=m["direction"], target=m.get("target"))
            value, ci = m.get("value"), (tuple(m["ci95"]) if m.get("ci95") else None)
            badge = rule.badge(value) if rule else ("null" if value is None else "none")
            state = "value" if value is not None else "null"
            cells.append(Cell(state, value, ci, m.get("n"), m.get("reason") or "", badge, self.deltas[i].get(metric)))  # type: ignore[arg-type]
            points.append(Point(col.label, col.series, col.label, value, ci, col.is_baseline, m.get("reason") or ""))
        definition = definition or self._declared(metric) or {}
        rule = next((r.get((self.suite, metric)) for r in self.rules if r.get((self.suite, metric))), None)
        if rule is not None and rule.direction is None and definition.get("direction") in ("lower", "higher", "target"):
            rule = replace(rule, direction=definition["direction"], target=definition.get("target"))
        text = rule.describe() if rule else ""
        if not text:
            text = f"target {definition.get('target')}" if definition.get("direction") == "target" else f"{definition.get('direction', '?')} is better"
        refs = ()
        if rule and rule.pass_bound is not None and rule.direction in ("lower", "higher"):
            refs = ((rule.pass_bound, "pass"),) + (((rule.warn_bound, "warn"),) if rule.warn_bound is not None else ())
        elif rule and rule.direction == "target" and rule.target is not None:
            refs = ((rule.target, "target"),)
        return MetricRow(metric, str(definition.get("description", "")), text, tuple(cells), dot_chart(metric, points, refs))

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

    def _breakdowns(self, bys: list[str]) -> list[Chart]:
        charts = []
        for by in bys:
            metrics = list(
                dict.fromkeys(m for e in self.entries if e for g in e.get("breakdowns", {}).get(by, {}).values() for m in g)
            )
            for metric in metrics:
                points = []
                for col, entry in zip(self.columns, self.entries):
                    for group, values in ((entry or {}).get("breakdowns", {}).get(by) or {}).items():
                        m = values.get(metric)
                        if m is not None:
                            ci = tuple(m["ci95"]) if m.get("ci95") else None
                            points.append(Point(group, col.series, col.label, m.get("value"), ci, col.is_baseline, m.get("reason") or ""))
                chart = dot_chart(f"{metric} by {by}", points)
                if chart is not None:
                    charts.append(chart)
        return charts

    def _samples(self, names: list[str]) -> list[RunSamples]:
        out = []
        for col, run, entry in zip(self.columns, self.runs, self.entries):
            if entry is None:
                continue
            if isinstance(self.kind, str):
                out.append(RunSamples(col.label, (), f"no per-sample scores: {self.kind}"))
                continue
            records = load_records(run, self.suite)
            if isinstance(records, str):
                out.append(RunSamples(col.label, (), records))
                continue
            specs = [s for s in metric_specs(entry) if s.name in names]
            texts, note = dataset_texts(self.kind, entry)
            try:
                worst = tuple(worst_samples(self.kind, specs, records, texts, self.worst_k))
            except RECORD_ERRORS as e:
                worst, note = (), f"no per-sample scores: the suite kind cannot read these records ({type(e).__name__}: {e})"
            out.append(RunSamples(col.label, worst, note))
        return out
