"""Filter metrics against scikit-learn and hand-computed values; weighted = repeated items."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from harness.toxicity import filter_metrics as fm

Y = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 1])
S = np.array([0.9, 0.7, 0.4, 0.4, 0.2, 0.8, 0.1, 0.4, 0.5, 0.95])  # ties at 0.4 across classes


def test_threshold_metrics_match_sklearn() -> None:
    pred = (S >= 0.5).astype(int)
    assert fm.precision(Y, S, 0.5) == pytest.approx(skm.precision_score(Y, pred))
    assert fm.recall(Y, S, 0.5) == pytest.approx(skm.recall_score(Y, pred))
    assert fm.f1(Y, S, 0.5) == pytest.approx(skm.f1_score(Y, pred))
    tn, fp, fn, tp = skm.confusion_matrix(Y, pred).ravel()
    assert fm.fpr(Y, S, 0.5) == pytest.approx(fp / (fp + tn))
    assert fm.fnr(Y, S, 0.5) == pytest.approx(fn / (fn + tp))


def test_threshold_metrics_by_hand() -> None:
    # flagged (>= 0.5): 0.9(+) 0.7(+) 0.8(-) 0.5(-) 0.95(+) -> tp 3, fp 2; toxic 5 -> fn 2; non-toxic 5 -> tn 3
    assert fm.precision(Y, S, 0.5) == pytest.approx(3 / 5)
    assert fm.recall(Y, S, 0.5) == pytest.approx(3 / 5)
    assert fm.fpr(Y, S, 0.5) == pytest.approx(2 / 5)


def test_auc_and_average_precision_match_sklearn() -> None:
    assert fm.roc_auc(Y, S) == pytest.approx(skm.roc_auc_score(Y, S))
    assert fm.pr_auc(Y, S) == pytest.approx(skm.average_precision_score(Y, S))
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 2, 40)
        s = rng.integers(0, 6, 40) / 5.0  # many ties
        if 0 < y.sum() < len(y):
            assert fm.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))
            assert fm.pr_auc(y, s) == pytest.approx(skm.average_precision_score(y, s))


def test_auc_by_hand_with_a_tie() -> None:
    # positives 0.8, 0.4; negatives 0.4, 0.1: pairs (0.8>0.4)=1 (0.8>0.1)=1 (0.4=0.4)=0.5 (0.4>0.1)=1
    assert fm.roc_auc(np.array([1, 1, 0, 0]), np.array([0.8, 0.4, 0.4, 0.1])) == pytest.approx(3.5 / 4)


def test_weights_equal_repeated_items_and_matrix_rows_equal_vectors() -> None:
    w = np.array([2, 0, 1, 3, 1, 0, 2, 1, 1, 1], dtype=float)
    rep = np.repeat(np.arange(len(Y)), w.astype(int))
    assert fm.roc_auc(Y, S, w) == pytest.approx(skm.roc_auc_score(Y[rep], S[rep]))
    assert fm.pr_auc(Y, S, w) == pytest.approx(skm.average_precision_score(Y[rep], S[rep]))
    assert fm.f1(Y, S, 0.5, w) == pytest.approx(skm.f1_score(Y[rep], (S[rep] >= 0.5).astype(int)))
    W = fm.bootstrap_weights(len(Y), seed=3, replicates=50)
    batch = fm.roc_auc(Y, S, W)
    for row, value in zip(W, batch):
        try:
            expected = fm.roc_auc(Y, S, row)
        except fm.Undefined:
            assert math.isnan(value)
        else:
            assert value == pytest.approx(expected)
    assert np.allclose(fm.pr_auc(Y, S, W[:5]), [fm.pr_auc(Y, S, r) for r in W[:5]])


def test_bpsn_bnsp_and_subgroup_auc_by_hand() -> None:
    y = np.array([1, 0, 1, 0, 1, 0])
    s = np.array([0.9, 0.6, 0.7, 0.2, 0.5, 0.3])
    m = np.array([True, True, False, False, False, False])
    assert fm.subgroup_auc(y, s, m) == pytest.approx(1.0)  # 0.9 vs 0.6
    # BPSN: subgroup negatives {0.6} vs background positives {0.7, 0.5}: 0.7>0.6, 0.5<0.6 -> 1/2
    assert fm.bpsn_auc(y, s, m) == pytest.approx(0.5)
    # BNSP: subgroup positives {0.9} vs background negatives {0.2, 0.3} -> 1
    assert fm.bnsp_auc(y, s, m) == pytest.approx(1.0)


def test_filter_that_flags_identity_terms_gets_low_bpsn() -> None:
    # A keyword filter: flags anything mentioning the group, and insults only weakly.
    texts_mention = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    y = np.array([1, 0, 0, 0, 1, 1, 0, 0])
    s = np.where(texts_mention, 0.9, 0.0) + np.where(y == 1, 0.05, 0.0)
    assert fm.bpsn_auc(y, s, texts_mention) == 0.0  # every non-toxic mention outranks every background insult
    assert fm.bnsp_auc(y, s, texts_mention) == 1.0
    assert fm.roc_auc(y, s) < 0.75


def test_generalized_mean_by_hand() -> None:
    values = [0.9, 0.6]
    expected = ((0.9**-5 + 0.6**-5) / 2) ** (-1 / 5)
    assert fm.generalized_mean(values) == pytest.approx(expected)
    assert fm.generalized_mean(values) < np.mean(values)  # pulled towards the worst subgroup
    assert fm.generalized_mean([0.8, 0.0]) == 0.0
    assert fm.generalized_mean([0.7, math.nan]) == pytest.approx(0.7)  # undefined subgroups skipped
    batch = fm.generalized_mean(np.array([[0.9, 0.6], [0.5, math.nan]]))
    assert batch == pytest.approx([expected, 0.5])


def test_undefined_metrics_raise_with_a_reason() -> None:
    y = np.array([0, 0, 0])
    s = np.array([0.1, 0.7, 0.3])
    with pytest.raises(fm.Undefined, match="no toxic items"):
        fm.roc_auc(y, s)
    with pytest.raises(fm.Undefined, match="no toxic items"):
        fm.recall(y, s, 0.5)
    with pytest.raises(fm.Undefined, match="no item is flagged"):
        fm.precision(y, np.zeros(3), 0.5)
    with pytest.raises(fm.Undefined, match="mentioning the subgroup"):
        fm.subgroup_auc(np.array([1, 0, 0]), s, np.array([False, True, True]))
    with pytest.raises(fm.Undefined, match="no subgroup"):
        fm.generalized_mean([math.nan])
    assert math.isnan(fm.roc_auc(y, s, np.ones((2, 3)))[0])  # replicates: NaN, no exception


def test_percentile_ci_drops_undefined_replicates() -> None:
    assert fm.percentile_ci(np.array([math.nan] * 6 + [1.0] * 4)) is None
    lo, hi = fm.percentile_ci(np.arange(101, dtype=float))  # type: ignore[misc]
    assert (lo, hi) == pytest.approx((2.5, 97.5))
