"""The squad suite kind: reading both layouts, prompting, post-processing and aggregation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.resources import load_suite_spec
from harness.suites.squad import SquadSuite
from tests.qa.fakes import FakeLM

DATA = Path(__file__).parent / "data"


def suite(**params: object) -> SquadSuite:
    spec = load_suite_spec("squad")
    return SquadSuite(dataclasses.replace(spec, params={**spec.params, **params}))


def test_builtin_data_is_v2_with_unanswerable_questions() -> None:
    kind = suite()
    dataset = kind.load(None)
    assert dataset.builtin and dataset.source == "builtin:squad-v2.json"
    assert "the project's own SQuAD-style mini-probes" in dataset.notes
    assert "mini-probes" not in kind.load(load_suite_spec("squad").data).notes  # the same file given with --data
    assert kind.rules == "v2.0"
    assert len(dataset.items) == 31
    assert sum(not q.has_answer for q in dataset.items) == 6
    first = dataset.items[0]
    assert first.prompt.endswith(f"Question: {first.question}\nAnswer:")
    assert 'reply "unanswerable"' in first.prompt and first.context in first.prompt


def test_v11_file() -> None:
    kind = suite()
    dataset = kind.load(DATA / "squad-v1.1.json")
    assert kind.rules == "v1.1" and not dataset.builtin
    assert [q.id for q in dataset.items] == ["5f0a11", "5f0a12", "5f0a13"]
    assert dataset.items[0].answers == ("1823", "in 1823", "1823")  # repeated references kept
    assert "unanswerable" not in dataset.items[0].prompt  # the v2.0 instruction is conditional
    assert "Fenmouth’s harbour" in dataset.items[2].prompt


def _answers(mapping: dict[str, str]):  # type: ignore[no-untyped-def]
    def answer(request):  # type: ignore[no-untyped-def]
        return next(text for question, text in mapping.items() if f"Question: {question}\n" in request.prompt)

    return answer


def test_evaluate_and_aggregate_v2_by_hand() -> None:
    kind = suite()
    items = kind.load(DATA / "squad-v2.0.json").items
    lm = FakeLM(
        _answers({
            "Where does moss grow best?": "  Damp, shady places. ",  # EM 1 (second reference), F1 1
            "How deep do moss roots go?": " Unanswerable.",  # a no-answer phrase -> "", right on NoAns
            "What do mosses have instead of roots?": " true roots",  # wrong: EM 0, F1 0
        }),
        chat=True,
    )
    records = kind.evaluate(lm, items, seed=0)
    (_, requests), = lm.calls
    assert all(r.chat and r.max_new_tokens == 16 and r.stop == ("\n",) and not r.sampled for r in requests)
    assert [r["prediction"] for r in records] == ["Damp, shady places.", "", "true roots"]
    assert [(r["exact_match"], r["f1"]) for r in records] == [(1.0, 1.0), (1.0, 1.0), (0.0, 0.0)]
    assert records[1]["references"] == [] and records[1]["generation"] == " Unanswerable."

    result = kind.aggregate(records, seed=1)
    assert result.metrics["exact_match"].value == pytest.approx(2 / 3)
    assert result.metrics["f1"].value == pytest.approx(2 / 3)
    assert result.metrics["f1"].n == 3
    lo, hi = result.metrics["f1"].ci
    assert 0 <= lo <= 2 / 3 <= hi <= 1
    split = result.breakdowns["answerability"]
    assert split["HasAns"]["exact_match"].value == 0.5 and split["HasAns"]["exact_match"].n == 2
    assert split["NoAns"]["f1"].value == 1.0 and split["NoAns"]["f1"].ci is None  # one item: no CI
    assert kind.point_estimates(records) == {"exact_match": pytest.approx(2 / 3), "f1": pytest.approx(2 / 3)}
    assert "rules=v2.0" in kind.protocol(lm.info) and "chat=yes" in kind.protocol(lm.info)


def test_partial_credit_and_v11_keeps_no_answer_phrases() -> None:
    kind = suite()
    items = kind.load(DATA / "squad-v1.1.json").items
    lm = FakeLM(_answers({
        "When did the glassworks open?": "It opened in 1823",  # best vs "in 1823": P 2/4, R 1 -> 2/3
        "What did the glassworks make?": "unanswerable",  # v1.1: no abstention, just wrong
        "When did the last ship leave?": "",
    }))
    records = kind.evaluate(lm, items, seed=0)
    assert records[0]["f1"] == pytest.approx(2 / 3)
    assert records[1]["prediction"] == "unanswerable" and records[1]["f1"] == 0.0
    assert (records[2]["exact_match"], records[2]["f1"]) == (0.0, 0.0)
    result = kind.aggregate(records, seed=0)
    assert result.breakdowns == {}  # no v2.0 rules, no HasAns/NoAns split
    assert result.metrics["f1"].value == pytest.approx(2 / 9)
    assert "chat=no" in kind.protocol(lm.info) and "rules=v1.1" in kind.protocol(lm.info)


def test_v2_split_undefined_when_no_unanswerable_items() -> None:
    kind = suite()
    items = kind.load(DATA / "squad-v2.0.json").items
    records = kind.evaluate(FakeLM(lambda r: "rhizoids"), [items[0], items[2]], seed=0)
    split = kind.aggregate(records, seed=0).breakdowns["answerability"]
    assert split["NoAns"]["f1"].value is None
    assert "no unanswerable questions" in split["NoAns"]["f1"].reason
    empty = kind.aggregate([], seed=0).metrics["f1"]
    assert empty.value is None and empty.reason


def test_template_fields_and_changes_show_in_protocol() -> None:
    a, b = suite(), suite(prompt_template="{{ title }}: {{ context }}\nQ: {{ question }}\nA:", max_new_tokens=8)
    info = FakeLM().info
    assert a.protocol(info) != b.protocol(info)
    b.load(DATA / "squad-v2.0.json")
    assert "max_new_tokens=8" in b.protocol(info)
    assert b.load(DATA / "squad-v2.0.json").items[0].prompt.startswith("Moss: Moss grows best")
