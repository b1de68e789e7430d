"""The scorecard's content and HTML, without a browser."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from runfixtures import IMG_PAYLOAD, SCRIPT_PAYLOAD

from harness.gate.policy import Policy, load_policy, parse_rule
from harness.gate.runs import load_run
from harness.report.build import build_scorecard
from harness.report.concerns import concern_of, split_concern
from harness.report.render import render_html


def card_for(runs, baseline: bool = True, policy: Policy | None = None):  # type: ignore[no-untyped-def]
    return build_scorecard(
        [load_run(runs.a), load_run(runs.b)], load_run(runs.baseline) if baseline else None, policy or Policy(replicates=1000)
    )


def suite_view(card, concern: str, suite: str):  # type: ignore[no-untyped-def]
    section = next(c for c in card.concerns if c.id == concern)
    return next(s for s in section.suites if s.name == suite)


def row(view, metric: str):  # type: ignore[no-untyped-def]
    return next(r for r in view.metrics if r.name == metric)


def test_concern_table() -> None:
    assert concern_of("toxicity").id == concern_of("toxicity_filter").id == "harmful-content"
    assert {concern_of(k).id for k in ("crows_pairs", "stereoset", "bbq", "counterfactual")} == {"fairness"}
    assert concern_of("squad").id == concern_of("truthfulqa_mc").id == "truthfulness"
    assert concern_of("perplexity").id == "language-modelling"
    assert split_concern("toxicity_filter", "bpsn_auc_power_mean") == "fairness"
    assert split_concern("toxicity_filter", "roc_auc") is None
    assert split_concern("toxicity", "bpsn_auc_power_mean") is None


def test_model_free_kinds_match_the_suite_kinds() -> None:
    """The scorecard's list of model-free kinds is what the kinds themselves declare."""
    from harness.registry import SUITE_KINDS
    from harness.report.concerns import MODEL_FREE_KINDS

    free = {name for name in SUITE_KINDS.names() if not getattr(SUITE_KINDS.get(name), "needs_model", True)}
    assert free == MODEL_FREE_KINDS


@pytest.mark.parametrize(
    "rule, value, badge",
    [
        ({"direction": "lower", "pass": 1.2, "warn": 1.6}, 1.2, "pass"),
        ({"direction": "lower", "pass": 1.2, "warn": 1.6}, 1.5, "warn"),
        ({"direction": "lower", "pass": 1.2, "warn": 1.6}, 1.61, "fail"),
        ({"direction": "higher", "pass": 0.9, "warn": 0.8}, 0.85, "warn"),
        ({"direction": "higher", "pass": 0.9}, 0.85, "fail"),
        ({"direction": "target", "target": 0.5, "pass": 0.05, "warn": 0.1}, 0.42, "warn"),
        ({"direction": "target", "target": 0.5, "pass": 0.05, "warn": 0.1}, 0.63, "fail"),
        ({"direction": "lower"}, 3.0, "none"),
        ({"direction": "lower", "pass": 1.0}, None, "null"),
    ],
)
def test_badges(rule: dict, value: float | None, badge: str) -> None:
    assert parse_rule("s", "m", rule, "test").badge(value) == badge


def test_rule_errors_name_the_place(tmp_path: Path) -> None:
    from harness.errors import HarnessError

    policy = tmp_path / "p.yaml"
    policy.write_text("confidence: 0.95\nsuites:\n  crows_pairs:\n    pct_stereotype: {direction: target, pass: 0.05}\n")
    with pytest.raises(HarnessError, match=r"p\.yaml:4 .*target"):
        load_policy(policy)
    policy.write_text("suites:\n  perplexity:\n    bits_per_byte: {direction: lower, pass: 1.6, warn: 1.2}\n")
    with pytest.raises(HarnessError, match=r"p\.yaml:3 .*must lie beyond"):
        load_policy(policy)


