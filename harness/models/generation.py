"""Generation with a Hugging Face model: greedy prompts batched together, sampled prompts one call
each (all `n` samples of a prompt in one batched call, seeded per request).

A greedy batch only holds requests with the same stop sequences and token budget: `generate`
stops a row at any of the batch's stop strings and truncates prompts to leave room for the
batch's longest budget, so mixing requests would make one request's text depend on the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.api import Exchange, Generation, GenerationRequest
from harness.tokens import cut_at_stop

GREEDY_BATCH = 8


def chat_messages(text: str, history: Sequence[Exchange] = ()) -> list[dict[str, str]]:
    """The earlier exchanges (a user and an assistant message each), then `text` as the user."""
    messages = []
    for turn in history:
        messages += [{"role": "user", "content": turn.user}, {"role": "assistant", "content": turn.assistant}]
    return messages + [{"role": "user", "content": text}]


def chat_turn(tokenizer: Any, text: str, history: Sequence[Exchange] = ()) -> str:
    """`text` as a user turn through the tokenizer's chat template, after the `history` turns,
    ending where the assistant's reply starts."""
    return tokenizer.apply_chat_template(chat_messages(text, history), tokenize=False, add_generation_prompt=True)


def render_prompt(tokenizer: Any, request: GenerationRequest) -> str:
    """The prompt text, through the tokenizer's chat template (after the request's earlier
    exchanges, as the last user turn) when asked."""
    if request.chat and getattr(tokenizer, "chat_template", None):
        return chat_turn(tokenizer, request.prompt, request.history)
    return request.prompt


def greedy_groups(requests: list[GenerationRequest]) -> list[list[int]]:
    """Indices of the greedy requests, grouped by (stop sequences, max new tokens) and sorted by
    prompt length within a group, so that requests batched together cannot affect each other."""
    groups: dict[tuple[tuple[str, ...], int], list[int]] = {}
    for i, r in enumerate(requests):
        if not r.sampled:
            groups.setdefault((tuple(sorted(set(r.stop))), r.max_new_tokens), []).append(i)
    return [sorted(g, key=lambda i: _length(requests[i])) for g in groups.values()]


def _length(request: GenerationRequest) -> int:
    """The prompt's length in characters, earlier chat turns included (for sorting)."""
    return len(request.prompt) + sum(len(t.user) + len(t.assistant) for t in request.history)


def hf_generate(adapter: Any, requests: list[GenerationRequest]) -> list[Generation]:
    import torch

    tok = adapter.tokenizer
    model = adapter.model
    results: list[Generation | None] = [None] * len(requests)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else adapter.prefix_token

    def run(indices: list[int], sampled: bool) -> None:
        batch = [requests[i] for i in indices]
        max_new = max(r.max_new_tokens for r in batch)
        room = max(1, adapter.max_length - max_new)
        # No BOS is added (lm-evaluation-harness does not either), except to an empty prompt.
        encoded = [adapter.encode(render_prompt(tok, r)) or [adapter.prefix_token] for r in batch]
        encoded = [e[-room:] for e in encoded]
        width = max(len(e) for e in encoded)
        # Left padding, so every prompt ends where generation starts.
        input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, e in enumerate(encoded):
            input_ids[row, width - len(e):] = torch.tensor(e)
            mask[row, width - len(e):] = 1
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": pad_id}
        stops = sorted({s for r in batch for s in r.stop if s})
        if stops:
            kwargs.update(stop_strings=stops, tokenizer=tok)
        if sampled:
            r = batch[0]
            torch.manual_seed(r.seed if r.seed is not None else 0)
            kwargs.update(do_sample=True, temperature=r.temperature, top_p=r.top_p, top_k=0, num_return_sequences=r.n)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.inference_mode():
            out = model.generate(input_ids=input_ids.to(adapter.device), attention_mask=mask.to(adapter.device), **kwargs)
        new = out[:, width:]
        texts = tok.batch_decode(new, skip_special_tokens=True)
        if sampled:
            results[indices[0]] = Generation(tuple(cut_at_stop(t, batch[0].stop) for t in texts))
        else:
            for row, i in enumerate(indices):
                n_tokens = requests[i].max_new_tokens
                text = tok.decode(new[row, :n_tokens], skip_special_tokens=True)
                results[i] = Generation(tuple([cut_at_stop(text, requests[i].stop)] * requests[i].n))

    for group in greedy_groups(requests):
        for start in range(0, len(group), GREEDY_BATCH):
            run(group[start:start + GREEDY_BATCH], sampled=False)
    for i, r in enumerate(requests):
        if r.sampled:
            run([i], sampled=True)
    return results  # type: ignore[return-value]
