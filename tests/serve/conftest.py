"""Fixtures for `harness serve` tests: one real server process on the tiny Llama for the whole
folder, the same model in-process for reference numbers, and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from harness.resources import load_model_spec
from harness.runner import RunOptions, build_model
from tests.served_process import ServerProcess, start_server
from tests.tiny_models import build_tiny_llama

# A small chat template, so chat requests can be tested on the tiny model too.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


@pytest.fixture(scope="session")
def serve_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serve-cache")


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = build_tiny_llama(tmp_path_factory.mktemp("serve") / "tiny-chat")
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    return folder


def in_process(model: str, cache_dir: Path, **overrides: Any):
    """The adapter built by the same code as the server's (and `harness run`'s)."""
    options = RunOptions(suites=(), model=model, out=Path("."), cache_dir=cache_dir, **overrides)
    return build_model(load_model_spec(model), options)


@pytest.fixture(scope="session")
def tiny_lm(tiny_folder: Path, serve_cache: Path):
    return in_process(str(tiny_folder), serve_cache)


@pytest.fixture(scope="session")
def tiny_server(tiny_folder: Path, serve_cache: Path) -> Iterator[ServerProcess]:
    # A 30 ms batching window (5 ms by default) keeps the batching test independent of how busy
    # the machine is; one torch thread, as the test process computes reference numbers too.
    with start_server(
        tiny_folder, "--cache-dir", serve_cache, "--max-wait-ms", "30", env={"OMP_NUM_THREADS": "1"}
    ) as server:
        yield server


@pytest.fixture(scope="session")
def client(tiny_server: ServerProcess) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=tiny_server.root, timeout=60) as c:
        yield c


def post(client: httpx2.Client, path: str, status: int = 200, **body: Any) -> dict[str, Any]:
    r = client.post(path, json=body)
    assert r.status_code == status, r.text
    return r.json()


def complete(client: httpx2.Client, **body: Any) -> dict[str, Any]:
    return post(client, "/v1/completions", **body)


def server_span_scorer(client: httpx2.Client):
    """`score(spans)` for harness.tokens.pair_loglikelihoods / rolling_loglikelihoods, answered by
    the server: each span's tokens as a token-id prompt, its last n_targets log-probs summed, and
    greedy when each target is the top alternative (what a client with the tokenizer does)."""
    from harness.tokens import SpanScore

    def score(spans):
        body = complete(client, prompt=[list(s.tokens) for s in spans], echo=True, logprobs=1, max_tokens=0)
        scores = []
        for span, choice in zip(spans, body["choices"]):
            lp = choice["logprobs"]
            n = span.n_targets
            greedy = all(max(t, key=t.get) == tok for tok, t in zip(lp["tokens"][-n:], lp["top_logprobs"][-n:]))
            scores.append(SpanScore(sum(lp["token_logprobs"][-n:]), greedy))
        return scores

    return score
