"""Test helpers for the from-scratch model: a corpus of the tests' own prose and a test-sized config."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from harness.scratch.model import GPTConfig
from harness.scratch.trainer import TrainConfig, TrainRun

SUBJECTS = ["the gardener", "a small robot", "my neighbour", "the old clock", "every student", "the river pilot"]
VERBS = ["repairs", "paints", "counts", "carries", "describes", "measures"]
OBJECTS = ["the wooden fence", "seven blue lanterns", "a quiet harbour", "the morning bread", "two paper kites"]
PLACES = ["before noon", "near the station", "after the rain", "in the library", "on long winter evenings"]

TINY_MODEL = GPTConfig(vocab_size=320, block_size=48, n_layer=2, n_head=2, n_embd=32)
TINY_TRAIN = TrainConfig(
    steps=30, batch_size=8, warmup_steps=5, learning_rate=1e-2, val_fraction=0.1, eval_every=10,
    eval_windows=16, checkpoint_every=10, log_every=1, seed=7, precision="float32", device="cpu", peak_tflops=1.0,
)


def write_corpus(path: Path, n_paragraphs: int = 120, seed: int = 0) -> Path:
    """Paragraphs of simple generated sentences: structured enough that a tiny model learns fast."""
    rng = random.Random(seed)
    paragraphs = []
    for _ in range(n_paragraphs):
        sentences = [
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(PLACES)}."
            for _ in range(rng.randint(2, 4))
        ]
        paragraphs.append(" ".join(sentences))
    path.write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return path


def tiny_run(out: Path, corpus: Path, **train_overrides) -> TrainRun:
    return TrainRun(model=TINY_MODEL, train=replace(TINY_TRAIN, **train_overrides), out=out, corpus=(corpus,))
