"""Token streams for training: the corpus tokenised, split into train and validation, and batches
that are a pure function of (seed, step).

Every document is preceded by the end-of-text token, so the model learns to start a document
after it (which is how the adapter scores text from the start). Documents are shuffled with the
seed and concatenated; the last `val_fraction` of the tokens are held out for validation.

Because the batch of step s depends only on the seed and s, resuming at step s continues with
exactly the batches the uninterrupted run would have seen (the "data position" is the step),
and a global batch splits the same way over any number of processes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch

from harness.errors import HarnessError
from harness.scratch.corpus import Corpus


@dataclass(frozen=True)
class TokenData:
    train: torch.Tensor  # (N_train,) int64 token ids
    val: torch.Tensor  # (N_val,) int64 token ids
    vocab_size: int


def tokenize_corpus(corpus: Corpus, encode_batch, eot_id: int, vocab_size: int, block_size: int,
                    val_fraction: float, seed: int) -> TokenData:
    """The corpus as train and validation token streams, each long enough for one block."""
    order = list(range(len(corpus.documents)))
    random.Random(seed).shuffle(order)
    encoded = encode_batch([corpus.documents[i] for i in order])
    stream: list[int] = []
    for ids in encoded:
        stream.append(eot_id)
        stream.extend(ids)
    need = block_size + 1  # one block of inputs plus the target after it
    n_val = math.ceil(len(stream) * val_fraction)
    if n_val < need or len(stream) - n_val < need:
        raise HarnessError(
            f"corpus ({corpus.source}) is {len(stream)} tokens, too short: the training and validation "
            f"splits ({1 - val_fraction:.0%}/{val_fraction:.0%}) each need at least block_size + 1 = {need} "
            f"tokens; give more text with --corpus or lower model.block_size"
        )
    tokens = torch.tensor(stream, dtype=torch.long)
    return TokenData(train=tokens[: len(stream) - n_val], val=tokens[len(stream) - n_val :], vocab_size=vocab_size)


def step_offsets(n_tokens: int, block_size: int, count: int, seed: int, step: int) -> torch.Tensor:
    """(count,) random window starts for the global batch of `step`, the same on every process."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return torch.randint(0, n_tokens - block_size, (count,), generator=g)


def windows(stream: torch.Tensor, offsets: torch.Tensor, block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T) and next-token targets (B, T) starting at each offset."""
    index = offsets[:, None] + torch.arange(block_size + 1)  # (B, T + 1)
    chunk = stream[index]  # (B, T + 1)
    return chunk[:, :-1], chunk[:, 1:]


def val_offsets(n_tokens: int, block_size: int, max_windows: int) -> torch.Tensor:
    """Starts of disjoint validation windows from the beginning of the split (at most max_windows)."""
    n = min(max_windows, (n_tokens - 1) // block_size)
    return torch.arange(n) * block_size


def unigram_loss(data: TokenData, block_size: int, max_windows: int) -> float:
    """Cross-entropy (nats/token) on the validation targets of a unigram model of the training
    tokens with add-one smoothing: the baseline a language model must clearly beat."""
    counts = torch.bincount(data.train, minlength=data.vocab_size).double() + 1.0
    logp = counts.log() - counts.sum().log()
    _, targets = windows(data.val, val_offsets(len(data.val), block_size, max_windows), block_size)
    return float(-logp[targets.reshape(-1)].mean())
