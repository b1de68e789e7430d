"""The optional explanation capability: what an adapter hands over so its model can be taken apart.

It is not part of the adapter contract (harness.api): an adapter that has it exposes
`explainer()`, checked once where a command starts (`explainer_of`). The `Explainer` is the torch
module seen through three calls, so the computations in harness.explain.compute are written once
for every model that has them:

- `embed(ids)`: the input embeddings of token ids, (B, T) -> (B, T, C), before any position
  information is added (attributions are taken with respect to these);
- `forward(embeds, attentions)`: logits (B, T, V) from input embeddings, and with
  `attentions=True` also each layer's attention weights (B, H, T, T);
- `spans(requests)`: the token spans that `loglikelihood` scores for these requests, cut exactly
  as in scoring (context, BOS, chat template, truncation), so an explanation adds up to the score.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from harness.api import LoglikelihoodRequest
from harness.errors import HarnessError
from harness.tokens import Span, SpanScore, pair_loglikelihoods

REFUSAL = "use an hf model (a preset, a transformers folder or a GGUF file) or a from-scratch checkpoint"


@dataclass(frozen=True)
class Explainer:
    module: Any  # the torch module (its parameters are frozen while gradients are taken)
    embed: Callable[[Any], Any]  # (B, T) long token ids -> (B, T, C) input embeddings
    forward: Callable[[Any, bool], tuple[Any, Any]]  # embeds, attentions? -> logits (B, T, V), per-layer (B, H, T, T) or None
    spans: Callable[[Sequence[LoglikelihoodRequest]], list[Span]]
    token_text: Callable[[Sequence[int]], list[str]]  # what each token shows as text (untrusted: escape it)
    device: str = "cpu"


@runtime_checkable
class Explainable(Protocol):
    """An adapter whose model can be explained (harness.models.hf, harness.models.scratch)."""

    def explainer(self) -> Explainer: ...


def explainer_of(adapter: Any, flag: str) -> Explainable:
    """The adapter when it can explain; a one-line error naming `flag` otherwise."""
    if isinstance(adapter, Explainable):
        return adapter
    # Named without `info`, which a served model would have to ask its server for.
    raise refusal(flag, getattr(adapter, "name", "?"), type(adapter).__name__)


def check_preset(model: str, flag: str) -> None:
    """Refuse a model whose adapter cannot explain before it is built (a served model's server is
    never asked)."""
    from harness.registry import ADAPTERS
    from harness.resources import load_model_spec

    spec = load_model_spec(model)
    if not hasattr(ADAPTERS.get(spec.adapter), "explainer"):
        raise refusal(flag, spec.name, f"adapter {spec.adapter}")


def refusal(flag: str, name: str, what: str) -> HarnessError:
    return HarnessError(f"{flag}: model {name} ({what}) cannot explain its scores (no gradients or attention); {REFUSAL}")


def captured_spans(
    encode: Callable[[str], list[int]],
    prefix_token: int,
    max_length: int,
    requests: Sequence[LoglikelihoodRequest],
    render_chat: Callable[..., str] | None = None,
) -> list[Span]:
    """The spans `harness.tokens.pair_loglikelihoods` scores for `requests`: the same call, with a
    scorer that keeps the spans instead of running the model."""
    seen: list[Span] = []

    def keep(spans: Sequence[Span]) -> list[SpanScore]:
        seen.extend(spans)
        return [SpanScore(0.0, False) for _ in spans]

    pair_loglikelihoods(keep, encode, prefix_token, max_length, requests, render_chat)
    return seen


def token_texts(token_bytes: Callable[[list[int]], list[bytes]], ids: Sequence[int]) -> list[str]:
    """Each token's text from the bytes it contributes (a token holding part of a character shows
    the replacement character)."""
    return [b.decode("utf-8", errors="replace") for b in token_bytes(list(ids))]
