"""The answer first: a verdict per ethics concern and column (a model, or a classifier).

A concern's verdict for a column is the worst badge among the metrics of that concern's suites
in that column: fail over warn over pass. A metric's badge comes from the thresholds the suite's
YAML declares (recorded in the run), refined by a policy file when one is given (the gate's
rules). "no bounds" when the column ran suites of the concern but none of their metrics has
bounds; "not evaluated" when it ran none; "not applicable" for a classifier under a concern no
model-free suite speaks to. Null and missing metrics do not change the verdict; they are listed
under "Needs attention".

`concern_verdicts` is the public entry point (the model card uses it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.report.concerns import CONCERNS, MODEL_FREE_KINDS, Concern
from harness.report.sections import SEVERITY, SuiteView
from harness.report.subjects import CLASSIFIER, Column

PASS, WARN, FAIL = "pass", "warn", "fail"
NO_BOUNDS, NOT_EVALUATED, NOT_APPLICABLE = "no-bounds", "not-evaluated", "not-applicable"


@dataclass(frozen=True)
class Headline:
    suite: str
    metric: str
    value: float | None
    ci: tuple[float, float] | None
    badge: str  # pass / warn / fail / none / null
    n: int | None
    anchor: str  # the metric's row on the page
    reason: str = ""  # why the value is null


@dataclass(frozen=True)
class SubjectVerdict:
    subject: str  # the column's label: a model (run) or a classifier
    subject_kind: str  # "model" or "classifier"
    verdict: str  # pass / warn / fail / no-bounds / not-evaluated / not-applicable
    n_pass: int
    n_warn: int
    n_fail: int
    n_unbounded: int  # metrics with a value but no bounds
    n_null: int  # metrics null or missing
    suites: tuple[str, ...]
    headline: Headline | None

    @property
    def counts(self) -> str:
        """The counts behind the verdict, in words: "2 pass · 1 warn"."""
        parts = [(self.n_pass, "pass"), (self.n_warn, "warn"), (self.n_fail, "fail"), (self.n_unbounded, "no bounds"), (self.n_null, "no value")]
        return " · ".join(f"{n} {what}" for n, what in parts if n)


@dataclass(frozen=True)
class ConcernVerdict:
    concern: str  # the concern's id (harness/report/concerns.py), e.g. "fairness"
    title: str
    anchor: str
    verdicts: tuple[SubjectVerdict, ...]  # one per column, in the scorecard's order

    @property
    def headline_metric(self) -> str:
        """The headline metric most columns show (named once, in the row's header)."""
        names = [v.headline.metric for v in self.verdicts if v.headline]
        return max(dict.fromkeys(names), key=names.count) if names else ""

    def of(self, subject: str) -> SubjectVerdict | None:
        return next((v for v in self.verdicts if v.subject == subject), None)


def concern_verdict(concern: Concern, views: Sequence[SuiteView], columns: Sequence[Column]) -> ConcernVerdict:
    return ConcernVerdict(concern.id, concern.title, concern.id, tuple(_subject(concern, views, c) for c in columns))


def _subject(concern: Concern, views: Sequence[SuiteView], column: Column) -> SubjectVerdict:
    counts = {PASS: 0, WARN: 0, FAIL: 0, "none": 0, "null": 0}
    suites: list[str] = []
    headline: Headline | None = None
    preferred = {h: i for i, h in enumerate(concern.headline)}
    rank = len(preferred) + 2
    for view in views:
        if column not in view.columns:
            continue
        i = view.columns.index(column)
        if view.status[i] == "not run":
            continue
        suites.append(view.title)
        for row in view.metrics:
            cell = row.cells[i]
            counts[cell.badge if cell.state == "value" else "null"] += 1
            key = f"{view.kind}:{row.name}"
            if key in preferred and cell.state in ("value", "null"):
                r = preferred[key]  # a preferred headline is shown even when null (with its reason)
            elif cell.state == "value":
                r = len(preferred) if row.bounded else len(preferred) + 1
            else:
                continue
            if r < rank:
                rank = r
                headline = Headline(view.title, row.name, cell.value, cell.ci, cell.badge, cell.n, row.anchor, cell.reason)
    if not suites:
        free = column.subject == CLASSIFIER
        applicable = not free or any(k in MODEL_FREE_KINDS for k in concern.kinds) or concern.id == "other"
        verdict = NOT_EVALUATED if applicable else NOT_APPLICABLE
    else:
        rated = [b for b in (PASS, WARN, FAIL) if counts[b]]
        verdict = max(rated, key=SEVERITY.__getitem__) if rated else NO_BOUNDS
    return SubjectVerdict(
        column.label, column.subject, verdict, counts[PASS], counts[WARN], counts[FAIL], counts["none"], counts["null"],
        tuple(dict.fromkeys(suites)), headline,
    )


def concern_verdicts(run_dirs: Sequence[Path], baseline: Path | None = None, policy_path: Path | None = None) -> list[ConcernVerdict]:
    """Per ethics concern, a verdict for each model and classifier of these run folders (see the
    module docstring for the rule). Raises HarnessError on a folder that is not a run."""
    from harness.gate.policy import Policy, load_policy
    from harness.gate.runs import load_run
    from harness.report.build import build_scorecard

    policy = load_policy(policy_path) if policy_path else Policy(replicates=1000)
    card = build_scorecard([load_run(Path(p)) for p in run_dirs], load_run(baseline) if baseline else None, policy, worst_k=0)
    return list(card.matrix)
