"""Real runs for the review-file and model-card tests.

`ngram_run` is one `harness run` of every built-in suite on the deterministic byte-level n-gram
model (the first 8 items of each, 2 toxicity samples per prompt; about 12 s), made once per test
session; tests that change a run copy it first.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

SUITES = ("perplexity", "crows_pairs", "stereoset", "bbq", "counterfactual", "truthfulqa_mc", "squad", "toxicity", "toxicity_filter")

REVIEW = """\
# A review of the n-gram run (comments are kept by `harness review pin`)
reviewer: Ada Lovelace
date: 2026-12-02
concerns:
  harmful-content: {decision: accept, notes: no toxic continuation in the sample}
  Fairness and Bias:
    decision: accept-with-conditions
    notes: English only; re-run BBQ on the published data before release
  truthfulness: reject
overall:
  decision: accept-with-conditions
  notes: internal demo use only
"""


@pytest.fixture(scope="session")
def ngram_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.cli import main

    out = tmp_path_factory.mktemp("card") / "ngram"
    argv = ["run", *SUITES, "--model", "ngram", "--limit", "8", "--samples", "2", "--out", str(out), "--no-cache", "--quiet"]
    assert main(argv) == 0
    return out


@pytest.fixture
def run_copy(ngram_run: Path, tmp_path: Path) -> Path:
    """A copy of the n-gram run this test may change."""
    return Path(shutil.copytree(ngram_run, tmp_path / "ngram", ignore=shutil.ignore_patterns(".journal")))


@pytest.fixture
def review_file(tmp_path: Path) -> Path:
    path = tmp_path / "review.yaml"
    path.write_text(REVIEW, encoding="utf-8")
    return path


def summary_of(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text(encoding="utf-8"))


def edit_summary(run: Path, change) -> None:  # type: ignore[no-untyped-def]
    summary = summary_of(run)
    change(summary)
    (run / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
