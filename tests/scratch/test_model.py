"""The Transformer itself: config checks, GPT-2 init, weight tying, causality, KV cache."""

from __future__ import annotations

import math

import pytest
import torch

from harness.errors import HarnessError
from harness.scratch.generate import Sampling, generate_tokens
from harness.scratch.model import GPT, GPTConfig, KVCache

CONFIGS = {
    "learned": GPTConfig(vocab_size=97, block_size=40, n_layer=2, n_head=4, n_embd=32),
    "rotary": GPTConfig(vocab_size=97, block_size=40, n_layer=2, n_head=4, n_embd=32, positions="rotary"),
}


def make(positions: str, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    model = GPT(CONFIGS[positions]).eval()
    # Larger weights than the init's, so logits differ enough for argmax ties never to occur.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.mul_(8)
    return model


def test_n_embd_must_divide_by_n_head():
    with pytest.raises(HarnessError, match="n_embd 30 is not divisible by n_head 4"):
        GPTConfig(n_embd=30, n_head=4)


def test_unknown_config_key_is_named():
    with pytest.raises(HarnessError, match="unknown key.*n_layers"):
        GPTConfig.from_dict({"n_layers": 2})


def test_weight_tying_and_gpt2_init():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=500, block_size=64, n_layer=8, n_head=4, n_embd=64)
    model = GPT(config)
    assert model.lm_head.weight is model.wte.weight
    counted = sum(p.numel() for p in model.parameters())
    assert model.n_parameters() == counted  # the tied matrix is counted once
    assert counted == 500 * 64 + 64 * 64 + 8 * (12 * 64 * 64 + 13 * 64) + 2 * 64
    assert model.wte.weight.std().item() == pytest.approx(0.02, rel=0.05)
    proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.blocks])
    assert proj.std().item() == pytest.approx(0.02 / math.sqrt(2 * 8), rel=0.05)
    assert all(float(b.attn.c_attn.bias.detach().abs().max()) == 0 for b in model.blocks)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_causal_future_tokens_do_not_change_earlier_logits(positions):
    model = make(positions)
    x = torch.randint(0, 97, (2, 20))
    y = x.clone()
    y[:, 12:] = (y[:, 12:] + 1) % 97
    with torch.no_grad():
        a, b = model(x), model(y)
    assert a.shape == (2, 20, 97)
    assert torch.allclose(a[:, :12], b[:, :12], atol=1e-5)
    assert not torch.allclose(a[:, 12:], b[:, 12:])


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_kv_cache_logits_equal_full_forward(positions):
    model = make(positions)
    config = CONFIGS[positions]
    x = torch.randint(0, 97, (3, 24))
    with torch.no_grad():
        full = model(x)
        cache = KVCache(config, 3, torch.device("cpu"), torch.float32)
        pieces = [model(x[:, :10], None, None, cache)]
        for t in range(10, 24):
            pieces.append(model(x[:, t : t + 1], torch.full((3, 1), t), None, cache))
    assert cache.length == 24
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-4)
    with torch.no_grad():
        assert torch.allclose(model(x, last_only=True), full[:, -1:], atol=1e-5)


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_and_uncached_greedy_generation_identical(positions):
    model = make(positions)
    prompts = [[5, 6, 7, 8, 9], [11], [3, 1, 4, 1, 5, 9, 2, 6]]
    cached = generate_tokens(model, prompts, 30, use_cache=True)
    uncached = generate_tokens(model, prompts, 30, use_cache=False)
    assert cached == uncached
    assert [len(t) for t in cached] == [30, 30, 30]
    # Left padding is invisible: each prompt alone gives the same tokens as in the batch.
    assert [generate_tokens(model, [p], 30)[0] for p in prompts] == cached


def reference_greedy(model: GPT, prompt: list[int], n: int) -> list[int]:
    """The documented context policy, written out: the window starts as the prompt's last
    block_size tokens and grows by one per token; a window that would pass block_size restarts
    from the last block_size // 2 tokens. Every step reads the window afresh."""
    block = model.config.block_size
    seq, window, out = list(prompt), min(len(prompt), block), []
    for _ in range(n):
        with torch.no_grad():
            token = int(model(torch.tensor([seq[len(seq) - window :]]))[0, -1].argmax())
        seq.append(token)
        out.append(token)
        window = block // 2 if window == block else window + 1
    return out


@pytest.mark.parametrize("positions", ["learned", "rotary"])
def test_cached_and_uncached_identical_past_block_size(positions):
    model = make(positions)
    # block_size is 40: 100 new tokens wrap every window at least twice; the third prompt is
    # longer than a block, and the rows wrap at different steps.
    prompts = [[5, 6, 7, 8, 9], [11], [(7 * i) % 97 for i in range(53)]]
    cached = generate_tokens(model, prompts, 100, use_cache=True)
    uncached = generate_tokens(model, prompts, 100, use_cache=False)
    assert [len(t) for t in cached] == [100, 100, 100]
    assert cached == uncached
    assert [generate_tokens(model, [p], 100)[0] for p in prompts] == cached  # alone = batched
    assert [reference_greedy(model, p, 100) for p in prompts] == cached


def test_sampling_is_seeded_and_filters():
    model = make("rotary")
    prompt = [[4, 5, 6]] * 3

    def draw(seed: int, sampling: Sampling) -> list[list[int]]:
        return generate_tokens(model, prompt, 12, sampling, generator=torch.Generator().manual_seed(seed))

    hot = Sampling(temperature=1.5)
    assert draw(1, hot) == draw(1, hot)
    assert draw(1, hot) != draw(2, hot)
    greedy = generate_tokens(model, prompt, 12)
    assert draw(3, Sampling(temperature=1.0, top_k=1)) == greedy  # top-k 1 is argmax
    assert draw(3, Sampling(temperature=1.0, top_p=1e-6)) == greedy  # the nucleus holds the top token only


def test_eos_and_stop_end_rows():
    model = make("learned")
    free = generate_tokens(model, [[1, 2]], 10)[0]
    eos = free[3]
    cut = generate_tokens(model, [[1, 2]], 10, eos_id=eos)[0]
    assert cut == free[: free.index(eos)]
    stopped = generate_tokens(model, [[1, 2]], 10, stop=lambda row, toks: len(toks) == 4)[0]
    assert stopped == free[:4]


def test_top_p_and_top_k_keep_the_right_tokens():
    from harness.scratch.generate import choose

    probs = torch.tensor([0.5, 0.3, 0.15, 0.05])
    logits = probs.log().expand(4000, 4)
    g = torch.Generator().manual_seed(0)
    # Nucleus 0.7: token 0 (mass before it 0) and token 1 (0.5 < 0.7) stay; token 2 has 0.8 before it.
    drawn = choose(logits, Sampling(temperature=1.0, top_p=0.7), g)
    counts = torch.bincount(drawn, minlength=4).double() / 4000
    assert counts[2] == 0 and counts[3] == 0
    assert counts[0].item() == pytest.approx(0.5 / 0.8, abs=0.03)
    drawn = choose(logits, Sampling(temperature=1.0, top_k=3), g)
    counts = torch.bincount(drawn, minlength=4).double() / 4000
    assert counts[3] == 0 and counts[2].item() == pytest.approx(0.15 / 0.95, abs=0.03)
    # Temperature 0.5 squares the probabilities before renormalising.
    drawn = choose(logits, Sampling(temperature=0.5), g)
    counts = torch.bincount(drawn, minlength=4).double() / 4000
    assert counts[0].item() == pytest.approx(0.25 / (0.25 + 0.09 + 0.0225 + 0.0025), abs=0.03)