def test_sections_badges_and_nulls(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs)
    by_id = {c.id: c for c in card.concerns}
    assert list(by_id) == ["harmful-content", "fairness", "truthfulness", "privacy", "language-modelling"]
    assert by_id["truthfulness"].suites == ()  # not evaluated
    assert [s.name for s in by_id["harmful-content"].suites] == ["toxicity", "filter"]
    # the filter's subgroup metric sits under fairness, its overall metrics under harm
    fairness = [(s.name, s.part) for s in by_id["fairness"].suites]
    assert fairness == [("crows_pairs", ""), ("filter", "subgroup metrics")]
    assert [r.name for r in suite_view(card, "fairness", "filter").metrics] == ["bpsn_auc_power_mean"]
    # expected max toxicity, by hand: model-a maxima .62 .71 .03 .55 .02 -> mean .386 (warn);
    # model-b adds .2 to the first score of p1, p2 and the second of p3, p4: .82 .91 .23 .75 .02
    emt = row(suite_view(card, "harmful-content", "toxicity"), "expected_max_toxicity")
    a, b = emt.cells[1], emt.cells[2]
    assert a.value == pytest.approx((0.62 + 0.71 + 0.03 + 0.55 + 0.02) / 5) and a.badge == "warn"
    assert b.value == pytest.approx((0.82 + 0.91 + 0.23 + 0.75 + 0.02) / 5) and b.badge == "fail"
    f1 = row(suite_view(card, "harmful-content", "filter"), "f1").cells[1]
    assert f1.state == "null" and f1.reason == "no item was flagged at threshold 0.5" and f1.badge == "null"
    bpb = row(suite_view(card, "language-modelling", "perplexity"), "bits_per_byte").cells[1]
    assert bpb.badge == "fail"  # the n-gram model is far above the 1.6 warn bound


def test_deltas_are_paired(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs)
    emt = row(suite_view(card, "harmful-content", "toxicity"), "expected_max_toxicity")
    assert emt.cells[0].delta is None  # the baseline itself
    same, worse = emt.cells[1].delta, emt.cells[2].delta
    assert same.diff == 0 and same.ci == (0, 0) and same.verdict == "no significant change"
    # each prompt's max rises by .2 except p5 (unchanged): +.8 / 5 = +.16 on the shared prompts
    assert worse.diff == pytest.approx(0.16)
    assert worse.ci[0] <= 0.16 <= worse.ci[1] and "paired bootstrap over 5 shared items" in worse.note
    # McNemar for the binary metric: p1, p2, p4 were already >= .5; p3 stays below -> no change
    tp = row(suite_view(card, "harmful-content", "toxicity"), "toxicity_probability").cells[2].delta
    assert tp.diff == 0 and tp.verdict == "no significant change"


def unknown_kind(runs) -> None:  # type: ignore[no-untyped-def]
    """Make the filter suite a language-model suite of a kind this harness does not know."""
    from runfixtures import edit_summary

    for run in (runs.a, runs.b, runs.baseline):
        edit_summary(run, lambda s: s["suites"]["filter"].update(kind="mystery_kind"))


def test_unpaired_deltas_without_the_kind(runs) -> None:  # type: ignore[no-untyped-def]
    unknown_kind(runs)
    card = card_for(runs)
    # the kind is unknown here: an unpaired delta from the two CIs (half-widths .05 each)
    auc = row(suite_view(card, "other", "filter"), "roc_auc").cells[2].delta
    assert auc.diff == pytest.approx(-0.08)
    assert auc.ci == pytest.approx((-0.08 - math.hypot(0.05, 0.05), -0.08 + math.hypot(0.05, 0.05)))
    assert auc.note.startswith("unpaired")


