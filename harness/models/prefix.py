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
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from harness.models.scoring import KeptForward, PaddedBatch, gather_scores, length_sorted_batches, score_kept_spans
from harness.models.settings import auto_max_sequences, auto_token_budget
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


class CachedForward(Protocol):
    """The two calls prefix reuse needs from a causal LM (harness.models.hf gives them)."""

    def contexts(self, batch: PaddedBatch) -> tuple[torch.Tensor, Any]:
        """Logits at each context's last real position (G, V), and the KV cache of the batch."""
        ...

    def extend(self, cache: Any, rows: torch.Tensor, contexts: PaddedBatch, batch: PaddedBatch, copy_cache: bool) -> torch.Tensor:
        """Logits (N, V) at the real tokens of `batch`, row by row, each row read after the
        cached context `rows[b]`; `copy_cache` when the cache is used again afterwards."""
        ...


class HFCachedForward:
    """The calls scoring needs from a transformers causal LM: logits at chosen positions only
    (`kept`, a harness.models.scoring.KeptForward), and the two calls of prefix reuse."""

    def __init__(self, model: Any, device: torch.device | str) -> None:
        self.model = model
        self.device = device
        parameters = inspect.signature(model.forward).parameters
        # transformers 5.x renamed `past_key_values` to `cache` (the old name still works for a while).
        self._cache_arg = "cache" if "cache" in parameters else "past_key_values"
        # Models whose forward slices hidden states with transformers' `slice_logits_to_keep`
        # take a boolean (B, T) `logits_to_keep` and apply their output layer (and any logit
        # scaling of theirs) to those positions only; others return every position's logits.
        module = sys.modules.get(type(model).__module__)
        self._keeps_mask = "logits_to_keep" in parameters and hasattr(module, "slice_logits_to_keep")

    def kept(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Logits (N, V) at the positions where `keep` (B, T) is true, row by row. No KV cache
        is built: nothing reads it afterwards."""
        if self._keeps_mask:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False, logits_to_keep=keep)
            return out.logits
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits[keep]

    def contexts(self, batch: PaddedBatch) -> tuple[torch.Tensor, Any]:
        """Logits at each right-padded context's last real position (G, V), and the KV cache."""
        last = batch.last(torch.ones_like(batch.lengths))  # (G, Tc) bool, one position per row
        out = self.model(
            input_ids=batch.input_ids.to(self.device), attention_mask=batch.attention_mask.to(self.device),
            use_cache=True, **({"logits_to_keep": last.to(self.device)} if self._keeps_mask else {}),
        )  # fmt: skip
        cache = getattr(out, "cache", None)
        if cache is None:  # transformers before the rename
            cache = out.past_key_values
        return (out.logits if self._keeps_mask else out.logits[last.to(out.logits.device)]), cache

    def extend(self, cache: Any, rows: torch.Tensor, contexts: PaddedBatch, batch: PaddedBatch, copy_cache: bool) -> torch.Tensor:
        """Logits (N, V) at the real tokens of `batch`, each row read after the cached context
        `rows[b]`. A context shorter than the longest has padding in the cache: it is masked out,
        and the continuation's positions start right after the context's real tokens."""
        selected = copy.deepcopy(cache) if copy_cache else cache  # the forward pass appends to it
        selected.batch_select_indices(rows.to(self.device))
        full_mask = torch.cat([contexts.attention_mask[rows], batch.attention_mask], dim=1)  # (B, Tc + T)
        positions = contexts.lengths[rows][:, None] + torch.arange(batch.input_ids.shape[1])[None, :]  # (B, T)
        keep = batch.attention_mask.bool()
        out = self.model(
            input_ids=batch.input_ids.to(self.device),
            attention_mask=full_mask.to(self.device),
            position_ids=positions.to(self.device),
            use_cache=True,
            **{self._cache_arg: selected},
            **({"logits_to_keep": keep.to(self.device)} if self._keeps_mask else {}),
        )
        return out.logits if self._keeps_mask else out.logits[keep.to(out.logits.device)]


def score_spans_reusing_prefixes(
    cached: CachedForward,
    forward: KeptForward,
    spans: Sequence[Span],
    *,
    pad_id: int,
    batch_size: int | str,
    device: torch.device | str = "cpu",
    min_shared: int = MIN_SHARED,
) -> list[SpanScore]:
    """Same results as `score_kept_spans(forward, spans, ...)`, reading each shared context once."""
    results: list[SpanScore | None] = [None] * len(spans)
    groups, alone = group_by_context(spans, min_shared)
    if alone:
        scores = score_kept_spans(forward, [spans[i] for i in alone], pad_id=pad_id, batch_size=batch_size, device=device)
        for i, score in zip(alone, scores):
            results[i] = score
    budget, most = auto_token_budget(device), auto_max_sequences(device)
    with torch.inference_mode():
        for batch in length_sorted_batches([len(g.context) for g in groups], batch_size, budget, most):
            for i, score in _score_groups(cached, [groups[b] for b in batch], spans, pad_id, batch_size, budget, most).items():
                results[i] = score
    return results  # type: ignore[return-value]


def _score_groups(
    cached: CachedForward, groups: Sequence[PrefixGroup], spans: Sequence[Span], pad_id: int, batch_size: int | str,
    budget: int, most: int | None,
) -> dict[int, SpanScore]:
    """One pass over the groups' contexts, then one (or, past the batch limit, a few) over all
    their continuations."""
    contexts = PaddedBatch.of([g.context for g in groups], pad_id)  # (G, Tc)
    last, cache = cached.contexts(contexts)  # (G, V)
    # The first target of every member is predicted by its context's last position.
    members = [(row, j) for row, g in enumerate(groups) for j in g.members]
    firsts = gather_scores(
        last[torch.tensor([row for row, _ in members], device=last.device)],
        [spans[j].targets[0] for _, j in members], [1] * len(members), check_greedy=True,
    )  # fmt: skip
    scores = {j: s for (_, j), s in zip(members, firsts)}
    # The rest of each continuation: it reads targets[:-1] and predicts targets[1:].
    longer = [(row, j) for row, j in members if spans[j].n_targets > 1]
    batches = list(length_sorted_batches([spans[j].n_targets - 1 for _, j in longer], batch_size, budget, most))
    for batch in batches:
        chosen = [longer[b] for b in batch]
        padded = PaddedBatch.of([spans[j].targets[:-1] for _, j in chosen], pad_id)
        rows = torch.tensor([row for row, _ in chosen], dtype=torch.long)
        logits = cached.extend(cache, rows, contexts, padded, copy_cache=len(batches) > 1)  # (N, V)
        rest = gather_scores(
            logits, [t for _, j in chosen for t in spans[j].targets[1:]], [spans[j].n_targets - 1 for _, j in chosen],
            check_greedy=True,
        )  # fmt: skip
        for (_, j), score in zip(chosen, rest):
            scores[j] = SpanScore(scores[j].logprob + score.logprob, scores[j].is_greedy and score.is_greedy)
    return scores
