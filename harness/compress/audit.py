"""The compression audit: the base model and each variant through the normal runner, then every
metric of every suite compared item by item with the base.

Folders: DIR/base/ (the model as loaded, `--compress none`: the same fingerprint, cache entries
and records as a plain run, with the load time and speed measured) and DIR/<variant>/ (e.g.
`int4-g128`, `prune-0.3`), each a run folder like any other (journaled: the same command again
answers from what is on disk). The comparison uses the regression gate's paired statistics
(harness.gate.paired): a paired bootstrap of the difference on the items both runs scored, and
McNemar's exact test for metrics that are means of 0/1 outcomes.

A change is significant when McNemar's test rejects "no change" at 1 - confidence (binary
metrics) or when the paired bootstrap's confidence interval of the difference excludes 0 (the
others). Which way is worse comes from the metric's direction (lower, higher, or distance from a
target) as the suite declares it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.compress.spec import CompressSpec
from harness.errors import HarnessError
from harness.gate.paired import RECORD_ERRORS, MetricSpec, Paired, compare, metric_specs
from harness.gate.runs import Run, load_records, load_run, suite_kind
from harness.journal import atomic_write_text
from harness.runner import RunOptions, run

BASE = "base"
SCHEMA = "harness-audit/1"
# The perplexity cost shown beside the safety changes: tokenizer-independent (METRICS.md).
COST_METRIC = ("perplexity", "bits_per_byte")


@dataclass(frozen=True)
class MetricRow:
    """One metric of one suite: the variant against the base on their shared items."""

    suite: str
    metric: str
    direction: str  # lower | higher | target
    target: float | None
    base: float | None
    value: float | None
    diff: float | None  # variant - base
    diff_ci: tuple[float, float] | None
    test: str  # "McNemar exact" | "paired bootstrap" | "none"
    p_value: float | None  # McNemar only
    significant: bool | None  # None: undefined (see reason)
    worse: bool | None  # the change is in the worse direction (None: no change or undefined)
    n: int
    reason: str | None = None


@dataclass(frozen=True)
class SizeSpeed:
    weight_bytes: int | None
    weight_bytes_packed: int | None  # int4: two values per byte, computed exactly
    load_time_s: float | None
    tokens_per_s: float | None  # through the model's forward passes in the run
    wall_time_s: float | None  # the run's wall time (the suites' work; cached calls are fast)
    measured: str  # where the numbers come from


@dataclass(frozen=True)
class VariantResult:
    name: str  # folder name
    spec: str  # canonical SPEC ("none" for the base)
    folder: str
    fingerprint: str
    transform: dict[str, Any]  # the compression record from summary.json
    size_speed: SizeSpeed
    rows: tuple[MetricRow, ...] = ()
    headline: str = ""


@dataclass(frozen=True)
class AuditResult:
    model: str
    suites: tuple[str, ...]
    seed: int
    confidence: float
    replicates: int
    limit: int | None
    base: VariantResult
    variants: tuple[VariantResult, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}


def run_audit(
    options: RunOptions,
    variants: Sequence[CompressSpec],
    *,
    argv: Sequence[str] = (),
    replicates: int = 2000,
    confidence: float = 0.95,
) -> AuditResult:
    """Run the base and every variant into options.out/<name>/, then compare them."""
    from harness.executors import open_executor

    if options.compress is not None:
        raise HarnessError("harness audit runs the variants given by --variants; drop --compress")
    root = options.out
    plan = [(BASE, "none")] + [(v.folder, v.text) for v in variants]
    executor = open_executor(options)  # one executor (one Ray cluster) for every run
    try:
        for folder, spec in plan:
            summary = run(replace(options, out=root / folder, compress=spec), argv, executor)
            keep_speed(root / folder, summary)
    finally:
        executor.close()
    return compare_runs(root, [f for f, _ in plan], options, replicates=replicates, confidence=confidence)


def compare_runs(
    root: Path, folders: Sequence[str], options: RunOptions, *, replicates: int, confidence: float
) -> AuditResult:
    base_run = load_run(root / folders[0])
    base = _variant(root, folders[0], base_run, ())
    results = []
    for folder in folders[1:]:
        cand = load_run(root / folder)
        rows = tuple(_rows(base_run, cand, options.seed, replicates, confidence))
        results.append(_variant(root, folder, cand, rows))
    suites = tuple(base_run.summary["suites"])
    notes = []
    if any(r.test == "paired bootstrap" for v in results for r in v.rows):
        notes.append(f"paired bootstrap: {replicates} resamples of the shared items, seed {options.seed}")
    return AuditResult(
        model=str(base_run.summary["model"].get("preset") or base_run.summary["model"]["name"]),
        suites=suites,
        seed=options.seed,
        confidence=confidence,
        replicates=replicates,
        limit=options.limit,
        base=base,
        variants=tuple(replace(v, headline=headline(v)) for v in results),
        notes=tuple(notes),
    )


def _variant(root: Path, folder: str, run_: Run, rows: tuple[MetricRow, ...]) -> VariantResult:
    model = run_.summary["model"]
    record = dict((model.get("details") or {}).get("compression") or {})
    return VariantResult(
        name=folder,
        spec=str(record.get("spec", "none")),
        folder=str(root / folder),
        fingerprint=str(model["fingerprint"]),
        transform={k: v for k, v in record.items() if k not in ("speed", "modules")},
        size_speed=_size_speed(root / folder, run_, record),
        rows=rows,
    )


def keep_speed(folder: Path, summary: dict[str, Any]) -> None:
    """Keep the speed a run measured in <folder>/speed.json: a later run of the same audit that
    never loads the model (answered from the journal or the call cache) measures none."""
    record = (summary["model"].get("details") or {}).get("compression") or {}
    speed = record.get("speed") or {}
    if record.get("measured_in_this_run") and speed.get("tokens_per_s") is not None:
        kept = {"tokens_per_s": speed["tokens_per_s"], "load_time_s": record.get("load_time_s"),
                "wall_time_s": summary.get("wall_time_s"), "fingerprint": summary["model"]["fingerprint"],
                "measured_at": summary.get("created_at")}  # fmt: skip
        atomic_write_text(folder / "speed.json", json.dumps(kept, indent=1))


def _size_speed(folder: Path, run_: Run, record: dict[str, Any]) -> SizeSpeed:
    """The size from the transform's record; the speed from <folder>/speed.json (keep_speed)."""
    try:
        kept = json.loads((folder / "speed.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        kept = {}
    if kept.get("fingerprint") != run_.summary["model"]["fingerprint"]:
        kept = {}
    if kept and record.get("measured_in_this_run"):
        measured = "measured in this run"
    elif kept:
        measured = "measured in an earlier run of this audit"
    elif (run_.summary.get("executor") or {}).get("name") == "ray":
        measured = "speed not measured: the model ran on Ray workers (size and load time are the workers' record)"
    else:
        measured = (
            "not measured: the model was not run (every call answered from the journal or call cache); "
            "audit into a new folder with --no-cache to measure"
        )
    return SizeSpeed(
        weight_bytes=record.get("weight_bytes_after"),
        weight_bytes_packed=record.get("weight_bytes_packed"),
        load_time_s=kept.get("load_time_s", record.get("load_time_s")),
        tokens_per_s=kept.get("tokens_per_s"),
        wall_time_s=kept.get("wall_time_s"),
        measured=measured,
    )


def _rows(base: Run, cand: Run, seed: int, replicates: int, confidence: float) -> list[MetricRow]:
    rows: list[MetricRow] = []
    for suite, b_entry in base.summary["suites"].items():
        c_entry = cand.summary["suites"].get(suite)
        specs = metric_specs(b_entry)
        problem = _mismatch(suite, b_entry, c_entry)
        kind = suite_kind(suite, str(b_entry.get("kind"))) if problem is None else problem
        records = [load_records(base, suite), load_records(cand, suite)] if problem is None else []
        problem = problem or (kind if isinstance(kind, str) else None)
        problem = problem or next((r for r in records if isinstance(r, str)), None)
        paired: dict[str, Paired] = {}
        if problem is None:
            try:
                paired = compare(kind, specs, records[0], records[1], seed=seed, replicates=replicates, confidence=confidence)  # type: ignore[arg-type]
            except RECORD_ERRORS as e:
                problem = f"the records cannot be read ({type(e).__name__}: {e})"
        for spec in specs:
            rows.append(_row(suite, spec, paired.get(spec.name), problem, confidence))
    return rows


def _mismatch(suite: str, b: dict[str, Any], c: dict[str, Any] | None) -> str | None:
    if c is None:
        return f"suite {suite} is missing from the variant's run"
    if b.get("protocol") != c.get("protocol"):
        return f"protocol ids differ: {b.get('protocol')!r} vs {c.get('protocol')!r}"
    if (b.get("data") or {}).get("sha256") != (c.get("data") or {}).get("sha256"):
        return "the runs used different data"
    return None


def _row(suite: str, spec: MetricSpec, p: Paired | None, problem: str | None, confidence: float) -> MetricRow:
    common = dict(suite=suite, metric=spec.name, direction=spec.direction, target=spec.target)
    if p is None or p.diff is None:
        reason = problem or (p.reason if p is not None else "not compared")
        base = p.baseline if p is not None else None
        value = p.candidate if p is not None else None
        return MetricRow(**common, base=base, value=value, diff=None, diff_ci=None, test="none", p_value=None,
                         significant=None, worse=None, n=p.n if p is not None else 0, reason=reason)  # fmt: skip
    alpha = 1 - confidence
    if p.mcnemar is not None:
        test, p_value = "McNemar exact", p.mcnemar.p_value
        significant: bool | None = p_value < alpha
    elif p.diff_ci is not None:
        test, p_value = "paired bootstrap", None
        significant = p.diff_ci[0] > 0 or p.diff_ci[1] < 0
    else:
        test, p_value, significant = "none", None, None
    worse = None if not p.worsening else p.worsening > 0
    return MetricRow(**common, base=p.baseline, value=p.candidate, diff=p.diff, diff_ci=p.diff_ci, test=test,
                     p_value=p_value, significant=significant, worse=worse, n=p.n, reason=p.reason)  # fmt: skip


def headline(v: VariantResult) -> str:
    """One sentence: the perplexity cost, then the safety metrics that moved significantly."""
    cost = next((r for r in v.rows if (r.suite, r.metric) == COST_METRIC), None)
    said = None
    if cost is not None and cost.diff is not None:
        said = f"{v.name} costs {cost.diff:+.3g} bits per byte ({'significant' if cost.significant else 'not significant'})"
    safety = [r for r in v.rows if r.suite != COST_METRIC[0]]
    if not safety:
        return said or f"{v.name}: no suite compared"
    moved = [r for r in safety if r.significant and r.diff is not None]
    if moved:
        changes = ", ".join(f"{r.suite} {r.metric} by {r.diff:+.3g} ({'worse' if r.worse else 'better'})" for r in moved)
        what = f"moves {changes}"
    else:
        what = "moves no safety metric significantly"
    return f"{said} and {what}" if said else f"{v.name} {what}"
