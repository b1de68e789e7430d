"""The regression gate on real n-gram runs and hand-written runs: regressions, noise, fail-closed."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from runfixtures import ToyQA, bits_per_byte, copy_run, edit_summary, rewrite_perplexity, suite_entry, use_toy_kinds, write_run

from harness.gate.checks import ERROR, FAIL, PASS, run_gate
from harness.gate.paired import MetricSpec, compare
from harness.gate.policy import Policy, load_policy
from harness.gate.runs import load_run


def gate(baseline: Path, candidate: Path, policy: Policy | None = None):  # type: ignore[no-untyped-def]
    return run_gate(load_run(baseline), load_run(candidate), policy or Policy())


def check(result, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in result.checks if c.name == name)


def test_identical_runs_pass(ngram_run: Path) -> None:
    result = gate(ngram_run, ngram_run)
    assert result.exit_code == 0
    bpb = check(result, "bits_per_byte")
    assert bpb.status == PASS and bpb.paired.diff == 0.0 and bpb.paired.n == 10
    assert check(result, "coverage").status == PASS


def test_synthetic_regression_is_detected(ngram_run: Path, tmp_path: Path) -> None:
    base = json.loads("[" + ",".join((ngram_run / "perplexity.jsonl").read_text().splitlines()) + "]")
    cand = copy_run(ngram_run, tmp_path / "worse")
    worse = rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * 1.05})
    result = gate(ngram_run, cand)
    bpb = check(result, "bits_per_byte")
    assert result.exit_code == 1 and bpb.status == FAIL and "regressed" in bpb.message
    # 5% more negative log-likelihood on every document: the difference is 5% of the baseline.
    assert bpb.paired.diff == pytest.approx(bits_per_byte(worse) - bits_per_byte(base))
    assert bpb.paired.diff == pytest.approx(0.05 * bits_per_byte(base))
    assert bpb.paired.worsening_ci[0] > 0


def test_paired_bootstrap_matches_reference(ngram_run: Path, tmp_path: Path) -> None:
    """The paired CI equals percentiles of the reference formula on the same resampled items."""
    from harness.resources import load_suite_spec
    from harness.suites.perplexity import PerplexitySuite

    cand = copy_run(ngram_run, tmp_path / "c")
    noisy = rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * (1 + 0.01 * (-1) ** i)})
    base = [json.loads(line) for line in (ngram_run / "perplexity.jsonl").read_text().splitlines()]
    kind = PerplexitySuite(load_suite_spec("perplexity"))
    got = compare(kind, [MetricSpec("bits_per_byte", "lower")], base, noisy, seed=7, replicates=1000)["bits_per_byte"]
    rng = np.random.default_rng(7)
    diffs = []
    for _ in range(1000):
        idx = rng.integers(0, len(base), len(base))
        diffs.append(bits_per_byte([noisy[i] for i in idx]) - bits_per_byte([base[i] for i in idx]))
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    assert got.diff_ci == pytest.approx((lo, hi))


def test_noise_within_the_ci_is_not_flagged(ngram_run: Path, tmp_path: Path) -> None:
    # +-1% per document, alternating: the mean barely moves and the paired CI straddles zero.
    cand = copy_run(ngram_run, tmp_path / "noisy")
    rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * (1 + 0.01 * (-1) ** i)})
    result = gate(ngram_run, cand)
    bpb = check(result, "bits_per_byte")
    assert bpb.status == PASS, bpb.message
    lo, hi = bpb.paired.worsening_ci
    assert lo < 0 < hi
    assert result.exit_code == 0


def test_tolerance_absorbs_a_small_consistent_change(ngram_run: Path, tmp_path: Path) -> None:
    cand = copy_run(ngram_run, tmp_path / "slightly")
    rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * 1.001})
    assert check(gate(ngram_run, cand), "bits_per_byte").status == FAIL  # significant at tolerance 0
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("suites:\n  perplexity:\n    bits_per_byte: {relative_tolerance: 0.005}\n")
    result = gate(ngram_run, cand, load_policy(policy_file))
    assert check(result, "bits_per_byte").status == PASS
    assert check(result, "bits_per_byte").allowed == pytest.approx(0.005 * check(result, "bits_per_byte").paired.baseline)


def test_absolute_bound(ngram_run: Path, tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("suites:\n  perplexity:\n    bits_per_byte: {max: 2.0}\n")
    bpb = check(gate(ngram_run, ngram_run, load_policy(policy_file)), "bits_per_byte")
    assert bpb.status == FAIL and "above the maximum 2" in bpb.message


@pytest.mark.parametrize(
    "change, expect",
    [
        (lambda s: s["suites"]["perplexity"]["metrics"].pop("bits_per_byte"), "missing from the candidate"),
        (
            lambda s: s["suites"]["perplexity"]["metrics"]["bits_per_byte"].update(value=None, ci95=None, reason="no bytes to score"),
            "null in the candidate run (no bytes to score)",
        ),
        (lambda s: s["suites"]["perplexity"].update(protocol="perplexity/rolling-disjoint/v2"), "protocol ids differ"),
        (lambda s: s["suites"]["perplexity"]["data"].update(sha256="0" * 64), "data hashes differ"),
        (lambda s: s["suites"].pop("perplexity"), "missing from the candidate run"),
    ],
    ids=["missing-metric", "null-metric", "protocol", "data-hash", "missing-suite"],
)
def test_fails_closed(ngram_run: Path, tmp_path: Path, change, expect: str) -> None:  # type: ignore[no-untyped-def]
    cand = copy_run(ngram_run, tmp_path / "cand")
    edit_summary(cand, change)
    result = gate(ngram_run, cand)
    bpb = check(result, "bits_per_byte")
    assert result.exit_code == 1
    assert bpb.status == ERROR and expect in bpb.message


def test_lost_items_fail_coverage(ngram_run: Path, tmp_path: Path) -> None:
    cand = copy_run(ngram_run, tmp_path / "cand")
    rewrite_perplexity(cand, lambda i, r: {"id": r["id"], "error": "out of memory"} if i == 3 else r)
    result = gate(ngram_run, cand)
    assert check(result, "coverage").status == FAIL and "doc4" in check(result, "coverage").message
    assert check(result, "bits_per_byte").paired.n == 9


def qa_run(folder: Path, outcomes: list[int], kind: str = "squad") -> Path:
    records = [{"id": f"q{i}", "prediction": "an answer", "em": em, "f1": 0.5 + 0.5 * em} for i, em in enumerate(outcomes)]
    thresholds = {"exact_match": {"direction": "higher", "pass": 0.8, "warn": 0.6}}
    return write_run(folder, "m", {"qa": (suite_entry(kind, ToyQA(None), records, thresholds=thresholds), records)})


def test_mcnemar_flags_a_significant_accuracy_drop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_toy_kinds(monkeypatch)
    base = [1] * 30 + [0] * 10
    cand = [0] * 12 + [1] * 18 + [1] + [0] * 9  # 12 right -> wrong, 1 wrong -> right
    result = gate(qa_run(tmp_path / "b", base), qa_run(tmp_path / "c", cand))
    em = check(result, "exact_match")
    test = em.paired.mcnemar
    assert (test.worse, test.better) == (12, 1)
    # exact two-sided binomial test on the 13 discordant pairs
    expected = 2 * sum(math.comb(13, k) for k in range(2)) / 2**13
    assert test.p_value == pytest.approx(expected)
    assert em.status == FAIL and result.exit_code == 1


def test_mcnemar_does_not_flag_a_few_discordant_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_toy_kinds(monkeypatch)
    base = [1] * 30 + [0] * 10
    cand = [0] * 3 + [1] * 27 + [1] * 2 + [0] * 8  # 3 worse, 2 better
    em = check(gate(qa_run(tmp_path / "b", base), qa_run(tmp_path / "c", cand)), "exact_match")
    assert (em.paired.mcnemar.worse, em.paired.mcnemar.better) == (3, 2)
    assert em.paired.mcnemar.p_value == pytest.approx(1.0)
    assert em.status == PASS


def test_unknown_kind_fails_closed(tmp_path: Path) -> None:
    # A kind this harness does not have: per-item estimates cannot be recomputed.
    result = gate(qa_run(tmp_path / "b", [1, 0, 1], "retired_kind"), qa_run(tmp_path / "c", [1, 0, 1], "retired_kind"))
    em = check(result, "exact_match")
    assert em.status == ERROR and "not part of this harness" in em.message


def test_junit_and_markdown(ngram_run: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    cand = copy_run(ngram_run, tmp_path / "worse")
    rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * 1.05})
    junit, md = tmp_path / "out" / "gate.xml", tmp_path / "out" / "gate.md"
    code, out, err = run_cli("gate", "--baseline", ngram_run, "--candidate", cand, "--junit", junit, "--markdown", md)
    assert code == 1, err
    root = ET.parse(junit).getroot()
    cases = root.findall(".//testcase")
    assert {c.get("name") for c in cases} == {"coverage", "bits_per_byte"}
    failed = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["bits_per_byte"]
    assert root.find("testsuite").get("failures") == "1"
    text = md.read_text()
    assert "Regression gate failed" in text and "| ❌ fail | perplexity | bits_per_byte |" in text
    assert "FAILED" in out


def test_exit_codes(ngram_run: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("gate", "--baseline", ngram_run, "--candidate", ngram_run)[0] == 0
    code, _, err = run_cli("gate", "--baseline", tmp_path / "nope", "--candidate", ngram_run)
    assert code == 2 and "no such run folder" in err
    bad = tmp_path / "policy.yaml"
    bad.write_text("suites:\n  perplexity:\n    bits_per_byte: {tolerence: 0.1}\n")
    code, _, err = run_cli("gate", "--baseline", ngram_run, "--candidate", ngram_run, "--policy", bad)
    assert code == 2 and f"{bad}:3" in err and "tolerence" in err and "Traceback" not in err


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("factor, status", [(1 + 1e-7, PASS), (1 - 1e-7, PASS), (1.01, FAIL)], ids=["noise+", "noise-", "regression"])
def test_project_ci_policy(tmp_path: Path, factor: float, status: str) -> None:
    """The committed CI baseline and policy: float rounding passes, a 1% worse model fails."""
    cand = copy_run(REPO / "ci" / "baseline", tmp_path / "cand")
    rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * factor})
    result = gate(REPO / "ci" / "baseline", cand, load_policy(REPO / "ci" / "gate-policy.yaml"))
    assert check(result, "bits_per_byte").status == status
    assert result.exit_code == (0 if status == PASS else 1)


def test_markdown_cells_are_escaped(ngram_run: Path, tmp_path: Path) -> None:
    from harness.gate.reports import markdown

    cand = copy_run(ngram_run, tmp_path / "cand")
    edit_summary(cand, lambda s: s["suites"]["perplexity"]["metrics"]["bits_per_byte"].update(value=None, reason="a | b <i>x</i>"))
    text = markdown(gate(ngram_run, cand))
    assert "a \\| b &lt;i&gt;x&lt;/i&gt;" in text and "<i>" not in text


def _strip_thresholds(summary: dict) -> None:
    for entry in summary["suites"].values():
        entry["thresholds"] = {}


@pytest.mark.parametrize("how", ["empty-policy", "no-thresholds"])
def test_nothing_gated_fails_closed(ngram_run: Path, tmp_path: Path, run_cli, how: str) -> None:  # type: ignore[no-untyped-def]
    """Every suite skipped is not a pass: a gate that checked no metric exits 1, saying why."""
    base, cand = copy_run(ngram_run, tmp_path / "base"), copy_run(ngram_run, tmp_path / "cand")
    args = ["gate", "--baseline", base, "--candidate", cand, "--junit", tmp_path / "gate.xml"]
    if how == "empty-policy":
        policy = tmp_path / "policy.yaml"
        policy.write_text("confidence: 0.95\nsuites: {}\n")
        args += ["--policy", policy]
        result = gate(base, cand, load_policy(policy))
    else:
        for run in (base, cand):
            edit_summary(run, _strip_thresholds)
        result = gate(base, cand)
    assert result.exit_code == 1
    assert [c.status for c in result.checks] == [ERROR, "skipped"]
    assert result.checks[0].message.startswith("nothing was gated")
    code, out, _ = run_cli(*args)
    assert code == 1 and "nothing was gated" in out and "FAILED" in out
    errors = ET.parse(tmp_path / "gate.xml").getroot().findall(".//testcase/error")
    assert len(errors) == 1 and errors[0].get("message").startswith("nothing was gated")


@pytest.mark.parametrize("flag", ["--junit", "--markdown"])
@pytest.mark.parametrize("where", ["under-a-file", "a-directory"])
def test_unwritable_report_is_a_usage_error(ngram_run: Path, tmp_path: Path, run_cli, flag: str, where: str) -> None:  # type: ignore[no-untyped-def]
    """Exit 1 means "regressed" to CI; a report that cannot be written is exit 2 and one line."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    (tmp_path / "folder").mkdir()
    target = blocker / "gate.out" if where == "under-a-file" else tmp_path / "folder"
    code, _, err = run_cli("gate", "--baseline", ngram_run, "--candidate", ngram_run, flag, target)
    assert code == 2
    assert err.startswith(f"harness: error: {target}: cannot write the ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_policy_can_tighten_a_tolerance_to_zero(ngram_run: Path, tmp_path: Path) -> None:
    """perplexity.yaml allows 0.002 of bits_per_byte; a policy's explicit `tolerance: 0` wins."""
    base = [json.loads(line) for line in (ngram_run / "perplexity.jsonl").read_text().splitlines()]
    factor = 1 + 0.001 / bits_per_byte(base)  # every document worse by 0.001 bits per byte in total
    cand = copy_run(ngram_run, tmp_path / "cand")
    worse = rewrite_perplexity(cand, lambda i, r: {**r, "loglikelihood": r["loglikelihood"] * factor})
    assert bits_per_byte(worse) - bits_per_byte(base) == pytest.approx(0.001)
    lenient = check(gate(ngram_run, cand), "bits_per_byte")
    assert lenient.status == PASS and lenient.allowed == pytest.approx(0.002)
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("suites:\n  perplexity:\n    bits_per_byte: {tolerance: 0}\n")
    strict = check(gate(ngram_run, cand, load_policy(policy_file)), "bits_per_byte")
    assert strict.allowed == 0.0
    assert strict.status == FAIL and "regressed" in strict.message
    assert strict.paired.worsening_ci[0] > 0


def test_merged_takes_every_key_the_policy_wrote() -> None:
    from harness.gate.policy import merged, parse_rule

    suite = parse_rule("s", "m", {"direction": "lower", "pass": 1.0, "tolerance": 0.1, "relative_tolerance": 0.2, "min": 0.5}, "yaml")
    rule = merged(suite, parse_rule("s", "m", {"relative_tolerance": 0, "min": 0}, "policy", need_direction=False))
    assert (rule.tolerance, rule.relative_tolerance, rule.minimum) == (0.0, 0.0, 0.0)  # either tolerance replaces both
    assert (rule.direction, rule.pass_bound, rule.where) == ("lower", 1.0, "policy")
    untouched = merged(suite, parse_rule("s", "m", {"max": 3}, "policy", need_direction=False))
    assert (untouched.tolerance, untouched.relative_tolerance, untouched.maximum) == (0.1, 0.2, 3.0)


class WeightedQA(ToyQA):
    """ToyQA with exact_match vectorised over count weights; f1 is left to point_estimates."""

    def __init__(self, spec) -> None:  # type: ignore[no-untyped-def]
        super().__init__(spec)
        self.weighted_calls = 0

    def weighted_estimates(self, records, weights):  # type: ignore[no-untyped-def]
        self.weighted_calls += 1
        em = np.array([r["em"] for r in records], dtype=float)
        return {"exact_match": weights @ em / weights.sum(axis=1)}


def test_weighted_estimates_give_the_same_paired_bootstrap() -> None:
    """A kind's vectorised weighted_estimates is a faster path to the very same resamples."""
    rng = np.random.default_rng(0)
    base = [{"id": f"q{i}", "em": int(rng.random() < 0.7), "f1": float(rng.random())} for i in range(40)]
    cand = [{**r, "em": int(rng.random() < 0.6), "f1": float(rng.random())} for r in base]
    specs = [MetricSpec("exact_match", "higher", binary=True), MetricSpec("f1", "higher")]
    plain = compare(ToyQA(None), specs, base, cand, seed=3, replicates=1000)
    kind = WeightedQA(None)
    fast = compare(kind, specs, base, cand, seed=3, replicates=1000)
    assert kind.weighted_calls == 2 * 1000 // 100  # both runs, 100 resamples per call
    for name in ("exact_match", "f1"):
        assert fast[name].diff_ci == pytest.approx(plain[name].diff_ci, abs=1e-12)
        assert fast[name].worsening_ci == pytest.approx(plain[name].worsening_ci, abs=1e-12)
    assert fast["exact_match"].mcnemar == plain["exact_match"].mcnemar
