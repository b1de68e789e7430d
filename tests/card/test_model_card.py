"""`harness card`: a Hugging Face model card of a real run, checked with huggingface_hub's parser."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from harness.card.markdown import inline
from harness.review import run_digest, run_labels

from .conftest import edit_summary, summary_of

ROOT = Path(__file__).resolve().parents[2]


def write_card(run_cli, run: Path, out: Path, *extra: object) -> str:  # type: ignore[no-untyped-def]
    code, stdout, err = run_cli("card", run, "-o", out, *extra)
    assert code == 0, err
    assert f"model card: {out}" in stdout
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def card_text(ngram_run: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    from harness.cli import main

    out = tmp_path_factory.mktemp("card") / "MODEL_CARD.md"
    assert main(["card", str(ngram_run), "-o", str(out)]) == 0
    return out.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start : nxt if nxt >= 0 else len(text)]


def test_front_matter_lists_every_metric_of_the_model_and_parses_with_huggingface_hub(card_text: str, ngram_run: Path) -> None:
    card = ModelCard(card_text)
    index = card.data.to_dict()["model-index"]
    name, results = model_index_to_eval_results(index)
    assert name == "ngram" == card.data.model_name
    summary = summary_of(ngram_run)
    expected = {
        (suite, metric): m["value"]
        for suite, entry in summary["suites"].items()
        if entry["kind"] != "toxicity_filter"  # a classifier's numbers, not the model's
        for metric, m in entry["metrics"].items()
        if m["value"] is not None
    }
    got = {(r.task_name.split(": ", 1)[1], r.metric_type): r.metric_value for r in results}
    assert len(results) == len(got) == len(expected) >= 40
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-9), key
    for r in results:
        assert r.dataset_name == f"{r.task_name.split(': ', 1)[1]}: built-in mini-probes"
        assert r.dataset_split == "first 8 items" and r.verified is False
        assert r.dataset_type.startswith("builtin:")
    by_suite = {r.task_name.split(": ", 1)[1]: r for r in results}
    assert by_suite["squad"].task_type == "question-answering"
    assert by_suite["bbq"].task_type == "multiple-choice"
    assert by_suite["perplexity"].task_type == "text-generation"
    assert by_suite["perplexity"].task_name == "Language modelling: perplexity"
    # The CI travels in the metric's display name.
    bpb = next(r for r in results if r.metric_type == "bits_per_byte")
    lo, hi = summary["suites"]["perplexity"]["metrics"]["bits_per_byte"]["ci95"]
    assert bpb.metric_name == f"bits_per_byte (95% CI {lo:.4g} to {hi:.4g}, n=8)"


def test_null_metrics_are_in_the_body_with_their_reason(card_text: str, ngram_run: Path) -> None:
    nulls = [
        (suite, metric, m["reason"])
        for suite, entry in summary_of(ngram_run)["suites"].items()
        for metric, m in entry["metrics"].items()
        if m["value"] is None
    ]
    assert nulls, "the fixture run should have a metric without a value (e.g. a counterfactual axis)"
    for suite, metric, reason in nulls:
        assert f"| {inline(metric)} | no value: {inline(reason)} |" in card_text, (suite, metric)


def test_the_filter_is_listed_as_a_tool_not_as_the_model(card_text: str) -> None:
    tools = section(card_text, "## Evaluations of the tools used")
    assert "| toxicity\\_filter | roc\\_auc |" in tools
    front = card_text.split("\n---\n", 1)[0]
    assert "toxicity_filter" not in front
    assert "toxicity\\_filter |" not in section(card_text, "## Evaluation results")


def test_concern_verdicts_are_the_scorecards(card_text: str, ngram_run: Path) -> None:
    from harness.report.verdicts import concern_verdicts

    table = section(card_text, "## Evaluation results").split("\n### ", 1)[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| ([A-Z][^|]+?) \| ([a-z ]+) \|", table, re.M)}
    words = {"no-bounds": "no bounds", "not-evaluated": "not evaluated"}
    for concern in concern_verdicts([ngram_run]):
        model = next(v for v in concern.verdicts if v.subject_kind == "model")
        assert rows[concern.title] == words.get(model.verdict, model.verdict), concern.title
        assert f"### {concern.title}: {rows[concern.title]}" in card_text
    assert len(rows) == 5


def test_limitations_are_generated_from_the_run(card_text: str, ngram_run: Path) -> None:
    limits = section(card_text, "## Bias, risks and limitations")
    assert "9 of 9 suites" in limits and "built-in mini-probes" in limits
    assert "Fewer than 100 items" in limits and "first 8 items of each data set" in limits
    # Every concern had a suite but Privacy, whose suites the run left out.
    assert limits.count("not measured in this run") == 1 and "Privacy: not measured in this run" in limits
    nulls = [
        f"- {inline(f'{suite}.{metric}')}: no value ({inline(m['reason'])})."
        for suite, entry in summary_of(ngram_run)["suites"].items()
        if entry["kind"] != "toxicity_filter"
        for metric, m in entry["metrics"].items()
        if m["value"] is None
    ]
    assert [line for line in limits.splitlines() if ": no value (" in line] == nulls
    assert "No reviewer has signed off on these results." in limits
    assert "prompt injection" in limits and "memorisation" not in limits  # the privacy suites measure it


def test_reproducibility_block(card_text: str, ngram_run: Path) -> None:
    block = re.search(r"## Reproducibility\n.*?```yaml\n(.*?)\n```", card_text, re.S)
    assert block
    repro = yaml.safe_load(block.group(1))
    summary = summary_of(ngram_run)
    assert repro["run_sha256"] == run_digest(ngram_run)
    assert (repro["harness_version"], repro["seed"], repro["limit"]) == (summary["harness_version"], 1234, 8)
    assert repro["model"]["fingerprint"] == summary["model"]["fingerprint"]
    assert set(repro["suites"]) == set(summary["suites"])
    for suite, entry in summary["suites"].items():
        assert repro["suites"][suite]["protocol"] == entry["protocol"]
        assert repro["suites"][suite]["data_sha256"] == entry["data"]["sha256"]


def test_the_review_goes_into_the_card_and_a_changed_run_makes_it_stale(run_copy: Path, review_file: Path, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("review", "pin", review_file, run_copy)[0] == 0
    out = tmp_path / "MODEL_CARD.md"
    code, stdout, _ = run_cli("card", run_copy, "--review", review_file, "-o", out)
    assert code == 0 and "review: the review covers these results (1 run unchanged)" in stdout
    text = out.read_text(encoding="utf-8")
    signoff = section(text, "## Reviewer's sign-off")
    assert "**Overall: accept-with-conditions**, by Ada Lovelace on 2026-12-02. internal demo use only" in signoff
    assert "| Fairness and bias | accept-with-conditions | English only; re-run BBQ on the published data before release |" in signoff
    conditions = section(text, "### Reviewer's conditions")
    assert "- Fairness and bias: accept-with-conditions: English only; re-run BBQ on the published data before release" in conditions
    assert "- Truthfulness: reject" in conditions and "Harmful content" not in conditions  # accepted: no condition
    assert re.search(r"^\| Truthfulness \| [a-z ]+ \| [^|]+ \| reject \|$", text, re.M)

    edit_summary(run_copy, lambda s: s["suites"]["perplexity"]["metrics"]["bits_per_byte"].update(value=3.0))
    code, stdout, _ = run_cli("card", run_copy, "--review", review_file, "-o", out)
    assert code == 0 and "review: the review is stale: ngram changed or was not reviewed" in stdout
    assert "The review is stale: ngram changed or was not reviewed." in out.read_text(encoding="utf-8")


def test_a_folder_of_several_models_is_a_one_line_error(ngram_run: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    for model in ("a", "b"):
        shutil.copytree(ngram_run, tmp_path / "out" / model, ignore=shutil.ignore_patterns(".journal"))
    code, _, err = run_cli("card", tmp_path / "out", "-o", tmp_path / "card.md")
    assert code == 2 and err.count("\n") == 1
    assert "holds the runs of 2 models (a, b); a model card is about one model" in err
    assert write_card(run_cli, tmp_path / "out" / "b", tmp_path / "card.md").startswith("---\n")


def test_a_model_free_run_is_a_card_about_the_classifier(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    run = tmp_path / "filter"
    code, _, err = run_cli("run", "toxicity_filter", "--out", run, "--no-cache", "--quiet")
    assert code == 0, err
    text = write_card(run_cli, run, tmp_path / "card.md")
    card = ModelCard(text)
    assert card.data.model_name == "profanity-check"
    metrics = {r.metric_type for r in card.data.eval_results}
    assert {"roc_auc", "precision", "recall"} <= metrics
    assert all(r.task_type == "text-classification" for r in card.data.eval_results)
    assert "## Classifier" in text and "| language model | none involved |" in text
    assert "## Evaluations of the tools used" not in text
    assert run_labels([run]) == ["profanity-check"]  # how a review file names this run


def test_harness_card_does_not_import_torch(ngram_run: Path, tmp_path: Path) -> None:
    code = (
        "import sys\nfrom harness.cli import main\n"
        f"assert main(['card', {str(ngram_run)!r}, '-o', {str(tmp_path / 'c.md')!r}]) == 0\n"
        "heavy = [m for m in ('torch', 'transformers', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "c.md").read_text(encoding="utf-8").startswith("---\ntags:")
