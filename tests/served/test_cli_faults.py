"""`harness run` through the `openai` adapter against the fault-injecting server: errored items
journaled (never scored), a re-run retrying exactly them, the start-up probe refusing
log-likelihood suites while generation suites run, and the API key never written anywhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.registry import SUITE_KINDS
from harness.resources import load_suite_spec
from tests.served.fault_server import FaultServer, Rule

KEY = "sk-served-test-3b1f9a0c2d-do-not-leak"
LIMIT = 6


def write_preset(folder: Path, url: str, **extra: object) -> Path:
    lines = ["adapter: openai", f"base_url: {url}", "tokenizer: remote", "api_key_env: SERVED_TEST_KEY",
             "max_retries: 1", "timeout_s: 5"] + [f"{k}: {json.dumps(v)}" for k, v in extra.items()]  # fmt: skip
    path = folder / "served.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SERVED_TEST_KEY", KEY)
    with FaultServer(api_key=KEY) as s:
        yield s


def crows_items() -> list:
    spec = load_suite_spec("crows_pairs")
    return list(SUITE_KINDS.get(spec.kind)(spec).load(None).items[:LIMIT])


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def written_files(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def test_errored_items_are_journaled_and_a_rerun_completes_them(server: FaultServer, run_cli, tmp_path: Path, cache_dir: Path) -> None:
    preset = write_preset(tmp_path, server.url)
    failing = crows_items()[2]
    server.rules.append(Rule("500", match=failing.sent_less, path="/v1/completions"))
    out = tmp_path / "out"
    command = ["run", "crows_pairs", "--model", preset, "--limit", LIMIT, "--out", out, "--quiet"]

    code, stdout, stderr = run_cli(*command)
    outputs = [stdout, stderr]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["suites"]["crows_pairs"]["n_errors"] == 1
    journal = records(out / "crows_pairs.jsonl")
    errored = [r for r in journal if "error" in r]
    assert [r["id"] for r in errored] == [failing.id]
    assert f"{server.url}: POST /v1/completions answered 500: injected 500" in errored[0]["error"]
    assert "loglikelihoods" not in errored[0]  # a failure is never a score
    assert all("loglikelihoods" in r for r in journal if "error" not in r)

    # The server recovers; the same command sends only the errored item's requests.
    server.rules.clear()
    def sent() -> dict[str, int]:
        return {p.id: server.count("/v1/completions", p.sent_more) + server.count("/v1/completions", p.sent_less) for p in crows_items()}

    before = sent()
    code, stdout, stderr = run_cli(*command)
    outputs += [stdout, stderr]
    assert code == 0
    after = sent()
    # Only the failed request went out again; the item's other sentence came from the call cache.
    assert {k: after[k] - before[k] for k in after if after[k] != before[k]} == {failing.id: 1}
    rerun = json.loads((out / "summary.json").read_text())
    assert rerun["suites"]["crows_pairs"]["n_errors"] == 0

    # The same final results as a clean run (fresh output folder and cache).
    clean_out, clean_cache = tmp_path / "clean", tmp_path / "clean-cache"
    code, stdout, stderr = run_cli(*command[:-3], "--out", clean_out, "--quiet", "--cache-dir", clean_cache)
    outputs += [stdout, stderr]
    assert code == 0
    assert records(out / "crows_pairs.jsonl") == records(clean_out / "crows_pairs.jsonl")
    assert rerun["suites"]["crows_pairs"]["metrics"] == json.loads((clean_out / "summary.json").read_text())["suites"]["crows_pairs"]["metrics"]

    # The key went over the wire (the server demands it) but into no file and no output.
    files = written_files(out, clean_out, clean_cache, cache_dir)
    assert any(p.name == "calls.sqlite" for p in files) and len(files) > 6
    for p in files:
        assert KEY.encode() not in p.read_bytes(), p
    for text in outputs:
        assert KEY not in text


def test_probe_refuses_loglikelihood_suites_but_generation_runs(server: FaultServer, run_cli, tmp_path: Path) -> None:
    server.rules.append(Rule("generated_only"))  # like llama.cpp's server: no prompt log-probs
    preset = write_preset(tmp_path, server.url)
    code, stdout, stderr = run_cli("run", "crows_pairs", "--model", preset, "--limit", 3, "--out", tmp_path / "mc", "--quiet")
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: ")
    assert f"{server.url}/completions returns no usable prompt log-probabilities" in lines[0]
    assert server.count("/v1/completions") == 1  # the probe only, no item
    assert not (tmp_path / "mc" / "crows_pairs.jsonl").exists() or not records(tmp_path / "mc" / "crows_pairs.jsonl")

    out = tmp_path / "gen"
    code, stdout, stderr = run_cli(
        "run", "toxicity", "--model", preset, "--samples", 2, "--limit", 2, "--classifier", "profanity-check", "--out", out, "--quiet"
    )
    assert code == 0, stderr
    journal = records(out / "toxicity.jsonl")
    assert len(journal) == 2 and not any("error" in r for r in journal)
    for p in written_files(out):
        assert KEY.encode() not in p.read_bytes()


def test_openai_shorthand_runs_a_generation_suite(run_cli, tmp_path: Path) -> None:
    with FaultServer() as server:
        out = tmp_path / "out"
        code, stdout, stderr = run_cli("run", "squad", "--model", f"openai:{server.url}", "--limit", 2, "--out", out, "--quiet")
        assert code == 0, stderr
        summary = json.loads((out / "summary.json").read_text())
        assert summary["model"]["adapter"] == "openai" and summary["model"]["details"]["served_model"] == "ngram-under-test"
        assert summary["model"]["preset"] == f"openai-127.0.0.1-{server.port}-v1"
        assert len(records(out / "squad.jsonl")) == 2
