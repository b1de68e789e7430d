"""Generation through the server is the in-process adapter's `generate`: greedy texts and seeded
samples identical, chat prompts through the same template."""

from __future__ import annotations

import httpx2
import pytest

from harness.api import GenerationRequest
from tests.serve.conftest import complete, post

PROMPTS = ["The gardener repairs", "Seven blue lanterns hang near the", "My neighbour"]


def test_greedy_texts_are_the_in_process_ones(client: httpx2.Client, tiny_lm) -> None:
    for prompt in PROMPTS:
        [want] = tiny_lm.generate([GenerationRequest(prompt=prompt, max_new_tokens=12)])
        body = complete(client, prompt=prompt, max_tokens=12, temperature=0)
        [choice] = body["choices"]
        assert choice["text"] == want.texts[0]
        assert choice["logprobs"] is None and choice["finish_reason"] in ("length", "stop")
        assert body["object"] == "text_completion" and body["id"].startswith("cmpl-")
        assert body["usage"]["prompt_tokens"] == len(tiny_lm.encode(prompt))
        assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
        assert "seed" not in body


def test_seeded_samples_are_the_in_process_ones(client: httpx2.Client, tiny_lm) -> None:
    request = GenerationRequest(prompt=PROMPTS[0], max_new_tokens=10, temperature=0.8, top_p=0.9, n=3, seed=7)
    [want] = tiny_lm.generate([request])
    body = complete(client, prompt=PROMPTS[0], max_tokens=10, temperature=0.8, top_p=0.9, n=3, seed=7)
    assert [c["text"] for c in body["choices"]] == list(want.texts)
    assert [c["index"] for c in body["choices"]] == [0, 1, 2] and body["seed"] == 7
    again = complete(client, prompt=PROMPTS[0], max_tokens=10, temperature=0.8, top_p=0.9, n=3, seed=7)
    assert [c["text"] for c in again["choices"]] == list(want.texts)
    other = complete(client, prompt=PROMPTS[0], max_tokens=10, temperature=0.8, top_p=0.9, n=3, seed=8)
    assert [c["text"] for c in other["choices"]] != list(want.texts)
    # no seed: the server picks one and says which, so the samples can be drawn again
    unseeded = complete(client, prompt=PROMPTS[0], max_tokens=10, temperature=0.8, n=2)
    replay = complete(client, prompt=PROMPTS[0], max_tokens=10, temperature=0.8, n=2, seed=unseeded["seed"])
    assert [c["text"] for c in replay["choices"]] == [c["text"] for c in unseeded["choices"]]


def test_several_prompts_token_prompts_stops_and_echo(client: httpx2.Client, tiny_lm) -> None:
    stop = ("at", "e")
    want = tiny_lm.generate([GenerationRequest(prompt=p, max_new_tokens=8, stop=stop, n=2) for p in PROMPTS])
    body = complete(client, prompt=PROMPTS, max_tokens=8, stop=list(stop), n=2, temperature=0)
    assert [c["text"] for c in body["choices"]] == [t for g in want for t in g.texts]
    assert [c["index"] for c in body["choices"]] == list(range(6))
    assert all(not any(s in c["text"] for s in stop) for c in body["choices"])
    # a token-id prompt is decoded, then generated from as text
    ids = tiny_lm.encode(PROMPTS[1])
    [from_ids] = complete(client, prompt=ids, max_tokens=8, temperature=0)["choices"]
    assert from_ids["text"] == tiny_lm.generate([GenerationRequest(prompt=PROMPTS[1], max_new_tokens=8)])[0].texts[0]
    # echo: prompt + completion, and with logprobs the prompt tokens then the generated ones
    [echoed] = complete(client, prompt=PROMPTS[1], max_tokens=8, temperature=0, echo=True, logprobs=1)["choices"]
    assert echoed["text"] == PROMPTS[1] + from_ids["text"]
    lp = echoed["logprobs"]
    n_prompt = len(ids)
    assert lp["token_logprobs"][0] is None and None not in lp["token_logprobs"][1:]
    assert "".join(lp["tokens"][:n_prompt]) == PROMPTS[1]
    assert lp["text_offset"][n_prompt] == len(PROMPTS[1])
    # without echo: the generated tokens only, scored after the prompt
    [plain] = complete(client, prompt=PROMPTS[1], max_tokens=8, temperature=0, logprobs=1)["choices"]
    assert plain["logprobs"]["tokens"] == lp["tokens"][n_prompt:]
    assert plain["logprobs"]["token_logprobs"] == pytest.approx(lp["token_logprobs"][n_prompt:], abs=1e-5)
    assert plain["logprobs"]["text_offset"][0] == 0


def test_default_max_tokens_is_16(client: httpx2.Client, tiny_lm) -> None:
    [want] = tiny_lm.generate([GenerationRequest(prompt="The", max_new_tokens=16)])
    assert complete(client, prompt="The", temperature=0)["choices"][0]["text"] == want.texts[0]


def test_chat_single_user_message_is_in_process_chat(client: httpx2.Client, tiny_lm) -> None:
    [want] = tiny_lm.generate([GenerationRequest(prompt="Tell me a story", max_new_tokens=10, chat=True)])
    body = post(client, "/v1/chat/completions", messages=[{"role": "user", "content": "Tell me a story"}],
                max_tokens=10, temperature=0)
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    assert choice["message"] == {"role": "assistant", "content": want.texts[0]}
    rendered = tiny_lm.render_chat([{"role": "user", "content": "Tell me a story"}])
    assert body["usage"]["prompt_tokens"] == len(tiny_lm.encode(rendered))
    # content given as text parts, and max_completion_tokens: the same request
    parts = post(client, "/v1/chat/completions", messages=[{"role": "user", "content": [{"type": "text", "text": "Tell me a story"}]}],
                 max_completion_tokens=10, temperature=0)
    assert parts["choices"][0]["message"]["content"] == want.texts[0]


def test_chat_conversation_renders_the_template(client: httpx2.Client, tiny_lm) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Where?"},
        {"role": "assistant", "content": "Here."},
        {"role": "user", "content": "Why?"},
    ]
    rendered = tiny_lm.render_chat(messages)
    assert rendered == "system: Be brief.</s>user: Where?</s>assistant: Here.</s>user: Why?</s>assistant:"
    assert len(tiny_lm.encode(rendered)) <= 64
    want = tiny_lm.generate([GenerationRequest(prompt=rendered, max_new_tokens=10, temperature=0.7, n=2, seed=3)])[0]
    body = post(client, "/v1/chat/completions", messages=messages, max_tokens=10, temperature=0.7, n=2, seed=3)
    assert [c["message"]["content"] for c in body["choices"]] == list(want.texts)
