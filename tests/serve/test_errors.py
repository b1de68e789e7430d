"""Bad requests get a 400 (404 for an unknown model or path) in OpenAI's error shape, the server
keeps answering, and nothing it sends or prints is a traceback."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest

from harness.serve.errors import Guard
from tests.served_process import ServerProcess

C, CHAT = "/v1/completions", "/v1/chat/completions"
USER = [{"role": "user", "content": "Hi"}]

# (path, JSON body, status, param)
CASES = [
    (C, [1, 2], 400, None),
    (C, {}, 400, "prompt"),
    (C, {"prompt": 5}, 400, "prompt"),
    (C, {"prompt": ["a", 1]}, 400, "prompt"),
    (C, {"prompt": ""}, 400, "prompt"),
    (C, {"prompt": []}, 400, "prompt"),
    (C, {"prompt": [[]]}, 400, "prompt"),
    (C, {"prompt": ["ok", ""]}, 400, "prompt"),
    (C, {"prompt": [3, -1]}, 400, "prompt"),
    (C, {"prompt": [[3], [400]]}, 400, "prompt"),
    (C, {"prompt": "Hi", "n": 0}, 400, "n"),
    (C, {"prompt": "Hi", "n": 129}, 400, "n"),
    (C, {"prompt": "Hi", "n": "2"}, 400, "n"),
    (C, {"prompt": "Hi", "logprobs": 21}, 400, "logprobs"),
    (C, {"prompt": "Hi", "logprobs": -1}, 400, "logprobs"),
    (C, {"prompt": "Hi", "logprobs": True}, 400, "logprobs"),
    (C, {"prompt": "Hi", "max_tokens": -1}, 400, "max_tokens"),
    (C, {"prompt": "Hi", "max_tokens": "16"}, 400, "max_tokens"),
    (C, {"prompt": "Hi", "max_tokens": 65}, 400, "max_tokens"),
    (C, {"prompt": "Hi", "temperature": "hot"}, 400, "temperature"),
    (C, {"prompt": "Hi", "temperature": -0.5}, 400, "temperature"),
    (C, {"prompt": "Hi", "top_p": 0}, 400, "top_p"),
    (C, {"prompt": "Hi", "top_p": 1.5}, 400, "top_p"),
    (C, {"prompt": "Hi", "seed": -3}, 400, "seed"),
    (C, {"prompt": "Hi", "stop": 5}, 400, "stop"),
    (C, {"prompt": "Hi", "echo": "yes"}, 400, "echo"),
    (C, {"prompt": "Hi", "stream": True}, 400, "stream"),
    (C, {"prompt": "Hi", "suffix": "!"}, 400, "suffix"),
    (C, {"prompt": "Hi", "logit_bias": {"5": 10}}, 400, "logit_bias"),
    (C, {"prompt": "Hi", "presence_penalty": 0.5}, 400, "presence_penalty"),
    (C, {"prompt": "Hi", "best_of": 3}, 400, "best_of"),
    (C, {"prompt": "Hi", "model": "other"}, 404, "model"),
    (CHAT, {}, 400, "messages"),
    (CHAT, {"messages": []}, 400, "messages"),
    (CHAT, {"messages": [{"role": "robot", "content": "Hi"}]}, 400, "messages"),
    (CHAT, {"messages": [{"role": "user", "content": 5}]}, 400, "content"),
    (CHAT, {"messages": USER, "max_tokens": 0}, 400, "max_tokens"),
    (CHAT, {"messages": USER, "logprobs": True}, 400, "logprobs"),
    (CHAT, {"messages": USER, "n": 200}, 400, "n"),
    ("/tokenize", {"prompt": 5}, 400, "prompt"),
    ("/detokenize", {"tokens": ["a"]}, 400, "tokens"),
]


def _check_shape(r: httpx2.Response, status: int, param: str | None) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error = body["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param, error
    message = error["message"]
    assert message and "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("path,body,status,param", CASES)
def test_bad_request(client: httpx2.Client, path: str, body: object, status: int, param: str | None) -> None:
    _check_shape(client.post(path, json=body), status, param)


def test_not_json_unknown_paths_and_methods(client: httpx2.Client, tiny_server: ServerProcess) -> None:
    r = client.post(C, content=b'{"prompt": "Hi", ', headers={"content-type": "application/json"})
    assert "not valid JSON" in _check_shape(r, 400, None)
    _check_shape(client.post(C, content=b"\xff\xfe", headers={"content-type": "application/json"}), 400, None)
    r = client.post(C, content=b'{"prompt": "Hi"}', headers={"content-type": "application/x-www-form-urlencoded"})
    assert "Content-Type: application/json" in _check_shape(r, 400, None)
    _check_shape(client.get("/v1/nothing"), 404, None)
    _check_shape(client.get(C), 405, None)
    # the server is still there, and printed no traceback for any of it
    assert client.get("/health").json()["status"] == "ok"
    assert client.post(C, json={"prompt": "Hi", "max_tokens": 1, "temperature": 0}).status_code == 200
    assert "Traceback" not in tiny_server.output()


def test_unexpected_exception_is_a_one_line_500(capsys: pytest.CaptureFixture[str]) -> None:
    """Guard, the app's outermost middleware, driven directly as an ASGI app: a handler bug
    becomes a 500 in the error shape and one line on stderr, the key masked even there."""

    async def broken(scope, receive, send):
        raise RuntimeError("adapter exploded near sk-secret-123\nsecond line")

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    guard = Guard(broken, api_key="sk-secret-123")
    scope = {"type": "http", "method": "POST", "path": "/v1/completions",
             "headers": [(b"authorization", b"Bearer sk-secret-123")]}
    asyncio.run(guard(scope, receive, send))
    assert sent[0]["status"] == 500
    error = json.loads(sent[1]["body"])["error"]
    assert error["type"] == "server_error" and "RuntimeError: adapter exploded" in error["message"]
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error on POST /v1/completions" in err
    assert "sk-secret-123" not in err + error["message"] and "***" in err
    # and without the key: a 401 before the handler runs
    sent.clear()
    asyncio.run(guard({**scope, "headers": []}, receive, send))
    assert sent[0]["status"] == 401 and json.loads(sent[1]["body"])["error"]["code"] == "invalid_api_key"
