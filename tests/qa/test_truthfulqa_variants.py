"""TruthfulQA MC1 tie rule (docs/protocols.md): `ties: wrong` (the reference code) against
`ties: right` (lm-evaluation-harness's argmax with the true answer first, checked by running its
own result code), the protocol ids, and the switch from a copy of the suite YAML."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from harness.api import ModelInfo
from harness.errors import HarnessError
from harness.resources import SuiteSpec, load_suite_spec
from harness.suites.truthfulqa import TruthfulQASuite, mc1_score
from tests.qa.fakes import FakeLM

# q1: the true answer ties the best false one; q2: it wins; q3: it loses; q4: two false answers tie
# above it. MC1 lists the true answer first, as TruthfulQA's mc_task.json and the HF dataset do.
QUESTIONS = [
    ("Tie?", {"True one.": -2.0}, {"False one.": -2.0, "False two.": -3.0}),
    ("Win?", {"True three.": -1.0}, {"False three.": -1.5}),
    ("Lose?", {"True four.": -4.0}, {"False four.": -3.0, "False five.": -5.0}),
    ("Two false tie?", {"True six.": -4.0}, {"False six.": -3.0, "False seven.": -3.0}),
]
LLS = {a: ll for _, true, false in QUESTIONS for a, ll in (*true.items(), *false.items())}


def mc_task() -> list[dict]:
    return [
        {"question": q, "mc1_targets": {**{a: 1 for a in t}, **{a: 0 for a in f}},
         "mc2_targets": {**{a: 1 for a in t}, **{a: 0 for a in f}}}
        for q, t, f in QUESTIONS
    ]  # fmt: skip


def suite(ties: str | None = None) -> TruthfulQASuite:
    builtin = load_suite_spec("truthfulqa_mc")
    params = {**builtin.params, **({"ties": ties} if ties is not None else {})}
    return TruthfulQASuite(SuiteSpec(builtin.name, builtin.kind, builtin.path, params=params))


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "mc_task.json"
    path.write_text(json.dumps(mc_task()), encoding="utf-8")
    return path


def evaluate(kind: TruthfulQASuite, path: Path) -> list[dict]:
    return kind.evaluate(FakeLM(loglikelihoods=LLS), kind.load(path).items, seed=0)


def test_mc1_tie_rule_by_hand():
    assert mc1_score(-2.0, [-2.0, -3.0]) == 0.0 and mc1_score(-2.0, [-2.0, -3.0], "right") == 1.0
    assert mc1_score(-1.0, [-1.5], "right") == 1.0 and mc1_score(-4.0, [-3.0], "right") == 0.0


def test_ties_right_counts_only_the_tie(data):
    wrong, right = evaluate(suite(), data), evaluate(suite("right"), data)
    assert [r["mc1"] for r in wrong] == [0.0, 1.0, 0.0, 0.0]
    assert [r["mc1"] for r in right] == [1.0, 1.0, 0.0, 0.0]
    assert [r["mc2"] for r in wrong] == [r["mc2"] for r in right]  # MC2 has no tie rule
    assert (wrong[0]["prediction"], right[0]["prediction"]) == ("False one.", "True one.")
    assert suite("right").aggregate(right, seed=0).metrics["mc1"].value == 0.5
    assert suite().aggregate(wrong, seed=0).metrics["mc1"].value == 0.25


@pytest.fixture(scope="module")
def lm_eval_tasks() -> Path:
    """lm-evaluation-harness's truthfulqa task folder (installed from requirements-test.txt)."""
    return Path(pytest.importorskip("lm_eval").__file__).parent / "tasks" / "truthfulqa"


def lm_eval_mc1(tasks: Path, doc: dict, lls: list[float]) -> float:
    """lm-evaluation-harness 0.4.13's multiple-choice result code (`ConfigurableTask.process_results`)
    run on `doc` with the target its truthfulqa_mc1.yaml names. The task object is a stand-in with
    only the attributes that code reads: building the real task would download the dataset."""
    from lm_eval.api.task import ConfigurableTask

    config = yaml.safe_load((tasks / "truthfulqa_mc1.yaml").read_text())
    assert config["output_type"] == "multiple_choice" and [m["metric"] for m in config["metric_list"]] == ["acc"]
    task = SimpleNamespace(
        config=SimpleNamespace(process_results=None),
        _metric_fn_list={"acc": None},
        OUTPUT_TYPE="multiple_choice",
        multiple_input=False,
        multiple_target=False,
        doc_to_choice=lambda d: d["mc1_targets"]["choices"],
        doc_to_target=lambda d: config["doc_to_target"],
    )
    return ConfigurableTask.process_results(task, doc, [(ll, False) for ll in lls])["acc"]


def test_ties_right_reproduces_lm_eval_mc1_and_mc2(data, lm_eval_tasks):
    from lm_eval.tasks.truthfulqa.utils import process_results_mc2

    ours = evaluate(suite("right"), data)
    for (question, true, false), record in zip(QUESTIONS, ours):
        choices = [*true, *false]  # the HF dataset's order: the true answer first, then the false ones
        labels = [1] * len(true) + [0] * len(false)
        doc = {"question": question, "mc1_targets": {"choices": choices, "labels": labels},
               "mc2_targets": {"choices": choices, "labels": labels}}  # fmt: skip
        lls = [LLS[a] for a in choices]
        assert record["mc1"] == lm_eval_mc1(lm_eval_tasks, doc, lls), question
        assert record["mc2"] == pytest.approx(float(process_results_mc2(doc, [(ll, False) for ll in lls])["acc"]), abs=1e-12)


