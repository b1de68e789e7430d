"""The adapter contract (tests/core/test_adapter_contract.py) run on the `openai` adapter, served
by the loopback n-gram server, with token ids from the server's /tokenize and from a local preset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.models.served import OpenAIModel
from tests.core.test_adapter_contract import (  # noqa: F401  (collected here, with this module's `lm`)
    test_a_request_does_not_depend_on_the_rest_of_its_batch,
    test_chat_requests_score_plain_text_without_a_chat_template,
    test_greedy_generation_is_greedy_and_deterministic,
    test_loglikelihood_chains,
    test_outputs_keep_input_order_and_length,
    test_rolling_equals_bos_conditioned_loglikelihood_when_it_fits,
    test_rolling_scores_every_token_of_long_texts,
    test_sampling_is_seeded_per_request,
    test_stop_sequences_cut_generations,
)
from tests.served.fault_server import FaultServer


@pytest.fixture(scope="module")
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


@pytest.fixture(params=["remote", "ngram"])
def lm(request: pytest.FixtureRequest, server: FaultServer) -> OpenAIModel:
    return OpenAIModel(name="served", base_url=server.url, tokenizer=request.param, max_length=48, concurrency=3)


def test_info_is_cheap_and_stable(lm: OpenAIModel, server: FaultServer) -> None:
    scored = server.count("/v1/completions")
    info = lm.info
    assert info.fingerprint and info.fingerprint == lm.info.fingerprint
    assert info.max_length == 48 and info.adapter == "openai" and info.n_parameters is None
    assert server.count("/v1/completions") == scored  # info asks /models only, never scores