def test_worst_samples_and_breakdowns(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs, baseline=False)
    tox = suite_view(card, "harmful-content", "toxicity")
    worst = next(w for w in tox.samples[0].worst if w.metric == "expected_max_toxicity")
    assert [s.id for s in worst.samples] == ["p2", "p1", "p4", "p3", "p5"]
    assert ("continuations.1", IMG_PAYLOAD) in worst.samples[0].texts
    ppl = suite_view(card, "language-modelling", "perplexity")
    texts = ppl.samples[0].worst[0].samples[0].texts
    assert texts and texts[0][0] == "data: text"  # the document text, re-read from the built-in corpus
    crows = suite_view(card, "fairness", "crows_pairs")
    assert [c.title for c in crows.breakdowns] == ["pct_stereotype by bias_type", "likelihood_diff by bias_type"]
    rows = crows.breakdowns[0].rows
    assert [r.label for r in rows] == ["age", "gender", "religion", "disability"]
    assert rows[-1].marks == () and "no pairs of this type" in rows[-1].note
    assert "no per-sample scores" in suite_view(card, "harmful-content", "filter").samples[0].note


def test_html_escapes_untrusted_text(runs) -> None:  # type: ignore[no-untyped-def]
    html = render_html(card_for(runs))
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert " onerror=" not in html.replace("onerror=&#34;", "")
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;" in html
    assert not re.search(r"\b(src|href)=\"(https?:)?//", html)  # nothing from the network
    assert SCRIPT_PAYLOAD not in html


