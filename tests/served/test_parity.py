"""Parity through a real `harness serve` process: the `openai` adapter gives the in-process
adapter's per-sample results (log-likelihoods within 1e-4, greedy texts identical, seeded samples
identical), with token-id prompts and with text prompts; a different model behind the same URL
gets a different cache namespace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.api import LoglikelihoodRequest
from harness.models.served import OpenAIModel
from tests.served_process import ServerProcess, start_server
from tests.tiny_models import build_tiny_llama

TOLERANCE = 1e-4
VERIFIED_CHECKS = ["echo_shape", "token_count", "generated_vs_echoed", "generated_is_echoed_argmax", "shared_prefix"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
# (suite, extra arguments) on the tiny Llama; --max-length 48 makes perplexity cut several windows.
TINY_SUITES = [
    ("perplexity", ["--limit", "3", "--max-length", "48"]),
    ("crows_pairs", ["--limit", "8"]),
    ("truthfulqa_mc", ["--limit", "3"]),
    ("squad", ["--limit", "3"]),
    ("toxicity", ["--limit", "2", "--samples", "2", "--classifier", "profanity-check"]),
]


def tiny_llama(folder: Path, seed: int = 0) -> Path:
    build_tiny_llama(folder, seed=seed)
    (folder / "chat_template.jinja").write_text(CHAT_TEMPLATE, encoding="utf-8")
    return folder


def write_yaml(file: Path, **keys: Any) -> Path:
    file.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items()))
    return file


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama(tmp_path_factory.mktemp("parity") / "tiny")


@pytest.fixture(scope="module")
def tiny_server(tiny: Path) -> Iterator[ServerProcess]:
    with start_server(tiny, "--max-batch", "8", env={"OMP_NUM_THREADS": "1"}) as server:
        yield server


def assert_close(a: Any, b: Any, where: str = "") -> None:
    """Equal, except floats within TOLERANCE (texts, decisions and counts exactly equal)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), where
        assert abs(a - b) <= TOLERANCE * max(1.0, abs(a)), f"{where}: {a} != {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), where
        for k in a:
            assert_close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def records(out: Path, suite: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{suite}.jsonl").read_text(encoding="utf-8").splitlines()]


def run_both(run_cli, tmp_path: Path, local: Path, served: Path, suite: str, extra: list[str]) -> tuple[dict, dict]:
    summaries = []
    for name, preset in (("local", local), ("served", served)):
        out = tmp_path / f"{suite}-{name}"
        code, _, stderr = run_cli("run", suite, "--model", preset, "--out", out, "--quiet", *extra)
        assert code == 0, stderr
        summaries.append(json.loads((out / "summary.json").read_text()))
    local_records, served_records = records(tmp_path / f"{suite}-local", suite), records(tmp_path / f"{suite}-served", suite)
    assert local_records and not any("error" in r for r in served_records)
    assert_close(local_records, served_records, suite)
    assert_close(summaries[0]["suites"][suite]["metrics"], summaries[1]["suites"][suite]["metrics"], f"{suite} metrics")
    return summaries[0], summaries[1]


@pytest.mark.parametrize(("suite", "extra"), TINY_SUITES, ids=[s for s, _ in TINY_SUITES])
def test_tiny_llama_suites_match_in_process(suite: str, extra: list[str], tiny: Path, tiny_server: ServerProcess, run_cli, tmp_path: Path) -> None:
    local = write_yaml(tmp_path / "local.yaml", adapter="hf", path=str(tiny), chat_template=True)
    # No max_length: behind harness serve the default is the model's own (64; the server takes
    # 65-token scoring prompts), so long contexts are cut exactly where the in-process adapter cuts them.
    served = write_yaml(tmp_path / "served.yaml", adapter="openai", base_url=tiny_server.url, tokenizer=str(tiny),
                        chat_template=True)  # fmt: skip
    local_summary, served_summary = run_both(run_cli, tmp_path, local, served, suite, extra)
    assert served_summary["model"]["max_length"] == local_summary["model"]["max_length"] == (48 if suite == "perplexity" else 64)
    assert served_summary["model"]["adapter"] == "openai" and served_summary["model"]["chat"] is True
    assert served_summary["model"]["details"]["server"]["harness_fingerprint"] == local_summary["model"]["fingerprint"]
    assert_probe(served_summary["model"]["details"]["prompt_logprobs"], tiny_server.url, suite)


def assert_probe(record: dict, url: str, suite: str, checks: list[str] = VERIFIED_CHECKS) -> None:
    """harness serve passes every check of the start-up probe (generation suites send none)."""
    if suite in ("squad", "toxicity"):
        assert record == {"status": "not-needed", "checks": [], "server": url, "tolerance": 1e-3}
        return
    assert record["status"] == "verified" and record["server"] == url, record
    assert [c["name"] for c in record["checks"]] == checks and all(c["passed"] for c in record["checks"]), record
    generated, echoed = (float(x) for x in re.findall(r"-?\d+\.\d{6}", record["checks"][checks.index("generated_vs_echoed")]["detail"]))
    assert generated < 0 and abs(generated - echoed) <= 1e-5


def test_token_ids_and_text_prompts_give_the_same_numbers(tiny: Path, tiny_server: ServerProcess) -> None:
    pairs = [
        LoglikelihoodRequest("The poor are really ignorant about how to handle", " the money they do have."),
        LoglikelihoodRequest("The rich are really ignorant about how to handle", " the money they do have."),
        LoglikelihoodRequest("He couldn't figure out the issue with the rope, but he tried not to get too down ", "on himself."),
        LoglikelihoodRequest("She was the best at", " Naïve café-style déjà vu."),
    ]
    by_ids = OpenAIModel(name="ids", base_url=tiny_server.url, tokenizer=str(tiny))
    by_text = OpenAIModel(name="text", base_url=tiny_server.url)
    remote = OpenAIModel(name="remote", base_url=tiny_server.url, tokenizer="remote")
    assert by_ids._probe.token_prompts and remote._probe.token_prompts and not by_text._probe.token_prompts
    a, b, c = by_ids.loglikelihood(pairs), by_text.loglikelihood(pairs), remote.loglikelihood(pairs)
    for x, y, z in zip(a, b, c):
        assert x.n_tokens == y.n_tokens == z.n_tokens
        assert abs(x.logprob - y.logprob) <= TOLERANCE and abs(x.logprob - z.logprob) <= TOLERANCE
    assert a[0].logprob != a[1].logprob  # the pairs really differ
    for lm in (by_ids, remote):
        assert_probe(lm.info.details["prompt_logprobs"], tiny_server.url, "crows_pairs")
    without_count = [c for c in VERIFIED_CHECKS if c != "token_count"]  # no tokenizer to count with
    assert_probe(by_text.info.details["prompt_logprobs"], tiny_server.url, "crows_pairs", without_count)


def test_a_different_model_behind_the_same_url_gets_a_new_cache_namespace(tmp_path: Path, run_cli, cache_dir: Path) -> None:
    first, second = tiny_llama(tmp_path / "a" / "tiny", seed=0), tiny_llama(tmp_path / "b" / "tiny", seed=1)
    command = ["crows_pairs", "--limit", "4", "--quiet"]
    with start_server(first, env={"OMP_NUM_THREADS": "1"}) as server:
        preset = write_yaml(tmp_path / "served.yaml", adapter="openai", base_url=server.url, tokenizer="remote")
        code, _, stderr = run_cli("run", *command, "--model", preset, "--out", tmp_path / "first")
        assert code == 0, stderr
        port = server.port
    with start_server(second, "--port", str(port), env={"OMP_NUM_THREADS": "1"}) as server:
        assert server.url.endswith(f":{port}/v1")  # the same URL, the same served name, other weights
        code, _, stderr = run_cli("run", *command, "--model", preset, "--out", tmp_path / "second")
        assert code == 0, stderr
    a = json.loads((tmp_path / "first" / "summary.json").read_text())
    b = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert a["model"]["details"]["served_model"] == b["model"]["details"]["served_model"]
    assert a["model"]["fingerprint"] != b["model"]["fingerprint"]
    assert b["cache"]["hits"] == 0 and b["cache"]["misses"] > 0
    assert records(tmp_path / "first", "crows_pairs") != records(tmp_path / "second", "crows_pairs")


@pytest.fixture(scope="module")
def smollm2_server() -> Iterator[ServerProcess]:
    with start_server("smollm2-135m") as server:
        yield server


@pytest.mark.slow
@pytest.mark.parametrize(("suite", "extra"), [("truthfulqa_mc", ["--limit", "2"]), ("squad", ["--limit", "1"])])
def test_default_model_with_its_chat_template_matches_in_process(suite: str, extra: list[str], smollm2_server: ServerProcess, run_cli, tmp_path: Path) -> None:
    served = write_yaml(tmp_path / "served.yaml", adapter="openai", base_url=smollm2_server.url, tokenizer="smollm2-135m",
                        chat_template=True)  # fmt: skip
    local_summary, served_summary = run_both(run_cli, tmp_path, Path("smollm2-135m"), served, suite, extra)
    assert local_summary["model"]["chat"] is True and served_summary["model"]["chat"] is True
    assert_probe(served_summary["model"]["details"]["prompt_logprobs"], smollm2_server.url, suite)
    assert served_summary["model"]["details"]["server"]["harness_fingerprint"] == local_summary["model"]["fingerprint"]
