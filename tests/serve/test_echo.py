"""Echoed prompt log-probabilities: the numbers of in-process scoring, and exact text offsets."""

from __future__ import annotations

import math

import httpx2
import pytest

from harness.api import LoglikelihoodRequest
from harness.tokens import encode_pair, pair_span, rolling_windows, split_trailing_space
from tests.serve.conftest import complete, post

PAIRS = [
    LoglikelihoodRequest("The gardener repairs", " the wooden fence"),
    LoglikelihoodRequest("A small robot paints ", "seven blue lanterns"),  # trailing space moves
    LoglikelihoodRequest("", "Every student counts the morning bread."),  # empty context: BOS
    LoglikelihoodRequest("My neighbour carries", " two paper kites near the station."),
    # longer than the model: the context is cut on the left to max_length + 1 tokens
    LoglikelihoodRequest("The old clock measures a quiet harbour on long winter evenings. " * 6, " after the rain"),
]
DOC = (
    "The river pilot describes the quiet harbour after the rain. Seven blue lanterns hang near the "
    "station, and the old clock counts the hours on long winter evenings while my neighbour paints."
)


def _is_greedy(tokens: list[str], top: list[dict[str, float] | None], n: int) -> bool:
    """lm-evaluation-harness's rule: each scored token is the argmax of its top_logprobs."""
    return all(max(t, key=t.get) == tok for tok, t in zip(tokens[-n:], top[-n:]))


def test_token_prompts_give_in_process_loglikelihoods(client: httpx2.Client, tiny_lm) -> None:
    spans = [pair_span(*encode_pair(tiny_lm.encode, r.context, r.continuation, tiny_lm.prefix_token), 64) for r in PAIRS]
    assert max(len(s.tokens) for s in spans) == 65  # one prompt is max_length + 1 tokens
    expected = tiny_lm.loglikelihood(PAIRS)
    body = complete(client, prompt=[list(s.tokens) for s in spans], echo=True, logprobs=1, max_tokens=0)
    assert [c["index"] for c in body["choices"]] == list(range(len(PAIRS)))
    assert body["usage"]["prompt_tokens"] == sum(len(s.tokens) for s in spans)
    for span, want, choice in zip(spans, expected, body["choices"]):
        lp = choice["logprobs"]
        assert lp["token_logprobs"][0] is None and lp["top_logprobs"][0] is None
        assert len(lp["tokens"]) == len(span.tokens) == len(lp["text_offset"])
        got = sum(lp["token_logprobs"][-span.n_targets :])
        assert got == pytest.approx(want.logprob, abs=1e-4)
        assert _is_greedy(lp["tokens"], lp["top_logprobs"], span.n_targets) == want.is_greedy
        assert choice["finish_reason"] == "length"


def test_rolling_windows_give_in_process_loglikelihood(client: httpx2.Client, tiny_lm) -> None:
    windows = rolling_windows(tiny_lm.encode(DOC), tiny_lm.prefix_token, 64)
    assert len(windows) >= 2
    body = complete(client, prompt=[list(w.tokens) for w in windows], echo=True, logprobs=0, max_tokens=0)
    total = sum(
        sum(c["logprobs"]["token_logprobs"][-w.n_targets :]) for w, c in zip(windows, body["choices"])
    )
    [want] = tiny_lm.loglikelihood_rolling([DOC])
    assert total == pytest.approx(want.logprob, abs=1e-4)
    # logprobs=0: no alternatives, only the token itself
    assert all(len(t) == 1 for t in body["choices"][0]["logprobs"]["top_logprobs"][1:])


def test_string_prompts_split_by_text_offset(client: httpx2.Client, tiny_lm) -> None:
    """A client without the tokenizer: context + continuation as text, the boundary from
    text_offset (string prompts get no BOS, as in-process spans with a context have none)."""
    pairs = [p for p in PAIRS if p.context][:3]
    expected = tiny_lm.loglikelihood(pairs)
    body = complete(client, prompt=[p.context + p.continuation for p in pairs], echo=True, logprobs=1, max_tokens=0)
    for pair, want, choice in zip(pairs, expected, body["choices"]):
        assert choice["text"] == pair.context + pair.continuation
        context, _ = split_trailing_space(pair.context, pair.continuation)
        lp = choice["logprobs"]
        scored = [i for i, o in enumerate(lp["text_offset"]) if o >= len(context)]
        assert len(scored) == want.n_tokens
        assert sum(lp["token_logprobs"][i] for i in scored) == pytest.approx(want.logprob, abs=1e-4)


def test_add_special_tokens_prepends_bos(client: httpx2.Client, tiny_lm) -> None:
    text = "Every student counts the morning bread."
    [want] = tiny_lm.loglikelihood([LoglikelihoodRequest("", text)])
    lp = complete(client, prompt=text, echo=True, logprobs=1, max_tokens=0, add_special_tokens=True)["choices"][0]["logprobs"]
    assert lp["tokens"][0] == "<s>" and lp["text_offset"][:2] == [0, 0]
    assert sum(lp["token_logprobs"][1:]) == pytest.approx(want.logprob, abs=1e-4)


