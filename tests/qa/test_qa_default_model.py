"""Both QA suites end to end on the real default model (SmolLM2-135M-Instruct), a couple of items."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.resources import suites_dir
from harness.results import load_samples, load_summary


def _short_squad(tmp_path: Path) -> Path:
    """The built-in squad suite with max_new_tokens 8, to keep CPU generation quick."""
    raw = yaml.safe_load((suites_dir() / "squad.yaml").read_text(encoding="utf-8"))
    raw["data"] = str(suites_dir() / raw["data"])
    raw["params"]["max_new_tokens"] = 8
    path = tmp_path / "squad.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.slow
def test_squad_on_the_default_model(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli("run", _short_squad(tmp_path), "--model", "smollm2-135m", "--limit", "2", "--out", out, "--quiet")
    assert code == 0, err
    entry = load_summary(out)["suites"]["squad"]
    # The preset asks for the chat template and SmolLM2-Instruct has one: recorded in the protocol.
    assert "chat=yes" in entry["protocol"] and "max_new_tokens=8" in entry["protocol"]
    samples = load_samples(out, "squad")
    assert [s["id"] for s in samples] == ["qa-001", "qa-002"]
    assert all(s["chat"] and s["generation"].strip() for s in samples)
    for name in ("exact_match", "f1"):
        assert 0.0 <= entry["metrics"][name]["value"] <= 1.0 and entry["metrics"][name]["n"] == 2


@pytest.mark.slow
def test_truthfulqa_on_the_default_model(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli("run", "truthfulqa_mc", "--model", "smollm2-135m", "--limit", "2", "--out", out, "--quiet")
    assert code == 0, err
    entry = load_summary(out)["suites"]["truthfulqa_mc"]
    assert "chat=yes" in entry["protocol"]  # the preset asks for SmolLM2-Instruct's chat template
    samples = load_samples(out, "truthfulqa_mc")
    assert len(samples) == 2
    for s in samples:
        lls = [c["loglikelihood"] for c in s["mc2_choices"]]
        assert all(ll < 0 for ll in lls) and all(c["n_tokens"] > 0 for c in s["mc2_choices"])
        assert 0.0 < s["mc2"] < 1.0 and s["mc1"] in (0.0, 1.0)
    assert entry["metrics"]["mc2"]["value"] == pytest.approx(sum(s["mc2"] for s in samples) / 2)
