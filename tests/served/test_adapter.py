"""The `openai` adapter against a real loopback server whose answers come from the n-gram model:
the same numbers as the in-process adapter, the start-up probe, failures that are never scores."""

from __future__ import annotations

import math

import pytest

from harness.api import ChecksSupport, GenerationRequest, LoglikelihoodRequest, RequestsFailed
from harness.errors import HarnessError
from harness.models.ngram import NgramModel
from harness.models.served import OpenAIModel
from harness.resources import load_model_spec
from tests.served.fault_server import MODEL_ID, FaultServer, Rule

PAIRS = [
    LoglikelihoodRequest("The nurse said that", " she was tired."),
    LoglikelihoodRequest("The nurse said that", " he was tired."),
    LoglikelihoodRequest("Poor people ", "never pay their rent."),  # the space moves to the continuation
    LoglikelihoodRequest("Naïve café owners", " were déjà vu."),  # characters of several bytes
]
TEXTS = ["The kettle boiled while the rain kept falling. " * 30, "A short one.", "Ünïcödé text."]


@pytest.fixture(scope="module")
def ngram() -> NgramModel:
    return NgramModel(name="ngram")


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def served(server: FaultServer, **kwargs: object) -> OpenAIModel:
    return OpenAIModel(name="served", base_url=server.url, **{"max_retries": 1, "timeout_s": 5.0, **kwargs})  # type: ignore[arg-type]


def assert_same(a: list, b: list) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.logprob == pytest.approx(y.logprob, abs=1e-9)
        assert x.n_tokens == y.n_tokens
        if hasattr(x, "is_greedy"):
            assert x.is_greedy == y.is_greedy


def test_token_ids_and_text_prompts_give_the_in_process_numbers(server: FaultServer, ngram: NgramModel) -> None:
    # A continuation the model predicts greedily, so is_greedy is checked both ways.
    greedy = ngram.generate([GenerationRequest("The kettle boiled while the", max_new_tokens=6)])[0].texts[0]
    pairs = [*PAIRS, LoglikelihoodRequest("The kettle boiled while the", greedy)]
    expected = ngram.loglikelihood(pairs)
    assert expected[-1].is_greedy and not expected[0].is_greedy

    by_ids = served(server, tokenizer="remote")
    by_text = served(server)
    assert by_ids._probe.token_prompts and not by_text._probe.token_prompts
    assert_same(by_ids.loglikelihood(pairs), expected)
    assert_same(by_text.loglikelihood(pairs), expected)
    assert_same(by_ids.loglikelihood_rolling(TEXTS), ngram.loglikelihood_rolling(TEXTS))
    # Empty contexts are conditioned on BOS, which only token ids can carry.
    empty = [LoglikelihoodRequest("", "Hello there")]
    assert_same(by_ids.loglikelihood(empty), ngram.loglikelihood(empty))
    with pytest.raises(HarnessError, match="empty context .* needs token ids; set `tokenizer:`"):
        by_text.loglikelihood(empty)


def test_outputs_keep_input_order_with_concurrency(server: FaultServer, ngram: NgramModel) -> None:
    lm = served(server, tokenizer="remote", concurrency=8)
    many = [LoglikelihoodRequest(f"Item {k} says", f" number {k * 7}") for k in range(20)]
    assert_same(lm.loglikelihood(many), ngram.loglikelihood(many))
    assert_same(lm.loglikelihood(many[::-1])[::-1], ngram.loglikelihood(many))


def test_generation_greedy_and_seeded_samples(server: FaultServer, ngram: NgramModel) -> None:
    requests = [
        GenerationRequest("Once upon a time", max_new_tokens=16, n=2),
        GenerationRequest("The rain", max_new_tokens=12, temperature=0.9, top_p=0.95, n=3, seed=11, stop=("\n", ".")),
        GenerationRequest("", max_new_tokens=8),
    ]
    expected = ngram.generate(requests)
    assert served(server, tokenizer="remote").generate(requests) == expected
    assert served(server, endpoint="chat").generate(requests[:2]) == expected[:2]
    # Greedy requests are sent once and repeated n times, as in-process.
    assert server.count("/v1/completions", "Once upon") == 1


def test_stop_strings_are_cut_even_when_the_server_does_not(server: FaultServer, ngram: NgramModel) -> None:
    lm = served(server)
    text = ngram.generate([GenerationRequest("The kettle", max_new_tokens=20)])[0].texts[0]
    stop = text[5:7]
    answer = lm._parse_generation({"choices": [{"index": 0, "text": text}]}, {}, [1, [stop]])
    assert answer == (text[: text.index(stop)],)


