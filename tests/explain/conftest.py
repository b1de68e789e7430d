"""Fixtures for explanations: the tiny test Llama (hf adapter), a tiny from-scratch checkpoint, and
one real `harness run --explain` over every explainable suite kind on the tiny Llama."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.scratch.scratch_helpers import tiny_run, write_corpus
from tests.tiny_models import build_tiny_llama

SUITES = ("crows_pairs", "stereoset", "bbq", "counterfactual", "truthfulqa_mc")
LIMIT, K, STEPS = 8, 2, 16


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama") / "model")


@pytest.fixture(scope="session")
def tiny_scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A from-scratch checkpoint trained for 30 steps (a few seconds, one thread)."""
    import torch

    from harness.scratch.trainer import Trainer

    root = tmp_path_factory.mktemp("scratch")
    out = root / "tiny"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(tiny_run(out, write_corpus(root / "corpus.txt"))).fit()
    finally:
        torch.set_num_threads(before)
    return out


def run_explained(model: Path, out: Path, *extra: str) -> int:
    from harness.cli import main

    return main(["run", *SUITES, "--model", str(model), "--limit", str(LIMIT), "--explain", str(K),
                 "--explain-steps", str(STEPS), "--out", str(out), "--no-cache", "--quiet", *extra])


@pytest.fixture(scope="session")
def explained_run(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("explained") / "run"
    assert run_explained(tiny_llama, out) == 0
    return out


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
