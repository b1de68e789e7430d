"""Exposure of a canary (Carlini et al. 2019, "The Secret Sharer", section 4).

The log-perplexity of a sequence is Px(s) = -log2 Pr(s) (bits, summed over its tokens). The
rank of a canary s[r] is its position when every candidate s[r'] of the randomness space R is
sorted by log-perplexity, lowest first (rank 1: the model finds it the most likely secret).

    exposure(s[r]) = log2 |R| - log2 rank(s[r])

Exact: when R is small enough to score every candidate, rank = 1 + #{r' != r : Px(s[r']) <
Px(s[r])} (ties go in the canary's favour: the lowest rank it shares). Extrapolated (section
4.3 of the paper): fit a skew-normal distribution to the log-perplexities of candidates sampled
uniformly from R, and estimate exposure = -log2 CDF(Px(s[r])), the fraction of R below the
canary read from the fitted distribution. The estimate is capped at log2 |R| (rank 1), which the
exact definition cannot exceed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def exposure_from_rank(rank: int, space_size: int) -> float:
    if not 1 <= rank <= space_size:
        raise ValueError(f"rank {rank} outside 1..{space_size}")
    return math.log2(space_size) - math.log2(rank)


def exact_rank(canary: float, others: np.ndarray) -> int:
    """1 + the number of other candidates with a strictly lower log-perplexity."""
    return 1 + int(np.sum(np.asarray(others) < canary))


@dataclass(frozen=True)
class SkewNormalFit:
    """scipy.stats.skewnorm parameters fitted to sampled candidates' log-perplexities."""

    a: float  # shape (skewness)
    loc: float
    scale: float
    n: int  # candidates it was fitted on

    @staticmethod
    def fit(samples: np.ndarray) -> SkewNormalFit:
        from scipy.stats import skewnorm

        x = np.asarray(samples, dtype=float)
        if len(x) < 3 or not np.all(np.isfinite(x)):
            raise ValueError("a skew-normal fit needs at least three finite log-perplexities")
        a, loc, scale = skewnorm.fit(x)
        return SkewNormalFit(float(a), float(loc), float(scale), len(x))

    def log2_cdf(self, x: float) -> float:
        from scipy.stats import skewnorm

        return float(skewnorm.logcdf(x, self.a, self.loc, self.scale)) / math.log(2)

    def exposure(self, canary: float, space_size: int) -> float:
        """-log2 CDF(canary), capped at log2 |R| (an estimated rank of at least 1)."""
        return min(-self.log2_cdf(canary), math.log2(space_size))
