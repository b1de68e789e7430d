"""Paired comparison of two runs on the items they share.

Both runs are evaluated on the same items, so the difference is estimated per resample of
items: a paired bootstrap draws item indices once and recomputes every metric on the same
items for both runs with the suite kind's `point_estimates(records)`. Metrics that are means of
per-item 0/1 outcomes (declared `binary`) also get McNemar's exact test on the discordant
pairs (METRICS.md, Statistics).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from harness.suites.base import Record


# What a suite kind's point_estimates may raise on records it cannot read (e.g. a run written
# by another version of the kind): the comparison is then undefined, with this as the reason.
RECORD_ERRORS = (KeyError, TypeError, ValueError, IndexError, ZeroDivisionError, AttributeError)


class Estimator(Protocol):
    def point_estimates(self, records: list[Record]) -> dict[str, float | None]: ...


# Optional, on a suite kind whose metrics are vectorised over item weights:
#     weighted_estimates(records, weights) -> {metric: array of R values, NaN where undefined}
# with `weights` an (R, n) array of counts (how often each record is drawn in each of R
# resamples). It must equal point_estimates on the resampled records; the paired bootstrap then
# costs a few batched calls instead of 2 x replicates calls of point_estimates.
WEIGHTED = "weighted_estimates"
BATCH = 100  # resamples per weighted_estimates call (an R x n weight matrix)
# Optional too: item_estimates(records) -> {metric: array of n per-record values, NaN where the
# metric does not apply to the record}, each equal to point_estimates([record]). McNemar's test
# reads the per-item outcomes of the binary metrics it returns from one call instead of two
# point_estimates calls per record and metric (a published BBQ run has 58,492 records).
ITEMWISE = "item_estimates"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    direction: str  # "lower", "higher" or "target"
    target: float | None = None
    binary: bool = False


@dataclass(frozen=True)
class McNemar:
    worse: int  # items right in the baseline and wrong in the candidate (for `higher`)
    better: int
    p_value: float  # exact two-sided binomial test on the discordant pairs


@dataclass(frozen=True)
class Paired:
    """Candidate minus baseline on the shared items; `worsening` is signed so that > 0 is worse."""

    metric: str
    n: int
    baseline: float | None
    candidate: float | None
    diff: float | None
    diff_ci: tuple[float, float] | None
    worsening: float | None
    worsening_ci: tuple[float, float] | None
    mcnemar: McNemar | None = None
    reason: str | None = None  # why the comparison is undefined


def worsening(spec: MetricSpec, baseline: float, candidate: float) -> float:
    if spec.direction == "lower":
        return candidate - baseline
    if spec.direction == "higher":
        return baseline - candidate
    target = spec.target or 0.0
    return abs(candidate - target) - abs(baseline - target)


def shared_records(baseline: Sequence[Record], candidate: Sequence[Record]) -> tuple[list[Record], list[Record]]:
    """Records of the items both runs scored without error, aligned, in the baseline's order."""
    cand = {str(r["id"]): r for r in candidate if "error" not in r}
    pairs = [(r, cand[str(r["id"])]) for r in baseline if "error" not in r and str(r["id"]) in cand]
    return [b for b, _ in pairs], [c for _, c in pairs]


def item_values(kind: Estimator, names: Sequence[str], records: list[Record]) -> dict[str, list[float | None]]:
    """Each named metric on each record alone (None where it does not apply): from the kind's
    item_estimates where it has them, else point_estimates([record]) once per record."""
    out: dict[str, list[float | None]] = {}
    itemwise = getattr(kind, ITEMWISE, None)
    if callable(itemwise) and names:
        found = itemwise(records)
        for name in names:
            if name in found:
                out[name] = [float(v) if math.isfinite(v) else None for v in np.asarray(found[name], dtype=float)]
    rest = [name for name in names if name not in out]
    if rest:
        each = [kind.point_estimates([r]) for r in records]
        for name in rest:
            out[name] = [values.get(name) for values in each]
    return out


def mcnemar(spec: MetricSpec, ids: Sequence[Any], base: Sequence[float | None], cand: Sequence[float | None]) -> McNemar | str:
    """McNemar's exact test from per-item outcomes (item_values of both runs, aligned), or the
    reason it cannot be computed."""
    from scipy.stats import binomtest

    worse = better = 0
    for item, xb, xc in zip(ids, base, cand):
        if xb is None or xc is None:
            continue  # the metric does not apply to this item (e.g. an accuracy over a subset)
        if xb not in (0, 1) or xc not in (0, 1):
            return f"declared binary but item {item!r} scores {xb!r} / {xc!r}, not 0 or 1"
        if xb != xc:
            candidate_worse = (xb > xc) if spec.direction == "higher" else (xc > xb)
            worse += candidate_worse
            better += not candidate_worse
    discordant = worse + better
    p = 1.0 if discordant == 0 else float(binomtest(min(worse, better), discordant, 0.5).pvalue)
    return McNemar(worse, better, min(1.0, p))


