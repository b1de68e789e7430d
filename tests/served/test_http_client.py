"""The retry policy, timeouts and error mapping of harness.models.http_client, against a real
HTTP server on a loopback port that injects each fault."""

from __future__ import annotations

import socket
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from harness.errors import HarnessError
from harness.models.http_client import HTTPClient, ServerError, retry_after_seconds
from tests.served.fault_server import FaultServer, Rule

KEY = "sk-test-9f8e7d6c5b4a-never-print-me"


def body(text: str, **extra: object) -> dict[str, object]:
    return {"prompt": text, "max_tokens": 0, "echo": True, "logprobs": 1, **extra}


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def client(server: FaultServer, **kwargs: object) -> HTTPClient:
    return HTTPClient(server.url, **{"max_retries": 3, "timeout_s": 5.0, **kwargs})  # type: ignore[arg-type]


def test_429_retry_after_seconds_is_honoured(server: FaultServer) -> None:
    server.rules.append(Rule("429", match="alpha", times=2, retry_after="1"))
    c = client(server)
    started = time.perf_counter()
    answer = c.post(f"{server.url}/completions", body("alpha beta"))
    elapsed = time.perf_counter() - started
    assert answer["choices"][0]["logprobs"]["token_logprobs"][0] is None
    assert server.count("/v1/completions", "alpha") == 3  # two refusals, then the answer
    assert c.retries == 2 and c.failures == 0 and c.sent == 3
    assert 2.0 <= elapsed < 4.0  # waited the server's 1 s twice, not the 0.5 s back-off
    assert "2 retries" in c.progress_note()


def test_retry_after_http_date_is_honoured(server: FaultServer) -> None:
    when = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=2), usegmt=True)
    server.rules.append(Rule("503", match="gamma", times=1, retry_after=when))
    c = client(server)
    started = time.perf_counter()
    c.post(f"{server.url}/completions", body("gamma"))
    # An HTTP date has whole seconds: the wait is between 1 and 2 s.
    assert 0.9 <= time.perf_counter() - started < 3.0
    assert server.count("/v1/completions", "gamma") == 2


def test_retry_after_parsing() -> None:
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.25") == 0.25
    assert retry_after_seconds(format_datetime(now + timedelta(seconds=7), usegmt=True), now=now) == 7.0
    assert retry_after_seconds(format_datetime(now - timedelta(seconds=7), usegmt=True), now=now) == 0.0
    assert retry_after_seconds("100000") == 120.0  # capped
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None


def test_500_is_retried_then_fails_with_the_servers_message(server: FaultServer) -> None:
    server.rules.append(Rule("500", match="delta"))
    c = client(server, max_retries=2)
    started = time.perf_counter()
    with pytest.raises(ServerError) as e:
        c.post(f"{server.url}/completions", body("delta"))
    message = str(e.value)
    assert server.count("/v1/completions", "delta") == 3
    assert message.startswith(f"{server.url}: POST /v1/completions answered 500: injected 500")
    assert "second line" not in message and "\n" not in message
    assert message.endswith("(after 2 retries)")
    # Exponential back-off with jitter: 0.375-0.5 s, then 0.75-1 s.
    assert 1.1 <= time.perf_counter() - started < 3.0
    assert c.failures == 1 and c.retries == 2


@pytest.mark.parametrize("status", ["400", "404"])
def test_other_4xx_fail_at_once(server: FaultServer, status: str) -> None:
    server.rules.append(Rule(status, match="epsilon"))
    c = client(server)
    with pytest.raises(ServerError) as e:
        c.post(f"{server.url}/completions", body("epsilon"))
    assert server.count("/v1/completions", "epsilon") == 1
    assert e.value.status == int(status) and not e.value.retryable
    assert f"answered {status}: injected {status}" in str(e.value) and "retr" not in str(e.value)
    assert c.retries == 0


