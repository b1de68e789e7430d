"""Attributions against values computed independently: an embedding-bag model whose gradient is
written out by hand and integrated with scipy; completeness of integrated gradients on the tiny
test models; and captum's LayerIntegratedGradients on the same Llama."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.api import LoglikelihoodRequest
from harness.explain.capability import Explainer
from harness.explain.compute import explain_span, gauss_legendre
from harness.tokens import Span

TEXTS = (
    "My grandmother could not work out how to use the new phone app.",
    "The teenager stayed up all night playing video games.",
    "Nurses are caring, she said, and engineers are not.",
)


class EmbeddingBag(torch.nn.Module):
    """logits_t = W h_t with h_t = x_0 + ... + x_t (a causal bag of the input embeddings)."""

    def __init__(self, vocab: int, dim: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.nn.Embedding(vocab, dim, dtype=torch.float64)
        self.emb.weight.data = torch.randn(vocab, dim, generator=g, dtype=torch.float64)
        self.W = torch.nn.Parameter(torch.randn(vocab, dim, generator=g, dtype=torch.float64) / 2)

    def forward(self, embeds: torch.Tensor, attentions: bool) -> tuple[torch.Tensor, None]:
        return embeds.cumsum(dim=1) @ self.W.T, None  # (B, T, V)


def bag_explainer(bag: EmbeddingBag) -> Explainer:
    return Explainer(module=bag, embed=bag.emb, forward=bag.forward, spans=lambda r: [], token_text=lambda ids: [str(i) for i in ids])


def analytic_gradient(x: np.ndarray, W: np.ndarray, targets: list[int], n_inputs: int) -> np.ndarray:
    """d/dx_s of f = sum_t log softmax(W h_t)[y_t], t over the scored positions (the last
    len(targets) inputs), h_t = sum_{s<=t} x_s: sum_{t>=s} (W[y_t] - softmax(W h_t) W)."""
    h = np.cumsum(x, axis=0)
    grad = np.zeros_like(x)
    first = n_inputs - len(targets)
    for k, y in enumerate(targets):
        t = first + k
        z = W @ h[t]
        p = np.exp(z - z.max())
        p /= p.sum()
        grad[: t + 1] += W[y] - p @ W
    return grad


def test_attributions_equal_the_analytic_values() -> None:
    from scipy.integrate import quad_vec

    bag = EmbeddingBag(vocab=9, dim=5)
    span = Span((3, 1, 4, 1, 5, 8, 2, 6), n_targets=5)
    x = bag.emb.weight.detach().numpy()[list(span.inputs)]  # (T, C)
    W = bag.W.detach().numpy()
    targets, T = list(span.targets), len(span.inputs)
    for baseline_tokens in (None, [None, 7, None, 0, None, None, 2]):
        base = np.zeros_like(x)
        if baseline_tokens is not None:
            for i, tok in enumerate(baseline_tokens):
                if tok is not None:
                    base[i] = bag.emb.weight.detach().numpy()[tok]
        e = explain_span(bag_explainer(bag), span, steps=64, baseline_tokens=baseline_tokens, attention=False)
        integral, _ = quad_vec(lambda a: analytic_gradient(base + a * (x - base), W, targets, T), 0.0, 1.0, epsabs=1e-12)
        expected_ig = ((x - base) * integral).sum(axis=1)
        expected_gxi = (x * analytic_gradient(x, W, targets, T)).sum(axis=1)
        # the model runs in float64; log-softmax is taken in float32 as in scoring
        np.testing.assert_allclose(e.integrated_gradients, expected_ig, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(e.grad_x_input, expected_gxi, rtol=1e-5, atol=1e-5)
        assert e.completeness_error < 1e-5


def test_quadrature_weights_integrate_polynomials_exactly() -> None:
    # with a = u^3, a^k has degree 3k in u: 16 Gauss-Legendre nodes integrate it exactly up to k = 10
    alphas, weights = gauss_legendre(16, power=3)
    for k in range(0, 11):
        assert float(np.sum(weights * alphas**k)) == pytest.approx(1 / (k + 1), rel=1e-12)


def _spans(adapter, texts):  # type: ignore[no-untyped-def]
    return adapter.explainer().spans([LoglikelihoodRequest("", t) for t in texts])


def test_completeness_within_one_percent_on_the_tiny_llama(tiny_llama: Path) -> None:
    from harness.models.hf import HFModel

    adapter = HFModel(name="tiny", path=str(tiny_llama))
    ex = adapter.explainer()
    for span in _spans(adapter, TEXTS):
        e = explain_span(ex, span, steps=64, attention=False)
        assert e.completeness_error < 0.01, e.completeness_error
        assert math.fsum(e.integrated_gradients) == pytest.approx(e.f_input - e.f_baseline, rel=0.01)


def test_completeness_within_one_percent_on_the_scratch_model(tiny_scratch: Path) -> None:
    from harness.models.scratch import ScratchModel

    adapter = ScratchModel(name="tiny-scratch", path=str(tiny_scratch))
    ex = adapter.explainer()
    for span in _spans(adapter, TEXTS):
        e = explain_span(ex, span, steps=64, attention=False)
        assert e.completeness_error < 0.01, e.completeness_error


def test_integrated_gradients_match_captum(tiny_llama: Path) -> None:
    """captum's LayerIntegratedGradients on the embedding layer, Gauss-Legendre with the same number
    of steps, from a baseline of one token everywhere: ours with plain nodes (power 1) and the same
    baseline embeddings."""
    pytest.importorskip("captum", reason="captum is pinned in requirements-test.txt")
    from captum.attr import LayerIntegratedGradients

    from harness.models.hf import HFModel

    adapter = HFModel(name="tiny", path=str(tiny_llama))
    ex = adapter.explainer()
    model = adapter.model
    (span,) = _spans(adapter, TEXTS[:1])
    ids = torch.tensor([span.inputs])
    targets = torch.tensor(span.targets)
    baseline_token = 5

    def loglikelihood(input_ids: torch.Tensor) -> torch.Tensor:
        logits = model(input_ids=input_ids, use_cache=False).logits[:, -len(targets):].float()  # (B, n, V)
        return logits.log_softmax(-1).gather(-1, targets.expand(len(logits), -1)[..., None])[..., 0].sum(-1)

    lig = LayerIntegratedGradients(loglikelihood, model.get_input_embeddings())
    theirs, delta = lig.attribute(ids, baselines=torch.full_like(ids, baseline_token), n_steps=24,
                                  method="gausslegendre", return_convergence_delta=True)
    ours = explain_span(ex, span, steps=24, baseline_tokens=[baseline_token] * len(span.inputs), attention=False, power=1)
    np.testing.assert_allclose(ours.integrated_gradients, theirs.sum(-1)[0].double().numpy(), rtol=1e-4, atol=1e-5)
    # captum's convergence delta is (sum of attributions) - (f(x) - f(x')): ours records the same gap
    ig_sum = math.fsum(ours.integrated_gradients)
    assert ig_sum - (ours.f_input - ours.f_baseline) == pytest.approx(float(delta), abs=1e-4)


def test_other_option_baseline_puts_all_attribution_on_the_differing_tokens(tiny_llama: Path) -> None:
    """With the other option's aligned tokens as baseline, shared tokens are the same at input and
    baseline, so their integrated gradients are exactly 0 and the differing words carry
    f(x) - f(x'), where x' is this text with the other option's words in place."""
    from harness.explain.explain import Item, explain_items
    from harness.explain.settings import Settings
    from harness.explain.targets import Choice
    from harness.models.hf import HFModel

    adapter = HFModel(name="tiny", path=str(tiny_llama))
    more, less = "My grandmother could not work out the app.", "My niece could not work out the app."
    requests = {"a": LoglikelihoodRequest("", more), "b": LoglikelihoodRequest("", less)}
    item = Item(item_id="x", suite="s", kind="crows_pairs", signal_name="d", choice=Choice("a", "b", 0.0),
                requests=requests, recorded={"a": 0.0, "b": 0.0})
    (line,) = explain_items(adapter.explainer(), [item], Settings(steps=64, baseline="other"))
    a = line["options"][0]
    shared = {i for s in line["segments"] if s["same"] for i in range(*s["a"]) if i < len(a["tokens"]) - 1}
    assert shared and all(a["integrated_gradients"][i] == 0.0 for i in shared)
    assert any(a["integrated_gradients"][i] != 0.0 for i in range(len(a["tokens"]) - 1) if i not in shared)
    assert a["ig"]["completeness_error"] < 0.01
    assert line["settings"] == {"steps": 64, "baseline": "other", "method": "gauss-legendre a=u^3"}