def test_lm_eval_s_own_prompt_template_gives_its_requests(data, lm_eval_tasks):
    """lm-eval's truthfulqa_mc1 `doc_to_text` (the paper's QA primer) used as our prompt_template:
    every request is lm-eval's context and its `target_delimiter + choice` continuation, rendered
    by lm-eval's own template code."""
    from lm_eval.utils import apply_template

    config = yaml.safe_load((lm_eval_tasks / "truthfulqa_mc1.yaml").read_text())
    builtin = load_suite_spec("truthfulqa_mc")
    params = {**builtin.params, "prompt_template": config["doc_to_text"], "ties": "right"}
    kind = TruthfulQASuite(SuiteSpec(builtin.name, builtin.kind, builtin.path, params=params))
    lm = FakeLM(loglikelihoods=LLS)
    kind.evaluate(lm, kind.load(data).items, seed=0)
    (_, requests), = lm.calls
    expected = []
    for question, true, false in QUESTIONS:
        context = apply_template(config["doc_to_text"], {"question": question})
        assert context.startswith("Q: ") and context.endswith(f"\n\nQ: {question}\nA:")
        expected += [(context, config.get("target_delimiter", " ") + a) for a in (*true, *false)]
    assert [(r.context, r.continuation) for r in requests] == expected


# ---- protocol ids and parameters ------------------------------------------------------------


def test_protocol_ids_differ_by_variant_and_the_default_is_unchanged(data):
    info = ModelInfo("m", "hf", None, "none", 2048, "x")
    default, explicit, right = suite(), suite("wrong"), suite("right")
    for kind in (default, explicit, right):
        kind.load(data)
    today = default.protocol(info)
    assert today.startswith("truthfulqa/mc-loglikelihood/v1 layout=mc_task.json template=")
    assert today.endswith(' answer_prefix=" " mc1=strict-greater mc2=normalised-mass chat=no')
    assert explicit.protocol(info) == today
    assert right.protocol(info) == today.replace("mc1=strict-greater", "mc1=greater-or-equal") + " ties=right"


def test_bad_ties_value_is_a_one_line_error():
    with pytest.raises(HarnessError) as e:
        suite("draw")
    assert "params.ties is 'draw'; expected wrong or right" in str(e.value) and "\n" not in str(e.value)


# ---- the switch from a copy of the suite YAML, on a real model ------------------------------


def yaml_copy(folder: Path, ties: str, data: str) -> Path:
    text = load_suite_spec("truthfulqa_mc").path.read_text(encoding="utf-8")
    text = text.replace("  ties: wrong", f"  ties: {ties}")
    text = "\n".join(f"data: {data}" if x.startswith("data:") else x for x in text.splitlines()) + "\n"
    path = folder / f"tqa_{ties}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_copy_with_relative_data_on_the_ngram_model(run_cli, tmp_path):
    """A real model and a real tie: a TruthfulQA.csv row whose best answer is also listed as
    incorrect scores that answer once, so it ties itself. The reference code counts that MC1 as
    wrong; lm-evaluation-harness's argmax (true answer first) as right."""
    folder = tmp_path / "elsewhere"
    (folder / "qa").mkdir(parents=True)
    (folder / "qa" / "TruthfulQA.csv").write_text(
        "Type,Category,Question,Best Answer,Correct Answers,Incorrect Answers\n"
        "Adversarial,Misc,Is it raining?,Maybe,Maybe; Perhaps,Maybe\n"
        "Adversarial,Misc,Is the sky green?,No,No; It is blue,Yes; Always\n",
        encoding="utf-8",
    )
    results = {}
    for ties in ("wrong", "right"):
        path = yaml_copy(folder, ties, "qa/TruthfulQA.csv")
        code, out, err = run_cli("run", path, "--model", "ngram", "--out", tmp_path / ties, "--quiet")
        assert code == 0, err
        results[ties] = json.loads((tmp_path / ties / "summary.json").read_text())["suites"][path.stem]
        lines = [json.loads(x) for x in (tmp_path / ties / f"{path.stem}.jsonl").read_text().splitlines() if x.strip()]
        results[ties]["records"] = [x for x in lines if "id" in x]
    wrong, right = results["wrong"], results["right"]
    assert wrong["protocol"].endswith("chat=no") and right["protocol"].endswith(" ties=right")
    assert wrong["data"]["source"].endswith("TruthfulQA.csv") and wrong["metrics"]["mc1"]["n"] == 2
    assert [r["mc1"] for r in wrong["records"]][0] == 0.0 and [r["mc1"] for r in right["records"]][0] == 1.0
    # The second row has no tie: both rules agree on it, and MC2 is the same under both.
    assert wrong["records"][1]["mc1"] == right["records"][1]["mc1"]
    assert [r["mc2"] for r in wrong["records"]] == [r["mc2"] for r in right["records"]]
