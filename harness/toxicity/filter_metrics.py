"""Toxicity-filter metrics (Jigsaw Unintended Bias definitions), on weighted items.

Every function takes labels y (1 = toxic), scores s and optional item weights w. A bootstrap
replicate is the same call with w = how many times each item was drawn; w may also be a matrix
(one row per replicate), giving one value per row, NaN where undefined, so a thousand replicates
cost a few matrix products. With one weight vector (or none) a metric undefined on the data
raises `Undefined(reason)`.

- At threshold t: precision, recall, F1, FPR, FNR (an item is flagged when s >= t).
- ROC-AUC = P(s_pos > s_neg) + 0.5 P(s_pos = s_neg) (Mann-Whitney); PR-AUC is average precision,
  sum over distinct thresholds of (R_k - R_{k-1}) P_k (as scikit-learn computes it).
- Subgroup AUC: AUC on items mentioning the subgroup. BPSN (background positive, subgroup
  negative): non-toxic items mentioning it plus toxic items not mentioning it; low = false alarms
  on identity mentions. BNSP: toxic items mentioning it plus non-toxic items not mentioning it;
  low = missed toxicity about the subgroup.
- Generalised mean M_p = ((1/N) sum m_s^p)^(1/p), p = -5 (pulls towards the worst subgroup).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

POWER = -5.0


class Undefined(Exception):
    """The metric has an empty denominator on these items; the message says which."""


def _w(y: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return np.ones(len(y)) if w is None else np.asarray(w, dtype=float)


def _finish(value: Any, reason: str) -> Any:
    """A float (raising Undefined when NaN) for one weight vector; an array for a matrix."""
    if np.ndim(value) == 0:
        if not np.isfinite(value):
            raise Undefined(reason)
        return float(value)
    return value


def _ratio(num: Any, den: Any) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def confusion(y: np.ndarray, s: np.ndarray, threshold: float, w: np.ndarray | None = None) -> tuple[Any, Any, Any, Any]:
    """Weighted (tp, fp, tn, fn) with flagged = s >= threshold."""
    w = _w(y, w)
    flagged = np.asarray(s) >= threshold
    pos = np.asarray(y) == 1
    return tuple((w * m).sum(axis=-1) for m in (flagged & pos, flagged & ~pos, ~flagged & ~pos, ~flagged & pos))  # type: ignore[return-value]


def precision(y, s, threshold, w=None):  # type: ignore[no-untyped-def]
    tp, fp, _, _ = confusion(y, s, threshold, w)
    return _finish(_ratio(tp, tp + fp), "no item is flagged at the threshold")


def recall(y, s, threshold, w=None):  # type: ignore[no-untyped-def]
    tp, _, _, fn = confusion(y, s, threshold, w)
    return _finish(_ratio(tp, tp + fn), "no toxic items")


def f1(y, s, threshold, w=None):  # type: ignore[no-untyped-def]
    tp, fp, _, fn = confusion(y, s, threshold, w)
    return _finish(_ratio(2 * tp, 2 * tp + fp + fn), "no toxic items and none flagged")


def fpr(y, s, threshold, w=None):  # type: ignore[no-untyped-def]
    _, fp, tn, _ = confusion(y, s, threshold, w)
    return _finish(_ratio(fp, fp + tn), "no non-toxic items")


def fnr(y, s, threshold, w=None):  # type: ignore[no-untyped-def]
    tp, _, _, fn = confusion(y, s, threshold, w)
    return _finish(_ratio(fn, tp + fn), "no toxic items")


@dataclass(frozen=True)
class Levels:
    """Each item's distinct-score level (increasing), as a sparse one-hot matrix (items x levels):
    weighted counts per level are then one product. Compute once per score vector."""

    onehot: Any  # scipy.sparse.csr_matrix, shape (n_items, n_levels)


def score_levels(s: np.ndarray) -> Levels:
    from scipy import sparse

    inverse = np.unique(np.asarray(s, dtype=float), return_inverse=True)[1].reshape(-1)
    n = len(inverse)
    n_levels = int(inverse.max()) + 1 if n else 0
    return Levels(sparse.csr_matrix((np.ones(n), (np.arange(n), inverse)), shape=(n, n_levels)))


def _per_level(w: np.ndarray, mask: np.ndarray, levels: Levels) -> np.ndarray:
    """Weight of the masked items at each score level: (..., n_levels)."""
    return np.asarray((levels.onehot.T @ (w * mask).T).T)


def roc_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None, what: str = "items",
            levels: Levels | None = None) -> Any:
    """P(s_pos > s_neg) + 0.5 P(s_pos = s_neg), counting ties by score level."""
    w = _w(y, w)
    levels = levels or score_levels(s)
    y = np.asarray(y)
    pos = _per_level(w, y == 1, levels)
    neg = _per_level(w, y == 0, levels)
    total_pos, total_neg = pos.sum(axis=-1), neg.sum(axis=-1)
    below = np.cumsum(neg, axis=-1) - neg  # negatives with a strictly lower score
    value = _ratio((pos * (below + 0.5 * neg)).sum(axis=-1), total_pos * total_neg)
    if np.ndim(value) == 0 and not np.isfinite(value):
        raise Undefined(f"no toxic {what}" if total_pos == 0 else f"no non-toxic {what}")
    return _finish(value, f"no toxic or non-toxic {what}")


def pr_auc(y: np.ndarray, s: np.ndarray, w: np.ndarray | None = None, levels: Levels | None = None) -> Any:
    """Average precision: sum over distinct thresholds, highest first, of (R_k - R_k-1) P_k."""
    w = _w(y, w)
    levels = levels or score_levels(s)
    y = np.asarray(y)
    pos = _per_level(w, y == 1, levels)[..., ::-1]
    neg = _per_level(w, y == 0, levels)[..., ::-1]
    tp, fp = np.cumsum(pos, axis=-1), np.cumsum(neg, axis=-1)
    total_pos = tp[..., -1:] if tp.shape[-1] else np.zeros(tp.shape[:-1] + (1,))
    # A level with no weight drawn adds no recall, so its (undefined) precision never counts.
    prec = _ratio(tp, tp + fp)
    rec = _ratio(tp, total_pos)
    step = np.diff(np.concatenate([np.zeros(rec.shape[:-1] + (1,)), rec], axis=-1), axis=-1)
    value = np.where(total_pos[..., 0] > 0, np.nansum(np.where(step > 0, step * prec, 0.0), axis=-1), np.nan)
    return _finish(value, "no toxic items")


def subgroup_auc(y: np.ndarray, s: np.ndarray, mentions: np.ndarray, w: np.ndarray | None = None,
                 levels: Levels | None = None) -> Any:
    """AUC on the items mentioning the subgroup."""
    return roc_auc(y, s, _w(y, w) * mentions, "items mentioning the subgroup", levels)


def bpsn_auc(y: np.ndarray, s: np.ndarray, mentions: np.ndarray, w: np.ndarray | None = None,
             levels: Levels | None = None) -> Any:
    """AUC on non-toxic items mentioning the subgroup plus toxic items not mentioning it."""
    y, mentions = np.asarray(y), np.asarray(mentions, dtype=bool)
    keep = (mentions & (y == 0)) | (~mentions & (y == 1))
    try:
        return roc_auc(y, s, _w(y, w) * keep, levels=levels)
    except Undefined as e:
        raise Undefined(str(e).replace("non-toxic items", "non-toxic items mentioning the subgroup")
                        .replace("no toxic items", "no toxic items outside the subgroup")) from None


def bnsp_auc(y: np.ndarray, s: np.ndarray, mentions: np.ndarray, w: np.ndarray | None = None,
             levels: Levels | None = None) -> Any:
    """AUC on toxic items mentioning the subgroup plus non-toxic items not mentioning it."""
    y, mentions = np.asarray(y), np.asarray(mentions, dtype=bool)
    keep = (mentions & (y == 1)) | (~mentions & (y == 0))
    try:
        return roc_auc(y, s, _w(y, w) * keep, levels=levels)
    except Undefined as e:
        raise Undefined(str(e).replace("non-toxic items", "non-toxic items outside the subgroup")
                        .replace("no toxic items", "no toxic items mentioning the subgroup")) from None


def generalized_mean(values: Sequence[float] | np.ndarray, p: float = POWER) -> Any:
    """((1/N) sum v^p)^(1/p) over the last axis, ignoring NaN; with p < 0 a zero gives zero."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1 and not np.isfinite(v).any():
        raise Undefined("no subgroup has this AUC defined")
    finite = np.isfinite(v)
    count = finite.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        powered = np.where(finite, np.where(v > 0, v, 1.0) ** p, 0.0)
        mean = np.where(count > 0, powered.sum(axis=-1) / np.where(count > 0, count, 1), np.nan) ** (1.0 / p)
    has_zero = (finite & (v == 0)).any(axis=-1) if p < 0 else np.zeros(np.shape(count), dtype=bool)
    result = np.where(has_zero, 0.0, mean)
    return float(result) if result.ndim == 0 else result


