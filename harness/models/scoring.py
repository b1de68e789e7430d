"""Batched scoring of token spans with any torch causal LM: the part of the contract both the
Hugging Face adapter and the from-scratch adapter share.

A model is reached only through `forward(input_ids, attention_mask) -> logits` (B, T, V), so the
batching, padding and log-probability gathering are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

from harness.api import TokenLogprobs
from harness.tokens import Span, SpanScore

Forward = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# With batch size "auto" a batch holds at most this many tokens (padding included). The logits of
# a batch take tokens x vocabulary x 4 bytes: 4,096 tokens of a 49k vocabulary is 0.8 GB.
AUTO_TOKEN_BUDGET = 4096


def length_sorted_batches(
    lengths: Sequence[int], batch_size: int | str, token_budget: int = AUTO_TOKEN_BUDGET
) -> Iterator[list[int]]:
    """Indices grouped into batches, longest first, so padding is small and the first batch shows
    at once whether the largest one fits in memory (as lm-evaluation-harness's Collator does).

    `batch_size` is a number of sequences, or "auto": as many as fit in `token_budget` tokens.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batch: list[int] = []
    for i in order:
        if batch:
            longest = lengths[batch[0]]
            full = (
                len(batch) * longest >= token_budget or (len(batch) + 1) * longest > token_budget
                if batch_size == "auto"
                else len(batch) >= int(batch_size)
            )
            if full:
                yield batch
                batch = []
        batch.append(i)
    if batch:
        yield batch


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
    """Sum of target log-probabilities and greediness for each span, in input order.

    Sequences are right-padded, so the real tokens keep positions 0..n-1 and a causal model never
    attends to the padding that follows them. Log-probabilities are `logit - logsumexp(logits)`
    at the target positions only, in float32 whatever the model's dtype.
    """
    results: list[SpanScore | None] = [None] * len(spans)
    for batch, logits in _forward_batches(forward, [s.inputs for s in spans], pad_id, batch_size, device):
        for row, i in enumerate(batch):
            span = spans[i]
            n_inputs = len(span.inputs)
            at = logits[row, n_inputs - span.n_targets : n_inputs].float()  # (n_targets, V)
            targets = torch.tensor(span.targets, dtype=torch.long, device=at.device)
            logprobs = target_logprobs(at, targets)
            # The argmax is another pass over the logits: skipped when nobody asks.
            greedy = check_greedy and bool((at.argmax(dim=-1) == targets).all())
            results[i] = SpanScore(float(logprobs.sum()), greedy)
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
    for batch, logits in _forward_batches(forward, inputs, pad_id, batch_size, device):
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


def _forward_batches(
    forward: Forward, inputs: Sequence[Sequence[int]], pad_id: int, batch_size: int | str, device: torch.device | str
) -> Iterator[tuple[list[int], torch.Tensor]]:
    """(indices, logits (B, T, V)) per batch of right-padded inputs, longest first, computed in
    inference mode. Right padding keeps a row's real tokens at positions 0..n-1, and a causal
    model never attends to the padding that follows them."""
    lengths = [len(x) for x in inputs]
    for batch in length_sorted_batches(lengths, batch_size):
        width = lengths[batch[0]]
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            input_ids[row, : lengths[i]] = torch.tensor(list(inputs[i]), dtype=torch.long)
            mask[row, : lengths[i]] = 1
        with torch.inference_mode():
            yield batch, forward(input_ids.to(device), mask.to(device))
