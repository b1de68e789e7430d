"""`harness run perplexity --model smollm2-135m --limit N` end to end on the real default model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_perplexity_on_the_default_model(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, err = run_cli("run", "perplexity", "--model", "smollm2-135m", "--limit", "4", "--out", out, "--quiet")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    model = summary["model"]
    assert model["name"] == "smollm2-135m" and model["n_parameters"] == 134_515_008
    assert model["dtype"] == "float32" and model["max_length"] == 2048
    metrics = summary["suites"]["perplexity"]["metrics"]
    # SmolLM2-135M reads ordinary English prose at a token perplexity of about 20 (OFFLINE.md).
    assert 5 < metrics["token_perplexity"]["value"] < 60
    assert 0.5 < metrics["bits_per_byte"]["value"] < 1.5
    samples = [json.loads(l) for l in (out / "perplexity.jsonl").read_text().splitlines()]
    assert [s["id"] for s in samples] == ["doc1", "doc2", "doc3", "doc4"]
    assert all(s["tokens"] > 50 for s in samples)


@pytest.mark.slow
def test_word_salad_is_far_less_likely_than_prose(run_cli, tmp_path: Path) -> None:
    prose = "The library opens at nine, and the children's reading hour starts soon after."
    salad = "Nine hour the after opens reading soon library children's at starts, and the."
    path = tmp_path / "two.jsonl"
    path.write_text(json.dumps({"text": prose, "id": "prose"}) + "\n" + json.dumps({"text": salad, "id": "salad"}) + "\n")
    code, _, err = run_cli("run", "perplexity", "--model", "smollm2-135m", "--data", path, "--out", tmp_path / "o", "--quiet")
    assert code == 0, err
    by_id = {s["id"]: s for s in map(json.loads, (tmp_path / "o" / "perplexity.jsonl").read_text().splitlines())}
    assert by_id["prose"]["loglikelihood"] > by_id["salad"]["loglikelihood"] + 20