def test_text_offsets_are_exact(client: httpx2.Client, tiny_lm) -> None:
    text = "Héllo wörld — naïve café, 😀 ok!\n\tend"
    choice = complete(client, prompt=text, echo=True, logprobs=2, max_tokens=0)["choices"][0]
    lp = choice["logprobs"]
    assert choice["text"] == text
    assert len(lp["tokens"]) == len(tiny_lm.encode(text))
    offsets = lp["text_offset"] + [len(text)]
    assert offsets[0] == 0 and all(a <= b for a, b in zip(offsets, offsets[1:]))
    assert any(t.startswith("bytes:") for t in lp["tokens"])  # this tokenizer splits é and 😀
    ends = [len(text[: k + 1].encode()) for k in range(len(text))]  # byte end of each character
    start = 0
    for i, token in enumerate(lp["tokens"]):
        piece = text[offsets[i] : offsets[i + 1]]
        if token.startswith("bytes:"):
            # a token holding part of a character: each character goes to the token completing it
            raw = bytes.fromhex(token[len("bytes:") :].replace("\\x", ""))
            assert piece == "".join(c for c, end in zip(text, ends) if start < end <= start + len(raw))
        else:
            raw = token.encode()
            assert piece == token
        start += len(raw)
    assert start == len(text.encode())
    # token ids given: offsets point into the decoded text, BOS included as "<s>"
    ids = [tiny_lm.prefix_token, *tiny_lm.encode("Hé ok")]
    choice = complete(client, prompt=ids, echo=True, logprobs=1, max_tokens=0)["choices"][0]
    assert choice["text"] == "<s>Hé ok"
    assert choice["logprobs"]["text_offset"][:2] == [0, 3]


def test_top_logprobs_hold_the_k_best(client: httpx2.Client, tiny_lm) -> None:
    lp = complete(client, prompt="The gardener repairs the fence", echo=True, logprobs=5, max_tokens=0)["choices"][0]["logprobs"]
    for token, own, top in zip(lp["tokens"][1:], lp["token_logprobs"][1:], lp["top_logprobs"][1:]):
        assert 5 <= len(top) <= 6 and top[token] == own
        best = sorted(top.values(), reverse=True)[:5]
        assert all(v <= 0 for v in best) and own <= best[0]
        assert math.fsum(math.exp(v) for v in best) < 1.0


def test_prompt_length_limits(client: httpx2.Client, tiny_lm) -> None:
    bos = tiny_lm.prefix_token
    ids = tiny_lm.encode("The old clock measures a quiet harbour on long winter evenings. " * 8)
    assert len(ids) > 70
    assert complete(client, prompt=[bos, *ids[:64]], echo=True, logprobs=0, max_tokens=0)  # 65 tokens: fine
    error = post(client, "/v1/completions", 400, prompt=[bos, *ids[:65]], echo=True, logprobs=0, max_tokens=0)["error"]
    assert error["param"] == "prompt" and "66 tokens" in error["message"]
    assert post(client, "/v1/completions", 400, prompt="word " * 80, max_tokens=0)["error"]["param"] == "prompt"
    # generation reads at most max_length prompt tokens
    assert post(client, "/v1/completions", 400, prompt=[bos, *ids[:64]], max_tokens=1)["error"]["param"] == "prompt"


def test_the_harness_token_functions_over_the_server(client: httpx2.Client, tiny_lm) -> None:
    """harness.tokens' pair and rolling code with spans scored by the server: the in-process
    results, chat-rendered requests included."""
    import functools

    from harness.models.generation import chat_turn
    from harness.tokens import pair_loglikelihoods, rolling_loglikelihoods
    from tests.serve.conftest import server_span_scorer

    score = server_span_scorer(client)
    requests = PAIRS + [LoglikelihoodRequest("Where is the fence?", " Near the station.", chat=True)]
    render = functools.partial(chat_turn, tiny_lm.tokenizer)
    served = pair_loglikelihoods(score, tiny_lm.encode, tiny_lm.prefix_token, 64, requests, render)
    for got, want in zip(served, tiny_lm.loglikelihood(requests)):
        assert got.logprob == pytest.approx(want.logprob, abs=1e-4)
        assert (got.is_greedy, got.n_tokens) == (want.is_greedy, want.n_tokens)
    [rolled] = rolling_loglikelihoods(score, tiny_lm.encode, tiny_lm.prefix_token, 64, [DOC])
    [want] = tiny_lm.loglikelihood_rolling([DOC])
    assert rolled.logprob == pytest.approx(want.logprob, abs=1e-4) and rolled.n_tokens == want.n_tokens
