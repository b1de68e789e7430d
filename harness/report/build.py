"""The scorecard's content: a verdict per concern and column first, then the suites, organised
by ethics concern.

Everything the template shows is computed here into frozen dataclasses; the template only lays
it out (and escapes it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from harness.gate.policy import Policy, Rule, merged, rules_from_summary
from harness.gate.runs import Run, suite_kind
from harness.report.attention import AttentionGroup, attention
from harness.report.concerns import CONCERNS, OTHER, Concern, concern_of, split_concern
from harness.report.repro import ReproSuite, repro_runs, repro_suites
from harness.report.sections import Cell, MetricRow, RunSamples, Slot, SuiteBuilder, SuiteView  # noqa: F401  (re-exported)
from harness.report.subjects import CLASSIFIER, Column, subjects
from harness.report.verdicts import ConcernVerdict, concern_verdict

HEADLINES = tuple(h for c in CONCERNS for h in c.headline)


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
    columns: tuple[Column, ...]  # models (runs) first, then classifiers
    matrix: tuple[ConcernVerdict, ...]
    attention: tuple[AttentionGroup, ...]
    concerns: tuple[ConcernView, ...]
    repro_labels: tuple[str, ...]  # the runs, for the reproducibility tables
    repro_runs: tuple[tuple[str, tuple[str, ...]], ...]  # (field, value per run)
    repro_suites: tuple[ReproSuite, ...]
    policy: str
    has_baseline: bool
    confidence: float  # of the deltas' CIs (the policy's `confidence`)
    review: Any = None  # a signoff.SignOff when --review is given


def _labels(runs: list[Run]) -> list[str]:
    labels = [r.label for r in runs]
    return [f"{lab} ({r.path.name})" if labels.count(lab) > 1 else lab for lab, r in zip(labels, runs)]


def build_scorecard(runs: list[Run], baseline: Run | None, policy: Policy, worst_k: int = 5) -> Scorecard:
    ordered = ([baseline] if baseline else []) + runs
    labels = _labels(ordered)
    subj = subjects(ordered, labels, baseline is not None)
    rules = [_rules(r, policy) for r in ordered]
    # A suite the policy gates but no run evaluated is shown too, as not run.
    suite_names = list(dict.fromkeys([*(s for r in ordered for s in r.summary["suites"]), *(s for s, _ in policy.rules)]))
    sections: dict[str, list[SuiteView]] = {c.id: [] for c in (*CONCERNS, OTHER)}
    for suite in suite_names:
        kind_name = next(
            (str(r.summary["suites"][suite].get("kind")) for r in ordered if suite in r.summary["suites"]), None
        ) or _declared_kind(suite)
        builder = SuiteBuilder(
            suite, kind_name, suite_kind(suite, kind_name), _slots(suite, ordered, subj, rules), baseline, policy, worst_k, HEADLINES
        )
        home = concern_of(kind_name)
        sections[home.id].extend(builder.views(lambda name, kn=kind_name: split_concern(kn, name) is None, with_samples=True))
        for concern in CONCERNS:
            if concern.id != home.id:
                parts = builder.views(lambda name, kn=kind_name, cid=concern.id: split_concern(kn, name) == cid, with_samples=False)
                sections[concern.id].extend(parts)
    shown = [c for c in CONCERNS] + ([OTHER] if sections[OTHER.id] else [])
    concerns = tuple(_concern(c, sections[c.id]) for c in shown)
    return Scorecard(
        title="Ethics scorecard: " + ", ".join(labels[1:] if baseline else labels),
        generated_at=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        columns=subj.columns,
        matrix=tuple(concern_verdict(c, sections[c.id], subj.columns) for c in shown),
        attention=attention([v for c in concerns for v in c.suites]),
        concerns=concerns,
        repro_labels=tuple(labels),
        repro_runs=repro_runs(ordered),
        repro_suites=repro_suites(ordered, suite_names),
        policy=str(policy.path) if policy.path else "",
        has_baseline=baseline is not None,
        confidence=policy.confidence,
    )


def _slots(suite: str, runs: list[Run], subj: Any, rules: list[dict[tuple[str, str], Rule]]) -> list[Slot]:
    """The columns a suite fills: a classifier's column for a model-free suite, else every model's."""
    free = [(i, subj.classifier_of[(i, suite)]) for i in range(len(runs)) if (i, suite) in subj.classifier_of]
    if free:
        cols = dict.fromkeys(c for _, c in free)
        first_run = {c: next(i for i, cc in free if cc == c) for c in cols}
        return [Slot(subj.columns[c], runs[first_run[c]], runs[first_run[c]].summary["suites"][suite], rules[first_run[c]], False) for c in cols]
    out = []
    for c in subj.models():
        col = subj.columns[c]
        run = runs[col.run]
        out.append(Slot(col, run, run.summary["suites"].get(suite), rules[col.run], col.is_baseline))
    return out


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


def classifier_columns(card: Scorecard) -> tuple[Column, ...]:
    return tuple(c for c in card.columns if c.subject == CLASSIFIER)