def test_a_slow_answer_times_out_and_is_retried(server: FaultServer) -> None:
    server.rules.append(Rule("slow", match="zeta", times=1, delay=2.0))
    c = client(server, timeout_s=0.5)
    started = time.perf_counter()
    answer = c.post(f"{server.url}/completions", body("zeta"))
    assert answer["choices"][0]["text"] == "zeta"
    assert c.retries == 1 and time.perf_counter() - started < 2.0  # did not wait for the slow answer

    server.rules.append(Rule("slow", match="eta", delay=1.0))
    with pytest.raises(ServerError) as e:
        client(server, timeout_s=0.3, max_retries=1).post(f"{server.url}/completions", body("eta"))
    assert str(e.value) == f"{server.url}: POST /v1/completions got no answer within 0.3 s (after 1 retry)"


def test_a_dropped_connection_is_retried(server: FaultServer) -> None:
    server.rules.append(Rule("drop", match="theta", times=2))
    c = client(server)
    assert c.post(f"{server.url}/completions", body("theta"))["choices"]
    assert server.count("/v1/completions", "theta") == 3 and c.retries == 2

    server.rules.append(Rule("drop", match="iota"))
    with pytest.raises(ServerError) as e:
        client(server, max_retries=1).post(f"{server.url}/completions", body("iota"))
    assert e.value.status is None and f"{server.url}: POST /v1/completions failed: " in str(e.value)


def test_nobody_listening_is_a_connection_error_after_retries() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nobody listens there
    c = HTTPClient(f"http://127.0.0.1:{port}/v1", max_retries=1, timeout_s=2)
    with pytest.raises(ServerError) as e:
        c.get(f"http://127.0.0.1:{port}/v1/models")
    assert str(e.value).startswith(f"http://127.0.0.1:{port}/v1: GET /v1/models failed: ConnectError")
    assert c.sent == 2


def test_the_key_is_sent_but_never_shown(server: FaultServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.api_key = KEY
    monkeypatch.setenv("SERVED_TEST_KEY", KEY)
    assert client(server, api_key_env="SERVED_TEST_KEY").get(f"{server.url}/models")["data"]

    monkeypatch.setenv("SERVED_TEST_KEY", KEY + "-wrong")
    c = client(server, api_key_env="SERVED_TEST_KEY")
    with pytest.raises(ServerError) as e:
        c.get(f"{server.url}/models")
    assert "answered 401: invalid API key" in str(e.value) and KEY not in str(e.value)
    assert c.sent == 1  # a 401 is not retried

    monkeypatch.delenv("SERVED_TEST_KEY")
    with pytest.raises(HarnessError, match="the environment variable SERVED_TEST_KEY .* is not set"):
        client(server, api_key_env="SERVED_TEST_KEY")


def test_concurrent_requests_keep_input_order(server: FaultServer) -> None:
    # Earlier requests answer later: completion order is the reverse of input order.
    for k in range(6):
        server.rules.append(Rule("slow", match=f"item-{k}-", delay=0.1 * (6 - k)))
    c = client(server, concurrency=6)
    started = time.perf_counter()
    answers = c.post_many(f"{server.url}/completions", [body(f"item-{k}-") for k in range(6)])
    elapsed = time.perf_counter() - started
    assert [a["choices"][0]["text"] for a in answers] == [f"item-{k}-" for k in range(6)]
    assert elapsed < 1.2  # in flight together (one after another would take 2.1 s)
    assert c.answered == 6 and c.progress_note().endswith("req/s")


def test_post_many_puts_each_failure_in_its_place(server: FaultServer) -> None:
    server.rules.append(Rule("400", match="bad"))
    answers = client(server, concurrency=3).post_many(f"{server.url}/completions", [body("good one"), body("bad one"), body("good two")])
    assert isinstance(answers[1], ServerError) and "answered 400" in str(answers[1])
    assert answers[0]["choices"][0]["text"] == "good one" and answers[2]["choices"][0]["text"] == "good two"
