"""Requests that arrive together share one adapter call, and each gets its own answer back."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx2
import pytest

from tests.serve.conftest import complete
from tests.served_process import ServerProcess

SENTENCES = [
    "The gardener repairs the wooden fence before noon.",
    "A small robot paints seven blue lanterns near the station.",
    "My neighbour carries a quiet harbour after the rain.",
    "The old clock counts the morning bread in the library.",
    "Every student describes two paper kites on long winter evenings.",
    "The river pilot measures the wooden fence after the rain.",
    "A small robot counts the morning bread before noon.",
    "The gardener describes seven blue lanterns in the library.",
]


def _scores(client: httpx2.Client, prompt: str) -> list[float]:
    body = complete(client, prompt=prompt, echo=True, logprobs=1, max_tokens=0)
    return body["choices"][0]["logprobs"]["token_logprobs"][1:]


def test_concurrent_requests_are_batched(client: httpx2.Client, tiny_server: ServerProcess) -> None:
    alone = {s: _scores(client, s) for s in SENTENCES}  # one request at a time: one call each
    before = tiny_server.health()["batches"]["prompts"]
    barrier = threading.Barrier(len(SENTENCES))

    def one(sentence: str) -> list[float]:
        with httpx2.Client(base_url=tiny_server.root, timeout=60) as c:
            barrier.wait()
            return _scores(c, sentence)

    with ThreadPoolExecutor(len(SENTENCES)) as pool:
        together = dict(zip(SENTENCES, pool.map(one, SENTENCES)))
    after = tiny_server.health()["batches"]["prompts"]
    calls, items = after["calls"] - before["calls"], after["items"] - before["items"]
    assert items == len(SENTENCES)
    assert calls < len(SENTENCES) and after["largest"] >= 2, (before, after)
    for sentence in SENTENCES:  # each request got its own numbers back, as if it were alone
        assert together[sentence] == pytest.approx(alone[sentence], abs=1e-5)


def test_one_request_with_several_prompts_is_one_call(client: httpx2.Client, tiny_server: ServerProcess) -> None:
    before = tiny_server.health()["batches"]
    complete(client, prompt=SENTENCES, echo=True, logprobs=1, max_tokens=0)
    complete(client, prompt=SENTENCES[:3], max_tokens=4, temperature=0)
    after = tiny_server.health()["batches"]
    # one trip to the model thread per request for its prompts (scored or only encoded)
    assert after["prompts"]["calls"] - before["prompts"]["calls"] == 2
    assert after["prompts"]["items"] - before["prompts"]["items"] == 8 + 3
    assert after["generate"]["calls"] - before["generate"]["calls"] == 1
    assert after["generate"]["items"] - before["generate"]["items"] == 3
