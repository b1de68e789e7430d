"""Perplexity metrics against values computed independently from the per-document numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.resources import load_suite_spec
from harness.suites.perplexity import PerplexitySuite, read_documents, word_count

RECORDS = [
    {"id": "a", "loglikelihood": -10.0, "tokens": 4, "words": 3, "bytes": 15},
    {"id": "b", "loglikelihood": -30.0, "tokens": 8, "words": 6, "bytes": 40},
    {"id": "c", "loglikelihood": -2.0, "tokens": 1, "words": 1, "bytes": 5},
]


def suite() -> PerplexitySuite:
    return PerplexitySuite(load_suite_spec("perplexity"))


def test_corpus_level_ratios() -> None:
    result = suite().aggregate(RECORDS, seed=0).metrics
    # Σ LL = -42, Σ tokens = 13, Σ words = 10, Σ bytes = 60
    assert result["token_perplexity"].value == pytest.approx(math.exp(42 / 13))
    assert result["word_perplexity"].value == pytest.approx(math.exp(42 / 10))
    assert result["byte_perplexity"].value == pytest.approx(math.exp(42 / 60))
    assert result["bits_per_byte"].value == pytest.approx(42 / (60 * math.log(2)))
    assert suite().point_estimates(RECORDS)["bits_per_byte"] == pytest.approx(42 / (60 * math.log(2)))


def test_bootstrap_ci_is_the_percentile_interval_over_documents() -> None:
    result = suite().aggregate(RECORDS, seed=5).metrics["bits_per_byte"]
    rng = np.random.default_rng(5)
    ll = np.array([-10.0, -30.0, -2.0])
    nbytes = np.array([15.0, 40.0, 5.0])
    reps = []
    for _ in range(1000):
        idx = rng.integers(0, 3, 3)
        reps.append(-ll[idx].sum() / nbytes[idx].sum() / math.log(2))
    lo, hi = np.quantile(reps, [0.025, 0.975])
    assert result.ci == pytest.approx((lo, hi))
    assert result.ci[0] <= result.value <= result.ci[1]
    assert result.n == 3


def test_undefined_metrics_are_null_with_a_reason() -> None:
    result = suite().aggregate([{"id": "a", "loglikelihood": 0.0, "tokens": 0, "words": 1, "bytes": 0}], seed=0)
    assert result.metrics["token_perplexity"].value is None
    assert "no tokens" in result.metrics["token_perplexity"].reason
    assert result.metrics["word_perplexity"].value == pytest.approx(1.0)
    assert result.metrics["word_perplexity"].ci is None  # one document: no interval


def test_word_count_follows_lm_eval() -> None:
    assert word_count("one two  three\nfour") == 4
    assert word_count(" leading space") == 3  # re.split keeps the empty first field


def test_documents_split_on_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "c.txt"
    path.write_bytes("First doc\r\nstill first.\r\n\r\n\r\nSecond doc.\n   \nThird.".encode())
    docs, notes = read_documents(path)
    assert [(d.id, d.text, d.line) for d in docs] == [
        ("doc1", "First doc\nstill first.", 1),
        ("doc2", "Second doc.", 5),
        ("doc3", "Third.", 7),
    ]
    assert "blank lines" in notes


def test_jsonl_documents_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"text": "One.", "id": "x1"}\n\n{"text": "Two."}\n', encoding="utf-8")
    docs, _ = read_documents(path)
    assert [(d.id, d.text) for d in docs] == [("x1", "One."), ("3", "Two.")]
    path.write_text('{"text": "One."}\n{"body": "Two."}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match=r"c\.jsonl:2: expected a string field `text`"):
        read_documents(path)
