"""--api-key-env: every request but /health needs the bearer key, which the server never prints.
Also the command's one-line errors, and the n-gram model served (no chat template)."""

from __future__ import annotations

import secrets
import signal
import socket
from collections.abc import Iterator

import httpx2
import openai
import pytest

from harness.api import LoglikelihoodRequest
from harness.models.ngram import BOS
from tests.serve.conftest import in_process
from tests.served_process import ServerProcess, start_server

KEY = f"sk-harness-test-{secrets.token_hex(8)}"


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[ServerProcess]:
    with start_server("ngram", "--api-key-env", "HARNESS_TEST_SERVE_KEY", env={"HARNESS_TEST_SERVE_KEY": KEY}) as server:
        yield server


def test_requests_need_the_key(keyed_server: ServerProcess) -> None:
    with httpx2.Client(base_url=keyed_server.root, timeout=30) as c:
        assert c.get("/health").status_code == 200  # health checks carry no key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}, {"Authorization": f"Basic {KEY}"}):
            for method, path in (("GET", "/v1/models"), ("POST", "/v1/completions"), ("POST", "/tokenize")):
                r = c.request(method, path, headers=headers, json={"prompt": "hi"})
                assert r.status_code == 401, (headers, path)
                error = r.json()["error"]
                assert error["code"] == "invalid_api_key" and KEY not in r.text
        good = {"Authorization": f"Bearer {KEY}"}
        assert c.get("/v1/models", headers=good).json()["data"][0]["id"] == "ngram"
        assert c.post("/tokenize", headers=good, json={"prompt": "hi"}).json()["tokens"] == [104, 105]
        bad = c.post("/v1/completions", headers=good, json={"prompt": "hi", "n": 0})
        assert bad.status_code == 400 and KEY not in bad.text


def test_ngram_through_the_official_client(keyed_server: ServerProcess, tmp_path) -> None:
    lm = in_process("ngram", tmp_path)
    client = openai.OpenAI(base_url=keyed_server.url, api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == ["ngram"]
    text = "The gardener repairs the wooden fence."
    [want] = lm.loglikelihood([LoglikelihoodRequest("", text)])
    done = client.completions.create(model="ngram", prompt=[BOS, *text.encode()], echo=True, logprobs=1, max_tokens=0)
    got = done.choices[0].logprobs
    assert got.token_logprobs[0] is None and len(got.tokens) == len(text) + 1
    assert sum(got.token_logprobs[1:]) == pytest.approx(want.logprob, abs=1e-9)
    assert got.tokens[0] == "" and "".join(got.tokens) == text and got.text_offset[:2] == [0, 0]
    with pytest.raises(openai.BadRequestError, match="no chat template"):
        client.chat.completions.create(model="ngram", messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=keyed_server.url, api_key="sk-wrong", max_retries=0).models.list()


def test_the_key_is_never_printed(keyed_server: ServerProcess) -> None:
    with httpx2.Client(base_url=keyed_server.root, timeout=30) as c:
        c.post("/v1/completions", headers={"Authorization": f"Bearer {KEY}"}, json={"prompt": "x" * 5000, "max_tokens": 0})
    output = keyed_server.output()
    assert "harness serve: ngram at http://127.0.0.1:" in output
    assert KEY not in output and "Traceback" not in output


def test_command_errors_are_one_line(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_TEST_UNSET_KEY", raising=False)
    cases = [
        (["serve", "ngram", "--api-key-env", "HARNESS_TEST_UNSET_KEY"], "HARNESS_TEST_UNSET_KEY is not set or empty"),
        (["serve", "no-such-model"], "unknown model 'no-such-model'"),
        (["serve", "ngram", "--max-batch", "0"], "--max-batch must be at least 1"),
        (["serve", "ngram", "--port", "70000"], "--port must be 0..65535"),
    ]
    for argv, message in cases:
        code, out, err = run_cli(*argv)
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
    monkeypatch.setenv("HARNESS_TEST_UNSET_KEY", "  ")
    code, _, err = run_cli("serve", "ngram", "--api-key-env", "HARNESS_TEST_UNSET_KEY")
    assert code == 2 and "not set or empty" in err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        code, _, err = run_cli("serve", "ngram", "--port", str(taken.getsockname()[1]))
    assert code == 2 and "cannot listen on 127.0.0.1:" in err and err.count("\n") == 1


def test_sigterm_shuts_down_cleanly() -> None:
    server = start_server("ngram", "--max-batch", "2")
    try:
        assert server.health()["status"] == "ok"
    finally:
        status = server.stop()
    # uvicorn shuts down gracefully, then lets the signal end the process as it would have
    assert status in (0, -signal.SIGTERM) and "Traceback" not in server.output()
