"""The default model, SmolLM2-135M-Instruct, served: log-likelihoods (chat-rendered too), greedy
and chat generation equal the in-process adapter's. Loads the real model: marked slow."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import httpx2
import openai
import pytest

from harness.api import GenerationRequest, LoglikelihoodRequest
from harness.cache import default_cache_dir
from harness.models.generation import chat_turn
from harness.tokens import pair_loglikelihoods
from tests.serve.conftest import complete, in_process, server_span_scorer
from tests.served_process import ServerProcess, start_server

pytestmark = pytest.mark.slow
MAX_LENGTH = 256


@pytest.fixture(scope="module")
def smollm() -> Iterator[tuple[ServerProcess, httpx2.Client, object]]:
    lm = in_process("smollm2-135m", default_cache_dir(), max_length=MAX_LENGTH)
    with start_server("smollm2-135m", "--max-length", str(MAX_LENGTH)) as server:
        with httpx2.Client(base_url=server.root, timeout=120) as client:
            yield server, client, lm


def test_default_model_scores_like_in_process(smollm) -> None:
    server, client, lm = smollm
    card = client.get("/v1/models").json()["data"][0]
    assert card["id"] == "smollm2-135m" and card["max_model_len"] == MAX_LENGTH
    assert card["harness_fingerprint"] == lm.info.fingerprint and card["has_chat_template"] is True
    requests = [
        LoglikelihoodRequest("The capital of France is", " Paris"),
        LoglikelihoodRequest("The capital of France is", " Berlin"),
        LoglikelihoodRequest("", "Water boils at 100 degrees Celsius at sea level."),
        LoglikelihoodRequest("What is the largest planet in the solar system?", "Jupiter", chat=True),
    ]
    render = functools.partial(chat_turn, lm.tokenizer)
    served = pair_loglikelihoods(server_span_scorer(client), lm.encode, lm.prefix_token, MAX_LENGTH, requests, render)
    for got, want in zip(served, lm.loglikelihood(requests)):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)
        assert (got.is_greedy, got.n_tokens) == (want.is_greedy, want.n_tokens)
    assert served[0].logprob > served[1].logprob  # a trained model, not noise
    # a string prompt: no BOS added, offsets into the string
    text = "Héllo wörld, naïve café."
    choice = complete(client, prompt=text, echo=True, logprobs=1, max_tokens=0)["choices"][0]
    assert choice["text"] == text and len(choice["logprobs"]["tokens"]) == len(lm.encode(text))
    offsets = choice["logprobs"]["text_offset"] + [len(text)]
    assert "".join(text[a:b] for a, b in zip(offsets, offsets[1:])) == text
    assert [text[a:b] for a, b in zip(offsets, offsets[1:])] == choice["logprobs"]["tokens"]


def test_default_model_generates_like_in_process(smollm) -> None:
    server, client, lm = smollm
    question = "What is the capital of France? Answer in one word."
    chat, plain = lm.generate([
        GenerationRequest(prompt=question, max_new_tokens=12, chat=True),
        GenerationRequest(prompt="The three primary colours are", max_new_tokens=12, stop=("\n",)),
    ])
    oai = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120)
    reply = oai.chat.completions.create(
        model="smollm2-135m", messages=[{"role": "user", "content": question}], max_tokens=12, temperature=0
    )
    assert reply.choices[0].message.content == chat.texts[0]
    assert "Paris" in chat.texts[0]
    done = oai.completions.create(
        model="smollm2-135m", prompt="The three primary colours are", max_tokens=12, stop=["\n"], temperature=0
    )
    assert done.choices[0].text == plain.texts[0]
