"""`harness audit`: base and variants through the runner, paired differences with CIs, a page as
self-contained and escaped as the scorecard, and a re-run answered from disk."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from harness.compress.audit import AuditResult, compare_runs
from harness.compress.audit_report import render_html
from harness.runner import RunOptions


@pytest.fixture(scope="module")
def audit(trained_scratch: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """One audit of the trained scratch model: int8 and 90% pruning on perplexity and CrowS-Pairs."""
    from harness.cli import main

    out = tmp_path_factory.mktemp("audit") / "audit"
    args = ["audit", "perplexity", "crows_pairs", "--model", str(trained_scratch), "--variants", "int8,prune:0.9",
            "--limit", "16", "--replicates", "500", "--out", str(out), "--quiet",
            "--cache-dir", str(tmp_path_factory.mktemp("audit-cache"))]  # fmt: skip
    assert main(args) == 0
    return out, args


def rows(data: dict, variant: str) -> dict[tuple[str, str], dict]:
    v = next(v for v in data["variants"] if v["name"] == variant)
    return {(r["suite"], r["metric"]): r for r in v["rows"]}


def test_folders_and_paired_differences(audit: tuple[Path, list[str]]) -> None:
    out, _ = audit
    for folder in ("base", "int8", "prune-0.9"):
        assert (out / folder / "summary.json").exists() and (out / folder / "crows_pairs.jsonl").exists()
    data = json.loads((out / "audit.json").read_text())
    assert data["schema"] == "harness-audit/1" and [v["name"] for v in data["variants"]] == ["int8", "prune-0.9"]
    assert data["base"]["spec"] == "none" and data["base"]["transform"]["modules_changed"] == 0

    pruned = rows(data, "prune-0.9")
    bpb = pruned[("perplexity", "bits_per_byte")]
    assert bpb["significant"] and bpb["worse"] and bpb["diff"] > 0.1 and bpb["diff_ci"][0] > 0
    assert bpb["test"] == "paired bootstrap" and bpb["n"] == 16
    # the difference is the two runs' own values
    base_value = json.loads((out / "base" / "summary.json").read_text())["suites"]["perplexity"]["metrics"]["bits_per_byte"]["value"]
    cand_value = json.loads((out / "prune-0.9" / "summary.json").read_text())["suites"]["perplexity"]["metrics"]["bits_per_byte"]["value"]
    assert bpb["diff"] == pytest.approx(cand_value - base_value)

    int8 = rows(data, "int8")
    assert abs(int8[("perplexity", "bits_per_byte")]["diff"]) < 0.01
    for key, row in {**int8, **pruned}.items():  # every defined comparison has its CI
        assert row["diff"] is None or row["diff_ci"] is not None or row["reason"], key
    assert "prune-0.9 costs +" in next(v["headline"] for v in data["variants"] if v["name"] == "prune-0.9")

    sizes = {v["name"]: v["size_speed"] for v in [data["base"], *data["variants"]]}
    assert sizes["int8"]["weight_bytes"] < 0.6 * sizes["base"]["weight_bytes"]  # the embedding stays fp32
    assert sizes["prune-0.9"]["weight_bytes"] == sizes["base"]["weight_bytes"]  # dense storage
    assert all(s["tokens_per_s"] and s["tokens_per_s"] > 0 and s["load_time_s"] is not None for s in sizes.values())


def test_page_is_self_contained(audit: tuple[Path, list[str]]) -> None:
    out, _ = audit
    html = (out / "audit.html").read_text()
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"\b(src|href)=\"(https?:)?//", html)  # nothing from the network
    assert "prune-0.9" in html and "bits_per_byte" in html and "paired bootstrap" in html


def test_rerun_answers_from_disk(audit: tuple[Path, list[str]]) -> None:
    from harness.cli import main

    out, args = audit
    before = json.loads((out / "audit.json").read_text())
    assert main(args) == 0
    after = json.loads((out / "audit.json").read_text())
    for v_before, v_after in zip([before["base"], *before["variants"]], [after["base"], *after["variants"]]):
        assert v_before["rows"] == v_after["rows"] and v_before["fingerprint"] == v_after["fingerprint"]
        assert v_after["size_speed"]["measured"] == "measured in an earlier run of this audit"
        assert v_after["size_speed"]["tokens_per_s"] == v_before["size_speed"]["tokens_per_s"]


def test_untrusted_names_are_escaped(audit: tuple[Path, list[str]]) -> None:
    out, _ = audit
    result = compare_runs(out, ["base", "int8"], RunOptions(suites=(), model=None, out=out), replicates=200, confidence=0.95)
    hostile = "<script>window.__pwned = 1</script>"
    payload = '<img src=x onerror="window.__pwned = 2">'
    v = result.variants[0]
    v = replace(v, name=payload, rows=tuple(replace(r, suite=hostile) for r in v.rows))
    html = render_html(replace(result, model=hostile, variants=(v,)))
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;" in html


def test_audit_refuses_non_torch_models(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("audit", "crows_pairs", "--model", "ngram", "--variants", "int8", "--limit", "2",
                           "--out", tmp_path / "a", "--quiet")  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "--compress applies to torch models" in err


def test_result_type() -> None:
    assert {"base", "variants", "confidence"} <= set(AuditResult.__dataclass_fields__)
