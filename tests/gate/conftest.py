"""A real perplexity run on the fast n-gram model, made once per test module."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # runfixtures, shared with tests/report


@pytest.fixture(scope="module")
def ngram_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from harness.cli import main

    out = tmp_path_factory.mktemp("ngram") / "run"
    code = main(["run", "perplexity", "--model", "ngram", "--limit", "10", "--out", str(out), "--no-cache", "--quiet"])
    assert code == 0
    return out
