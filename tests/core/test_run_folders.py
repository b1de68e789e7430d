"""One writer per output folder, several models in one run, and failed model calls journaled as
errored records that a re-run retries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.api import LoglikelihoodRequest, RequestsFailed
from harness.errors import HarnessError
from harness.failures import FailureMemo, check_support, evaluate_items
from harness.models.ngram import NgramModel
from harness.resources import presets_dir
from tests.conftest import REPO
from tests.core.test_runner import _big_corpus, read_jsonl
from tests.tiny_models import build_tiny_llama


def test_a_second_run_into_a_live_runs_folder_stops_at_once_naming_its_pid(run_cli, tmp_path: Path, cache_dir: Path) -> None:
    corpus = _big_corpus(tmp_path)
    out = tmp_path / "out"
    journal = out / "perplexity.jsonl"
    command = [sys.executable, "-m", "harness", "run", "perplexity", "--model", "ngram", "--data", str(corpus),
               "--out", str(out), "--cache-dir", str(tmp_path / "c1"), "--quiet"]  # fmt: skip
    live = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 8):
            time.sleep(0.05)
        lines_before = journal.read_text().count("\n")
        code, _, err = run_cli("run", "perplexity", "--model", "ngram", "--data", corpus, "--out", out, "--quiet")
        assert code == 2
        assert f"another harness run (pid {live.pid}) is writing to this folder" in err and len(err.splitlines()) == 1
        assert journal.read_text().count("\n") >= lines_before  # the live run's journal was not touched by the refused one
    finally:
        os.kill(live.pid, signal.SIGKILL)  # a killed run leaves no stuck lock
        live.wait()
    code, _, err = run_cli("run", "perplexity", "--model", "ngram", "--data", corpus, "--out", out, "--quiet")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["suites"]["perplexity"]["n_samples"] == len(read_jsonl(journal))


def test_repeated_model_evaluates_each_into_its_own_folder(run_cli, tmp_path: Path) -> None:
    tiny = build_tiny_llama(tmp_path / "tiny-llama")
    out = tmp_path / "multi"
    code, stdout, err = run_cli("run", "perplexity", "--model", "ngram", "--model", tiny, "--limit", "3", "--out", out,
                                "--quiet", "--scorecard")  # fmt: skip
    assert code == 0, err
    assert (out / "scorecard.html").exists()
    for model, folder in (("ngram", "ngram"), (str(tiny), "tiny-llama")):
        multi = json.loads((out / folder / "summary.json").read_text())
        code, _, err = run_cli("run", "perplexity", "--model", model, "--limit", "3", "--out", tmp_path / f"single-{folder}",
                               "--quiet", "--no-cache")  # fmt: skip
        assert code == 0, err
        single = json.loads((tmp_path / f"single-{folder}" / "summary.json").read_text())
        assert multi["model"]["fingerprint"] == single["model"]["fingerprint"]
        assert multi["suites"]["perplexity"]["metrics"] == single["suites"]["perplexity"]["metrics"]
        assert read_jsonl(out / folder / "perplexity.jsonl") == read_jsonl(tmp_path / f"single-{folder}" / "perplexity.jsonl")
    # Each model's journal resumes on its own: a re-run asks no model anything.
    code, _, err = run_cli("run", "perplexity", "--model", "ngram", "--model", tiny, "--limit", "3", "--out", out, "--quiet")
    assert code == 0, err
    assert json.loads((out / "ngram" / "summary.json").read_text())["cache"] == {"hits": 0, "misses": 0}


def test_two_models_that_would_share_a_folder_are_refused_before_either_runs(run_cli, tmp_path: Path) -> None:
    preset = tmp_path / "ngram.yaml"  # a preset file named like the built-in one
    preset.write_text((presets_dir() / "ngram.yaml").read_text().replace("data/ngram-train.txt", str(presets_dir() / "data" / "ngram-train.txt")))
    code, _, err = run_cli("run", "perplexity", "--model", "ngram", "--model", preset, "--out", tmp_path / "o", "--quiet")
    assert code == 2 and "would both write to" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "ngram").exists()


class FailingServer:
    """The n-gram model behind a 'server' that refuses some requests (what an adapter of a served
    model raises after its retries), and counts what it was asked."""

    def __init__(self, refuse: set[str]) -> None:
        self.lm = NgramModel(name="ngram", corpus="data/ngram-train.txt", preset_dir=presets_dir())
        self.refuse = refuse
        self.asked: list[str] = []

    @property
    def info(self):
        return self.lm.info

    def loglikelihood(self, requests):
        self.asked += [r.continuation for r in requests]
        answers = self.lm.loglikelihood(requests)
        errors = {i: f"server http://127.0.0.1:1/v1: HTTP 500 ({r.continuation})" for i, r in enumerate(requests) if r.continuation in self.refuse}
        if errors:
            raise RequestsFailed([None if i in errors else a for i, a in enumerate(answers)], errors)
        return answers


def test_failed_requests_become_errored_records_of_exactly_their_items() -> None:
    server = FailingServer(refuse={" b2"})
    lm = FailureMemo(server)

    class Item:
        def __init__(self, id: str) -> None:
            self.id = id

    def evaluate(items):
        requests = [LoglikelihoodRequest("The cat", f" {i.id}{k}") for i in items for k in (1, 2)]
        scores = lm.loglikelihood(requests)
        return [{"id": i.id, "ll": scores[2 * n].logprob + scores[2 * n + 1].logprob} for n, i in enumerate(items)]

    records = evaluate_items(evaluate, [Item("a"), Item("b"), Item("c")])
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert records[1] == {"id": "b", "error": "model call failed: server http://127.0.0.1:1/v1: HTTP 500 ( b2)"}
    direct = server.lm.loglikelihood([LoglikelihoodRequest("The cat", " a1"), LoglikelihoodRequest("The cat", " a2")])
    assert records[0]["ll"] == pytest.approx(direct[0].logprob + direct[1].logprob)
    # The failed request was sent once in the chunk, never again when its item was evaluated alone.
    assert server.asked.count(" b2") == 1


def test_check_support_refuses_suites_naming_the_reason() -> None:
    class LogprobLess:
        def __init__(self) -> None:
            self.info = NgramModel(name="served", corpus="data/ngram-train.txt", preset_dir=presets_dir()).info

        def unsupported(self, method: str) -> str | None:
            if method.startswith("loglikelihood"):
                return "server http://127.0.0.1:9/v1 returned log-probs for 0 of 5 prompt tokens"
            return None

    lm = FailureMemo(LogprobLess())
    check_support(lm, [("squad", ("generate",))])  # generation suites run
    with pytest.raises(HarnessError) as e:
        check_support(lm, [("crows_pairs", ("loglikelihood",)), ("squad", ("generate",)), ("perplexity", ("loglikelihood_rolling",))])
    assert str(e.value) == (
        "suite(s) crows_pairs, perplexity cannot run on model served: server http://127.0.0.1:9/v1 returned "
        "log-probs for 0 of 5 prompt tokens; run the other suites (squad) on their own"
    )
