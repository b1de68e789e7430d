"""Confidence intervals: t intervals for means, seeded percentile bootstrap for everything else."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

N_BOOTSTRAP = 1000
CONFIDENCE = 0.95


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """t interval for a mean (standard error s/sqrt(n)); None with fewer than two values."""
    from scipy import stats as sps  # imported here: scipy.stats takes a second to import

    x = np.asarray(values, dtype=float)
    if len(x) < 2:
        return None
    m = float(x.mean())
    se = float(x.std(ddof=1)) / math.sqrt(len(x))
    if se == 0.0:
        return (m, m)
    half = float(sps.t.ppf(0.5 + confidence / 2, df=len(x) - 1)) * se
    return (m - half, m + half)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n_units: int,
    *,
    seed: int,
    replicates: int = N_BOOTSTRAP,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile bootstrap over sampling units (documents, items, prompts).

    `statistic(indices)` computes the metric on the units at `indices` (with repeats). Replicates
    whose statistic is undefined (NaN or inf) are dropped; None when fewer than half remain or
    there are fewer than two units.
    """
    if n_units < 2:
        return None
    rng = np.random.default_rng(seed)
    values = np.empty(replicates)
    for r in range(replicates):
        values[r] = statistic(rng.integers(0, n_units, n_units))
    values = values[np.isfinite(values)]
    if len(values) < replicates / 2:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return (float(lo), float(hi))
