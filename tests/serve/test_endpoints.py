"""/health, /v1/models, /tokenize and /detokenize on a real server, against the in-process model."""

from __future__ import annotations

import httpx2

from tests.serve.conftest import complete, post
from tests.served_process import ServerProcess


def test_health_and_models(client: httpx2.Client, tiny_server: ServerProcess, tiny_lm) -> None:
    health = client.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and len(body["data"]) == 1
    card = body["data"][0]
    info = tiny_lm.info
    assert card["id"] == info.name == "tiny-chat"
    assert card["object"] == "model" and card["owned_by"] == "harness"
    assert card["max_model_len"] == info.max_length == 64
    assert card["harness_fingerprint"] == info.fingerprint
    assert card["harness_adapter"] == "hf" and card["has_chat_template"] is True
    assert isinstance(card["created"], int)
    assert client.get("/v1/models/tiny-chat").json() == card
    assert tiny_server.output().startswith(f"harness serve: tiny-chat at {tiny_server.url}")


def test_request_model_must_match(client: httpx2.Client) -> None:
    assert complete(client, model="tiny-chat", prompt="Hi", max_tokens=0)["model"] == "tiny-chat"
    assert complete(client, prompt="Hi", max_tokens=0)["model"] == "tiny-chat"  # omitted: fine
    error = post(client, "/v1/completions", 404, model="gpt-4", prompt="Hi", max_tokens=0)["error"]
    assert error["code"] == "model_not_found" and error["param"] == "model" and "tiny-chat" in error["message"]
    assert client.get("/v1/models/gpt-4").status_code == 404
    assert post(client, "/tokenize", 404, model="other", prompt="x")["error"]["type"] == "invalid_request_error"


def test_tokenize_and_detokenize(client: httpx2.Client, tiny_lm) -> None:
    text = "The gardener repairs the wooden fence, naïvely."
    ids = tiny_lm.encode(text)
    plain = post(client, "/tokenize", prompt=text)
    assert plain == {"tokens": ids, "count": len(ids), "max_model_len": 64}
    special = post(client, "/tokenize", prompt=text, add_special_tokens=True)
    assert special["tokens"] == [tiny_lm.prefix_token, *ids] and special["count"] == len(ids) + 1
    assert post(client, "/detokenize", tokens=ids) == {"prompt": text}
    assert post(client, "/detokenize", tokens=[tiny_lm.prefix_token, *ids])["prompt"] == "<s>" + text
    assert post(client, "/detokenize", tokens=[])["prompt"] == ""
    assert post(client, "/detokenize", 400, tokens=[400])["error"]["param"] == "tokens"