def test_probe_refuses_a_server_without_prompt_logprobs(server: FaultServer) -> None:
    server.rules.append(Rule("generated_only"))
    lm = served(server, tokenizer="remote")
    assert isinstance(lm, ChecksSupport)
    reason = lm.unsupported("loglikelihood")
    assert reason is not None and "\n" not in reason
    assert f"{server.url}/completions returns no usable prompt log-probabilities" in reason
    assert "generation suites still run" in reason
    assert lm.unsupported("loglikelihood_rolling") == reason
    assert lm.unsupported("generate") is None
    with pytest.raises(HarnessError, match="no usable prompt log-probabilities"):
        lm.loglikelihood(PAIRS)
    sent = len(server.log)
    lm.unsupported("loglikelihood")
    assert len(server.log) == sent  # the probe is asked once and remembered
    assert lm.generate([GenerationRequest("Hi", max_new_tokens=4)])[0].texts


@pytest.mark.parametrize(
    ("fault", "says"),
    [("truncate", "log-probs for 68 of the prompt's 69 tokens"), ("nulls", "null log-probs at 68 of 68 prompt positions")],
)
def test_probe_refuses_truncated_or_null_logprobs(server: FaultServer, fault: str, says: str) -> None:
    server.rules.append(Rule(fault))
    reason = served(server, tokenizer="remote").unsupported("loglikelihood")
    assert reason is not None and says in reason


def test_probe_falls_back_to_max_tokens_1_and_to_text(server: FaultServer, ngram: NgramModel) -> None:
    server.rules.append(Rule("refuse_zero"))
    lm = served(server, tokenizer="remote")
    assert lm.unsupported("loglikelihood") is None and lm._probe.max_tokens == 1
    assert_same(lm.loglikelihood(PAIRS), ngram.loglikelihood(PAIRS))
    assert_same(lm.loglikelihood_rolling(TEXTS[:2]), ngram.loglikelihood_rolling(TEXTS[:2]))
    assert_same(served(server).loglikelihood(PAIRS), ngram.loglikelihood(PAIRS))  # text prompts too

    server.rules[:] = [Rule("refuse_ids")]
    lm = served(server, tokenizer="remote")
    assert lm.unsupported("loglikelihood") is None and not lm._probe.token_prompts
    assert "refuses token-id prompts" in (lm.unsupported("loglikelihood_rolling") or "")
    assert_same(lm.loglikelihood(PAIRS), ngram.loglikelihood(PAIRS))


def test_chat_endpoint_is_generation_only(server: FaultServer) -> None:
    lm = served(server, endpoint="chat")
    reason = lm.unsupported("loglikelihood")
    assert reason is not None and "serves generation only" in reason and "endpoint: completions" in reason
    assert lm.unsupported("generate") is None
    assert lm.info.chat and lm.info.has_chat_template


def test_rolling_without_token_ids_is_refused_by_the_probe(server: FaultServer) -> None:
    reason = served(server).unsupported("loglikelihood_rolling")
    assert reason is not None and "needs token ids; set `tokenizer:`" in reason


def test_failed_requests_raise_with_the_answers_that_arrived(server: FaultServer, ngram: NgramModel) -> None:
    server.rules.append(Rule("500", match=" he was", path="/v1/completions"))
    server.rules.append(Rule("truncate", match="rent"))
    lm = served(server, tokenizer="remote")
    with pytest.raises(RequestsFailed) as e:
        lm.loglikelihood(PAIRS)
    failed = e.value
    assert sorted(failed.errors) == [1, 2]
    assert failed.results[1] is None and failed.results[2] is None
    assert_same([failed.results[0], failed.results[3]], ngram.loglikelihood([PAIRS[0], PAIRS[3]]))
    assert failed.errors[1].startswith(f"{server.url}: POST /v1/completions answered 500: injected 500")
    assert "(after 1 retry)" in failed.errors[1]
    assert failed.errors[2] == f"{server.url}: POST /v1/completions answered 200, but log-probs for 32 of the prompt's 33 tokens"

    # Evaluated again item by item, nothing is sent twice: failures and answers are remembered.
    sent = server.count("/v1/completions")
    for k, pair in enumerate(PAIRS):
        if k in failed.errors:
            with pytest.raises(RequestsFailed) as again:
                lm.loglikelihood([pair])
            assert again.value.errors == {0: failed.errors[k]}
        else:
            assert_same(lm.loglikelihood([pair]), [failed.results[k]])
    assert server.count("/v1/completions") == sent

    # A new adapter (a re-run) sends them again, and once the server recovers they are scored.
    server.rules.clear()
    assert_same(served(server, tokenizer="remote").loglikelihood(PAIRS), ngram.loglikelihood(PAIRS))


