"""The `Explainer` of each adapter that has one: the Hugging Face models and the from-scratch
Transformer. Both read input embeddings directly, so gradients can be taken with respect to them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from harness.api import LoglikelihoodRequest
from harness.explain.capability import Explainer, captured_spans, token_texts


@contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """The model with transformers' eager attention, which materialises the weights that
    `output_attentions` returns (the fused kernels do not); the previous one afterwards."""
    previous = model.config._attn_implementation
    if previous == "eager":
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


def hf_explainer(adapter: Any) -> Explainer:
    model = adapter.model

    def forward(embeds: Any, attentions: bool) -> tuple[Any, Any]:
        if not attentions:
            return model(inputs_embeds=embeds, use_cache=False).logits, None
        with eager_attention(model):
            out = model(inputs_embeds=embeds, use_cache=False, output_attentions=True)
        return out.logits, tuple(out.attentions)

    def spans(requests: Sequence[LoglikelihoodRequest]) -> list[Any]:
        return captured_spans(adapter.encode, adapter.prefix_token, adapter.max_length, requests, adapter.chat_renderer(requests))

    return Explainer(
        module=model,
        embed=model.get_input_embeddings(),
        forward=forward,
        spans=spans,
        token_text=lambda ids: token_texts(adapter.token_bytes, ids),
        device=adapter.device,
    )


def scratch_explainer(adapter: Any) -> Explainer:
    model = adapter.model

    def forward(embeds: Any, attentions: bool) -> tuple[Any, Any]:
        weights: list[Any] | None = [] if attentions else None
        logits = model(None, embeds=embeds, attentions=weights)
        return logits, tuple(weights) if weights is not None else None

    def spans(requests: Sequence[LoglikelihoodRequest]) -> list[Any]:
        return captured_spans(adapter.encode, adapter.prefix_token, adapter.max_length, requests)

    return Explainer(
        module=model,
        embed=model.wte,
        forward=forward,
        spans=spans,
        token_text=lambda ids: token_texts(adapter.token_bytes, ids),
        device=adapter.device,
    )
