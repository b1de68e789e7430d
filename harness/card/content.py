"""What the model card says, read from one run folder and an optional review.

The card speaks about one subject: the run's language model, or, for a run of model-free suites
only (`harness run toxicity_filter`), the classifier they evaluated. Model-free suites in a run
with a language model measured a tool the run used, not the model: they are listed apart and
kept out of the `model-index`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.gate.policy import Rule, rules_from_summary
from harness.gate.runs import Run, load_run
from harness.report.concerns import CONCERNS, MODEL_FREE_KINDS, OTHER, concern_of, split_concern
from harness.review import Review, ReviewStatus, run_digest, run_folders

# Hugging Face task types (hub-docs' pipeline tags) by suite kind; anything else scores text.
TASK_TYPES = {
    "squad": "question-answering",
    "truthfulqa_mc": "multiple-choice",
    "bbq": "multiple-choice",
    "toxicity_filter": "text-classification",
}
VERDICT_WORDS = {"no-bounds": "no bounds", "not-evaluated": "not evaluated", "not-applicable": "not applicable"}
SMALL_N = 100  # fewer items than this: the CI is wide, the number a first look


@dataclass(frozen=True)
class MetricLine:
    name: str
    description: str
    rule: str  # which way is better, and the badge bounds, in words
    value: float | None
    ci: tuple[float, float] | None
    n: int | None
    reason: str  # why the value is null
    badge: str  # pass / warn / fail / none (no bounds) / null (no value)


@dataclass(frozen=True)
class SuiteResult:
    name: str
    kind: str
    concern: str  # the concern id of the suite's kind
    description: str
    protocol: str
    n_samples: int
    n_errors: int
    source: str  # the data as recorded: "builtin:<file>" or the file's name (never a full path)
    sha256: str
    builtin: bool  # the harness's own mini-probes, not a published dataset
    notes: str
    limit: int | None
    model_free: bool
    metrics: tuple[MetricLine, ...]

    @property
    def dataset_name(self) -> str:
        return f"{self.name}: built-in mini-probes" if self.builtin else self.source

    @property
    def data_label(self) -> str:
        return "built-in mini-probes" if self.builtin else self.source

    @property
    def split(self) -> str:
        return f"first {self.limit} items" if self.limit else "all items"

    @property
    def task_type(self) -> str:
        return TASK_TYPES.get(self.kind, "text-generation")

    def metrics_for(self, concern: str) -> tuple[MetricLine, ...]:
        """The metrics this suite reports under `concern` (some kinds send a few elsewhere)."""
        return tuple(m for m in self.metrics if (split_concern(self.kind, m.name) or self.concern) == concern)


@dataclass(frozen=True)
class Part:
    suite: SuiteResult
    metrics: tuple[MetricLine, ...]


@dataclass(frozen=True)
class ConcernSection:
    id: str
    title: str
    question: str
    verdict: str  # pass / warn / fail / no bounds / not evaluated
    counts: str  # the counts behind the verdict, in words
    parts: tuple[Part, ...]
    decision: Any  # the reviewer's harness.review.ConcernDecision, or None


@dataclass(frozen=True)
class ModelCard:
    name: str  # the subject: the model (preset or name), or the classifier
    subject: str  # "model" or "classifier"
    run_path: str
    run_digest: str
    created_at: str
    harness_version: str
    model_rows: tuple[tuple[str, str], ...]
    concerns: tuple[ConcernSection, ...]
    tools: tuple[SuiteResult, ...]  # model-free suites of a run with a language model
    suites: tuple[SuiteResult, ...]  # the subject's suites (the model-index lists their metrics)
    review: Review | None
    review_status: ReviewStatus | None
    repro: dict[str, Any]

    def model_index(self) -> list[dict[str, Any]]:
        return model_index(self.name, self.suites)


def model_index(name: str, suites: tuple[SuiteResult, ...]) -> list[dict[str, Any]]:
    """The Hugging Face `model-index`: one result per suite, every metric that has a value
    (a null metric has no value to report; the card's body lists it with its reason)."""
    results = []
    for s in suites:
        metrics = [
            {"type": m.name, "value": _round(m.value), "name": _metric_name(m), "verified": False}
            for m in s.metrics
            if m.value is not None
        ]
        if not metrics:
            continue
        title = next((c.title for c in CONCERNS if c.id == s.concern), OTHER.title)
        results.append(
            {
                "task": {"type": s.task_type, "name": f"{title}: {s.name}"},
                "dataset": {"name": s.dataset_name, "type": s.source, "split": s.split},
                "metrics": metrics,
            }
        )
    return [{"name": name, "results": results}]


def _round(x: float) -> float:
    return float(f"{x:.6g}")


def _metric_name(m: MetricLine) -> str:
    text = m.name
    if m.ci is not None:
        text += f" (95% CI {m.ci[0]:.4g} to {m.ci[1]:.4g}"
        return text + (f", n={m.n})" if m.n is not None else ")")
    return text + (f" (n={m.n})" if m.n is not None else "")


# ---------------------------------------------------------------------------------------------


def single_run(run_dir: Path) -> Run:
    """The run folder of one model: `run_dir`, or its only model subfolder."""
    folders = run_folders(run_dir)
    if len(folders) > 1:
        names = ", ".join(f.name for f in folders)
        raise HarnessError(
            f"{run_dir}: holds the runs of {len(folders)} models ({names}); a model card is about one model: "
            f"give one of them, e.g. {folders[0]}"
        )
    return load_run(folders[0])


def build_card(run_dir: Path, review: Review | None = None, status: ReviewStatus | None = None) -> ModelCard:
    run = single_run(run_dir)
    summary = run.summary
    rules = rules_from_summary(summary, f"{run.path}/summary.json")
    results = [_suite(name, entry, rules) for name, entry in summary["suites"].items()]
    has_model = any(not s.model_free for s in results)
    subject_suites = tuple(s for s in results if not s.model_free) if has_model else tuple(results)
    tools = tuple(s for s in results if s.model_free) if has_model else ()
    model = summary.get("model") or {}
    if has_model:
        name, subject = str(model.get("preset") or model.get("name") or run.path.name), "model"
    else:
        name, subject = _classifier(summary), "classifier"
    verdicts = _verdicts(run.path, subject)
    concerns = []
    for c in CONCERNS:
        parts = tuple(Part(s, s.metrics_for(c.id)) for s in subject_suites if s.metrics_for(c.id))
        verdict, counts = verdicts.get(c.id, ("not-evaluated" if not parts else "no-bounds", ""))
        decision = review.decision_for(c.id) if review else None
        concerns.append(ConcernSection(c.id, c.title, c.question, VERDICT_WORDS.get(verdict, verdict), counts, parts, decision))
    other = tuple(Part(s, s.metrics) for s in subject_suites if s.concern == OTHER.id)
    if other:
        concerns.append(ConcernSection(OTHER.id, OTHER.title, OTHER.question, "no bounds", "", other, None))
    digest = run_digest(run.path)
    return ModelCard(
        name=name,
        subject=subject,
        run_path=str(run.path),
        run_digest=digest,
        created_at=str(summary.get("created_at") or ""),
        harness_version=str(summary.get("harness_version") or ""),
        model_rows=_model_rows(model) if has_model else (("classifier", name), ("language model", "none involved")),
        concerns=tuple(concerns),
        tools=tools,
        suites=subject_suites,
        review=review,
        review_status=status,
        repro=_repro(summary, results, digest),
    )


def _suite(name: str, entry: dict[str, Any], rules: dict[tuple[str, str], Rule]) -> SuiteResult:
    kind = str(entry.get("kind") or "unknown")
    data = entry.get("data") or {}
    source = str(data.get("source") or "unknown")
    if not source.startswith("builtin:"):
        source = os.path.basename(source.rstrip("/\\")) or source  # no local paths in a published card
    metrics = []
    for metric, m in (entry.get("metrics") or {}).items():
        rule = rules.get((name, metric))
        direction = m.get("direction")
        if rule is not None and rule.direction is None and direction in ("lower", "higher", "target"):
            rule = replace(rule, direction=direction, target=m.get("target"))
        value, reason = m.get("value"), str(m.get("reason") or "")
        if value is not None and not _is_number(value):
            value, reason = None, f"summary.json holds {value!r}, not a number"
        badge = rule.badge(value) if rule else ("null" if value is None else "none")
        text = rule.describe() if rule else ""
        if not text:
            text = f"target {m.get('target')}" if direction == "target" else f"{direction or '?'} is better"
        raw_ci, n = m.get("ci95"), m.get("n")
        ci = (raw_ci[0], raw_ci[1]) if isinstance(raw_ci, list) and len(raw_ci) == 2 and all(map(_is_number, raw_ci)) else None
        n = n if isinstance(n, int) and not isinstance(n, bool) else None
        metrics.append(MetricLine(metric, str(m.get("description") or ""), text, value, ci, n, reason, badge))
    return SuiteResult(
        name=name,
        kind=kind,
        concern=concern_of(kind).id,
        description=str(entry.get("description") or ""),
        protocol=str(entry.get("protocol") or ""),
        n_samples=int(entry.get("n_samples") or 0),
        n_errors=int(entry.get("n_errors") or 0),
        source=source,
        sha256=str(data.get("sha256") or ""),
        builtin=bool(data.get("builtin")),
        notes=str(data.get("notes") or ""),
        limit=data.get("limit") if isinstance(data.get("limit"), int) else None,
        model_free=kind in MODEL_FREE_KINDS,
        metrics=tuple(metrics),
    )


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _classifier(summary: dict[str, Any]) -> str:
    from harness.report.subjects import classifier_name

    names = [classifier_name(e).partition("@")[0] for e in summary["suites"].values()]
    return ", ".join(dict.fromkeys(names)) or "classifier"


def _verdicts(path: Path, subject: str) -> dict[str, tuple[str, str]]:
    """Per concern id, the scorecard's verdict for the card's subject and the counts behind it."""
    from harness.report.verdicts import concern_verdicts

    out = {}
    for concern in concern_verdicts([path]):
        mine = next((v for v in concern.verdicts if v.subject_kind == subject), None)
        if mine is not None:
            out[concern.concern] = (mine.verdict, mine.counts)
    return out


def _model_rows(model: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    rows = [
        ("model", model.get("name")),
        ("preset", model.get("preset")),
        ("adapter", model.get("adapter")),
        ("parameters", f"{model['n_parameters']:,}" if isinstance(model.get("n_parameters"), int) else None),
        ("fingerprint", model.get("fingerprint")),
        ("tokenizer", model.get("tokenizer")),
        ("dtype / device", " / ".join(str(model[k]) for k in ("dtype", "device") if model.get(k))),
    ]
    return tuple((k, str(v)) for k, v in rows if v)


def _repro(summary: dict[str, Any], results: list[SuiteResult], digest: str) -> dict[str, Any]:
    model = summary.get("model") or {}
    return {
        "harness_version": summary.get("harness_version"),
        "git_sha": summary.get("git_sha"),
        "created_at": summary.get("created_at"),
        "command": " ".join(map(str, summary.get("command") or [])),
        "seed": summary.get("seed"),
        "limit": summary.get("limit"),
        "model": {k: model.get(k) for k in ("name", "preset", "adapter", "fingerprint", "n_parameters", "dtype", "device") if model.get(k) is not None},
        "python": summary.get("python"),
        "libraries": {k: v for k, v in (summary.get("libraries") or {}).items() if v},
        "run_sha256": digest,
        "suites": {
            s.name: {"protocol": s.protocol, "data": s.source, "data_sha256": s.sha256, "items": s.n_samples, "errors": s.n_errors}
            for s in results
        },
    }
