"""Autoregressive generation for the from-scratch GPT: KV cache, batched prompts, seeded sampling.

Prompts of different lengths are left-padded, so every row's next token comes out of the last
column; an attention mask hides the padding and each row's positions start at 0 at its first
real token, so a prompt gives the same tokens alone or in a batch (up to float rounding).

With the cache, the prompt is read once (prefill) and each new token costs one position.

Past block_size tokens, both paths follow one context policy, so cached and uncached decoding
give the same tokens: each row's window starts as its prompt (its last block_size tokens) and
grows by one token per step; when a row's window would pass block_size, it starts again from
that row's last block_size // 2 tokens (the cache cannot slide: every cached key was computed
at its absolute position, and learned positions stop at block_size). Without the cache every
step rereads each row's window; with it, a re-read happens only when some row's window wraps.
A row's window depends on its own tokens only, never on the other rows of its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from harness.scratch.model import GPT, KVCache

# stop(row, new_tokens) -> True when that row is done (a stop sequence appeared in its text).
StopCheck = Callable[[int, list[int]], bool]


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 = greedy (argmax); otherwise logits are divided by it
    top_k: int = 0  # keep only the k most probable tokens (0 = all)
    top_p: float = 1.0  # nucleus: the most probable tokens whose mass first reaches top_p (Holtzman et al. 2020)

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def left_padded(rows: Sequence[Sequence[int]], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (B, W) left-padded with 0, and which of them are real (B, W) bool."""
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    valid = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(list(r), dtype=torch.long)
            valid[i, width - len(r) :] = True
    return ids.to(device), valid.to(device)


def prefill_mask(valid: torch.Tensor) -> torch.Tensor | None:
    """(B, 1, W, W) causal mask that also hides padded keys, or None when nothing is padded.

    A padded query position attends to itself only, so its softmax is not over an empty set."""
    if bool(valid.all()):
        return None
    W = valid.size(1)
    causal = torch.ones(W, W, dtype=torch.bool, device=valid.device).tril()  # (W, W)
    mask = causal[None] & valid[:, None, :]  # (B, W, W)
    mask |= torch.eye(W, dtype=torch.bool, device=valid.device)[None]
    return mask[:, None]  # (B, 1, W, W)


def positions_of(valid: torch.Tensor) -> torch.Tensor:
    """(B, W) position of each token counted from the row's first real token (padding gets 0)."""
    return (valid.long().cumsum(dim=1) - 1).clamp(min=0)


def choose(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """Next token per row from logits (B, V): argmax, or a draw after temperature/top-k/top-p."""
    logits = logits.float()
    if sampling.greedy:
        return logits.argmax(dim=-1)  # (B,)
    logits = logits / sampling.temperature
    if sampling.top_k > 0 and sampling.top_k < logits.size(-1):
        kth = torch.topk(logits, sampling.top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if sampling.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
        sorted_logits = sorted_logits.masked_fill(mass_before >= sampling.top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(logits.device)  # (B,)


class _Stepper:
    """Gives the logits of the next position for every row, with or without a KV cache."""

    def __init__(self, model: GPT, use_cache: bool, device: torch.device, dtype: torch.dtype) -> None:
        self.model, self.use_cache, self.device, self.dtype = model, use_cache, device, dtype
        self.block = model.config.block_size
        self.keep = max(1, self.block // 2)  # a full window restarts from this many tokens
        self.cache: KVCache | None = None
        self.next_pos: torch.Tensor | None = None
        self.window: list[int] = []  # per row: how many of its last tokens the next prediction reads
        self.padded = False  # whether the last read left-padded some row (then steps need a mask)

    def prefill(self, rows: list[list[int]]) -> torch.Tensor:  # (B, V)
        self.window = [min(len(r), self.block) for r in rows]
        return self._read(rows)

    def _read(self, rows: list[list[int]]) -> torch.Tensor:  # (B, V)
        """Read every row's window afresh (into a new cache, when caching)."""
        ids, valid = left_padded([r[len(r) - w :] for r, w in zip(rows, self.window)], self.device)
        positions = positions_of(valid)
        self.padded = not bool(valid.all())
        if self.use_cache:
            self.cache = KVCache(self.model.config, len(rows), self.device, self.dtype)
            self.cache.valid[:, : ids.size(1)] = valid
        logits = self.model(ids, positions, prefill_mask(valid), self.cache, last_only=True)  # (B, 1, V)
        self.next_pos = positions[:, -1] + 1  # (B,)
        return logits[:, -1]

    def step(self, rows: list[list[int]], new: torch.Tensor) -> torch.Tensor:  # new (B,) -> (B, V)
        """The next logits after `new` (B,), already appended to `rows`."""
        wrapped = [w == self.block for w in self.window]
        self.window = [self.keep if full else w + 1 for w, full in zip(self.window, wrapped)]
        cache = self.cache
        if cache is None or any(wrapped):
            return self._read(rows)
        # The cache holds max(window) - 1 <= block_size - 1 positions here: room for one more.
        mask = None  # without padding, the one new query attends to every cached key
        if self.padded:
            cache.valid[:, cache.length] = True
            mask = cache.valid[:, None, None, : cache.length + 1]  # (B, 1, 1, S)
        assert self.next_pos is not None
        logits = self.model(new[:, None], self.next_pos[:, None], mask, cache)  # (B, 1, V)
        self.next_pos = self.next_pos + 1
        return logits[:, -1]


@torch.inference_mode()
def generate_tokens(
    model: GPT,
    prompts: Sequence[Sequence[int]],
    max_new_tokens: int,
    sampling: Sampling = Sampling(),
    *,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    eos_id: int | None = None,
    stop: StopCheck | None = None,
) -> list[list[int]]:
    """New tokens for each prompt (non-empty token lists), prompt excluded.

    A row ends at `max_new_tokens`, at `eos_id` (not included), or when `stop(row, tokens)` says so;
    the batch ends when every row has.
    """
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token (condition an empty prompt on BOS)")
    param = next(model.parameters())
    stepper = _Stepper(model, use_cache, param.device, param.dtype)
    rows = [list(p) for p in prompts]
    new_tokens: list[list[int]] = [[] for _ in prompts]
    done = [max_new_tokens <= 0] * len(prompts)
    logits = stepper.prefill(rows) if not all(done) else None
    for step in range(max_new_tokens):
        assert logits is not None
        chosen = choose(logits, sampling, generator)  # (B,)
        for i, token in enumerate(chosen.tolist()):
            rows[i].append(token)
            if done[i]:
                continue
            if eos_id is not None and token == eos_id:
                done[i] = True
                continue
            new_tokens[i].append(token)
            if stop is not None and stop(i, new_tokens[i]):
                done[i] = True
        if all(done) or step == max_new_tokens - 1:
            break
        logits = stepper.step(rows, chosen)
    return new_tokens
