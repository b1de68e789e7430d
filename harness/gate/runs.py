"""Reading run folders for comparison: the summary, per-sample records, and the suite kind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.results import load_summary


@dataclass(frozen=True)
class Run:
    path: Path  # the run folder
    summary: dict[str, Any]

    @property
    def label(self) -> str:
        model = self.summary.get("model") or {}
        return str(model.get("preset") or model.get("name") or self.path.name)


def load_run(path: Path) -> Run:
    if not path.exists():
        raise HarnessError(f"{path}: no such run folder; give a folder written by `harness run`")
    summary = load_summary(path)
    if not isinstance(summary.get("suites"), dict):
        raise HarnessError(f"{path}: summary.json has no `suites` mapping; is it from `harness run`?")
    folder = path if path.is_dir() else path.parent
    return Run(folder, summary)


def load_records(run: Run, suite: str) -> list[dict[str, Any]] | str:
    """A suite's per-sample records, or the reason they cannot be read (for fail-closed checks)."""
    entry = run.summary["suites"].get(suite) or {}
    name = entry.get("samples_file")
    if not isinstance(name, str) or Path(name).name != name:
        return f"{run.path}/summary.json: suite {suite!r} names no per-sample file"
    path = run.path / name
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    record = json.loads(line)
                    if not isinstance(record, dict) or "id" not in record:
                        return f"{path}:{number}: a per-sample record needs an `id`"
                    records.append(record)
    except FileNotFoundError:
        return f"{path}: per-sample file missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return f"{path}: unreadable per-sample file ({e})"
    return records


def suite_kind(suite: str, kind: str) -> Any | str:
    """The suite kind object that computes point estimates, or the reason there is none.

    The suite's YAML is used when this harness has a suite of that name and kind (its params
    may matter to the estimates); otherwise the kind is built from a bare spec.
    """
    from harness.registry import SUITE_KINDS
    from harness.resources import SuiteSpec, load_suite_spec

    if kind not in SUITE_KINDS:
        return f"suite kind {kind!r} is not part of this harness, so its per-item estimates cannot be recomputed"
    spec = None
    try:
        found = load_suite_spec(suite)
        if found.kind == kind:
            spec = found
    except HarnessError:
        pass
    if spec is None:
        spec = SuiteSpec(name=suite, kind=kind, path=Path(f"{suite}.yaml"))
    try:
        obj = SUITE_KINDS.get(kind)(spec)
    except (TypeError, ImportError, HarnessError) as e:
        return f"suite kind {kind!r} could not be built ({e})"
    if not callable(getattr(obj, "point_estimates", None)):
        return f"suite kind {kind!r} has no point_estimates(records)"
    return obj
