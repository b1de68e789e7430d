"""Batched scoring of token spans with any torch causal LM: the part of the contract both the
Hugging Face adapter and the from-scratch adapter share.

A model is reached through one of two calls, so the batching, padding and log-probability
gathering are written once:

- `Forward`: `forward(input_ids, attention_mask) -> logits (B, T, V)`, every position;
- `KeptForward`: `forward(input_ids, attention_mask, keep) -> logits (N, V)` at the N positions
  where the boolean `keep` (B, T) is true, row by row. A model that can apply its output layer
  to those positions only (transformers' `logits_to_keep`) never computes the vocabulary-sized
  logits of padding or of context tokens, which are a fifth of a small model's work per token.
  `keeping(forward)` turns a `Forward` into one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from harness.api import TokenLogprobs
from harness.models.settings import auto_max_sequences, auto_token_budget
from harness.tokens import Span, SpanScore

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
KeptForward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def keeping(forward: Forward) -> KeptForward:
    """A `KeptForward` from a model that returns the logits of every position."""

    def kept(input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return forward(input_ids, attention_mask)[keep]

    return kept


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int | str, token_budget: int | None = None, max_sequences: int | None = None
) -> Iterator[list[int]]:
    """Indices grouped into batches, longest first, so padding is small and the first batch shows
    at once whether the largest one fits in memory (as lm-evaluation-harness's Collator does).

    `batch_size` is a number of sequences, or "auto": as many as fit in `token_budget` tokens
    (default: the CPU budget of harness.models.settings), at least one, and at most
    `max_sequences` (default: no limit).
    """
    budget = auto_token_budget("cpu") if token_budget is None else token_budget
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    limit = max_sequences if batch_size == "auto" else int(batch_size)
    batch: list[int] = []
    for i in order:
        if batch:
            full = (limit is not None and len(batch) >= limit) or (
                batch_size == "auto" and (len(batch) + 1) * lengths[batch[0]] > budget
            )
            if full:
                yield batch
                batch = []
        batch.append(i)
    if batch:
        yield batch


@dataclass(frozen=True)
class PaddedBatch:
    """Right-padded rows: a row's real tokens keep positions 0..n-1, and a causal model never
    attends to the padding that follows them."""

    input_ids: torch.Tensor  # (B, T) long
    attention_mask: torch.Tensor  # (B, T) long, 1 on real tokens
    lengths: torch.Tensor  # (B,) long

    @classmethod
    def of(cls, rows: Sequence[Sequence[int]], pad_id: int) -> PaddedBatch:
        width = max(len(r) for r in rows)
        ids = torch.tensor([[*r, *([pad_id] * (width - len(r)))] for r in rows], dtype=torch.long)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        mask = (torch.arange(width)[None, :] < lengths[:, None]).long()
        return cls(ids, mask, lengths)

    def last(self, n: torch.Tensor) -> torch.Tensor:
        """(B, T) bool: the last `n[b]` real positions of each row b."""
        positions = torch.arange(self.input_ids.shape[1])[None, :]
        return (positions < self.lengths[:, None]) & (positions >= (self.lengths - n)[:, None])


def gather_scores(
    logits: torch.Tensor, targets: Sequence[int], sizes: Sequence[int], check_greedy: bool
) -> list[SpanScore]:
    """Scores of consecutive spans of rows: `logits` (N, V) predict `targets` (N,), the first
    `sizes[0]` rows belong to the first span, and so on. Log-probabilities are
    `logit - logsumexp(logits)` in float32 whatever the model's dtype, summed in float64."""
    logits = logits.float()
    t = torch.tensor(targets, dtype=torch.long, device=logits.device)
    logprobs = target_logprobs(logits, t)  # (N,)
    segment = torch.repeat_interleave(torch.arange(len(sizes), device=logits.device), torch.tensor(sizes, device=logits.device))
    sums = torch.zeros(len(sizes), dtype=torch.float64, device=logits.device).index_add_(0, segment, logprobs.double())
    if check_greedy:
        # The argmax is another pass over the logits: skipped when nobody asks.
        misses = (logits.argmax(dim=-1) != t).long()
        greedy = torch.zeros(len(sizes), dtype=torch.long, device=logits.device).index_add_(0, segment, misses) == 0
        return [SpanScore(s, g) for s, g in zip(sums.tolist(), greedy.tolist())]
    return [SpanScore(s, False) for s in sums.tolist()]


def score_spans(
    forward: Forward,
    spans: Sequence[Span],
    *,
    pad_id: int,
    batch_size: int | str,
    device: torch.device | str = "cpu",
    check_greedy: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[SpanScore]:
    """`score_kept_spans` for a model that returns the logits of every position."""
    return score_kept_spans(
        keeping(forward), spans, pad_id=pad_id, batch_size=batch_size, device=device,
        check_greedy=check_greedy, progress=progress,
    )  # fmt: skip


def score_kept_spans(
    forward: KeptForward,
    spans: Sequence[Span],
    *,
    pad_id: int,
    batch_size: int | str,
    device: torch.device | str = "cpu",
    check_greedy: bool = True,
    progress: Callable[[int], None] | None = None,
) -> list[SpanScore]:
    """Sum of target log-probabilities and greediness for each span, in input order.

    Each batch is one forward pass over right-padded inputs, keeping the logits of the target
    positions only, then one log-softmax gather over all of them.
    """
    results: list[SpanScore | None] = [None] * len(spans)
    inputs = [s.inputs for s in spans]
    for batch in length_sorted_batches([len(x) for x in inputs], batch_size, auto_token_budget(device), auto_max_sequences(device)):
        padded = PaddedBatch.of([inputs[i] for i in batch], pad_id)
        sizes = [spans[i].n_targets for i in batch]
        keep = padded.last(torch.tensor(sizes, dtype=torch.long))
        with torch.inference_mode():
            logits = forward(padded.input_ids.to(device), padded.attention_mask.to(device), keep.to(device))  # (N, V)
            targets = [t for i in batch for t in spans[i].targets]
            for i, score in zip(batch, gather_scores(logits, targets, sizes, check_greedy)):
                results[i] = score
        if progress is not None:
            progress(len(batch))
    return results  # type: ignore[return-value]


def score_sequences(
    forward: Forward,
    sequences: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int | str,
    device: torch.device | str = "cpu",
    top_k: int = 0,
) -> list[TokenLogprobs]:
    """Log P(t_i | t_<i) at every position i >= 1 of each sequence, and the `top_k` most probable
    tokens there, in input order: the per-token view of `score_spans` (same batching, padding and
    float32 log-softmax), which `harness serve` returns as echoed prompt log-probabilities."""
    results = [TokenLogprobs((), ())] * len(sequences)  # a lone token has nothing to score
    scored = [i for i, s in enumerate(sequences) if len(s) > 1]
    inputs = [tuple(sequences[i][:-1]) for i in scored]
    for batch in length_sorted_batches([len(x) for x in inputs], batch_size, auto_token_budget(device), auto_max_sequences(device)):
        padded = PaddedBatch.of([inputs[b] for b in batch], pad_id)
        with torch.inference_mode():
            logits = forward(padded.input_ids.to(device), padded.attention_mask.to(device))
            for row, b in enumerate(batch):
                n_inputs = len(inputs[b])
                at = logits[row, :n_inputs].float()  # (n_inputs, V): position j predicts token j + 1
                targets = torch.tensor(list(sequences[scored[b]][1:]), dtype=torch.long, device=at.device)
                logz = torch.logsumexp(at, dim=-1)  # (n_inputs,)
                logprobs = target_logprobs(at, targets, logz)
                top: tuple[tuple[tuple[int, float], ...], ...] = ((),) * n_inputs
                if top_k > 0:
                    # The same subtraction as the targets', so a target that is the argmax has
                    # exactly its own log-prob among the alternatives.
                    values, ids = at.topk(min(top_k, at.shape[-1]), dim=-1)  # (n_inputs, k)
                    values = values - logz[:, None]
                    top = tuple(tuple(zip(r_ids, r_values)) for r_ids, r_values in zip(ids.tolist(), values.tolist()))
                results[scored[b]] = TokenLogprobs(tuple(logprobs.tolist()), top)
    return results


def target_logprobs(at: torch.Tensor, targets: torch.Tensor, logz: torch.Tensor | None = None) -> torch.Tensor:
    """log-softmax of the logits `at` (T, V) at the `targets` (T,), in the dtype of `at`:
    `logit - logsumexp(logits)` (`logz`, when the caller already has it)."""
    if logz is None:
        logz = torch.logsumexp(at, dim=-1)
    return at.gather(1, targets[:, None])[:, 0] - logz
