"""The `scratch` adapter: the full contract on a trained checkpoint, checked against the model
computed directly, and its integration with presets and `harness run`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from harness.api import GenerationRequest, LanguageModel, LoglikelihoodRequest
from harness.errors import HarnessError
from harness.models.scratch import ScratchModel
from harness.scratch.checkpoint import load_model
from harness.scratch.tokenizer import BPETokenizer

TEXT = "The gardener repairs the wooden fence near the station. A small robot counts two paper kites."


@pytest.fixture(scope="module")
def lm(trained, tmp_path_factory) -> ScratchModel:
    return ScratchModel(name="tiny", path=str(trained[0]), batch_size=3, cache_dir=tmp_path_factory.mktemp("cache"))


def direct_logprobs(folder: Path, tokens: list[int]) -> torch.Tensor:
    """log P(token_i | tokens before it) for tokens[1:], straight from the model."""
    model = load_model(folder)
    with torch.no_grad():
        logits = model(torch.tensor([tokens[:-1]]))[0]  # (T, V)
    return torch.log_softmax(logits.double(), dim=-1)[torch.arange(len(tokens) - 1), torch.tensor(tokens[1:])]


def test_implements_the_contract(lm):
    assert isinstance(lm, LanguageModel)


def test_info_is_computed_without_loading_the_model(trained, tmp_path):
    lm = ScratchModel(name="tiny", path=str(trained[0]), cache_dir=tmp_path)
    info = lm.info
    assert "model" not in lm.__dict__ and "tokenizer" not in lm.__dict__
    assert info.adapter == "scratch" and info.max_length == 48 and len(info.fingerprint) == 16
    assert info.tokenizer.startswith("byte-level BPE, 320 tokens")
    assert info.n_parameters == load_model(trained[0]).n_parameters()
    other = ScratchModel(name="tiny", path=str(trained[0]), dtype="bfloat16", cache_dir=tmp_path).info
    assert other.fingerprint != info.fingerprint


def test_rolling_loglikelihood_equals_direct_sum(lm, trained):
    folder = trained[0]
    tok = BPETokenizer(folder / "tokenizer.json")
    short = "Two paper kites."
    ids = tok.encode(short)
    expected = direct_logprobs(folder, [tok.eot_id] + ids).sum().item()
    (result,) = lm.loglikelihood_rolling([short])
    assert result.n_tokens == len(ids)
    assert result.logprob == pytest.approx(expected, abs=1e-4)
    # A text longer than the 48-token block: disjoint windows, each scored directly.
    ids = tok.encode(TEXT * 3)
    assert len(ids) > 60
    from harness.tokens import rolling_windows

    expected = sum(
        direct_logprobs(folder, list(w.tokens))[-w.n_targets :].sum().item() for w in rolling_windows(ids, tok.eot_id, 48)
    )
    long_result, short_again = lm.loglikelihood_rolling([TEXT * 3, short])
    assert long_result.n_tokens == len(ids)
    assert long_result.logprob == pytest.approx(expected, abs=1e-3)
    assert short_again.logprob == pytest.approx(result.logprob, abs=1e-5)  # batching does not change scores


def test_loglikelihood_and_is_greedy(lm, trained):
    folder = trained[0]
    tok = BPETokenizer(folder / "tokenizer.json")
    context = "The gardener repairs"
    whole = tok.encode(context + " the wooden fence")
    n_context = len(tok.encode(context))
    expected = direct_logprobs(folder, whole)[n_context - 1 :].sum().item()
    (r,) = lm.loglikelihood([LoglikelihoodRequest(context + " ", "the wooden fence")])  # trailing space moves over
    assert r.n_tokens == len(whole) - n_context
    assert r.logprob == pytest.approx(expected, abs=1e-4)
    (g,) = lm.generate([GenerationRequest(prompt=context, max_new_tokens=3)])
    (check,) = lm.loglikelihood([LoglikelihoodRequest(context, g.texts[0])])
    assert check.is_greedy


def test_generate_greedy_batched_sampled_and_stop(lm):
    prompts = ["The gardener", "Every student measures", ""]
    batch = lm.generate([GenerationRequest(prompt=p, max_new_tokens=8) for p in prompts])
    alone = [lm.generate([GenerationRequest(prompt=p, max_new_tokens=8)])[0] for p in prompts]
    assert batch == alone
    sampled = GenerationRequest(prompt="A small robot", max_new_tokens=8, temperature=1.0, top_p=0.9, n=3, seed=11)
    first = lm.generate([sampled])[0]
    assert len(first.texts) == 3
    assert lm.generate([GenerationRequest(prompt="x", max_new_tokens=2), sampled])[1] == first
    long = lm.generate([GenerationRequest(prompt="The gardener", max_new_tokens=20)])[0].texts[0]
    assert len(long) >= 6, long
    stop = long[3:5]
    cut = lm.generate([GenerationRequest(prompt="The gardener", max_new_tokens=20, stop=(stop,))])[0].texts[0]
    assert cut == long[: long.index(stop)]


def test_max_length_cannot_exceed_block_size(trained, tmp_path):
    lm = ScratchModel(name="tiny", path=str(trained[0]), max_length=64, cache_dir=tmp_path)
    with pytest.raises(HarnessError, match="must be 1..48"):
        lm.info


def test_preset_model_config_must_match_checkpoint(trained, tmp_path):
    lm = ScratchModel(name="tiny", checkpoint=str(trained[0]), model={"n_layer": 5, "n_embd": 32, "n_head": 2,
                      "vocab_size": 320, "block_size": 48}, cache_dir=tmp_path)
    with pytest.raises(HarnessError, match="model config differs from preset tiny.*n_layer 2 vs 5"):
        lm.info


def test_run_perplexity_on_a_checkpoint_folder(trained, tmp_path, run_cli):
    code, out, err = run_cli("run", "perplexity", "--model", trained[0], "--limit", "2", "--out", tmp_path / "r", "--quiet")
    assert code == 0, err
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["model"]["adapter"] == "scratch"
    bpb = summary["suites"]["perplexity"]["metrics"]["bits_per_byte"]["value"]
    assert 0 < bpb < 8


def test_preset_without_trained_checkpoint_says_how_to_train(tmp_path, monkeypatch, run_cli):
    monkeypatch.chdir(tmp_path)  # models/scratch-tiny does not exist relative to here
    code, _, err = run_cli("run", "perplexity", "--model", "scratch-tiny", "--limit", "1", "--out", tmp_path / "r")
    assert code == 2 and err.count("\n") == 1
    assert "run `harness train --config models/scratch-tiny.yaml` first" in err


def test_preset_loads_the_trained_checkpoint(trained, tmp_path, monkeypatch, run_cli):
    (tmp_path / "models").mkdir()
    shutil.copytree(trained[0], tmp_path / "models" / "tiny")
    preset = tmp_path / "tiny.yaml"
    preset.write_text("adapter: scratch\ncheckpoint: models/tiny\ntrain: {steps: 30}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("run", "perplexity", "--model", str(preset), "--limit", "1", "--out", tmp_path / "r", "--quiet")
    assert code == 0, err


def test_a_request_gets_the_same_text_alone_and_batched(lm, trained):
    tok = BPETokenizer(trained[0] / "tokenizer.json")
    prompt = TEXT[: TEXT.index(" counts")]
    assert 48 - 30 < len(tok.encode(prompt)) <= 48 - 4  # fits its own room, not the other request's
    # A long prompt with few new tokens, batched with a short prompt that asks for many tokens and
    # has its own stop: the first prompt must not be cut to make room for the other's tokens, and
    # neither request is stopped or cut by the other's stop.
    long = GenerationRequest(prompt=prompt, max_new_tokens=4)
    other = GenerationRequest(prompt="The", max_new_tokens=30, stop=("e",))
    alone = lm.generate([long])[0]
    other_alone = lm.generate([other])[0]
    assert lm.generate([long, other]) == [alone, other_alone]
    assert lm.generate([other, long]) == [other_alone, alone]