def compare(
    kind: Estimator,
    specs: Sequence[MetricSpec],
    baseline: Sequence[Record],
    candidate: Sequence[Record],
    *,
    seed: int,
    replicates: int = 2000,
    confidence: float = 0.95,
) -> dict[str, Paired]:
    """Paired bootstrap (and McNemar for binary metrics) of each metric in `specs`."""
    base, cand = shared_records(baseline, candidate)
    n = len(base)
    point_b = kind.point_estimates(base) if n else {}
    point_c = kind.point_estimates(cand) if n else {}
    diffs = _bootstrap(kind, specs, base, cand, seed, replicates) if n >= 2 else {}
    tested = [s.name for s in specs if s.binary and s.direction in ("higher", "lower")] if n else []
    items_b, items_c = item_values(kind, tested, base), item_values(kind, tested, cand)
    ids = [r["id"] for r in base]
    alpha = (1 - confidence) / 2
    results = {}
    for spec in specs:
        b, c = point_b.get(spec.name), point_c.get(spec.name)
        if n == 0:
            results[spec.name] = _undefined(spec.name, 0, None, None, "the runs share no item scored without error")
            continue
        if b is None or c is None or not (math.isfinite(b) and math.isfinite(c)):
            which = "baseline" if b is None or not math.isfinite(b) else "candidate"
            results[spec.name] = _undefined(spec.name, n, b, c, f"undefined on the shared items of the {which}")
            continue
        diff_ci = worse_ci = None
        reason = "fewer than 2 shared items: no confidence interval" if n < 2 else None
        if n >= 2:
            d, w = diffs[spec.name]
            if len(d) >= replicates / 2:
                diff_ci = _interval(d, alpha)
                worse_ci = _interval(w, alpha)
            else:
                reason = "the metric is undefined on most bootstrap resamples"
        test = None
        if spec.binary and spec.direction in ("higher", "lower"):
            outcome = mcnemar(spec, ids, items_b[spec.name], items_c[spec.name])
            if isinstance(outcome, str):
                reason = outcome
            else:
                test = outcome
        results[spec.name] = Paired(spec.name, n, b, c, c - b, diff_ci, worsening(spec, b, c), worse_ci, test, reason)
    return results


def _undefined(metric: str, n: int, b: float | None, c: float | None, reason: str) -> Paired:
    return Paired(metric, n, b, c, None, None, None, None, None, reason)


def _interval(values: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def _draws(seed: int, n: int, replicates: int) -> Iterator[np.ndarray]:
    """The resamples of item indices, drawn lazily (replicates x n can be large). A resample is a
    multiset: sorting it changes no metric and reads the records in memory order, which is
    markedly faster on large runs."""
    rng = np.random.default_rng(seed)
    return (np.sort(rng.integers(0, n, n)) for _ in range(replicates))


def _bootstrap(
    kind: Estimator, specs: Sequence[MetricSpec], base: list[Record], cand: list[Record], seed: int, replicates: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per metric: the replicates' differences (candidate - baseline) and worsenings."""
    n = len(base)
    weighted = getattr(kind, WEIGHTED, None)
    if not callable(weighted):
        return _looped(kind, specs, base, cand, _draws(seed, n, replicates))
    out = _weighted(weighted, specs, base, cand, _draws(seed, n, replicates))
    rest = [s for s in specs if s.name not in out]  # metrics the kind does not vectorise
    if rest:
        out.update(_looped(kind, rest, base, cand, _draws(seed, n, replicates)))
    return out


def _looped(
    kind: Estimator, specs: Sequence[MetricSpec], base: list[Record], cand: list[Record], draws: Iterator[np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    diffs: dict[str, list[float]] = {s.name: [] for s in specs}
    worse: dict[str, list[float]] = {s.name: [] for s in specs}
    for draw in draws:
        idx = draw.tolist()
        vb = kind.point_estimates([base[i] for i in idx])
        vc = kind.point_estimates([cand[i] for i in idx])
        for spec in specs:
            b, c = vb.get(spec.name), vc.get(spec.name)
            if b is not None and c is not None and math.isfinite(b) and math.isfinite(c):
                diffs[spec.name].append(c - b)
                worse[spec.name].append(worsening(spec, b, c))
    return {name: (np.array(diffs[name]), np.array(worse[name])) for name in diffs}


def _weighted(
    weighted: Any, specs: Sequence[MetricSpec], base: list[Record], cand: list[Record], draws: Iterator[np.ndarray]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The same resamples as `_looped`, as count weights, BATCH at a time; only the metrics the
    kind's weighted_estimates returns."""
    n = len(base)
    diffs: dict[str, list[np.ndarray]] = {}
    worse: dict[str, list[np.ndarray]] = {}
    while batch := list(itertools.islice(draws, BATCH)):
        weights = np.stack([np.bincount(idx, minlength=n) for idx in batch]).astype(float)
        vb, vc = weighted(base, weights), weighted(cand, weights)
        for spec in specs:
            if spec.name in vb and spec.name in vc:
                b, c = np.asarray(vb[spec.name], dtype=float), np.asarray(vc[spec.name], dtype=float)
                ok = np.isfinite(b) & np.isfinite(c)
                diffs.setdefault(spec.name, []).append(c[ok] - b[ok])
                worse.setdefault(spec.name, []).append(worsening(spec, b[ok], c[ok]))  # type: ignore[arg-type]
    return {name: (np.concatenate(diffs[name]), np.concatenate(worse[name])) for name in diffs}


def metric_specs(entry: dict[str, Any]) -> list[MetricSpec]:
    """MetricSpecs from a summary.json suite entry's metric definitions."""
    specs = []
    for name, m in entry.get("metrics", {}).items():
        direction = m.get("direction")
        if direction in ("lower", "higher", "target"):
            specs.append(MetricSpec(name, direction, m.get("target"), bool(m.get("binary", False))))
    return specs