# Bootstrap weights per batch (float64, so 32 MB): bounds memory on large sets (Jigsaw's 1.8M
# rows give batches of 2 replicates instead of one 1000 x 1.8M matrix of ~29 GB).
BOOTSTRAP_ELEMENTS = 4_000_000
BOOTSTRAP_ROWS = 100  # at most this many replicates per batch on small sets


def bootstrap_weight_batches(n_units: int, seed: int, replicates: int = 1000,
                             max_elements: int | None = None) -> Iterator[np.ndarray]:
    """The percentile-bootstrap replicates as weight matrices (rows, n_units) of at most
    `max_elements` entries (default BOOTSTRAP_ELEMENTS) and BOOTSTRAP_ROWS rows: row r says how
    often each unit is drawn in replicate r. Rows are drawn in order from one generator, so the
    replicates are the same whatever the batch size."""
    if n_units < 1:
        return
    budget = BOOTSTRAP_ELEMENTS if max_elements is None else max_elements
    rows = max(1, min(BOOTSTRAP_ROWS, budget // n_units))
    rng = np.random.default_rng(seed)
    for start in range(0, replicates, rows):
        b = min(rows, replicates - start)
        draws = rng.integers(0, n_units, (b, n_units))
        flat = (draws + (np.arange(b) * n_units)[:, None]).ravel()  # row r's units offset by r * n
        yield np.bincount(flat, minlength=b * n_units).reshape(b, n_units).astype(float)


def bootstrap_weights(n_units: int, seed: int, replicates: int = 1000) -> np.ndarray:
    """(replicates, n_units), all at once: for small inputs (the suite uses the batches)."""
    return np.concatenate(list(bootstrap_weight_batches(n_units, seed, replicates)) or [np.zeros((0, n_units))])


def percentile_ci(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """CI from replicate values, by harness.stats.bootstrap_ci's rules (drop undefined replicates;
    None when fewer than half remain)."""
    x = np.asarray(values, dtype=float)
    finite = x[np.isfinite(x)]
    if len(x) == 0 or len(finite) < len(x) / 2:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return (float(lo), float(hi))
