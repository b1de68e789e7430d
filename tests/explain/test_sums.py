"""Token differences add up to the scores the suites recorded, for every explainable suite kind;
the explained items are the ones with the largest bias signal; two runs write the same bytes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.explain.settings import EXPLAINABLE_KINDS
from harness.explain.targets import RULES
from tests.explain.conftest import K, SUITES, read_lines, run_explained


def journal(run: Path, suite: str) -> dict[str, dict]:
    return {r["id"]: r for r in read_lines(run / f"{suite}.jsonl")}


def recorded(record: dict, name: str) -> float:
    """The suite's own log-likelihood of an option, read from its record as the suite wrote it."""
    if "loglikelihoods" in record:
        return record["loglikelihoods"][name]
    return next(c["loglikelihood"] for c in record["mc1_choices"] + record["mc2_choices"] if c["answer"] == name)


def expected_signal(suite: str, r: dict) -> float | None:
    """Each kind's bias signal, written out again from the record (not through harness.explain)."""
    ll = r.get("loglikelihoods")
    if suite == "crows_pairs":
        return ll["sent_more"] - ll["sent_less"]
    if suite == "stereoset":
        return r["scores"]["stereotype"] - r["scores"]["anti-stereotype"]
    if suite == "counterfactual":
        return max(ll.values()) - min(ll.values())
    if suite == "bbq":
        if r["biased"] is None:
            return None
        other = ({"ans0", "ans1", "ans2"} - {r["biased"], r["unknown"]}).pop()
        return ll[r["biased"]] - ll[other]
    true = next(c["loglikelihood"] for c in r["mc1_choices"] if c["true"])
    return max(c["loglikelihood"] for c in r["mc1_choices"] if not c["true"]) - true


def test_every_pair_kind_is_covered() -> None:
    assert set(RULES) == set(EXPLAINABLE_KINDS) == set(SUITES)


@pytest.mark.parametrize("suite", SUITES)
def test_differences_sum_to_the_recorded_scores(explained_run: Path, suite: str) -> None:
    records = journal(explained_run, suite)
    lines = read_lines(explained_run / f"{suite}.explain.jsonl")
    assert len(lines) == K
    for line in lines:
        a, b = line["options"]
        record = records[line["id"]]
        for option in (a, b):
            assert math.fsum(option["logprobs"]) == pytest.approx(recorded(record, option["name"]), abs=1e-4)
            assert option["recorded_loglikelihood"] == recorded(record, option["name"])
            assert len(option["logprobs"]) == option["n_targets"]
            assert len(option["integrated_gradients"]) == len(option["grad_x_input"]) == len(option["tokens"]) - 1
        # the aligned segments' differences add up to LL(a) - LL(b) as recorded
        total = math.fsum(s["delta"] for s in line["segments"])
        assert total == pytest.approx(recorded(record, a["name"]) - recorded(record, b["name"]), abs=1e-4)
        # each shared scored token's difference is its two log-probs apart
        lp_a = [None] * (len(a["tokens"]) - a["n_targets"]) + a["logprobs"]
        lp_b = [None] * (len(b["tokens"]) - b["n_targets"]) + b["logprobs"]
        for s in line["segments"]:
            assert (a["tokens"][s["a"][0]:s["a"][1]] == b["tokens"][s["b"][0]:s["b"][1]]) == s["same"]
            if s["same"]:
                for i, j in zip(range(*s["a"]), range(*s["b"])):
                    if lp_a[i] is not None and lp_b[j] is not None:
                        assert a["token_differences"][i] == pytest.approx(lp_a[i] - lp_b[j], abs=1e-12)


@pytest.mark.parametrize("suite", SUITES)
def test_the_items_with_the_largest_signal_are_explained(explained_run: Path, suite: str) -> None:
    records = list(journal(explained_run, suite).values())
    signals = [(expected_signal(suite, r), i, r["id"]) for i, r in enumerate(records)]
    top = sorted((s for s in signals if s[0] is not None), key=lambda s: (-s[0], s[1]))[:K]
    lines = read_lines(explained_run / f"{suite}.explain.jsonl")
    assert [line["id"] for line in lines] == [s[2] for s in top]
    assert [line["signal"]["value"] for line in lines] == pytest.approx([s[0] for s in top], abs=1e-9)


def test_two_runs_write_identical_explanations(explained_run: Path, tiny_llama: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    assert run_explained(tiny_llama, again, "--seed", "1234") == 0
    for suite in SUITES:
        name = f"{suite}.explain.jsonl"
        assert (again / name).read_bytes() == (explained_run / name).read_bytes(), name
