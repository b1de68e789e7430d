"""Attention weights: rows are distributions over the keys a position may see (sum 1, zero above
the diagonal); the hf maps equal transformers' own `output_attentions`; the scratch model's
explicit attention gives the same logits as its fused kernel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from harness.api import LoglikelihoodRequest
from harness.explain.compute import explain_span, explain_spans
from harness.report.explain_panels import _decode
from tests.explain.conftest import SUITES, read_lines

TEXT = "My grandmother could not work out how to use the new phone app."


def check_rows(att: np.ndarray, first_row: int) -> None:
    """att (L, H, n, T): row r is query position first_row + r."""
    np.testing.assert_allclose(att.astype(np.float64).sum(axis=-1), 1.0, atol=4e-3)  # float16 storage
    for r in range(att.shape[2]):
        assert np.all(att[:, :, r, first_row + r + 1 :] == 0), "attention above the diagonal"


def test_stored_rows_sum_to_one_and_are_causal(explained_run: Path) -> None:
    for suite in SUITES:
        for line in read_lines(explained_run / f"{suite}.explain.jsonl"):
            for option in line["options"]:
                entry = option["attention"]
                att = _decode(entry)
                n_inputs = len(option["tokens"]) - 1
                assert att.shape[2:] == (option["n_targets"], n_inputs)
                assert entry["rows_from"] == n_inputs - option["n_targets"]
                check_rows(att, entry["rows_from"])


def test_hf_attention_equals_transformers_output_attentions(tiny_llama: Path) -> None:
    from transformers import AutoModelForCausalLM

    from harness.models.hf import HFModel

    adapter = HFModel(name="tiny", path=str(tiny_llama))
    (span,) = adapter.explainer().spans([LoglikelihoodRequest("", TEXT)])
    implementation = adapter.model.config._attn_implementation
    e = explain_span(adapter.explainer(), span, steps=4)
    assert adapter.model.config._attn_implementation == implementation  # eager for the explain pass only
    reference = AutoModelForCausalLM.from_pretrained(tiny_llama, attn_implementation="eager").eval()
    with torch.no_grad():
        out = reference(input_ids=torch.tensor([span.inputs]), output_attentions=True)
    theirs = torch.stack([a[0] for a in out.attentions]).numpy()  # (L, H, T, T)
    n = span.n_targets
    np.testing.assert_allclose(e.attention.astype(np.float32), theirs[:, :, -n:, :], atol=1e-3)  # float16 storage
    check_rows(e.attention, len(span.inputs) - n)


def test_scratch_attention_weights(tiny_scratch: Path) -> None:
    from harness.models.scratch import ScratchModel

    adapter = ScratchModel(name="tiny-scratch", path=str(tiny_scratch))
    model = adapter.model
    ids = torch.tensor([adapter.encode(TEXT)[:40]])
    weights: list[torch.Tensor] = []
    with torch.no_grad():
        fused = model(ids)
        explicit = model(ids, attentions=weights)
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)
    att = torch.stack([w[0] for w in weights]).numpy()  # (L, H, T, T)
    assert att.shape == (model.config.n_layer, model.config.n_head, ids.shape[1], ids.shape[1])
    check_rows(att, 0)
    # by hand for layer 0: softmax(q k^T / sqrt(D)) under the causal mask
    block = model.blocks[0]
    with torch.no_grad():
        x = block.ln_1(model.wte(ids) + model.wpe(torch.arange(ids.shape[1]))[None])
        q, k, _ = block.attn.c_attn(x).split(model.config.n_embd, dim=-1)
        H, D = model.config.n_head, model.config.head_dim
        q = q.view(1, -1, H, D).transpose(1, 2)
        k = k.view(1, -1, H, D).transpose(1, 2)
        scores = (q @ k.transpose(-2, -1)) / D**0.5
        mask = torch.ones(ids.shape[1], ids.shape[1], dtype=torch.bool).tril()
        expected = scores.masked_fill(~mask, float("-inf")).softmax(-1)[0].numpy()
    np.testing.assert_allclose(att[0], expected, atol=1e-6)


def test_batched_options_equal_each_option_alone(tiny_llama: Path, tiny_scratch: Path) -> None:
    """The options' own passes run right-padded in one batch: every row's log-probs, gradient x
    input and attention rows are those of the option explained alone."""
    from harness.models.hf import HFModel
    from harness.models.scratch import ScratchModel

    texts = ["The nurse left.", "Old people are slow.", "The council met late."]
    for adapter in (HFModel(name="tiny", path=str(tiny_llama)), ScratchModel(name="tiny", path=str(tiny_scratch))):
        ex = adapter.explainer()
        spans = ex.spans([LoglikelihoodRequest("", t) for t in texts])
        assert len({len(s.inputs) for s in spans}) > 1  # padding is exercised
        together = explain_spans(ex, spans, steps=0)
        for span, batched in zip(spans, together):
            alone = explain_span(ex, span, steps=0)
            np.testing.assert_allclose(batched.logprobs, alone.logprobs, atol=1e-5)
            np.testing.assert_allclose(batched.grad_x_input, alone.grad_x_input, atol=1e-5)
            np.testing.assert_allclose(batched.attention.astype(np.float32), alone.attention.astype(np.float32), atol=1e-3)
            assert batched.integrated_gradients is None and batched.completeness_error is None
