"""Fixtures for the from-scratch model: one checkpoint trained once per session (a few seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scratch.trainer import Trainer

from .scratch_helpers import tiny_run, write_corpus


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: these models are tiny, and on a busy 2-core machine a second thread only
    waits (restored afterwards for the other test folders)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus") / "corpus.txt")


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, corpus_file: Path):
    """(checkpoint folder, TrainResult) of the tiny config trained for 30 steps."""
    import torch

    out = tmp_path_factory.mktemp("ckpt") / "tiny"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = Trainer(tiny_run(out, corpus_file)).fit()
    finally:
        torch.set_num_threads(before)
    return out, result
