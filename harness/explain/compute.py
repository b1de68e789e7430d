"""The numbers behind one option's explanation: per-token log-probabilities, gradient x input,
integrated gradients and attention weights, for one token span as the suite scored it.

f(x) = sum over the span's targets of log P(t_i | t_<i), a function of the input embeddings x
(T, C) of the tokens the model reads. Attributions are per input token, summed over the
embedding dimensions:

- gradient x input: sum_c x_tc * df/dx_tc at x;
- integrated gradients (Sundararajan et al. 2017): sum_c (x_tc - x'_tc) * integral_0^1 df/dx_tc
  at x' + a (x - x') da, for a baseline x'. The integral is Gauss-Legendre quadrature with
  `steps` nodes (captum's default method, here after the change of variable a = u^POWER); every
  node is one row of a batch, so the steps cost one forward and one backward pass over
  `steps` sequences (nodes placed as POWER says). Completeness says the attributions add up to
  f(x) - f(x'); the relative error of that sum is recorded with each explanation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.explain.capability import Explainer
from harness.explain.settings import DEFAULT_STEPS
from harness.models.scoring import PaddedBatch, length_sorted_batches, target_logprobs
from harness.tokens import Span

# Interpolated sequences are batched up to this many tokens per forward pass (memory stays modest).
TOKEN_BUDGET = 2048
# The options' own pass (log-probs, gradient x input, attention) batches options up to this many
# tokens and rows: one option of about 17 tokens per pass left SmolLM2-135M reading its weights
# for little arithmetic (0.15 s per option; batched, about half). Every layer's attention weights
# of a batch are held at once (rows x layers x heads x T^2 floats), hence the modest limits.
FIRST_PASS_TOKENS = 1024
FIRST_PASS_ROWS = 16
# Path positions a = u^3 for Gauss-Legendre nodes u. A model that normalises its inputs (RMSNorm,
# LayerNorm) is nearly scale-invariant along the path from the zero embedding, except very near it
# (within sqrt(eps) / |x|), where f changes fastest; uniform nodes miss that region (on the tiny
# test Llama, completeness is 17% off at 64 uniform nodes, 0.002% with a = u^3; tests/explain).
# Some models are rough there at any node placement (SmolLM2-135M swings by tens of nats for
# a < 0.01; docs/explain.md): the completeness error recorded with each explanation shows it.
POWER = 3


@dataclass(frozen=True)
class TextExplanation:
    tokens: tuple[int, ...]  # the span's tokens; the model reads all but the last
    n_targets: int  # the last n_targets tokens are scored
    logprobs: tuple[float, ...]  # log P(t | tokens before it) for each target token, float32 log-softmax
    grad_x_input: tuple[float, ...]  # per input token (len(tokens) - 1)
    integrated_gradients: tuple[float, ...] | None  # per input token; None at 0 steps
    f_input: float  # the log-likelihood at the input: sum of `logprobs` in float64
    f_baseline: float | None  # the same at the baseline embeddings (None at 0 steps)
    steps: int
    attention: np.ndarray | None  # (L, H, n_targets, len(tokens) - 1) float16: rows of the positions predicting the targets

    @property
    def completeness_error(self) -> float | None:
        """|sum IG - (f(x) - f(x'))| / |f(x) - f(x')|; None when f(x) = f(x') or without IG."""
        if self.integrated_gradients is None or self.f_baseline is None:
            return None
        gap = self.f_input - self.f_baseline
        if gap == 0:
            return None
        return abs(math.fsum(self.integrated_gradients) - gap) / abs(gap)

    @property
    def n_inputs(self) -> int:
        return len(self.tokens) - 1


@contextmanager
def frozen(module: Any) -> Iterator[None]:
    """Parameters without gradients while attributions are computed (only the inputs' gradients
    are needed, which halves the backward pass); restored afterwards."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def gauss_legendre(steps: int, power: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Path positions a in (0, 1) and their weights (summing to 1): Gauss-Legendre nodes u in
    (0, 1) mapped to a = u^power, weighted by da/du = power u^(power - 1). power > 1 puts more
    nodes near the baseline, where a normalised model changes fastest (see POWER)."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    u, w = (nodes + 1) / 2, weights / 2
    return u**power, w * power * u ** (power - 1)


def _loglikelihoods(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per row, the sum of the target log-probabilities at the last n positions: logits (B, T, V),
    targets (n,) -> (B,)."""
    B, n = logits.shape[0], targets.shape[0]
    at = logits[:, -n:].float().reshape(B * n, -1)  # (B n, V)
    return target_logprobs(at, targets.repeat(B)).reshape(B, n).sum(dim=1)


def baseline_embeddings(explainer: Explainer, x: torch.Tensor, tokens: Sequence[int | None] | None) -> torch.Tensor:
    """The baseline x' (T, C): zero, except at positions given a token id, which take that token's
    embedding (the other option's aligned token)."""
    base = torch.zeros_like(x)
    if tokens is not None:
        at = [i for i, t in enumerate(tokens) if t is not None]
        if at:
            with torch.no_grad():
                ids = torch.tensor([[tokens[i] for i in at]], device=x.device)
                base[at] = explainer.embed(ids)[0].to(x.dtype)
    return base


def integrated_gradients(
    explainer: Explainer, x: torch.Tensor, base: torch.Tensor, targets: torch.Tensor, steps: int,
    token_budget: int = TOKEN_BUDGET, power: int = POWER,
) -> tuple[torch.Tensor, float]:
    """Per-token integrated gradients (T,) of f from `base` to `x` (both (T, C)), and f(base)."""
    alphas, weights = gauss_legendre(steps, power)
    T = x.shape[0]
    rows = max(1, token_budget // T)
    summed = torch.zeros_like(x, dtype=torch.float64)  # sum_k w_k df/dx at the k-th node
    for start in range(0, steps, rows):
        a = torch.tensor(alphas[start : start + rows], dtype=x.dtype, device=x.device)[:, None, None]  # (k, 1, 1)
        path = (base[None] + a * (x - base)[None]).requires_grad_(True)  # (k, T, C)
        logits, _ = explainer.forward(path, False)
        f = _loglikelihoods(logits, targets)  # (k,)
        (grad,) = torch.autograd.grad(f.sum(), path)  # (k, T, C): rows are independent
        w = torch.tensor(weights[start : start + rows], dtype=torch.float64, device=x.device)[:, None, None]
        summed += (w * grad.double()).sum(dim=0)
    with torch.no_grad():
        f_base = float(_loglikelihoods(explainer.forward(base[None], False)[0], targets).double().item())
    return ((x - base).double() * summed).sum(dim=-1), f_base


@dataclass(frozen=True)
class FirstPass:
    """What one pass at the input gives for an option: per-token log-probabilities, gradient x
    input, attention rows."""

    logprobs: torch.Tensor  # (n,) float32 log-softmax of the scored tokens
    grad_x_input: torch.Tensor  # (T,) float64
    attention: np.ndarray | None  # (L, H, n, T) float16


def first_passes(
    explainer: Explainer, spans: Sequence[Span], *, attention: bool = True,
    token_budget: int = FIRST_PASS_TOKENS, max_rows: int = FIRST_PASS_ROWS,
) -> list[FirstPass]:
    """One forward and backward pass per batch of spans, right-padded: the models that explain are
    causal, so a real position never sees the padding after it, and each row's positions, logits,
    attention rows and input gradients are those of the span alone (rows are independent in the
    backward pass too). Parameters must be frozen by the caller."""
    out: list[FirstPass | None] = [None] * len(spans)
    device = explainer.device
    for batch in length_sorted_batches([len(s.inputs) for s in spans], "auto", token_budget, max_rows):
        chosen = [spans[i] for i in batch]
        ids = PaddedBatch.of([s.inputs for s in chosen], pad_id=0).input_ids.to(device)  # token 0 pads: never seen by real positions
        with torch.no_grad():
            x = explainer.embed(ids).detach()  # (B, T, C)
        inputs = x.clone().requires_grad_(True)
        logits, weights = explainer.forward(inputs, attention)
        logprobs = []
        for r, s in enumerate(chosen):
            end = len(s.inputs)
            targets = torch.tensor(s.targets, dtype=torch.long, device=device)
            logprobs.append(target_logprobs(logits[r, end - s.n_targets : end].float(), targets))  # (n,)
        (grad,) = torch.autograd.grad(torch.cat(logprobs).sum(), inputs)  # (B, T, C)
        for r, (i, s) in enumerate(zip(batch, chosen)):
            end, n = len(s.inputs), s.n_targets
            att = None
            if attention:
                # Each layer (B, H, T, T): the rows of the positions that predict the targets, the real keys.
                att = torch.stack([w[r, :, end - n : end, :end].detach().float() for w in weights]).cpu().numpy().astype(np.float16)
            gxi = (grad[r, :end].double() * x[r, :end].double()).sum(dim=-1)  # (T,)
            out[i] = FirstPass(logprobs[r].detach(), gxi, att)
    return out  # type: ignore[return-value]


def explain_spans(
    explainer: Explainer,
    spans: Sequence[Span],
    *,
    steps: int = DEFAULT_STEPS,
    baseline_tokens: Sequence[Sequence[int | None] | None] | None = None,
    attention: bool = True,
    token_budget: int = TOKEN_BUDGET,
    power: int = POWER,
) -> list[TextExplanation]:
    """Everything shown for each option (see explain_span); the options' own passes are batched."""
    if steps < 0:
        raise ValueError(f"integrated gradients needs 0 steps (none) or more, got {steps}")
    bases = list(baseline_tokens) if baseline_tokens is not None else [None] * len(spans)
    device = explainer.device
    results = []
    with frozen(explainer.module):
        firsts = first_passes(explainer, spans, attention=attention)
        for span, first, base_tokens in zip(spans, firsts, bases):
            ig, f_base = None, None
            if steps:
                with torch.no_grad():
                    x = explainer.embed(torch.tensor([span.inputs], dtype=torch.long, device=device))[0].detach()  # (T, C)
                base = baseline_embeddings(explainer, x, base_tokens)
                targets = torch.tensor(span.targets, dtype=torch.long, device=device)
                ig, f_base = integrated_gradients(explainer, x, base, targets, steps, token_budget, power)
            values = first.logprobs.double().cpu().tolist()
            results.append(TextExplanation(
                tokens=tuple(span.tokens),
                n_targets=span.n_targets,
                logprobs=tuple(values),
                grad_x_input=tuple(first.grad_x_input.cpu().tolist()),
                integrated_gradients=None if ig is None else tuple(ig.cpu().tolist()),
                f_input=math.fsum(values),
                f_baseline=f_base,
                steps=steps,
                attention=first.attention,
            ))  # fmt: skip
    return results


def explain_span(
    explainer: Explainer,
    span: Span,
    *,
    steps: int = DEFAULT_STEPS,
    baseline_tokens: Sequence[int | None] | None = None,
    attention: bool = True,
    token_budget: int = TOKEN_BUDGET,
    power: int = POWER,
) -> TextExplanation:
    """Everything shown for one option. `baseline_tokens`: per input position, a token id whose
    embedding is the baseline there, or None for the zero embedding (all zero when not given).
    `steps` 0: no integrated gradients."""
    return explain_spans(explainer, [span], steps=steps, baseline_tokens=[baseline_tokens], attention=attention,
                         token_budget=token_budget, power=power)[0]  # fmt: skip