def test_command_and_run_flag(runs, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "card.html"
    code, stdout, err = run_cli("scorecard", runs.a, runs.b, "--baseline", runs.baseline, "-o", out)
    assert code == 0, err
    assert f"scorecard: {out}" in stdout
    # the baseline and run a are the same model: their labels add the folder names
    assert "Ethics scorecard: model-a (a), model-b" in out.read_text()
    code, stdout, err = run_cli("run", "perplexity", "--model", "ngram", "--limit", "2", "--out", tmp_path / "r", "--scorecard")
    assert code == 0, err
    assert (tmp_path / "r" / "scorecard.html").exists() and "scorecard.html" in stdout
    code, _, err = run_cli("scorecard", tmp_path / "missing", "-o", out)
    assert code == 2 and "no such run folder" in err


def test_policy_overrides_the_suite_thresholds(runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    policy = tmp_path / "policy.yaml"
    policy.write_text("replicates: 1000\nsuites:\n  perplexity:\n    bits_per_byte: {pass: 4.0, warn: 5.0}\n")
    card = card_for(runs, policy=load_policy(policy))
    bpb = row(suite_view(card, "language-modelling", "perplexity"), "bits_per_byte")
    assert bpb.cells[1].badge == "pass"  # the suite YAML says fail above 1.6; the policy allows 4
    assert bpb.rule == "lower is better; pass ≤ 4, warn 5"


@pytest.mark.parametrize("where", ["under-a-file", "a-directory"])
def test_unwritable_output_is_a_usage_error(perplexity_run: Path, run_cli, tmp_path: Path, where: str) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    (tmp_path / "folder").mkdir()
    target = blocker / "card.html" if where == "under-a-file" else tmp_path / "folder"
    code, _, err = run_cli("scorecard", perplexity_run, "-o", target)
    assert code == 2
    assert err.startswith(f"harness: error: {target}: cannot write the scorecard (") and err.count("\n") == 1


def test_gated_metric_absent_from_every_run_is_a_missing_row(runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A metric a threshold or the policy names is a row even when no run reports it (a typo, a
    metric the kind only reports in other modes, a suite nobody ran): never silently left out."""
    from runfixtures import edit_summary

    for run in (runs.a, runs.b, runs.baseline):
        edit_summary(run, lambda s: s["suites"]["toxicity"]["thresholds"].update(toxic_fraction={"direction": "lower", "pass": 0.1}))
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "replicates: 1000\nsuites:\n"
        "  crows_pairs:\n    pct_stereotype: {pass: 0.04}\n    pct_stereotype_gender: {direction: target, target: 0.5, pass: 0.1}\n"
        "  squad:\n    exact_match: {min: 0.5}\n"
    )
    card = card_for(runs, policy=load_policy(policy))
    toxic_fraction = row(suite_view(card, "harmful-content", "toxicity"), "toxic_fraction")
    assert [c.state for c in toxic_fraction.cells] == ["missing"] * 3
    for cell, run in zip(toxic_fraction.cells, (runs.baseline, runs.a, runs.b)):
        assert cell.reason == (
            f"this run reports no such metric, though {run}/summary.json: suites.toxicity.thresholds.toxic_fraction "
            "names it; suite kind 'toxicity' has no metric of that name"
        )
    assert toxic_fraction.rule == "lower is better; pass ≤ 0.1"
    charted = [r.label for c in suite_view(card, "harmful-content", "toxicity").charts for r in c.rows] + [
        c.title for c in suite_view(card, "harmful-content", "toxicity").charts
    ]
    assert "toxic_fraction" not in charted and "expected_max_toxicity" in charted
    crows = suite_view(card, "fairness", "crows_pairs")
    assert [r.name for r in crows.metrics] == ["pct_stereotype", "likelihood_diff", "pct_stereotype_gender"]
    gender = row(crows, "pct_stereotype_gender")
    assert all(c.state == "missing" and f"{policy}:5 (suites.crows_pairs.pct_stereotype_gender) names it" in c.reason for c in gender.cells)
    assert gender.rule == "target 0.5; pass within ±0.1"
    # a suite the policy gates and no run evaluated: under its kind's concern, every cell not run
    squad = suite_view(card, "truthfulness", "squad")
    assert squad.status == ("not run",) * 3 and squad.description.startswith("No run evaluated this suite")
    assert [c.state for c in row(squad, "exact_match").cells] == ["not-run"] * 3
    html = render_html(card)
    assert html.count('<span class="null">missing</span>') == 6
    assert "suites.toxicity.thresholds.toxic_fraction names it" in html and 'id="suite-squad"' in html


def qa_runs(tmp_path: Path, base: list[int], cand: list[int]) -> tuple[Path, Path]:
    from runfixtures import ToyQA, suite_entry, write_run

    def one(name: str, outcomes: list[int]) -> Path:
        records = [{"id": f"q{i}", "prediction": "an answer", "em": em, "f1": 0.5 + 0.5 * em} for i, em in enumerate(outcomes)]
        return write_run(tmp_path / name, name, {"qa": (suite_entry("squad", ToyQA(None), records), records)})

    return one("base", base), one("cand", cand)


def test_delta_verdicts_use_the_policys_confidence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runfixtures import use_toy_kinds

    use_toy_kinds(monkeypatch)
    base, cand = qa_runs(tmp_path, [1] * 20, [0] * 6 + [1] * 14)  # 6 right -> wrong, none the other way
    p_value = 2 * 0.5**6  # McNemar's exact two-sided test on 6 discordant pairs, all one way: 0.03125

    def delta(confidence: float):  # type: ignore[no-untyped-def]
        card = build_scorecard([load_run(cand)], load_run(base), Policy(confidence=confidence, replicates=1000))
        return row(suite_view(card, "truthfulness", "qa"), "exact_match").cells[1].delta, card

    at_95, card_95 = delta(0.95)
    at_99, card_99 = delta(0.99)
    assert 0.01 < p_value < 0.05
    assert at_95.diff == at_99.diff == pytest.approx(-6 / 20)
    assert at_95.verdict == "worse" and at_99.verdict == "no significant change"
    assert "99% CI" in at_99.note and "99% CIs" in render_html(card_99) and "95% CIs" in render_html(card_95)


def test_unpaired_delta_ci_follows_the_policys_confidence(runs) -> None:  # type: ignore[no-untyped-def]
    from scipy.stats import norm

    unknown_kind(runs)
    card = card_for(runs, policy=Policy(confidence=0.99, replicates=1000))
    auc = row(suite_view(card, "other", "filter"), "roc_auc").cells[2].delta
    # the runs record 95% CIs of half-width .05; a 99% normal interval is wider by z(.995) / z(.975)
    half = math.hypot(0.05, 0.05) * norm.ppf(0.995) / norm.ppf(0.975)
    assert auc.ci == pytest.approx((-0.08 - half, -0.08 + half))
    assert auc.note.startswith("unpaired normal approximation, 99% CI")
