"""Each transform against its formula on linear layers: quantisation error within the round-to-
nearest bound, exact pruned counts, weight bytes from the storage format, tied heads kept."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from harness.compress.spec import parse_spec
from harness.compress.transforms import apply_transform
from harness.errors import HarnessError

OUT, IN = 24, 96


def layers(seed: int = 0, n: int = 1) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(*[nn.Linear(IN, IN if i < n - 1 else OUT) for i in range(n)])


def test_int8_per_channel_symmetric_within_bound() -> None:
    model = layers()
    w = model[0].weight.detach().clone()
    bias = model[0].bias.detach().clone()
    x = torch.randn(5, IN)
    y_ref = x @ w.T + bias
    record = apply_transform(model, parse_spec("int8"), embeddings=False, name="t")
    q = model[0].weight
    scale = q.scale.reshape(OUT, 1)
    # symmetric, one scale per output channel: max|w| / ((127 - (-128)) / 2)
    assert torch.allclose(scale, w.abs().amax(dim=1, keepdim=True) / 127.5, rtol=1e-6)
    values = q.qdata.to(torch.float32)
    assert values.min() >= -128 and values.max() <= 127
    assert (values - w / scale).abs().max() <= 0.5 + 1e-4  # round to nearest
    assert ((values * scale - w).abs() <= scale / 2 + 1e-7).all()
    # the layer's output: |y - y_ref|_i <= sum_j |x_j| * scale_i / 2
    bound = x.abs().sum(dim=1, keepdim=True) * scale.T / 2
    with torch.no_grad():
        assert ((model(x) - y_ref).abs() <= bound + 1e-5).all()
    assert record.modules == ("0",) and record.bits == 8 and record.library.startswith("torchao ")
    # int8 values, fp32 scales (and torchao's int8 zero points), fp32 bias; before: fp32 weights and bias
    assert record.weight_bytes_before == (OUT * IN + OUT) * 4
    inner = sum(getattr(q, name).numel() * getattr(q, name).element_size() for name in q.__tensor_flatten__()[0])
    assert inner >= OUT * IN + OUT * 4
    assert record.weight_bytes_after == inner + OUT * 4


def test_int4_groupwise_symmetric_within_bound() -> None:
    group = 32
    model = layers(seed=1)
    w = model[0].weight.detach().clone()
    x = torch.randn(5, IN)
    with torch.no_grad():
        y_ref = model(x)
    record = apply_transform(model, parse_spec(f"int4:g{group}"), embeddings=False, name="t")
    q = model[0].weight
    groups = w.reshape(OUT, IN // group, group)
    scale = q.scale.reshape(OUT, IN // group, 1)
    assert torch.allclose(scale, groups.abs().amax(dim=-1, keepdim=True) / 7.5, rtol=1e-6)
    values = q.qdata.to(torch.float32).reshape(OUT, IN // group, group)
    assert values.min() >= -8 and values.max() <= 7
    assert int(q.zero_point.abs().sum()) == 0  # symmetric
    assert (values - groups / scale).abs().max() <= 0.5 + 1e-4
    assert ((values * scale - groups).abs() <= scale / 2 + 1e-7).all()
    per_weight = scale.expand(OUT, IN // group, group).reshape(OUT, IN)  # scale of each weight
    bound = x.abs() @ (per_weight / 2).T
    with torch.no_grad():
        assert ((model(x) - y_ref).abs() <= bound + 1e-5).all()
    assert record.bits == 4 and record.group_size == group
    # packed: two values per byte, plus scales and zero points as stored, plus the fp32 bias
    assert record.weight_bytes_packed == OUT * IN // 2 + OUT * (IN // group) * (4 + 1) + OUT * 4
    assert record.weight_bytes_after == OUT * IN + OUT * (IN // group) * (4 + 1) + OUT * 4


def test_int4_group_must_divide_the_rows() -> None:
    with pytest.raises(HarnessError, match="not a multiple of the group size 64; use int4:g32, the largest group"):
        apply_transform(layers(), parse_spec("int4:g64"), embeddings=False, name="t")


def test_int8_dynamic_weights_within_bound() -> None:
    model = layers(seed=2)
    w = model[0].weight.detach().clone()
    record = apply_transform(model, parse_spec("int8-dynamic"), embeddings=False, name="t")
    assert type(model[0]).__name__ == "Linear" and model[0].__module__.startswith("torch.ao.nn.quantized.dynamic")
    qw = model[0].weight()
    scale = qw.q_per_channel_scales().to(torch.float32).reshape(OUT, 1)
    assert torch.allclose(scale, w.abs().amax(dim=1, keepdim=True) / 127.5, rtol=1e-5)
    assert ((qw.dequantize() - w).abs() <= scale / 2 + 1e-6).all()
    # int8 values, float64 scales and int64 zero points per channel, fp32 bias
    assert record.weight_bytes_after == OUT * IN + OUT * (8 + 8) + OUT * 4


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9])
def test_global_pruning_exact_fraction_smallest_first(sparsity: float) -> None:
    model = layers(seed=3, n=3)
    before = torch.cat([m.weight.detach().flatten().clone() for m in model])
    record = apply_transform(model, parse_spec(f"prune:{sparsity}"), embeddings=False, name="t")
    after = torch.cat([m.weight.detach().flatten() for m in model])
    zeroed = after == 0
    assert int(zeroed.sum()) == round(sparsity * before.numel())  # torch.nn.utils.prune's count
    assert before[zeroed].abs().max() <= before[~zeroed].abs().min()  # the smallest |w| went, over all layers
    assert torch.equal(after[~zeroed], before[~zeroed])
    assert record.measured_sparsity == pytest.approx(int(zeroed.sum()) / before.numel())
    assert all(not hasattr(m, "weight_orig") for m in model)  # made permanent (prune.remove)
    assert record.weight_bytes_after == record.weight_bytes_before  # dense storage


def test_per_layer_pruning_exact_fraction_each() -> None:
    model = layers(seed=4, n=3)
    before = [m.weight.detach().clone() for m in model]
    apply_transform(model, parse_spec("prune-layer:0.5"), embeddings=False, name="t")
    for m, w in zip(model, before):
        zeroed = m.weight == 0
        assert int(zeroed.sum()) == round(0.5 * w.numel())
        assert w[zeroed].abs().max() <= w[~zeroed].abs().min()


@pytest.mark.parametrize("spec", ["int8", "int4:g16", "prune:0.5", "int8-dynamic"])
def test_tied_head_and_embeddings_left_alone(tiny_llama: Path, spec: str) -> None:
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny_llama).eval()
    embedding = model.model.embed_tokens.weight.detach().clone()
    record = apply_transform(model, parse_spec(spec), embeddings=False, name="tiny")
    assert model.lm_head.weight is model.model.embed_tokens.weight
    assert torch.equal(model.model.embed_tokens.weight, embedding)
    assert record.tied_head == "kept"
    assert set(record.left_alone) == {"model.embed_tokens", "lm_head"}
    assert len(record.modules) == 14  # 2 layers x (q, k, v, o, gate, up, down)


def test_compress_embeddings_prunes_the_tied_weight_once(tiny_llama: Path) -> None:
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny_llama).eval()
    record = apply_transform(model, parse_spec("prune-layer:0.5"), embeddings=True, name="tiny")
    assert model.lm_head.weight is model.model.embed_tokens.weight and record.tied_head == "kept"
    embedding = model.model.embed_tokens.weight
    assert int((embedding == 0).sum()) == round(0.5 * embedding.numel())
    assert "lm_head" in record.modules and record.left_alone == ()


def test_gpt2_conv1d_changes_nothing_is_an_error(tiny_gpt2: Path) -> None:
    from transformers import GPT2LMHeadModel

    model = GPT2LMHeadModel.from_pretrained(tiny_gpt2)
    with pytest.raises(HarnessError) as e:
        apply_transform(model, parse_spec("int8"), embeddings=False, name="gpt2")
    assert "would change nothing" in str(e.value) and "8 GPT-2 Conv1D layers are not handled" in str(e.value)


def test_gpt2_through_the_cli_exits_2(run_cli, tiny_gpt2: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("run", "crows_pairs", "--model", tiny_gpt2, "--compress", "prune:0.5", "--limit", "2", "--quiet")
    assert code == 2 and err.count("\n") == 1 and "would change nothing" in err


def test_weight_bytes_of_the_tiny_llama(tiny_llama: Path) -> None:
    """Before: every fp32 parameter once (the tied head shares the embedding's)."""
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny_llama)
    unique = {id(p): p for p in model.parameters()}
    expected = sum(p.numel() * 4 for p in unique.values())
    record = apply_transform(model, parse_spec("prune:0.1"), embeddings=False, name="tiny")
    assert record.weight_bytes_before == expected == record.weight_bytes_after
    assert math.isclose(record.measured_sparsity or 0, 0.1, abs_tol=1e-4)


def test_compress_embeddings_quantises_head_and_embedding_alike(tiny_llama: Path) -> None:
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny_llama).eval()
    ids = torch.tensor([[0, 5, 17, 42, 99]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    record = apply_transform(model, parse_spec("int8"), embeddings=True, name="tiny")
    head, embedding = model.lm_head.weight, model.model.embed_tokens.weight
    assert {"lm_head", "model.embed_tokens"} <= set(record.modules) and record.left_alone == ()
    assert record.tied_head.startswith("untied")
    assert torch.equal(head.qdata, embedding.qdata) and torch.equal(head.scale, embedding.scale)
    with torch.no_grad():
        after = model(input_ids=ids).logits
    assert 0 < (after - before).abs().max() < 0.05 * before.abs().max()
