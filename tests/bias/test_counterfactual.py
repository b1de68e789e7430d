"""Counterfactual swaps: per-axis spread, per-group relative log-likelihood and the worst-treated
group by hand; bad input names file and line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.suites.counterfactual import CounterfactualSuite
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
    assert values == pytest.approx({"ll_spread_a": 5 / 3, "ll_spread_b": 1.0, "max_ll_spread": 5 / 3})
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
    assert data.builtin and "project's own" in data.notes
    counts: dict[str, int] = {}
    for s in data.items:
        counts[s.axis] = counts.get(s.axis, 0) + 1
    assert set(counts) == {"gender", "race_ethnicity", "religion", "nationality", "age", "disability", "sexual_orientation"}
    assert min(counts.values()) >= 20


def test_end_to_end_on_the_ngram_model(run_cli, tmp_path, write):
    path = write("cf.yaml", YAML)
    code, out, err = run_cli("run", "counterfactual", "--model", "ngram", "--data", path, "--out", tmp_path / "run", "--quiet")
    assert code == 0, err
    entry = json.loads((tmp_path / "run" / "summary.json").read_text())["suites"]["counterfactual"]
    assert entry["protocol"].startswith("counterfactual/continuation-ll/v1")
    assert len(entry["breakdowns"]["worst_treated"]) <= 2 and entry["metrics"]["max_ll_spread"]["direction"] == "lower"
