"""The start-up probe's value checks (harness.models.served_probe) against the fault-injecting
server: a server whose echoed prompt log-probs have the right shape and wrong values (shifted,
noisy, a wrong argmax, an extra token) is refused with one line naming the server, the check and
the two numbers; `--trust-server-logprobs` skips the value checks only; generation suites still
run; the outcome is in summary.json. That a real `harness serve` passes every check is asserted in
test_parity.py, on its server processes; llama-cpp-python's refusal in test_llama_cpp.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.api import LoglikelihoodRequest
from harness.models.ngram import NgramModel
from harness.models.served import OpenAIModel
from harness.models.served_probe import GENERATION_PROMPTS
from tests.served.fault_server import FaultServer, Rule
from tests.served.test_parity import write_yaml

VALUE_CHECKS = ["generated_vs_echoed", "generated_is_echoed_argmax", "shared_prefix"]
ALL_CHECKS = ["echo_shape", "token_count", *VALUE_CHECKS]
NUMBER = r"-?\d+\.\d{3}(?!\d)"  # a log-prob in a refusal: three decimals


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as s:
        yield s


def served(server: FaultServer, **kwargs: object) -> OpenAIModel:
    return OpenAIModel(name="served", base_url=server.url, **{"max_retries": 0, "timeout_s": 5.0, **kwargs})  # type: ignore[arg-type]


def record(lm: OpenAIModel) -> dict:
    return lm.info.details["prompt_logprobs"]


def names(checks: list[dict]) -> list[str]:
    return [c["name"] for c in checks]


def summary(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("tokenizer", ["remote", None], ids=["token-ids", "text"])
def test_a_consistent_server_is_verified(server: FaultServer, tokenizer: str | None) -> None:
    lm = served(server, tokenizer=tokenizer)
    assert record(lm) == {"status": "not-needed", "checks": [], "server": server.url, "tolerance": 1e-3}
    assert server.count("/v1/completions") == 0  # reading info sends no probe
    assert lm.unsupported("loglikelihood") is None
    probe = record(lm)
    assert probe["status"] == "verified" and probe["server"] == server.url
    assert names(probe["checks"]) == (ALL_CHECKS if tokenizer else ["echo_shape", *VALUE_CHECKS])
    assert all(c["passed"] for c in probe["checks"])
    # The n-gram model's own numbers, the same both ways: generating and echoing.
    generated, echoed = re.findall(r"-?\d+\.\d{6}", probe["checks"][-3]["detail"])
    assert generated == echoed and float(generated) < 0
    assert re.search(r"[1-9]\d+ shared tokens, largest difference 0\.00e\+00", probe["checks"][-1]["detail"])
    # The shape echo, one generation, its echo and the second prompt's echo.
    assert server.count("/v1/completions") == 4
    assert server.count("/v1/completions", GENERATION_PROMPTS[0]) == 2


@pytest.mark.parametrize(
    ("fault", "check"),
    [("shifted", "generated_vs_echoed"), ("noisy", "generated_vs_echoed"), ("wrong_top", "generated_is_echoed_argmax")],
)
@pytest.mark.parametrize("tokenizer", ["remote", None], ids=["token-ids", "text"])
def test_wrong_values_are_refused_naming_the_check_and_numbers(server: FaultServer, fault: str, check: str, tokenizer: str | None) -> None:
    server.rules.append(Rule(fault))
    lm = served(server, tokenizer=tokenizer)
    reason = lm.unsupported("loglikelihood")
    assert reason is not None and "\n" not in reason
    assert reason.startswith(f"model served: {server.url} failed the prompt log-prob check {check}: ")
    assert len(re.findall(NUMBER, reason)) == 2
    assert "generation suites still run; --trust-server-logprobs skips the value checks" in reason
    assert lm.unsupported("loglikelihood_rolling") == reason and lm.unsupported("generate") is None
    probe = record(lm)
    assert probe["status"] == "refused" and probe["checks"][-1]["name"] == check and not probe["checks"][-1]["passed"]
    assert all(c["passed"] for c in probe["checks"][:-1])


def test_shared_prefix_catches_values_that_depend_on_later_tokens(server: FaultServer) -> None:
    # Right values for every prompt but one: only the second prompt of the shared-prefix check.
    server.rules.append(Rule("noisy", match="garden"))
    reason = served(server, tokenizer="remote").unsupported("loglikelihood")
    assert reason is not None and "check shared_prefix: the shared token" in reason
    a, b = (float(x) for x in re.findall(NUMBER, reason))
    assert 0.05 <= abs(a - b) <= 0.15  # the injected noise


def test_token_count_is_a_shape_check(server: FaultServer) -> None:
    server.rules.append(Rule("extra_bos"))  # one more token echoed than the ids sent
    for trust in (False, True):
        lm = served(server, tokenizer="remote", trust_server_logprobs=trust)
        reason = lm.unsupported("loglikelihood")
        assert reason is not None and "check token_count: the server echoed 70 tokens for the 69 token ids sent" in reason
        assert "--trust-server-logprobs" not in reason  # trusting skips value checks, not this one
        assert record(lm)["status"] == "refused"


def test_trust_skips_the_value_checks_but_not_the_shape_checks(server: FaultServer) -> None:
    server.rules.append(Rule("shifted"))
    lm = served(server, tokenizer="remote", trust_server_logprobs=True)
    assert lm.unsupported("loglikelihood") is None
    assert record(lm)["status"] == "trusted" and names(record(lm)["checks"]) == ["echo_shape", "token_count"]
    assert server.count("/v1/completions") == 1  # no generation, no second echo
    server.rules[:] = [Rule("generated_only")]
    reason = served(server, tokenizer="remote", trust_server_logprobs=True).unsupported("loglikelihood")
    assert reason is not None and "returns no usable prompt log-probabilities" in reason


def test_a_server_that_cannot_generate_is_refused_unless_trusted(server: FaultServer) -> None:
    server.rules.append(Rule("400", match=GENERATION_PROMPTS[0], path="/v1/completions"))
    reason = served(server).unsupported("loglikelihood")
    assert reason is not None and "check generated_vs_echoed: the server does not generate a token with its log-prob" in reason
    assert served(server, trust_server_logprobs=True).unsupported("loglikelihood") is None


def test_a_server_that_generates_for_max_tokens_0_is_asked_for_one_token(server: FaultServer) -> None:
    server.rules.append(Rule("zero_unlimited"))  # llama-cpp-python reads max_tokens 0 as "no limit"
    lm = served(server)
    assert lm.unsupported("loglikelihood") is None and lm._probe.max_tokens == 1
    assert record(lm)["checks"][0]["detail"] == "68 prompt tokens echoed with log-probs (text prompt, max_tokens 1)"
    pairs = [LoglikelihoodRequest("The nurse said that", " she was tired.")]
    assert lm.loglikelihood(pairs)[0].logprob == pytest.approx(NgramModel(name="ngram").loglikelihood(pairs)[0].logprob, abs=1e-9)


def test_tolerance_is_a_preset_setting(server: FaultServer) -> None:
    server.rules.append(Rule("noisy"))
    # Each value moved by at most 0.15 nats: two values, at most 0.3 apart.
    assert served(server, logprob_tolerance=0.3).unsupported("loglikelihood") is None
    assert "check generated_vs_echoed" in (served(server, logprob_tolerance=0.01).unsupported("loglikelihood") or "")
    with pytest.raises(Exception, match="logprob_tolerance must be a number between 0 and 1"):
        served(server, logprob_tolerance=0)


# ---- through the CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["shifted", "noisy"])
def test_cli_refuses_with_exit_2_and_generation_still_runs(fault: str, server: FaultServer, run_cli, tmp_path: Path) -> None:
    server.rules.append(Rule(fault))
    model = f"openai:{server.url}"
    code, stdout, stderr = run_cli("run", "crows_pairs", "--model", model, "--limit", 3, "--out", tmp_path / "mc", "--quiet")
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: suite(s) crows_pairs cannot run on model ")
    assert f"{server.url} failed the prompt log-prob check generated_vs_echoed: " in lines[0]
    assert len(re.findall(NUMBER, lines[0])) == 2
    assert server.count("/v1/completions") == 3  # the probe only (shape echo, generation, its echo): no item
    assert not (tmp_path / "mc" / "summary.json").exists()

    out = tmp_path / "gen"
    code, stdout, stderr = run_cli("run", "squad", "--model", model, "--limit", 2, "--out", out, "--quiet")
    assert code == 0, stderr
    assert summary(out)["model"]["details"]["prompt_logprobs"] == {
        "status": "not-needed", "checks": [], "server": server.url, "tolerance": 1e-3,
    }  # fmt: skip
    assert len((out / "squad.jsonl").read_text().splitlines()) == 2


def test_cli_trust_flag_runs_and_is_recorded(server: FaultServer, run_cli, tmp_path: Path) -> None:
    server.rules.append(Rule("shifted"))
    out = tmp_path / "out"
    preset = write_yaml(tmp_path / "served.yaml", adapter="openai", base_url=server.url, tokenizer="remote")
    command = ["run", "crows_pairs", "--model", preset, "--limit", 3, "--out", out, "--quiet"]
    code, stdout, stderr = run_cli(*command, "--trust-server-logprobs")
    assert code == 0, stderr
    model = summary(out)["model"]
    assert model["details"]["trust_server_logprobs"] is True
    probe = model["details"]["prompt_logprobs"]
    assert probe["status"] == "trusted" and names(probe["checks"]) == ["echo_shape", "token_count"]
    assert probe["server"] == server.url
    assert len((out / "crows_pairs.jsonl").read_text().splitlines()) == 3  # scored with the (wrong) values, as asked

    code, stdout, stderr = run_cli("run", "crows_pairs", "--model", "ngram", "--limit", 1, "--out", tmp_path / "local",
                                   "--quiet", "--trust-server-logprobs")  # fmt: skip
    assert code == 2 and "--trust-server-logprobs applies to served models (adapter openai); ngram uses adapter ngram" in stderr
