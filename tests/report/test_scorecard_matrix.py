"""The answer first: the concern x model matrix, "Needs attention", classifiers in their own
columns, protocols shown apart, the best value per row, served-model notes and the review."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from realruns import write_review
from runfixtures import IMG_PAYLOAD, SCRIPT_PAYLOAD, edit_summary
from test_scorecard_build import card_for, row, suite_view

from harness.gate.runs import load_run
from harness.report.render import render_html
from harness.report.verdicts import concern_verdicts



def verdicts(card) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    return {cv.concern: {v.subject: v.verdict for v in cv.verdicts} for cv in card.matrix}


def test_matrix_verdicts_by_hand(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs)
    base, a, b = "model-a (base)", "model-a (a)", "model-b"
    clf_a, clf_b = "classifier (in model-a (base))", "classifier (in model-b)"
    assert [c.label for c in card.columns] == [base, a, b, clf_a, clf_b]
    v = verdicts(card)
    # expected max toxicity .386 is a warn for model-a, .546 a fail for model-b (pass <= .3, warn <= .5)
    assert v["harmful-content"] == {base: "warn", a: "warn", b: "fail", clf_a: "pass", clf_b: "warn"}
    # pct_stereotype 4/6 and 6/6 are beyond .5 +- .1: fail; the classifiers' subgroup AUC has no bounds
    assert v["fairness"] == {base: "fail", a: "fail", b: "fail", clf_a: "no-bounds", clf_b: "no-bounds"}
    assert v["truthfulness"] == {base: "not-evaluated", a: "not-evaluated", b: "not-evaluated", clf_a: "not-applicable", clf_b: "not-applicable"}
    assert v["language-modelling"][a] == "fail"  # the n-gram model's 3.2 bits per byte
    harm = card.matrix[0]
    assert harm.of(b).counts == "1 fail · 1 no bounds" and harm.of(clf_b).counts == "1 warn · 1 no value"
    head = harm.of(b).headline
    entry = load_run(runs.b).summary["suites"]["toxicity"]["metrics"]["expected_max_toxicity"]
    assert (head.metric, head.value, head.ci) == ("expected_max_toxicity", entry["value"], tuple(entry["ci95"]))
    assert head.anchor == "suite-toxicity--expected_max_toxicity" and harm.headline_metric == "expected_max_toxicity"
    # the public function the model card uses gives the same verdicts
    public = concern_verdicts([runs.a, runs.b], baseline=runs.baseline)
    assert {cv.concern: {x.subject: x.verdict for x in cv.verdicts} for cv in public} == v


def test_needs_attention(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs)
    groups = {g.id: {f.what: f.who for f in g.flags} for g in card.attention}
    assert groups["fail"]["toxicity · expected_max_toxicity"] == ("model-b 0.546",)
    assert groups["warn"]["toxicity · expected_max_toxicity"] == ("model-a (base) 0.386", "model-a (a) 0.386")
    assert groups["warn"]["filter · roc_auc"] == ("classifier (in model-b) 0.85",)
    # paired: every prompt's max rose by .2 but p5's, so the CI of the worsening is above 0
    assert groups["regression"] == {"toxicity · expected_max_toxicity": ("model-b Δ +0.16",)}
    assert "model-b 0.546 [" in groups["straddles"]["toxicity · expected_max_toxicity"][-1]
    assert groups["builtin"] == {"perplexity": ()}  # the real run on the built-in corpus
    assert set(groups["small"]) == {"toxicity", "filter", "crows_pairs"}  # 5 and 6 items
    html = render_html(card)
    assert html.index('id="matrix"') < html.index('id="attention"') < html.index('id="harmful-content"')
    for anchor in ("suite-toxicity--expected_max_toxicity", "suite-filter--roc_auc"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html


def test_model_free_suite_sits_under_its_classifier(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs)
    harm = suite_view(card, "harmful-content", "filter")
    assert [c.subject for c in harm.columns] == ["classifier", "classifier"]
    assert all(c.delta is None for c in row(harm, "roc_auc").cells)  # a classifier is not compared with a model
    assert [c.label for c in suite_view(card, "harmful-content", "toxicity").columns] == ["model-a (base)", "model-a (a)", "model-b"]
    # a run of model-free suites only has no language-model column at all
    edit_summary(runs.b, lambda s: [s["suites"].pop(k) for k in ("toxicity", "crows_pairs", "perplexity")])
    card = card_for(runs, baseline=False)
    assert [(c.label, c.subject) for c in card.columns] == [("model-a", "model"), ("classifier (in model-a)", "classifier"), ("classifier (in model-b)", "classifier")]


def test_runs_with_different_protocols_are_shown_apart(runs) -> None:  # type: ignore[no-untyped-def]
    protocol = load_run(runs.b).summary["suites"]["crows_pairs"]["protocol"]
    edit_summary(runs.b, lambda s: s["suites"]["crows_pairs"].update(protocol=protocol + " ties=right"))
    card = card_for(runs)
    views = [s for s in next(c for c in card.concerns if c.id == "fairness").suites if s.name == "crows_pairs"]
    assert [[c.label for c in v.columns] for v in views] == [["model-a (base)", "model-a (a)"], ["model-b"]]
    assert [v.variant for v in views] == ["", "ties=right"] and views[1].anchor == "suite-crows_pairs-2"
    assert "never compared" in views[1].apart and "ties=right" in views[1].apart
    assert views[0].apart.startswith("Shown apart")
    b_cell = row(views[1], "pct_stereotype").cells[0]
    assert b_cell.delta is None and not b_cell.best  # nothing to compare it with
    assert row(views[0], "pct_stereotype").cells[1].delta.diff == 0  # model-a vs the baseline: same protocol
    assert "ties=right" in render_html(card)
    # different data, same protocol: apart too
    edit_summary(runs.a, lambda s: s["suites"]["toxicity"]["data"].update(sha256="e1" * 32))
    tox = [s for s in card_for(runs).concerns[0].suites if s.name == "toxicity"]
    assert len(tox) == 2 and "data sha256" in tox[1].apart


def test_best_value_per_row(runs) -> None:  # type: ignore[no-untyped-def]
    card = card_for(runs)
    emt = row(suite_view(card, "harmful-content", "toxicity"), "expected_max_toxicity")  # lower is better
    assert [c.best for c in emt.cells] == [True, True, False]
    pct = row(suite_view(card, "fairness", "crows_pairs"), "pct_stereotype")  # target 0.5: 4/6 beats 6/6
    assert [c.best for c in pct.cells] == [True, True, False]
    auc = row(suite_view(card, "harmful-content", "filter"), "roc_auc")  # higher is better
    assert [c.best for c in auc.cells] == [True, False]
    bpb = row(suite_view(card, "language-modelling", "perplexity"), "bits_per_byte")
    assert not any(c.best for c in bpb.cells)  # all equal: no best
    assert render_html(card).count('title="best in this row"') >= 5


@pytest.mark.parametrize(
    "status, note",
    [("verified", "prompt log-probs verified"), ("trusted", "prompt log-probs not verified (--trust-server-logprobs)")],
)
def test_served_model_log_prob_status(runs, status: str, note: str) -> None:  # type: ignore[no-untyped-def]
    edit_summary(runs.b, lambda s: s["model"].update(details={"prompt_logprobs": {"status": status, "checks": [], "server": "x"}}))
    card = card_for(runs)
    assert [c.note for c in card.columns if c.subject == "model"] == ["", "", note]
    assert note in render_html(card)


def test_review_shown_escaped_and_stale(runs, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    review = write_review(tmp_path / "review.yaml", [runs.baseline, runs.a, runs.b])
    out = tmp_path / "card.html"
    code, _, err = run_cli("scorecard", runs.a, runs.b, "--baseline", runs.baseline, "--review", review, "-o", out)
    assert code == 0, err
    html = out.read_text(encoding="utf-8")
    assert SCRIPT_PAYLOAD not in html and IMG_PAYLOAD not in html
    assert "Eve &lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;" in html
    assert html.index('id="review"') < html.index('id="matrix"')
    assert 'id="stale-review"' not in html and html.count("(reviewed)") == 3
    assert '<span class="badge accept-with-conditions">accept with conditions</span>' in html
    # a run's results change after the review: the page says the review is stale, and which run
    edit_summary(runs.b, lambda s: s["suites"]["toxicity"]["metrics"]["expected_max_toxicity"].update(value=0.1))
    assert run_cli("scorecard", runs.a, runs.b, "--baseline", runs.baseline, "--review", review, "-o", out)[0] == 0
    html = out.read_text(encoding="utf-8")
    assert 'id="stale-review"' in html and "the results changed since they were reviewed (model-b)" in html


@pytest.mark.parametrize(
    "concerns, message",
    [
        ("concerns:\n  honesty: accept\n", r"review\.yaml:4: unknown concern 'honesty'"),
        ("concerns:\n  fairness: maybe\n", r"review\.yaml:4: unknown decision 'maybe'"),
        ("concerns: [oops\n", r"review\.yaml:\d+: not valid YAML"),
    ],
)
def test_bad_review_is_a_one_line_usage_error(runs, run_cli, tmp_path: Path, concerns: str, message: str) -> None:  # type: ignore[no-untyped-def]
    review = write_review(tmp_path / "review.yaml", [runs.a], concerns)
    code, _, err = run_cli("scorecard", runs.a, "--review", review, "-o", tmp_path / "card.html")
    assert code == 2 and err.count("\n") == 1
    assert re.search(message, err), err
    assert not (tmp_path / "card.html").exists()
