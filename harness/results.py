"""The results format: summary.json (versioned, self-describing) beside per-sample JSONL files.

summary.json, schema version 1:
    schema_version, harness_version, git_sha, created_at, command, python, libraries,
    model {name, adapter, fingerprint, n_parameters, tokenizer, max_length, dtype, device, ...},
    seed, limit, cache {hits, misses},
    executor {name, and for ray: workers, cpus_per_worker, gpus_per_worker, nodes, restarts, ...},
    wall_time_s,
    suites {<suite>: {kind, description, protocol, n_samples, n_errors, samples_file,
                      data {source, sha256, builtin, notes}, thresholds, wall_time_s,
                      metrics {<metric>: {value, ci95, n, reason?, description, direction, source, target?}},
                      breakdowns {<by>: {<group>: {<metric>: {value, ci95, n, reason?}}}}}}
A metric's value is a float, or null with a `reason` when it is undefined on the data.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

import harness
from harness.errors import HarnessError
from harness.journal import atomic_write_text
from harness.resources import SuiteSpec

SCHEMA_VERSION = 1
LIBRARIES = ("torch", "transformers", "tokenizers", "safetensors", "numpy", "scipy", "scikit-learn")


def git_sha() -> str | None:
    root = Path(harness.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("-dirty" if dirty else "")) or None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def run_provenance(argv: Sequence[str]) -> dict[str, Any]:
    return {
        "harness_version": harness.__version__,
        "git_sha": git_sha(),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": list(argv),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "libraries": library_versions(),
    }


def suite_summary(
    *,
    spec: SuiteSpec,
    kind: Any,
    dataset: Any,
    protocol: str,
    result: Any,
    n_samples: int,
    n_errors: int,
    samples_file: str,
    wall_time_s: float,
    limit: int | None,
) -> dict[str, Any]:
    definitions = {m.name: m for m in kind.metrics}
    return {
        "kind": spec.kind,
        "description": spec.description,
        "protocol": protocol,
        "n_samples": n_samples,
        "n_errors": n_errors,
        "samples_file": samples_file,
        "data": {
            "source": dataset.source,
            "sha256": dataset.sha256,
            "builtin": dataset.builtin,
            "notes": dataset.notes,
            "limit": limit,
        },
        "thresholds": spec.thresholds,
        "wall_time_s": round(wall_time_s, 3),
        "metrics": {name: value.to_dict(definitions.get(name)) for name, value in result.metrics.items()},
        "breakdowns": {
            by: {group: {m: v.to_dict() for m, v in values.items()} for group, values in groups.items()}
            for by, groups in result.breakdowns.items()
        },
    }


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def load_summary(run_dir: Path) -> dict[str, Any]:
    """Read a run folder's summary.json (or the file itself), checking its schema version."""
    path = run_dir / "summary.json" if run_dir.is_dir() else run_dir
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file; give a run folder written by `harness run`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: not a readable summary.json ({e})") from None
    version = summary.get("schema_version") if isinstance(summary, dict) else None
    if version != SCHEMA_VERSION:
        raise HarnessError(f"{path}: schema version {version!r}, this harness reads version {SCHEMA_VERSION}")
    return summary


def load_samples(run_dir: Path, suite: str) -> list[dict[str, Any]]:
    """The per-sample records of one suite of a run."""
    summary = load_summary(run_dir)
    entry = summary["suites"].get(suite)
    if entry is None:
        raise HarnessError(f"{run_dir}: has no suite {suite!r} (it has {', '.join(summary['suites'])})")
    path = (run_dir if run_dir.is_dir() else run_dir.parent) / entry["samples_file"]
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
