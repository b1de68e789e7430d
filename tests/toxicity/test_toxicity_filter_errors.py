"""The toxicity_filter suite: the threshold from `--classifier NAME:T`, classifier failures on
clean and obfuscated texts recorded and counted, and the bootstrap drawn in bounded batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from harness.resources import load_suite_spec
from harness.results import load_samples, load_summary
from harness.suites.toxicity_filter import ToxicityFilterSuite
from harness.toxicity import filter_metrics as fm
from harness.toxicity.base import ClassifierInfo, Scores
from harness.toxicity.obfuscate import ZERO_WIDTH_SPACE


@pytest.mark.parametrize("threshold", [0.3, 0.9])
def test_the_threshold_after_the_colon_is_the_one_the_metrics_use(run_cli, tmp_path: Path, threshold: float) -> None:
    code, _, err = run_cli("run", "toxicity_filter", "--classifier", f"profanity-check:{threshold}", "--out", tmp_path, "--quiet")
    assert code == 0, err
    entry = load_summary(tmp_path)["suites"]["toxicity_filter"]
    assert f"threshold={threshold:g}" in entry["protocol"]
    samples = load_samples(tmp_path, "toxicity_filter")
    y = np.array([r["label"] for r in samples])
    pred = (np.array([r["score"] for r in samples]) >= threshold).astype(int)
    assert (pred != (np.array([r["score"] for r in samples]) >= 0.5)).any()  # the threshold matters here
    m = {k: v["value"] for k, v in entry["metrics"].items()}
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    tn, fp, fn, tp = skm.confusion_matrix(y, pred).ravel()
    assert m["fpr"] == pytest.approx(fp / (fp + tn))


class FailingClassifier:
    """Fails on texts with a zero-width space (every zero_width variant) and on one clean text."""

    info = ClassifierInfo("failing", "test", "1", 0.5)

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def score(self, texts):  # type: ignore[no-untyped-def]
        tox = [None if ZERO_WIDTH_SPACE in t or t == self.bad else min(len(t) / 60, 1.0) for t in texts]
        return Scores(tuple(tox), tuple(None if x is not None else "backend failure" for x in tox))


def test_failures_are_recorded_on_the_sample_and_counted() -> None:
    kind = ToxicityFilterSuite(load_suite_spec("toxicity_filter"))
    items = kind.load(None).items
    bad = next(it for it in items if it.label == 0)
    kind.__dict__["classifier"] = FailingClassifier(bad.text)
    records = kind.evaluate(None, items, seed=0)
    toxic = [r for r in records if r["label"] == 1]
    assert toxic and all(r["obfuscated"]["zero_width"] is None for r in toxic)
    assert all(r["obfuscation_errors"] == {"zero_width": "backend failure"} for r in toxic)
    assert all("obfuscation_errors" not in r for r in records if r["label"] == 0)
    ok = [r for r in records if "error" not in r]
    errored = [r for r in records if "error" in r]
    assert [r["id"] for r in errored] == [bad.id]
    result = kind.aggregate(ok, seed=0, errored=errored)
    m = result.metrics
    assert m["classifier_error_rate"].value == pytest.approx(1 / len(items)) and m["classifier_error_rate"].n == len(items)
    assert m["obfuscation_error_rate"].value == pytest.approx(1 / 5)  # one of five obfuscations, every toxic item
    assert m["robustness_zero_width"].value is None and "no toxic items scored" in (m["robustness_zero_width"].reason or "")
    assert m["robustness_leetspeak"].value is not None
    # Without the errored record the clean failure would go uncounted.
    assert kind.aggregate(ok, seed=0).metrics["classifier_error_rate"].value == 0.0
    assert kind.point_estimates(ok)["obfuscation_error_rate"] == pytest.approx(1 / 5)


def test_the_bootstrap_is_drawn_in_bounded_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    kind = ToxicityFilterSuite(load_suite_spec("toxicity_filter"))
    items = kind.load(None).items
    kind.__dict__["classifier"] = FailingClassifier("")
    records = [r for r in kind.evaluate(None, items, seed=0) if "error" not in r]
    before = kind.aggregate(records, seed=5)
    sizes: list[int] = []
    statistics = kind._statistics

    def spy(a, w):  # type: ignore[no-untyped-def]
        sizes.append(np.size(w))
        return statistics(a, w)

    monkeypatch.setattr(kind, "_statistics", spy)
    monkeypatch.setattr(fm, "BOOTSTRAP_ELEMENTS", 3 * len(records))
    after = kind.aggregate(records, seed=5)
    assert max(sizes) == 3 * len(records) and len(sizes) == 1 + -(-1000 // 3)  # point estimate + batches
    assert {k: (v.value, v.ci) for k, v in after.metrics.items()} == {k: (v.value, v.ci) for k, v in before.metrics.items()}


def test_weight_batches_equal_one_draw_and_stay_bounded() -> None:
    n, seed = 23, 11
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, (1000, n))
    whole = np.stack([np.bincount(row, minlength=n) for row in draws]).astype(float)
    batches = list(fm.bootstrap_weight_batches(n, seed, max_elements=5 * n + 3))
    assert all(b.shape == (5, n) for b in batches) and len(batches) == 200
    assert np.array_equal(np.concatenate(batches), whole)
    assert np.array_equal(fm.bootstrap_weights(n, seed), whole)
    assert all(b.shape[0] == fm.BOOTSTRAP_ROWS for b in fm.bootstrap_weight_batches(n, seed))


def test_weighted_estimates_equal_point_estimates_on_resampled_records() -> None:
    """The gate's vectorised bootstrap path gives what point_estimates gives on each resample."""
    suite = ToxicityFilterSuite(load_suite_spec("toxicity_filter"))
    dataset = suite.load(None)
    records = suite.evaluate(None, dataset.items, 1234)
    records[3] = {**records[3], "obfuscated": {**records[3]["obfuscated"], "leetspeak": None}}  # one failure
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, len(records), len(records)) for _ in range(4)]
    weights = np.stack([np.bincount(d, minlength=len(records)) for d in draws]).astype(float)
    batched = suite.weighted_estimates(records, weights)
    for row, draw in enumerate(draws):
        expected = suite.point_estimates([records[i] for i in draw])
        for name, value in expected.items():
            got = batched[name][row]
            assert (value is None and not np.isfinite(got)) or got == pytest.approx(value, abs=1e-9), name
