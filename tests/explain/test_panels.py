"""The drill-down panels read from an explain file: values on hover are the file's numbers, the
completeness error is shown with a warning above 5%, and the attention maps cover every layer."""

from __future__ import annotations

import copy
from pathlib import Path

from harness.report.explain_panels import item_panel
from tests.explain.conftest import read_lines


def test_panels_show_the_files_numbers(explained_run: Path) -> None:
    line = read_lines(explained_run / "crows_pairs.explain.jsonl")[0]
    panel = item_panel(line)
    a = line["options"][0]
    rows = {r.label: r for r in panel.options[0].rows}
    assert [t.text for t in rows["token difference"].tokens] == a["text"]
    shown = [t.title for t in rows["integrated gradients"].tokens]
    assert shown == [f"integrated gradients {v:+.4f}" for v in a["integrated_gradients"]]
    diffs = [t.title for t in rows["token difference"].tokens]
    assert diffs == ["—" if v is None else f"difference {v:+.4f}" for v in a["token_differences"]]
    assert len(panel.options[0].layers) == 2 and all(len(layer.heads) == 4 for layer in panel.options[0].layers)  # tiny Llama
    assert panel.explained == line["difference"]["explained"]


def test_completeness_warning(explained_run: Path) -> None:
    line = copy.deepcopy(read_lines(explained_run / "crows_pairs.explain.jsonl")[0])
    line["options"][0]["ig"]["completeness_error"] = 0.5
    line["options"][1]["ig"]["completeness_error"] = 0.01
    panel = item_panel(line)
    assert "50.00%" in panel.options[0].completeness and "above 5%" in panel.options[0].completeness
    assert "1.00%" in panel.options[1].completeness and "above" not in panel.options[1].completeness
