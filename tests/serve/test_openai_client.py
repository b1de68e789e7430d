"""The official `openai` package, a client the project did not write, against `harness serve`."""

from __future__ import annotations

import openai
import pytest

from harness.api import GenerationRequest, LoglikelihoodRequest
from harness.tokens import encode_pair
from tests.served_process import ServerProcess


@pytest.fixture(scope="module")
def oai(tiny_server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=tiny_server.url, api_key="unused", max_retries=0, timeout=60)


def test_models_list(oai: openai.OpenAI, tiny_lm) -> None:
    [model] = list(oai.models.list())
    assert model.id == "tiny-chat" and model.owned_by == "harness"
    assert model.model_extra["max_model_len"] == 64
    assert model.model_extra["harness_fingerprint"] == tiny_lm.info.fingerprint


def test_echo_logprobs_with_string_and_token_prompts(oai: openai.OpenAI, tiny_lm) -> None:
    request = LoglikelihoodRequest("The river pilot describes", " the quiet harbour")
    [want] = tiny_lm.loglikelihood([request])
    context_ids, continuation_ids = encode_pair(tiny_lm.encode, request.context, request.continuation, tiny_lm.prefix_token)

    by_text = oai.completions.create(
        model="tiny-chat", prompt=request.context + request.continuation, echo=True, logprobs=1, max_tokens=0
    )
    lp = by_text.choices[0].logprobs
    assert by_text.choices[0].text == request.context + request.continuation
    scored = [v for v, o in zip(lp.token_logprobs, lp.text_offset) if o >= len(request.context)]
    assert len(scored) == want.n_tokens
    assert sum(scored) == pytest.approx(want.logprob, abs=1e-4)

    by_ids = oai.completions.create(
        model="tiny-chat", prompt=context_ids + continuation_ids, echo=True, logprobs=1, max_tokens=0
    )
    lp_ids = by_ids.choices[0].logprobs
    assert sum(lp_ids.token_logprobs[-len(continuation_ids) :]) == pytest.approx(want.logprob, abs=1e-4)
    # the same tokens either way, so the same numbers
    assert lp_ids.tokens == lp.tokens and lp_ids.text_offset == lp.text_offset
    assert lp_ids.token_logprobs[0] is None and lp.token_logprobs[0] is None
    assert lp_ids.token_logprobs[1:] == pytest.approx(lp.token_logprobs[1:], abs=1e-6)
    assert by_ids.usage.prompt_tokens == len(context_ids) + len(continuation_ids)


def test_generation_and_chat(oai: openai.OpenAI, tiny_lm) -> None:
    [greedy] = tiny_lm.generate([GenerationRequest(prompt="The gardener", max_new_tokens=8)])
    done = oai.completions.create(model="tiny-chat", prompt="The gardener", max_tokens=8, temperature=0)
    assert done.choices[0].text == greedy.texts[0]
    [chat] = tiny_lm.generate([GenerationRequest(prompt="Hello there", max_new_tokens=8, temperature=0.9, seed=11, chat=True)])
    reply = oai.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "Hello there"}], max_tokens=8, temperature=0.9, seed=11
    )
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == chat.texts[0]
    assert reply.usage.completion_tokens > 0
