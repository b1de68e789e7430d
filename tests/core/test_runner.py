"""The runner end to end on the n-gram model: outputs, journal resume, cache, provenance."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.suites.perplexity import PerplexitySuite
from tests.conftest import REPO

CORPUS = REPO / "suites" / "data" / "perplexity" / "corpus.txt"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_run_writes_summary_and_samples(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, _ = run_cli("run", "perplexity", "--model", "ngram", "--limit", "5", "--out", out, "--quiet")
    assert code == 0 and "bits_per_byte" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["schema_version"] == 1
    assert summary["model"]["adapter"] == "ngram" and len(summary["model"]["fingerprint"]) == 16
    assert summary["libraries"]["torch"] and summary["seed"] == 1234 and summary["limit"] == 5
    suite = summary["suites"]["perplexity"]
    assert suite["n_samples"] == 5 and suite["n_errors"] == 0
    assert suite["protocol"].startswith("perplexity/rolling-disjoint/v1 max_length=1024")
    assert suite["data"]["builtin"] and len(suite["data"]["sha256"]) == 64
    bpb = suite["metrics"]["bits_per_byte"]
    assert bpb["direction"] == "lower" and bpb["ci95"][0] <= bpb["value"] <= bpb["ci95"][1]
    samples = read_jsonl(out / "perplexity.jsonl")
    assert [s["id"] for s in samples] == ["doc1", "doc2", "doc3", "doc4", "doc5"]  # the first N, in source order
    ll = sum(s["loglikelihood"] for s in samples)
    assert bpb["value"] == pytest.approx(-ll / sum(s["bytes"] for s in samples) / 0.6931471805599453)


def test_warm_cache_answers_without_the_model(run_cli, tmp_path: Path) -> None:
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "6", "--out", tmp_path / "a", "--quiet")
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "6", "--out", tmp_path / "b", "--quiet")
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    b = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert a["cache"] == {"hits": 0, "misses": 6}
    assert b["cache"] == {"hits": 6, "misses": 0}
    assert a["suites"]["perplexity"]["metrics"] == b["suites"]["perplexity"]["metrics"]
    assert (tmp_path / "a" / "perplexity.jsonl").read_text() == (tmp_path / "b" / "perplexity.jsonl").read_text()


def test_rerun_into_the_same_folder_reuses_the_journal(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "3", "--out", out, "--no-cache", "--quiet")
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "5", "--out", out, "--quiet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cache"] == {"hits": 0, "misses": 2}  # only the two new documents reached the model
    assert [s["id"] for s in read_jsonl(out / "perplexity.jsonl")] == [f"doc{i}" for i in range(1, 6)]


def _big_corpus(tmp_path: Path) -> Path:
    docs = [d for d in CORPUS.read_text(encoding="utf-8").split("\n\n") if d.strip()]
    path = tmp_path / "big.txt"
    path.write_text("\n\n".join(f"{i}. {d.strip()}" for i in range(12) for d in docs) + "\n", encoding="utf-8")
    return path


def test_resume_after_kill_9_matches_an_uninterrupted_run(tmp_path: Path, cache_dir: Path) -> None:
    corpus = _big_corpus(tmp_path)
    n_docs = corpus.read_text().count("\n\n") + 1

    def command(out: Path, cache: Path) -> list[str]:
        return [sys.executable, "-m", "harness", "run", "perplexity", "--model", "ngram", "--data", str(corpus),
                "--out", str(out), "--cache-dir", str(cache), "--quiet"]

    killed_out, fresh_cache = tmp_path / "killed", tmp_path / "cache-killed"
    journal = killed_out / "perplexity.jsonl"
    proc = subprocess.Popen(command(killed_out, fresh_cache), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 24):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = journal.read_text().count("\n")
    assert 24 <= n_done < n_docs, "the run should have been killed part way"
    assert not (killed_out / "summary.json").exists()

    resumed = subprocess.run(command(killed_out, fresh_cache), cwd=REPO, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads((killed_out / "summary.json").read_text())
    # The journaled documents were not asked for again; the cache may hold a chunk the kill cut short.
    assert summary["cache"]["misses"] + summary["cache"]["hits"] == n_docs - n_done

    full_out = tmp_path / "full"
    done = subprocess.run(command(full_out, tmp_path / "cache-full"), cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert journal.read_bytes() == (full_out / "perplexity.jsonl").read_bytes()
    full = json.loads((full_out / "summary.json").read_text())
    assert summary["suites"]["perplexity"]["metrics"] == full["suites"]["perplexity"]["metrics"]


def test_a_different_run_into_the_same_folder_is_refused_and_loses_nothing(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "3", "--out", out, "--quiet")
    before = (out / "perplexity.jsonl").read_bytes()
    code, _, err = run_cli("run", "perplexity", "--model", "ngram", "--limit", "3", "--out", out, "--seed", "9", "--quiet")
    assert code == 2 and "seed differ" in err and "another --out" in err
    assert (out / "perplexity.jsonl").read_bytes() == before


def test_a_cut_last_line_is_dropped_and_redone(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "4", "--out", out, "--quiet")
    whole = (out / "perplexity.jsonl").read_bytes()
    (out / "perplexity.jsonl").write_bytes(whole[: whole.rfind(b"{") + 10])  # as if killed mid-write
    code, _, _ = run_cli("run", "perplexity", "--model", "ngram", "--limit", "4", "--out", out, "--quiet")
    assert code == 0 and (out / "perplexity.jsonl").read_bytes() == whole


def test_model_free_suites_run_beside_model_suites(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli("run", "perplexity", "toxicity_filter", "--model", "ngram", "--limit", "4", "--out", out, "--quiet")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["suites"]) == {"perplexity", "toxicity_filter"}
    identity = json.loads((out / ".journal" / "toxicity_filter.json").read_text())
    assert identity["model_fingerprint"] == "none"  # the filter's results do not depend on the model


def test_a_smaller_limit_into_the_same_folder_keeps_the_other_samples(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "5", "--out", out, "--no-cache", "--quiet")
    five = read_jsonl(out / "perplexity.jsonl")
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "2", "--out", out, "--no-cache", "--quiet")
    assert read_jsonl(out / "perplexity.jsonl") == five[:2]  # the per-sample file matches the summary
    assert json.loads((out / "summary.json").read_text())["suites"]["perplexity"]["n_samples"] == 2
    run_cli("run", "perplexity", "--model", "ngram", "--limit", "5", "--out", out, "--quiet")
    again = json.loads((out / "summary.json").read_text())
    assert again["cache"] == {"hits": 0, "misses": 0}  # the three set aside were journaled, not recomputed
    assert read_jsonl(out / "perplexity.jsonl") == five


class ErrorOnDoc2(PerplexitySuite):
    """Perplexity with one sample failed, and an aggregate that records what it was given."""

    seen: dict[str, int] = {}

    def evaluate(self, lm, items, seed):
        return [{**r, "error": "boom"} if r["id"] == "doc2" else r for r in super().evaluate(lm, items, seed)]

    def aggregate(self, records, seed, errored=()):
        ErrorOnDoc2.seen.update(ok=len(records), errored=len(errored))
        return super().aggregate(records, seed)


def test_errored_records_reach_kinds_that_ask_for_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from harness.registry import SUITE_KINDS
    from harness.runner import RunOptions, run

    monkeypatch.setitem(SUITE_KINDS._entries, "perplexity", "tests.core.test_runner:ErrorOnDoc2")
    options = RunOptions(suites=("perplexity",), model="ngram", out=tmp_path / "out", limit=3, use_cache=False,
                         show_progress=False)
    summary = run(options)
    assert ErrorOnDoc2.seen == {"ok": 2, "errored": 1}
    assert summary["suites"]["perplexity"]["n_errors"] == 1
