"""Batched scoring of token spans with any torch causal LM: the part of the contract both the
Hugging Face adapter and the from-scratch adapter share.

A model is reached only through `forward(input_ids, attention_mask) -> logits` (B, T, V), so the
batching, padding and log-probability gathering are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch

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
    lengths = [len(s.inputs) for s in spans]
    for batch in length_sorted_batches(lengths, batch_size):
        width = lengths[batch[0]]
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            inputs = spans[i].inputs
            input_ids[row, : len(inputs)] = torch.tensor(inputs, dtype=torch.long)
            mask[row, : len(inputs)] = 1
        with torch.inference_mode():
            logits = forward(input_ids.to(device), mask.to(device))  # (B, T, V)
            for row, i in enumerate(batch):
                span = spans[i]
                n_inputs = len(span.inputs)
                at = logits[row, n_inputs - span.n_targets : n_inputs].float()  # (n_targets, V)
                targets = torch.tensor(span.targets, dtype=torch.long, device=at.device)
                logprobs = at.gather(1, targets[:, None])[:, 0] - torch.logsumexp(at, dim=-1)
                # The argmax is another pass over the logits: skipped when nobody asks.
                greedy = check_greedy and bool((at.argmax(dim=-1) == targets).all())
                results[i] = SpanScore(float(logprobs.sum()), greedy)
        if progress is not None:
            progress(len(batch))
    return results  # type: ignore[return-value]
