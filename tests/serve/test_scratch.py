"""A from-scratch checkpoint (`harness train`) served: the numbers of the in-process adapter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from harness.api import GenerationRequest, LoglikelihoodRequest
from harness.tokens import pair_loglikelihoods, rolling_loglikelihoods
from tests.scratch.scratch_helpers import tiny_run, write_corpus
from tests.serve.conftest import complete, in_process, post, server_span_scorer
from tests.served_process import ServerProcess, start_server

TEXT = "The gardener repairs the wooden fence near the station. A small robot counts two paper kites. " * 2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from harness.scratch.trainer import Trainer

    tmp = tmp_path_factory.mktemp("scratch-serve")
    out = tmp / "tiny"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        Trainer(tiny_run(out, write_corpus(tmp / "corpus.txt"), steps=10, eval_every=10, checkpoint_every=10)).fit()
    finally:
        torch.set_num_threads(before)
    return out


@pytest.fixture(scope="module")
def scratch(checkpoint: Path, serve_cache: Path) -> Iterator[tuple[ServerProcess, httpx2.Client, object]]:
    lm = in_process(str(checkpoint), serve_cache)
    with start_server(checkpoint, "--cache-dir", serve_cache, env={"OMP_NUM_THREADS": "1"}) as server:
        with httpx2.Client(base_url=server.root, timeout=60) as client:
            yield server, client, lm


def test_scratch_checkpoint_served(scratch) -> None:
    server, client, lm = scratch
    card = client.get("/v1/models").json()["data"][0]
    assert card["harness_adapter"] == "scratch" and card["harness_fingerprint"] == lm.info.fingerprint
    assert card["max_model_len"] == lm.max_length == 48 and card["has_chat_template"] is False
    score = server_span_scorer(client)
    requests = [LoglikelihoodRequest("The gardener repairs", " the wooden fence"), LoglikelihoodRequest("", "Two paper kites.")]
    served = pair_loglikelihoods(score, lm.encode, lm.prefix_token, lm.max_length, requests)
    for got, want in zip(served, lm.loglikelihood(requests)):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4) and got.is_greedy == want.is_greedy
    [rolled] = rolling_loglikelihoods(score, lm.encode, lm.prefix_token, lm.max_length, [TEXT])
    assert rolled.logprob == pytest.approx(lm.loglikelihood_rolling([TEXT])[0].logprob, abs=1e-4)
    # the end-of-text token decodes to nothing, so offsets of an id prompt start again at 0
    ids = [lm.prefix_token, *lm.encode("Two paper kites.")]
    choice = complete(client, prompt=ids, echo=True, logprobs=1, max_tokens=0)["choices"][0]
    assert choice["text"] == "Two paper kites." and choice["logprobs"]["text_offset"][:2] == [0, 0]
    assert post(client, "/tokenize", prompt="Two paper kites.", add_special_tokens=True)["tokens"] == ids


def test_scratch_generation(scratch) -> None:
    _, client, lm = scratch
    greedy, sampled = lm.generate([
        GenerationRequest(prompt="The gardener", max_new_tokens=10),
        GenerationRequest(prompt="The gardener", max_new_tokens=10, temperature=1.0, top_p=0.95, n=2, seed=5),
    ])
    assert complete(client, prompt="The gardener", max_tokens=10, temperature=0)["choices"][0]["text"] == greedy.texts[0]
    body = complete(client, prompt="The gardener", max_tokens=10, temperature=1.0, top_p=0.95, n=2, seed=5)
    assert [c["text"] for c in body["choices"]] == list(sampled.texts)
    error = post(client, "/v1/chat/completions", 400, messages=[{"role": "user", "content": "Hi"}])["error"]
    assert "no chat template" in error["message"]
