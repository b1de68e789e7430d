"""The drill-down panels read from an explain file: values on hover are the file's numbers, the
completeness error is shown with a warning above 5%, the attention maps cover every layer, and a
run's default (no integrated gradients) says so instead of showing them."""

from __future__ import annotations

import copy
from pathlib import Path

from harness.report.explain_panels import item_panel, load_section
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


def test_a_run_without_explain_steps_computes_no_integrated_gradients(run_cli, tiny_llama: Path, tmp_path: Path) -> None:
    code, _, err = run_cli("run", "crows_pairs", "--model", tiny_llama, "--limit", "6", "--explain", "2", "--out", tmp_path / "r",
                           "--no-cache", "--quiet")
    assert code == 0, err
    lines = read_lines(tmp_path / "r" / "crows_pairs.explain.jsonl")
    assert len(lines) == 2 and lines[0]["settings"] == {"steps": 0, "baseline": "zero", "method": None}
    for option in lines[0]["options"]:
        assert option["integrated_gradients"] is None and option["ig"] is None
        assert len(option["grad_x_input"]) == len(option["tokens"]) - 1 and "attention" in option
    panel = item_panel(lines[0])
    labels = [r.label for r in panel.options[0].rows]
    assert labels == ["token difference", "log-probability", "gradient × input"]
    assert panel.options[0].completeness.startswith("integrated gradients not computed")
    assert panel.settings == "integrated gradients: not computed (0 steps)"
    section = load_section(tmp_path / "r" / "crows_pairs.explain.jsonl")
    assert section is not None and "completeness" not in section.reading and "Gradient × input" in section.reading
    from harness.report.explain_page import render_page

    page = render_page("crows_pairs", "tiny", lines)
    assert "completeness error" not in page and "integrated gradients not computed" in page
