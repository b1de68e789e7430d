"""Both QA suites through `harness run`: bad input is one line and exit 2; end to end on ngram."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from harness.api import LoglikelihoodRequest
from harness.models.ngram import NgramModel
from harness.results import load_samples, load_summary
from harness.suites.squad_metric import score_answer

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parents[2]


def _fails(run_cli, *args: str) -> str:  # type: ignore[no-untyped-def]
    code, out, err = run_cli("run", *args, "--model", "ngram", "--quiet")
    assert code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1
    return err


def test_malformed_json(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "dev.json"
    bad.write_text('{"version": "1.1", "data": [\n  {"title": "x",}\n]}\n', encoding="utf-8")
    err = _fails(run_cli, "squad", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert f"{bad}:2: invalid JSON" in err


def test_v11_question_without_answers(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((DATA / "squad-v1.1.json").read_text(encoding="utf-8"))
    data["data"][0]["paragraphs"][0]["qas"][1]["answers"] = []
    bad = tmp_path / "dev-v1.1.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    err = _fails(run_cli, "squad", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert str(bad) in err and "question '5f0a12'" in err and "has no answers" in err


def test_v2_impossible_with_answers(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((DATA / "squad-v2.0.json").read_text(encoding="utf-8"))
    data["data"][0]["paragraphs"][0]["qas"][1]["answers"] = [{"text": "roots", "answer_start": 0}]
    bad = tmp_path / "dev-v2.0.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    err = _fails(run_cli, "squad", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert "question 'm2'" in err and "is_impossible" in err


def test_mc_target_set_without_true_answer(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((DATA / "mc_task.json").read_text(encoding="utf-8"))
    data[1]["mc2_targets"] = {a: 0 for a in data[1]["mc2_targets"]}
    bad = tmp_path / "mc_task.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    err = _fails(run_cli, "truthfulqa_mc", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert f"{bad}: item 2: mc2_targets has no true answer" in err


def test_csv_row_without_correct_answers(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = (DATA / "TruthfulQA-new.csv").read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2].replace('"Yes, the Moon is made of rock.","No, it is made', '" ; ","No, it is made')
    bad = tmp_path / "TruthfulQA.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    err = _fails(run_cli, "truthfulqa_mc", "--data", str(bad), "--out", str(tmp_path / "o"))
    assert f"{bad}:3: question q2 has no `Correct Answers`" in err


def _suite_yaml(tmp_path: Path, template: str) -> Path:
    path = tmp_path / "my-squad.yaml"
    path.write_text(
        f"kind: squad\ndata: {DATA / 'squad-v2.0.json'}\nparams:\n  prompt_template: {json.dumps(template)}\n",
        encoding="utf-8",
    )
    return path


def test_template_refers_to_missing_field(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    yaml_path = _suite_yaml(tmp_path, "Passage: {{ passage }}\nQuestion: {{ question }}\nAnswer:")
    err = _fails(run_cli, str(yaml_path), "--out", str(tmp_path / "o"))
    assert f"{yaml_path}: params.prompt_template: 'passage' is undefined for item 'm1'" in err
    assert "context" in err  # lists the fields the template may use


def test_template_syntax_error_and_unknown_param(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    yaml_path = _suite_yaml(tmp_path, "{{ question }\nAnswer:")
    assert f"{yaml_path}: params.prompt_template line 1" in _fails(run_cli, str(yaml_path), "--out", str(tmp_path / "o"))
    yaml_path.write_text(yaml_path.read_text(encoding="utf-8").replace("prompt_template: \"{{ question }\\nAnswer:\"",
                                                                        "prompt_template: Q\n  max_new_token: 3"))
    assert "params.max_new_token (did you mean 'max_new_tokens'?)" in _fails(
        run_cli, str(yaml_path), "--out", str(tmp_path / "o"))


def test_squad_end_to_end_on_ngram(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    code, _, err = run_cli("run", "squad", "--model", "ngram", "--limit", "6", "--out", str(out), "--quiet")
    assert code == 0, err
    entry = load_summary(out)["suites"]["squad"]
    samples = load_samples(out, "squad")
    assert len(samples) == 6 and entry["n_samples"] == 6 and entry["n_errors"] == 0
    assert entry["protocol"].startswith("squad/extractive-generation/v1 rules=v2.0 ")
    for s in samples:  # each record rescored independently from its own prediction and references
        assert {"id", "prompt", "prediction", "references", "generation"} <= set(s)
        score = score_answer(s["prediction"], s["references"], "v2.0")
        assert (s["exact_match"], s["f1"]) == (score.exact_match, score.f1)
    assert entry["metrics"]["f1"]["value"] == pytest.approx(sum(s["f1"] for s in samples) / 6)
    assert entry["metrics"]["exact_match"]["binary"] is True
    has = [s for s in samples if s["references"]]
    assert entry["breakdowns"]["answerability"]["HasAns"]["f1"]["n"] == len(has) == 5


def test_squad_v11_data_end_to_end(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    code, _, err = run_cli("run", "squad", "--model", "ngram", "--data", str(DATA / "squad-v1.1.json"), "--out", str(out), "--quiet")
    assert code == 0, err
    entry = load_summary(out)["suites"]["squad"]
    assert "rules=v1.1" in entry["protocol"] and entry["breakdowns"] == {}
    assert entry["data"]["source"] == str(DATA / "squad-v1.1.json")


def test_truthfulqa_end_to_end_on_ngram(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    code, _, err = run_cli("run", "truthfulqa_mc", "--model", "ngram", "--limit", "4", "--out", str(out), "--quiet")
    assert code == 0, err
    entry = load_summary(out)["suites"]["truthfulqa_mc"]
    samples = load_samples(out, "truthfulqa_mc")
    assert len(samples) == 4 and entry["n_errors"] == 0
    # The per-choice log-likelihoods are the model's own, and MC1/MC2 follow from them by formula.
    lm = NgramModel()
    s = samples[0]
    direct = lm.loglikelihood([LoglikelihoodRequest(s["prompt"], " " + c["answer"]) for c in s["mc2_choices"]])
    assert [c["loglikelihood"] for c in s["mc2_choices"]] == pytest.approx([d.logprob for d in direct])
    for s in samples:
        true1 = [c["loglikelihood"] for c in s["mc1_choices"] if c["true"]]
        false1 = [c["loglikelihood"] for c in s["mc1_choices"] if not c["true"]]
        assert s["mc1"] == float(true1[0] > max(false1))
        p_true = sum(math.exp(c["loglikelihood"]) for c in s["mc2_choices"] if c["true"])
        p_all = sum(math.exp(c["loglikelihood"]) for c in s["mc2_choices"])
        assert s["mc2"] == pytest.approx(p_true / p_all)
    assert entry["metrics"]["mc2"]["value"] == pytest.approx(sum(s["mc2"] for s in samples) / 4)
    assert entry["metrics"]["mc1"]["binary"] is True


def test_truthfulqa_csv_end_to_end(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "run"
    csv_path = REPO / "suites" / "data" / "qa" / "TruthfulQA.csv"
    code, _, err = run_cli("run", "truthfulqa_mc", "--model", "ngram", "--data", str(csv_path), "--limit", "3", "--out", str(out), "--quiet")
    assert code == 0, err
    entry = load_summary(out)["suites"]["truthfulqa_mc"]
    assert "layout=csv" in entry["protocol"]
    assert set(entry["breakdowns"]) == {"category", "type"}