def test_failed_windows_and_generations(server: FaultServer, ngram: NgramModel) -> None:
    server.rules.append(Rule("500", match="Ünïcödé", path="/v1/completions"))
    with pytest.raises(RequestsFailed) as e:
        served(server, tokenizer="remote").loglikelihood_rolling(TEXTS)
    assert list(e.value.errors) == [2] and "answered 500" in e.value.errors[2]
    assert_same(e.value.results[:2], ngram.loglikelihood_rolling(TEXTS[:2]))

    server.rules[:] = [Rule("drop", match="rain")]
    requests = [GenerationRequest("The rain", max_new_tokens=5), GenerationRequest("The sun", max_new_tokens=5)]
    with pytest.raises(RequestsFailed) as e:
        served(server).generate(requests)
    assert list(e.value.errors) == [0] and e.value.results[1] == ngram.generate(requests[1:])[0]


def test_model_selection_and_fingerprint(ngram: NgramModel) -> None:
    with FaultServer(extra_models=("other-model",)) as server:
        with pytest.raises(HarnessError, match=f"serves 2 models \\({MODEL_ID}, other-model\\); name one with `model:`"):
            served(server).info
        with pytest.raises(HarnessError, match="does not serve 'other-modle' \\(did you mean 'other-model'"):
            served(server, model="other-modle").info
        a, b = served(server, model=MODEL_ID), served(server, model="other-model")
        assert a.info.fingerprint != b.info.fingerprint  # a different model behind the same URL
        assert a.info.fingerprint == served(server, model=MODEL_ID).info.fingerprint  # `created` ignored
        assert a.info.fingerprint != served(server, model=MODEL_ID, tokenizer="remote").info.fingerprint
        assert a.info.max_length == 1024 and a.info.details["max_length_source"] == "server max_model_len - 1"
        assert served(server, model=MODEL_ID, max_length=100).info.max_length == 100
        with pytest.raises(HarnessError, match="longer than the server's max_model_len 1025"):
            served(server, model=MODEL_ID, max_length=2000).info
    with FaultServer(max_model_len=1025) as other:
        assert served(other).info.fingerprint != a.info.fingerprint  # another URL


def test_constructor_checks_and_does_no_work() -> None:
    lm = OpenAIModel(name="x", base_url="http://127.0.0.1:9/v1/")  # nothing listens; nothing is sent
    assert lm.base_url == "http://127.0.0.1:9/v1" and "client" not in vars(lm)
    with pytest.raises(HarnessError, match="endpoint 'embeddings' is not one of completions, chat"):
        OpenAIModel(name="x", base_url="http://h/v1", endpoint="embeddings")
    with pytest.raises(HarnessError, match="base_url must be an http"):
        OpenAIModel(name="x", base_url="127.0.0.1:8000")
    with pytest.raises(HarnessError, match="NAME of an environment variable"):
        OpenAIModel(name="x", base_url="http://h/v1", api_key_env="sk-abc123-def")


def test_openai_shorthand_names_a_filesystem_safe_spec() -> None:
    spec = load_model_spec("openai:http://127.0.0.1:8000/v1")
    assert spec.adapter == "openai" and spec.args == {"base_url": "http://127.0.0.1:8000/v1"}
    assert spec.name == "openai-127.0.0.1-8000-v1"
    with pytest.raises(HarnessError, match="give the server's base URL"):
        load_model_spec("openai:localhost:8000")


def test_a_dead_server_is_a_one_line_error() -> None:
    lm = OpenAIModel(name="x", base_url="http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(HarnessError) as e:
        lm.info
    assert str(e.value).startswith("model x: cannot list the served models (http://127.0.0.1:9/v1: GET /v1/models failed")
    assert not math.isnan(0.0)


def test_remote_tokenizer_failures(server: FaultServer, ngram: NgramModel) -> None:
    server.rules.append(Rule("404", path="/tokenize"))  # a server without /tokenize
    reason = served(server, tokenizer="remote").unsupported("loglikelihood")
    assert reason is not None and reason.startswith("model served: tokenizer remote: ")
    assert f"{server.url}: POST /tokenize answered 404" in reason

    # /tokenize failing for one string mid-run fails that item only.
    server.rules[:] = [Rule("500", path="/tokenize", match="nurse")]
    lm = served(server, tokenizer="remote")
    lm._tokens.prefix_token  # asked before the fault matters
    with pytest.raises(RequestsFailed) as e:
        lm.loglikelihood(PAIRS)
    assert sorted(e.value.errors) == [0, 1] and "POST /tokenize answered 500" in e.value.errors[0]
    assert_same(e.value.results[2:], ngram.loglikelihood(PAIRS[2:]))
