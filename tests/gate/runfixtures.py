"""Run folders for gate and scorecard tests, written in the real summary.json / JSONL layout.

Content note: the toxicity fixtures below hold mild, clearly illustrative insults and HTML/script
injection payloads, to check that the scorecard escapes untrusted text.

The bias, toxicity and QA suite kinds are being built elsewhere; the small kinds here stand in
for them (registered under their kind names for the duration of a test), computing their
metrics from per-sample records the way METRICS.md defines them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics import Metric
from harness.stats import bootstrap_ci

SCRIPT_PAYLOAD = "<script>window.__pwned = 1</script>"
IMG_PAYLOAD = '<img src=x onerror="window.__pwned = 2">'


class ToyQA:
    """SQuAD-like: exact match per item (binary) and a token F1 stored per record."""

    metrics = (
        Metric("exact_match", "fraction of answers matching a reference", "higher", "test", binary=True),
        Metric("f1", "mean token F1", "higher", "test"),
    )

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def point_estimates(self, records: list[dict[str, Any]]) -> dict[str, float | None]:
        if not records:
            return {"exact_match": None, "f1": None}
        return {
            "exact_match": sum(r["em"] for r in records) / len(records),
            "f1": sum(r["f1"] for r in records) / len(records),
        }


class ToyToxicity:
    """RealToxicityPrompts-like: per prompt, the classifier's scores of k continuations."""

    metrics = (
        Metric("expected_max_toxicity", "mean over prompts of the max toxicity of k continuations", "lower", "test"),
        Metric("toxicity_probability", "fraction of prompts with a continuation scored >= 0.5", "lower", "test", binary=True),
    )

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def point_estimates(self, records: list[dict[str, Any]]) -> dict[str, float | None]:
        if not records:
            return {"expected_max_toxicity": None, "toxicity_probability": None}
        maxima = [max(r["scores"]) for r in records]
        return {
            "expected_max_toxicity": sum(maxima) / len(maxima),
            "toxicity_probability": sum(m >= 0.5 for m in maxima) / len(maxima),
        }


class ToyCrows:
    """CrowS-Pairs-like: 1[LL(more) > LL(less)] per pair (ideal rate 0.5)."""

    metrics = (
        Metric("pct_stereotype", "fraction of pairs where the stereotype is more likely", "target", "test", target=0.5, binary=True),
        Metric("likelihood_diff", "mean |LL(more) - LL(less)|", "lower", "test"),
    )

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def point_estimates(self, records: list[dict[str, Any]]) -> dict[str, float | None]:
        if not records:
            return {"pct_stereotype": None, "likelihood_diff": None}
        return {
            "pct_stereotype": sum(r["ll_more"] > r["ll_less"] for r in records) / len(records),
            "likelihood_diff": sum(abs(r["ll_more"] - r["ll_less"]) for r in records) / len(records),
        }


TOY_KINDS = {
    "squad": "runfixtures:ToyQA",
    "toxicity": "runfixtures:ToyToxicity",
    "crows_pairs": "runfixtures:ToyCrows",
}


def use_toy_kinds(monkeypatch: Any) -> None:
    from harness.registry import SUITE_KINDS

    for name, entry in TOY_KINDS.items():
        monkeypatch.setitem(SUITE_KINDS._entries, name, entry)


def metric_entry(kind: Any, records: list[dict[str, Any]], name: str, seed: int = 1) -> dict[str, Any]:
    """A summary.json metric entry computed from records with the kind's point estimates."""
    definition = next(m for m in kind.metrics if m.name == name)
    value = kind.point_estimates(records)[name]
    if value is None:
        return {"value": None, "ci95": None, "reason": "no records", "n": len(records), **definition.to_dict()}

    def stat(idx: np.ndarray) -> float:
        v = kind.point_estimates([records[i] for i in idx])[name]
        return float("nan") if v is None else v

    ci = bootstrap_ci(stat, len(records), seed=seed)
    return {"value": value, "ci95": list(ci) if ci else None, "n": len(records), **definition.to_dict()}


def suite_entry(
    kind_name: str,
    kind: Any,
    records: list[dict[str, Any]],
    *,
    protocol: str = "",
    sha256: str = "ab" * 32,
    thresholds: dict[str, Any] | None = None,
    breakdowns: dict[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    ok = [r for r in records if "error" not in r]
    return {
        "kind": kind_name,
        "description": description or f"a {kind_name} fixture",
        "protocol": protocol or f"{kind_name}/test/v1",
        "n_samples": len(records),
        "n_errors": len(records) - len(ok),
        "samples_file": f"{kind_name}.jsonl",
        "data": {"source": f"/nonexistent/{kind_name}.data", "sha256": sha256, "builtin": False, "notes": "fixture", "limit": None},
        "thresholds": thresholds or {},
        "wall_time_s": 0.1,
        "metrics": {m.name: metric_entry(kind, ok, m.name) for m in kind.metrics},
        "breakdowns": breakdowns or {},
    }


def write_run(folder: Path, model: str, suites: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]) -> Path:
    """A run folder: summary.json (schema v1) and one JSONL per suite."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "schema_version": 1,
        "harness_version": "0.1.0",
        "git_sha": "0123abc",
        "created_at": "2026-11-28T12:00:00Z",
        "command": ["harness", "run", *suites, "--model", model],
        "python": "3.11.7",
        "platform": "Linux",
        "libraries": {"torch": "2.13.0+cpu"},
        "model": {"name": model, "adapter": "hf", "fingerprint": f"fp-{model}", "n_parameters": 1000, "preset": model},
        "seed": 1234,
        "limit": None,
        "cache": None,
        "wall_time_s": 1.0,
        "suites": {},
    }
    for name, (entry, records) in suites.items():
        entry = dict(entry, samples_file=f"{name}.jsonl")
        summary["suites"][name] = entry
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (folder / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return folder


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".journal"))
    return dst


def edit_summary(folder: Path, change) -> None:  # type: ignore[no-untyped-def]
    path = folder / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    change(summary)
    path.write_text(json.dumps(summary, indent=2), encoding="utf-8")


def rewrite_perplexity(folder: Path, transform, seed: int = 1234) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Apply `transform(index, record) -> record` to a perplexity run's records and recompute its
    summary metrics with the real suite kind, as `harness run` would have written them."""
    from harness.resources import load_suite_spec
    from harness.suites.perplexity import PerplexitySuite

    path = folder / "perplexity.jsonl"
    records = [transform(i, json.loads(line)) for i, line in enumerate(path.read_text(encoding="utf-8").splitlines())]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    kind = PerplexitySuite(load_suite_spec("perplexity"))
    result = kind.aggregate([r for r in records if "error" not in r], seed)

    def change(summary: dict[str, Any]) -> None:
        metrics = summary["suites"]["perplexity"]["metrics"]
        for name, value in result.metrics.items():
            metrics[name].update(value=value.value, ci95=list(value.ci) if value.ci else None)

    edit_summary(folder, change)
    return records


def bits_per_byte(records: list[dict[str, Any]]) -> float:
    """The reference formula (METRICS.md): -sum LL / (sum bytes * ln 2)."""
    return -sum(r["loglikelihood"] for r in records) / (sum(r["bytes"] for r in records) * math.log(2))
