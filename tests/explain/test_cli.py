"""`harness explain` and `harness run --explain` from the command line: the page and its data for
chosen items, and one-line refusals (exit 2) for adapters that cannot explain and for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from tests.explain.conftest import read_lines


def test_explain_command_writes_the_page_and_its_data(run_cli, tiny_llama: Path, tmp_path: Path) -> None:
    page = tmp_path / "out" / "explain.html"
    code, out, err = run_cli("explain", "crows_pairs", "--model", tiny_llama, "--items", "3,0", "--steps", "8", "-o", page)
    assert code == 0, err
    lines = read_lines(page.with_suffix(".jsonl"))
    assert [line["id"] for line in lines] == ["3", "0"]
    assert all(line["settings"]["steps"] == 8 for line in lines)
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and html.count('class="explained-item" open') == 2
    assert "Jain &amp; Wallace 2019" in html and "completeness error" in html
    # the explained difference is the one harness run records for the same pair
    run = tmp_path / "run"
    code, _, err = run_cli("run", "crows_pairs", "--model", tiny_llama, "--limit", "4", "--out", run, "--quiet")
    assert code == 0, err
    record = next(json.loads(x) for x in (run / "crows_pairs.jsonl").read_text().splitlines() if json.loads(x)["id"] == "3")
    ll = record["loglikelihoods"]
    assert lines[0]["difference"]["recorded"] == ll["sent_more"] - ll["sent_less"]


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w in err, err


def test_ngram_and_served_models_cannot_explain(run_cli, tmp_path: Path) -> None:
    code, _, err = run_cli("explain", "crows_pairs", "--model", "ngram", "--items", "0", "-o", tmp_path / "x.html")
    _one_line_error(code, err, "cannot explain", "ngram")
    code, _, err = run_cli("run", "crows_pairs", "--model", "ngram", "--explain", "3", "--out", tmp_path / "r", "--quiet")
    _one_line_error(code, err, "--explain", "cannot explain")
    assert not (tmp_path / "r").exists()  # refused before any output
    # a served model is refused before its server is asked anything (nothing listens on port 9)
    code, _, err = run_cli("run", "crows_pairs", "--model", "openai:http://127.0.0.1:9/v1", "--explain", "3", "--out", tmp_path / "s", "--quiet")
    _one_line_error(code, err, "--explain", "cannot explain")


def test_bad_input_is_one_line(run_cli, tiny_llama: Path, tmp_path: Path) -> None:
    page = tmp_path / "x.html"
    code, _, err = run_cli("explain", "crows_pairs", "--model", tiny_llama, "--items", "0,99999", "-o", page)
    _one_line_error(code, err, "99999")
    code, _, err = run_cli("explain", "perplexity", "--model", tiny_llama, "--items", "0", "-o", page)
    _one_line_error(code, err, "crows_pairs")
    code, _, err = run_cli("explain", "crows_pairs", "--model", tiny_llama, "--items", "0", "--steps", "-1", "-o", page)
    _one_line_error(code, err, "0 (none) or more")
    code, _, err = run_cli("run", "perplexity", "--model", tiny_llama, "--explain", "2", "--out", tmp_path / "p", "--quiet")
    _one_line_error(code, err, "--explain", "crows_pairs")
    code, _, err = run_cli("run", "crows_pairs", "--model", tiny_llama, "--explain", "0", "--out", tmp_path / "q", "--quiet")
    _one_line_error(code, err, "--explain")
    assert not page.exists()
