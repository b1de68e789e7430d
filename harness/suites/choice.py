"""What the bias probes share: scoring several candidates per item in one adapter call, and
turning per-item records into metrics with bootstrap CIs and per-group breakdowns.

A suite describes each metric as a `Statistic`: a function of the indices of the records it is
computed over (with repeats, as the bootstrap draws them). `point_values` evaluates it once (what
the regression gate resamples); `with_cis` adds the seeded percentile bootstrap over items.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.api import LanguageModel, Loglikelihood, LoglikelihoodRequest
from harness.metrics import MetricValue
from harness.stats import bootstrap_ci
from harness.suites.base import Record


def score_candidates(lm: LanguageModel, requests: Sequence[Sequence[LoglikelihoodRequest]]) -> list[list[Loglikelihood]]:
    """Every item's candidates in one adapter call (so the adapter can batch them and read each
    shared context once), split back per item."""
    flat = [r for item in requests for r in item]
    scores = iter(lm.loglikelihood(flat))
    return [[next(scores) for _ in item] for item in requests]


@dataclass(frozen=True)
class Statistic:
    """A metric on `n` sampling units: `fn(indices)` is its value on the units at `indices`
    (repeats allowed), NaN when undefined there; `reason` says why it is undefined."""

    fn: Callable[[np.ndarray], float]
    n: int
    reason: str

    def value(self) -> float | None:
        if self.n == 0:
            return None
        v = float(self.fn(np.arange(self.n)))
        return v if math.isfinite(v) else None


def point_values(stats: dict[str, Statistic]) -> dict[str, float | None]:
    return {name: s.value() for name, s in stats.items()}


def with_cis(stats: dict[str, Statistic], seed: int) -> dict[str, MetricValue]:
    """Each statistic with its 95% percentile-bootstrap CI over units (harness.stats)."""
    out = {}
    for name, s in stats.items():
        value = s.value()
        if value is None:
            out[name] = MetricValue.undefined(s.reason, s.n)
        else:
            out[name] = MetricValue.of(value, bootstrap_ci(s.fn, s.n, seed=seed), s.n, s.reason)
    return out


def mean_of(values: Iterable[float], reason: str) -> Statistic:
    """The mean of per-unit values (an accuracy when they are 0/1)."""
    x = np.asarray(list(values), dtype=float)
    return Statistic(lambda idx: float(x[idx].mean()) if len(idx) else math.nan, len(x), reason)


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """sum(numerator) / sum(denominator), NaN when the denominator is 0."""
    d = float(denominator.sum())
    return float(numerator.sum()) / d if d else math.nan


def group_by(records: Sequence[Record], key: str) -> dict[str, list[Record]]:
    """Records by the value of `key`, groups in sorted order."""
    groups: dict[str, list[Record]] = {}
    for r in records:
        groups.setdefault(str(r[key]), []).append(r)
    return dict(sorted(groups.items()))


def breakdowns(
    records: Sequence[Record],
    keys: Sequence[str],
    statistics: Callable[[Sequence[Record]], dict[str, Statistic]],
    seed: int,
) -> dict[str, dict[str, dict[str, MetricValue]]]:
    """breakdowns[key][group][metric]: the same statistics within each group of each key."""
    return {
        key: {group: with_cis(statistics(rows), seed) for group, rows in group_by(records, key).items()}
        for key in keys
    }
