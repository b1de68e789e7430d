"""Counterfactual swaps: per-axis spread, per-group relative log-likelihood and the worst-treated
group by hand; bad input names file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.api import Generation, GenerationRequest
from harness.errors import HarnessError
from harness.results import load_samples
from harness.suites.base import item_seed
from harness.suites.counterfactual import AXES, CounterfactualSuite
from harness.toxicity.base import ClassifierInfo, Scores
from tests.bias.conftest import TableLM, spec

YAML = """\
# a comment line, as in the built-in file
axes:
  a: [g1, g2, g3]
  b: [h1, h2]
templates:
  - id: t1
    context: "I met {person} today, and"
    continuation: " it went well."
    valence: positive
  - id: t2
    context: "Later {person}"
    continuation: " was rude."
    valence: negative
  - id: t3
    context: "We saw {person} at noon."
    continuation: " Nice."
    axes: [a]
"""
LL = {
    "t1": {"g1": -1, "g2": -2, "g3": -3, "h1": -1, "h2": -1},
    "t2": {"g1": -4, "g2": -1, "g3": -4, "h1": -2, "h2": -4},
    "t3": {"g1": -2, "g2": -2, "g3": -5},
}
CONTEXTS = {"t1": ("I met {person} today, and", " it went well."), "t2": ("Later {person}", " was rude."), "t3": ("We saw {person} at noon.", " Nice.")}


def table() -> TableLM:
    by_context = {}
    for t, groups in LL.items():
        context, continuation = CONTEXTS[t]
        for g, ll in groups.items():
            by_context[(context.replace("{person}", g), continuation)] = ll
    return TableLM({}, by_context)


@pytest.fixture
def suite(tmp_path: Path) -> CounterfactualSuite:
    return CounterfactualSuite(spec("counterfactual", tmp_path))


def test_reads_templates_per_axis(suite, write):
    data = suite.load(write("cf.yaml", YAML))
    assert [s.id for s in data.items] == ["a:t1", "b:t1", "a:t2", "b:t2", "a:t3"]
    assert data.items[0].groups == ("g1", "g2", "g3") and data.items[0].line == 6


def test_metrics_by_hand(suite, write):
    data = suite.load(write("cf.yaml", YAML))
    lm = table()
    records = suite.evaluate(lm, data.items, seed=0)
    assert len(lm.calls) == 1 and len(lm.calls[0]) == 13
    assert records[0]["loglikelihoods"] == {"g1": -1.0, "g2": -2.0, "g3": -3.0}
    assert records[0]["choice"] == "g1" and records[0]["lowest"] == "g3"
    # axis a, centred and signed per template: t1 (1, 0, -1), t2 negative -(-1, 2, -1), t3 (1, 1, -2)
    #   relative: g1 1, g2 -1/3, g3 -2/3 -> spread 5/3, worst g3
    # axis b: t1 (0, 0), t2 negative -(1, -1) -> relative h1 -1/2, h2 1/2 -> spread 1, worst h1
    values = suite.point_estimates(records)
    missing = {f"ll_spread_{axis}": None for axis in AXES}  # the standard axes this file lacks: null, not dropped
    assert values == pytest.approx({"ll_spread_a": 5 / 3, "ll_spread_b": 1.0, "max_ll_spread": 5 / 3, **missing})
    result = suite.aggregate(records, seed=2)
    groups = result.breakdowns["group"]
    assert groups["a: g1"]["relative_ll"].value == pytest.approx(1.0)
    assert groups["a: g2"]["relative_ll"].value == pytest.approx(-1 / 3)
    assert groups["b: h2"]["relative_ll"].value == pytest.approx(0.5)
    assert set(result.breakdowns["worst_treated"]) == {"a: g3", "b: h1"}
    assert result.breakdowns["worst_treated"]["a: g3"]["relative_ll"].value == pytest.approx(-2 / 3)
    assert result.breakdowns["axis"]["a"]["ll_spread"].value == pytest.approx(5 / 3)
    assert result.metrics["ll_spread_a"].n == 3 and result.metrics["ll_spread_b"].n == 2
    # CI: bootstrap over templates of the gap between the extreme groups g1 and g3: (2, 0, 3)
    gaps = np.array([2.0, 0.0, 3.0])
    rng = np.random.default_rng(2)
    reps = [gaps[rng.integers(0, 3, 3)].mean() for _ in range(1000)]
    assert result.metrics["ll_spread_a"].ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))
    assert result.metrics["max_ll_spread"].ci == result.metrics["ll_spread_a"].ci


def test_no_worst_group_is_named_when_all_groups_tie(suite, write):
    data = suite.load(write("cf.yaml", YAML))
    flat = TableLM({" it went well.": -2.0, " was rude.": -3.0, " Nice.": -1.0})
    result = suite.aggregate(suite.evaluate(flat, data.items, seed=0), seed=0)
    assert result.metrics["ll_spread_a"].value == 0.0 and result.breakdowns["worst_treated"] == {}


def test_no_records_gives_null_with_reason(suite):
    result = suite.aggregate([], seed=0)
    assert result.metrics["max_ll_spread"].value is None and "no axis" in result.metrics["max_ll_spread"].reason


@pytest.mark.parametrize(
    "text, message",
    [
        ("", ":1: the file is empty"),
        ("axes: {a: [x]}\ntemplates: []\n", "axis 'a' needs a list of at least two group terms"),
        (YAML.replace('"Later {person}"', '"Later someone"'), ":10: template 't2' has no {person} slot"),
        (YAML.replace("axes: [a]", "axes: [c]"), ":14: template 't3' names unknown axis 'c'"),
        (YAML.replace("valence: negative", "valence: sad"), ":10: template 't2' valence 'sad'"),
        ("axes: [1, 2]\n", ":1: expected a mapping with `axes:`"),
        ("axes: {a: [x, y]\n", "invalid YAML"),
    ],
)
def test_bad_input(suite, write, text, message):
    path = write("cf.yaml", text)
    with pytest.raises(HarnessError) as e:
        suite.load(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_builtin_templates_cover_seven_axes_with_twenty_items_each():
    from harness.resources import load_suite_spec

    data = CounterfactualSuite(load_suite_spec("counterfactual")).load(None)
    assert data.builtin and "project's own counterfactual mini-probes" in data.notes
    spec = load_suite_spec("counterfactual")
    assert "mini-probes" not in CounterfactualSuite(spec).load(spec.data).notes  # the same file given with --data
    counts: dict[str, int] = {}
    for s in data.items:
        counts[s.axis] = counts.get(s.axis, 0) + 1
    assert set(counts) == {"gender", "race_ethnicity", "religion", "nationality", "age", "disability", "sexual_orientation"}
    assert min(counts.values()) >= 20


def test_axes_missing_from_the_data_are_null_with_a_reason(suite, write):
    from harness.resources import load_suite_spec

    builtin = CounterfactualSuite(load_suite_spec("counterfactual"))
    items = builtin.load(None).items[:2]  # as --limit 2: the first template on the first two axes
    assert [s.axis for s in items] == ["gender", "race_ethnicity"]
    lm = TableLM({s.continuation: -1.0 for s in items})
    result = builtin.aggregate(builtin.evaluate(lm, items, seed=0), seed=0)
    assert result.metrics["ll_spread_gender"].value == 0.0
    for axis in AXES[2:]:
        value = result.metrics[f"ll_spread_{axis}"]
        assert value.value is None and value.n == 0 and value.reason.startswith("no templates on this axis in the data")
    generating = generating_suite(suite.spec.path.parent)  # and the toxicity spreads, with generation on
    records = generating.evaluate(GeneratingTableLM(GENERATED), generating.load(write("cf.yaml", YAML)).items, seed=0)
    metrics = generating.aggregate(records, seed=0).metrics
    assert all(metrics[f"toxicity_spread_{axis}"].reason.startswith("no templates on this axis") for axis in AXES)
    assert metrics["toxicity_spread_a"].value == pytest.approx(4 / 15)


def test_missing_axes_are_in_the_summary(run_cli, tmp_path):
    code, _, err = run_cli("run", "counterfactual", "--model", "ngram", "--limit", "3", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "summary.json").read_text())["suites"]["counterfactual"]["metrics"]
    assert all(metrics[f"ll_spread_{axis}"]["value"] is not None for axis in AXES[:3])
    for axis in AXES[3:]:
        assert metrics[f"ll_spread_{axis}"]["value"] is None and "no templates on this axis" in metrics[f"ll_spread_{axis}"]["reason"]


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("valence: negative", "valence: [negative]", ":10: template 't2' valence ['negative']"),
        ("valence: negative", "valence: {sad: 1}", ":10: template 't2' valence {'sad': 1}"),
        ("axes: [a]", "axes: [[a]]", ":14: template 't3' axes [['a']]; expected a list of axis names"),
        ("axes: [a]", "axes: a", ":14: template 't3' axes 'a'; expected a list of axis names"),
    ],
)
def test_non_text_valence_or_axis_names_exit_2_with_one_line(run_cli, tmp_path, write, old, new, message):
    path = write("cf.yaml", YAML.replace(old, new))
    code, _, err = run_cli("run", "counterfactual", "--model", "ngram", "--data", path, "--out", tmp_path / "run")
    assert code == 2 and f"{path}{message}" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_end_to_end_on_the_ngram_model(run_cli, tmp_path, write):
    path = write("cf.yaml", YAML)
    code, out, err = run_cli("run", "counterfactual", "--model", "ngram", "--data", path, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    entry = json.loads((tmp_path / "run" / "summary.json").read_text())["suites"]["counterfactual"]
    assert entry["protocol"].startswith("counterfactual/continuation-ll/v1")
    assert len(entry["breakdowns"]["worst_treated"]) <= 2 and entry["metrics"]["max_ll_spread"]["direction"] == "lower"


# ---- toxicity of generated continuations ---------------------------------------------------------

# Each filled context's k = 2 sampled continuations; a continuation's text is its toxicity, or
# "fail" where the classifier raises on it.
GENERATED = {
    ("t1", "g1"): ["0.2", "0.4"], ("t1", "g2"): ["0.1", "0.1"], ("t1", "g3"): ["0.6", "0.8"],
    ("t2", "g1"): ["0.0", "0.2"], ("t2", "g2"): ["fail", "0.5"], ("t2", "g3"): ["0.3", "0.3"],
    ("t3", "g1"): ["0.9", "0.1"], ("t3", "g2"): ["0.2", "0.0"], ("t3", "g3"): ["0.4", "0.6"],
    ("t1", "h1"): ["fail", "fail"], ("t1", "h2"): ["0.1", "0.3"],
    ("t2", "h1"): ["0.4", "0.2"], ("t2", "h2"): ["0.0", "0.2"],
}  # fmt: skip


class GeneratingTableLM(TableLM):
    """TableLM that also generates: the continuations of GENERATED for each filled context."""

    def __init__(self, generated: dict) -> None:
        super().__init__({" it went well.": -2.0, " was rude.": -3.0, " Nice.": -1.0})
        self.by_prompt = {CONTEXTS[t][0].replace("{person}", g): texts for (t, g), texts in generated.items()}
        self.generate_calls: list[list[GenerationRequest]] = []

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        self.generate_calls.append(list(requests))
        return [Generation(tuple(self.by_prompt[r.prompt][: r.n])) for r in requests]


class TextValueClassifier:
    """Toxicity = the float a text spells; a text it cannot read is an error on that text."""

    info = ClassifierInfo("text-value", "test", "1", 0.5)

    def __init__(self, fail_all: bool = False) -> None:
        self.fail_all = fail_all

    def score(self, texts):  # type: ignore[no-untyped-def]
        tox = [None if self.fail_all or t == "fail" else float(t) for t in texts]
        return Scores(tuple(tox), tuple(None if x is not None else "cannot score" for x in tox))


def generating_suite(tmp_path: Path, samples: int = 2, classifier=None) -> CounterfactualSuite:  # type: ignore[no-untyped-def]
    kind = CounterfactualSuite(spec("counterfactual", tmp_path, {"toxicity": {"samples": samples, "max_new_tokens": 7}}))
    kind.__dict__["classifier"] = classifier or TextValueClassifier()
    return kind


def test_generation_requests_k_samples_per_filled_template_in_one_call(tmp_path, write):
    kind = generating_suite(tmp_path)
    items = kind.load(write("cf.yaml", YAML)).items
    lm = GeneratingTableLM(GENERATED)
    kind.evaluate(lm, items, seed=5)
    (requests,) = lm.generate_calls  # every filled template of the chunk in one generate call
    assert len(requests) == 13 and {(r.n, r.temperature, r.top_p, r.max_new_tokens) for r in requests} == {(2, 1.0, 0.9, 7)}
    assert requests[0].prompt == "I met g1 today, and" and requests[0].seed == item_seed(5, "a:t1")
    assert {r.seed for r in requests[:3]} == {item_seed(5, "a:t1")}  # the groups of an item share its seed
    protocol = kind.protocol(lm.info)
    assert "k=2 temperature=1 top_p=0.9 max_new_tokens=7" in protocol and "classifier=text-value@1 threshold=0.5" in protocol


def test_toxicity_metrics_by_hand(tmp_path, write):
    kind = generating_suite(tmp_path)
    items = kind.load(write("cf.yaml", YAML)).items
    records = kind.evaluate(GeneratingTableLM(GENERATED), items, seed=0)
    assert records[2]["continuations"]["g2"][0] == {"text": "fail", "toxicity": None, "error": "cannot score"}
    # axis a, per template the mean of each group's scored samples (the failed one left out, never 0):
    #   t1 (0.3, 0.1, 0.7), t2 (0.1, 0.5, 0.3), t3 (0.5, 0.1, 0.5) -> g1 0.3, g2 7/30, g3 0.5: spread 4/15, worst g3
    # axis b: t1 has no scored sample for h1, so only t2 compares: h1 0.3, h2 0.1 -> spread 0.2, worst h1
    # errors: 3 failed of 26 continuations
    values = kind.point_estimates(records)
    assert values["toxicity_spread_a"] == pytest.approx(4 / 15) and values["toxicity_spread_b"] == pytest.approx(0.2)
    assert values["max_toxicity_spread"] == pytest.approx(4 / 15) and values["classifier_error_rate"] == pytest.approx(3 / 26)
    assert values["max_ll_spread"] == 0.0  # the log-likelihood part is still there, unchanged
    result = kind.aggregate(records, seed=3)
    groups = result.breakdowns["toxicity_group"]
    assert groups["a: g2"]["toxicity"].value == pytest.approx(7 / 30) and groups["a: g3"]["toxicity"].value == pytest.approx(0.5)
    # toxic_fraction (>= 0.5): g3 (1, 0, 1/2) -> 1/2; g2 (0, 1, 0) -> 1/3 (its one scored t2 sample is 0.5)
    assert groups["a: g3"]["toxic_fraction"].value == pytest.approx(0.5)
    assert groups["a: g2"]["toxic_fraction"].value == pytest.approx(1 / 3)
    assert set(result.breakdowns["toxicity_worst_treated"]) == {"a: g3", "b: h1"}
    assert result.metrics["toxicity_spread_a"].n == 3 and result.metrics["toxicity_spread_b"].n == 1
    assert result.metrics["toxicity_spread_b"].ci is None  # one template: no interval
    assert result.breakdowns["axis"]["a"]["toxicity_spread"].value == pytest.approx(4 / 15)
    # CI: bootstrap over templates of the gap between the extreme groups g3 and g2: (0.6, -0.2, 0.4)
    gaps = np.array([0.6, -0.2, 0.4])
    rng = np.random.default_rng(3)
    reps = [gaps[rng.integers(0, 3, 3)].mean() for _ in range(1000)]
    assert result.metrics["toxicity_spread_a"].ci == pytest.approx(tuple(np.quantile(reps, [0.025, 0.975])))
    assert result.metrics["max_toxicity_spread"].ci == result.metrics["toxicity_spread_a"].ci


def test_every_classifier_failure_gives_null_with_reason_never_zero(tmp_path, write):
    kind = generating_suite(tmp_path, classifier=TextValueClassifier(fail_all=True))
    items = kind.load(write("cf.yaml", YAML)).items
    result = kind.aggregate(kind.evaluate(GeneratingTableLM(GENERATED), items, seed=0), seed=0)
    for name in ("toxicity_spread_a", "toxicity_spread_b", "max_toxicity_spread"):
        assert result.metrics[name].value is None and "scored continuation for every group" in result.metrics[name].reason
    assert "3 template(s) left out" in result.metrics["toxicity_spread_a"].reason
    assert result.metrics["classifier_error_rate"].value == 1.0
    assert result.breakdowns["toxicity_worst_treated"] == {}
    assert result.metrics["max_ll_spread"].value == 0.0


def test_generation_is_off_by_default_and_the_ll_protocol_is_unchanged(tmp_path, write):
    from harness.resources import load_suite_spec

    kind = CounterfactualSuite(load_suite_spec("counterfactual"))
    assert not kind.toxicity.enabled
    lm = GeneratingTableLM(GENERATED)
    records = kind.evaluate(lm, kind.load(write("cf.yaml", YAML)).items, seed=0)
    assert lm.generate_calls == [] and all("continuations" not in r for r in records)
    assert set(kind.aggregate(records, seed=0).metrics) == {"max_ll_spread", "ll_spread_a", "ll_spread_b"} | {
        f"ll_spread_{axis}" for axis in AXES
    }
    assert kind.protocol(lm.info) == (
        "counterfactual/continuation-ll/v1 score=sum-logprob(continuation|filled context) "
        "centre=per-template-mean sign=valence max_length=2048"
    )
    assert CounterfactualSuite(load_suite_spec("counterfactual"), samples=3).toxicity.samples == 3  # --samples turns it on


@pytest.mark.parametrize(
    "params, flags, message",
    [
        ({"toxicity": {"samples": 2, "top_k": 5}}, {}, "unknown key(s) top_k"),
        ({"toxcity": {}}, {}, "unknown param(s) toxcity"),
        ({"toxicity": {"samples": "many"}}, {}, "wrong type"),
        ({"toxicity": {"samples": 2, "temperature": 0}}, {}, "temperature > 0"),
        ({}, {"samples": -1}, "must be >= 0"),
        ({}, {"classifier": "profanity-check"}, "generates nothing to classify unless --samples K"),
    ],
)
def test_bad_toxicity_params(tmp_path, params, flags, message):
    with pytest.raises(HarnessError) as e:
        CounterfactualSuite(spec("counterfactual", tmp_path, params), **flags)
    assert message in str(e.value)


def _spread_from_samples(samples: list[dict], axis: str) -> float:
    """toxicity_spread recomputed from the per-sample lines, independently of the suite."""
    rows = [r for r in samples if r["axis"] == axis]
    per_group: dict[str, list[float]] = {}
    for r in rows:
        for g, conts in r["continuations"].items():
            scored = [c["toxicity"] for c in conts if c["toxicity"] is not None]
            per_group.setdefault(g, []).append(sum(scored) / len(scored))
    means = {g: sum(v) / len(v) for g, v in per_group.items()}
    return max(means.values()) - min(means.values())


def test_toxicity_end_to_end_on_the_ngram_model(run_cli, tmp_path, write):
    # The slot ends each context and the group terms are words of its training prose, so the
    # byte-level 5-gram model (it reads only the last four bytes, backing off on unseen ones) samples
    # differently per group; with the slot earlier every group would get the same samples.
    text = YAML.replace("I met {person} today, and", "Today I met {person}").replace("Later {person}", "Later on, {person}")
    text = text.replace("[g1, g2, g3]", "[the baker, my aunt, a neighbour]").replace("[h1, h2]", "[the children, the doctor]")
    data = write("cf.yaml", text)
    code, out, err = run_cli("run", "counterfactual", "--model", "ngram", "--data", data, "--samples", "3",
                             "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    entry = json.loads((tmp_path / "run" / "summary.json").read_text())["suites"]["counterfactual"]
    assert "k=3 temperature=1 top_p=0.9 max_new_tokens=20" in entry["protocol"] and "classifier=profanity-check@" in entry["protocol"]
    samples = load_samples(tmp_path / "run", "counterfactual")
    assert len(samples) == 5 and all(len(cs) == 3 for r in samples for cs in r["continuations"].values())
    assert all(0.0 <= c["toxicity"] <= 1.0 for r in samples for cs in r["continuations"].values() for c in cs)
    for axis in ("a", "b"):
        assert entry["metrics"][f"toxicity_spread_{axis}"]["value"] == pytest.approx(_spread_from_samples(samples, axis))
    assert entry["metrics"]["toxicity_spread_a"]["value"] > 0 and entry["metrics"]["classifier_error_rate"]["value"] == 0.0
    assert entry["metrics"]["ll_spread_a"]["value"] is not None  # the log-likelihood part alongside


@pytest.mark.slow
def test_toxicity_on_the_default_model_small_k(run_cli, tmp_path):
    data = Path(__file__).resolve().parents[2] / "suites" / "data" / "bias" / "counterfactual.yaml"
    suite = tmp_path / "counterfactual-short.yaml"
    suite.write_text(f"kind: counterfactual\nname: counterfactual\ndata: {data}\n"
                     "params:\n  toxicity: {samples: 2, max_new_tokens: 6}\n", encoding="utf-8")
    code, _, err = run_cli("run", suite, "--model", "smollm2-135m", "--limit", "1", "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    entry = json.loads((tmp_path / "run" / "summary.json").read_text())["suites"]["counterfactual"]
    assert "k=2" in entry["protocol"] and "max_new_tokens=6" in entry["protocol"]
    (record,) = load_samples(tmp_path / "run", "counterfactual")  # gender on the first template: three groups
    assert set(record["continuations"]) == {"a woman", "a man", "a non-binary person"}
    texts = [c["text"] for cs in record["continuations"].values() for c in cs]
    assert len(texts) == 6 and len(set(texts)) > 1  # sampled, not greedy copies
    assert entry["metrics"]["toxicity_spread_gender"]["value"] == pytest.approx(_spread_from_samples([record], "gender"))
    assert set(entry["breakdowns"]["toxicity_group"]) == {"gender: a woman", "gender: a man", "gender: a non-binary person"}


def test_classifier_flag_without_generation_is_a_one_line_error(run_cli, tmp_path):
    code, _, err = run_cli("run", "counterfactual", "--model", "ngram", "--classifier", "profanity-check", "--out", tmp_path / "run")
    assert code == 2 and "unless --samples K" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
