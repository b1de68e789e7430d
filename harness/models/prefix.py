"""Prefix reuse: spans that share a context are scored with one forward pass over the context,
then all their continuations together on its KV cache.

Multiple-choice and pair probes ask for several continuations of one context (BBQ's three
answers after a paragraph and a question). Scoring each span separately reads the paragraph once
per answer; here it is read once per item. The contexts of many items go through the model in one
right-padded batch (so a context's real tokens never see padding); the prediction of each
continuation's first token is its context's last real logit. Then every continuation goes through
in a second batch, each row reading its own context's rows of the KV cache: the context's padding
is masked and position ids restart right after its real tokens, so each continuation sees exactly
what it would see in a single unpadded sequence. The numbers are those of the plain path
(harness.models.scoring.score_spans) up to float rounding.

Spans whose context is shared by no other span, or is shorter than `min_shared` tokens (a lone
BOS, as in CrowS-Pairs), take the plain batched path.
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from harness.models.scoring import Forward, length_sorted_batches, score_spans
from harness.tokens import Span, SpanScore

# Below this many shared tokens the extra forward pass costs more than it saves.
MIN_SHARED = 4


@dataclass(frozen=True)
class PrefixGroup:
    context: tuple[int, ...]  # tokens read once: everything before the first target
    members: tuple[int, ...]  # indices of the spans that continue this context


def group_by_context(spans: Sequence[Span], min_shared: int = MIN_SHARED) -> tuple[list[PrefixGroup], list[int]]:
    """Groups of spans sharing their whole context, and the indices of the spans left alone."""
    by_context: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, span in enumerate(spans):
        by_context[span.tokens[: len(span.tokens) - span.n_targets]].append(i)
    groups, alone = [], []
    for context, members in by_context.items():
        if len(members) >= 2 and len(context) >= min_shared:
            groups.append(PrefixGroup(context, tuple(members)))
        else:
            alone.extend(members)
    return groups, sorted(alone)


class HFCachedForward:
    """The two calls prefix reuse needs from a transformers causal LM."""

    def __init__(self, model: Any, device: torch.device | str) -> None:
        self.model = model
        self.device = device
        parameters = inspect.signature(model.forward).parameters
        # transformers 5.x renamed `past_key_values` to `cache` (the old name still works for a while).
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        self._can_keep = "logits_to_keep" in parameters

    def contexts(self, input_ids: torch.Tensor, mask: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Logits at each right-padded context's last real position (G, V), and the KV cache."""
        last = lengths - 1  # (G,)
        kwargs: dict[str, Any] = {}
        if self._can_keep:  # only the positions needed go through the (large) output projection
            keep = torch.unique(last)
            kwargs["logits_to_keep"] = keep.to(self.device)
            column = torch.searchsorted(keep, last)
        else:
            column = last
        out = self.model(
            input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device), use_cache=True, **kwargs
        )
        cache = getattr(out, "cache", None)
        if cache is None:  # transformers before the rename
            cache = out.past_key_values
        return out.logits[torch.arange(len(last)), column.to(out.logits.device)], cache

    def extend(
        self, cache: Any, rows: torch.Tensor, context_mask: torch.Tensor, lengths: torch.Tensor,
        input_ids: torch.Tensor, mask: torch.Tensor, copy_cache: bool,
    ) -> torch.Tensor:
        """Logits (B, T, V) of `input_ids` read after the cached contexts `rows` (one per row).

        A context shorter than the longest has padding in the cache: it is masked out, and the
        continuation's positions start right after the context's real tokens.
        """
        selected = copy.deepcopy(cache) if copy_cache else cache  # the forward pass appends to it
        selected.batch_select_indices(rows.to(self.device))
        full_mask = torch.cat([context_mask[rows], mask], dim=1)  # (B, T_context + T)
        positions = lengths[rows][:, None] + torch.arange(input_ids.shape[1])[None, :]  # (B, T)
        out = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=full_mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=True,
            **{self._cache_arg: selected},
        )
        return out.logits


def score_spans_reusing_prefixes(
    cached: HFCachedForward,
    forward: Forward,
    spans: Sequence[Span],
    *,
    pad_id: int,
    batch_size: int | str,
    device: torch.device | str = "cpu",
    min_shared: int = MIN_SHARED,
) -> list[SpanScore]:
    """Same results as `score_spans(forward, spans, ...)`, reading each shared context once."""
    results: list[SpanScore | None] = [None] * len(spans)
    groups, alone = group_by_context(spans, min_shared)
    if alone:
        scores = score_spans(forward, [spans[i] for i in alone], pad_id=pad_id, batch_size=batch_size, device=device)
        for i, score in zip(alone, scores):
            results[i] = score
    with torch.inference_mode():
        for batch in length_sorted_batches([len(g.context) for g in groups], batch_size):
            for i, score in _score_groups(cached, [groups[b] for b in batch], spans, pad_id, batch_size).items():
                results[i] = score
    return results  # type: ignore[return-value]


def _padded(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids and their attention mask, (B, longest)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(list(r), dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids, mask


def _score_groups(
    cached: HFCachedForward, groups: Sequence[PrefixGroup], spans: Sequence[Span], pad_id: int, batch_size: int | str
) -> dict[int, SpanScore]:
    """One pass over the groups' contexts, then one (or, past the batch limit, a few) over all
    their continuations."""
    context_ids, context_mask = _padded([g.context for g in groups], pad_id)  # (G, Tc)
    lengths = context_mask.sum(dim=1)  # (G,)
    last, cache = cached.contexts(context_ids, context_mask, lengths)  # (G, V)
    last = last.float()
    logz, best = torch.logsumexp(last, dim=-1), last.argmax(dim=-1)
    scores: dict[int, SpanScore] = {}
    for row, g in enumerate(groups):
        for j in g.members:
            t = spans[j].targets[0]
            scores[j] = SpanScore(float(last[row, t] - logz[row]), int(best[row]) == t)
    # The rest of each continuation: it reads targets[:-1] and predicts targets[1:].
    longer = [(row, j) for row, g in enumerate(groups) for j in g.members if spans[j].n_targets > 1]
    batches = list(length_sorted_batches([spans[j].n_targets - 1 for _, j in longer], batch_size))
    for batch in batches:
        members = [longer[b] for b in batch]
        input_ids, mask = _padded([spans[j].targets[:-1] for _, j in members], pad_id)
        rows = torch.tensor([row for row, _ in members], dtype=torch.long)
        logits = cached.extend(cache, rows, context_mask, lengths, input_ids, mask, copy_cache=len(batches) > 1)
        for r, (_, j) in enumerate(members):
            span = spans[j]
            at = logits[r, : span.n_targets - 1].float()  # (n_targets - 1, V)
            lp, greedy = _logprobs_and_greedy(at, list(span.targets[1:]))
            scores[j] = SpanScore(scores[j].logprob + lp, scores[j].is_greedy and greedy)
    return scores


def _logprobs_and_greedy(at: torch.Tensor, targets: list[int]) -> tuple[float, bool]:
    """Sum of the log-probabilities of `targets` at the rows of `at` (T, V), and whether every
    target was the argmax of its row."""
    t = torch.tensor(targets, dtype=torch.long, device=at.device)
    logprobs = at.gather(1, t[:, None])[:, 0] - torch.logsumexp(at, dim=-1)
    return float(logprobs.sum()), bool((at.argmax(dim=-1) == t).all())

