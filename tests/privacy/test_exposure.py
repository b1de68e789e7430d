"""Exposure (Carlini et al. 2019) by hand, and the skew-normal extrapolation against exact ranks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import skewnorm

from harness.privacy.exposure import SkewNormalFit, exact_rank, exposure_from_rank


def test_exposure_on_a_toy_space_by_hand() -> None:
    # |R| = 8 secrets; log-perplexities (bits) of the 7 others, the canary at 3.0.
    others = np.array([2.5, 4.0, 5.0, 3.5, 6.0, 3.0, 7.0])
    # Strictly lower: 2.5 only -> rank 2 (the tie at 3.0 goes to the canary).
    assert exact_rank(3.0, others) == 2
    assert exposure_from_rank(2, 8) == pytest.approx(3.0 - 1.0)  # log2 8 - log2 2
    assert exposure_from_rank(1, 8) == pytest.approx(3.0)  # the likeliest secret: all of log2 |R|
    assert exposure_from_rank(8, 8) == 0.0  # the least likely: no exposure
    assert exposure_from_rank(exact_rank(1.0, others), 8) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        exposure_from_rank(9, 8)


def test_skewnormal_extrapolation_matches_exact_enumeration() -> None:
    # A whole space of 50,000 secrets whose log-perplexities follow a skewed distribution; the
    # extrapolation sees 2,000 of them, the exact rank all of them.
    rng = np.random.default_rng(0)
    space = skewnorm.rvs(4.0, loc=40.0, scale=3.0, size=50_000, random_state=rng)
    sample = rng.choice(space, size=2000, replace=False)
    fit = SkewNormalFit.fit(sample)
    order = np.sort(space)
    for rank in (1, 5, 50, 500, 5000, 25_000):
        canary = order[rank - 1]
        exact = exposure_from_rank(exact_rank(canary, np.delete(order, rank - 1)), len(space))
        estimate = fit.exposure(canary, len(space))
        # Within a quarter bit to the top 1% (exposure 6.6); within a bit in the far tail (exposure
        # 10 to 13), which the fit extrapolates from 2,000 samples (measured: +0.16, +0.61, +0.89).
        tolerance = 0.25 if rank >= 500 else 1.0
        assert abs(estimate - exact) < tolerance, (rank, exact, estimate)
    # Capped at log2 |R|: a canary far below every candidate has rank 1.
    assert fit.exposure(order[0] - 100.0, len(space)) == pytest.approx(math.log2(len(space)))
