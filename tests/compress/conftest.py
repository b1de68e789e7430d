"""Fixtures for the compression tests: tiny models built once per session (seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_llama


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 2-layer Llama whose output head is tied to its embedding (as SmolLM2's is)."""
    return build_tiny_llama(tmp_path_factory.mktemp("compress") / "tiny-llama")


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Path:
    """A random 2-layer GPT-2 (Conv1D layers, tied head) with the tiny Llama's tokenizer."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    folder = tmp_path_factory.mktemp("compress") / "tiny-gpt2"
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=400, n_positions=64, n_embd=32, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(folder)
    for f in tiny_llama.glob("*token*"):
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(scope="session")
def trained_scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A from-scratch checkpoint trained for 30 steps: its predictions depend on its weights, so
    pruning most of them shows (a random model's near-uniform outputs barely would)."""
    import torch

    from dataclasses import replace

    from harness.scratch.trainer import Trainer
    from tests.scratch.scratch_helpers import TINY_MODEL, tiny_run, write_corpus

    root = tmp_path_factory.mktemp("compress-scratch")
    corpus = write_corpus(root / "corpus.txt")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # a block of 128 tokens: CrowS-Pairs sentences are longer than the tests' usual 48
        Trainer(replace(tiny_run(root / "tiny", corpus), model=replace(TINY_MODEL, block_size=128))).fit()
    finally:
        torch.set_num_threads(before)
    return root / "tiny"
