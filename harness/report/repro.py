"""The reproducibility section: what each run was (model fingerprint, versions, seeds) and
what each suite measured with (protocol id, data hash)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.gate.runs import Run


@dataclass(frozen=True)
class ReproCell:
    protocol: str
    source: str
    sha256: str
    notes: str
    limit: str
    matches_first: bool  # same protocol id and data hash as the first run that has the suite


@dataclass(frozen=True)
class ReproSuite:
    suite: str
    cells: tuple[ReproCell | None, ...]  # per column; None when the run lacks the suite

    @property
    def consistent(self) -> bool:
        return all(c is None or c.matches_first for c in self.cells)


def _text(x: Any) -> str:
    return "—" if x is None or x == "" else str(x)


RUN_FIELDS = (
    ("model", lambda s: s.get("model", {}).get("name")),
    ("preset", lambda s: s.get("model", {}).get("preset")),
    ("adapter", lambda s: s.get("model", {}).get("adapter")),
    ("model fingerprint", lambda s: s.get("model", {}).get("fingerprint")),
    ("parameters", lambda s: s.get("model", {}).get("n_parameters")),
    ("tokenizer", lambda s: s.get("model", {}).get("tokenizer")),
    ("max length", lambda s: s.get("model", {}).get("max_length")),
    ("dtype / device", lambda s: f"{_text(s.get('model', {}).get('dtype'))} / {_text(s.get('model', {}).get('device'))}"),
    ("seed", lambda s: s.get("seed")),
    ("item limit", lambda s: s.get("limit")),
    ("harness version", lambda s: s.get("harness_version")),
    ("git commit", lambda s: s.get("git_sha")),
    ("created", lambda s: s.get("created_at")),
    ("python", lambda s: s.get("python")),
    ("libraries", lambda s: ", ".join(f"{k} {v}" for k, v in (s.get("libraries") or {}).items() if v)),
    ("command", lambda s: " ".join(map(str, s.get("command") or []))),
)


def repro_runs(runs: list[Run]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(_text(get(r.summary)) for r in runs)) for name, get in RUN_FIELDS)


def repro_suites(runs: list[Run], suites: list[str]) -> tuple[ReproSuite, ...]:
    out = []
    for suite in suites:
        first: tuple[Any, Any] | None = None
        cells: list[ReproCell | None] = []
        for run in runs:
            entry = run.summary["suites"].get(suite)
            if entry is None:
                cells.append(None)
                continue
            data = entry.get("data") or {}
            ident = (entry.get("protocol"), data.get("sha256"))
            first = first or ident
            cells.append(
                ReproCell(
                    _text(entry.get("protocol")),
                    _text(data.get("source")),
                    _text(data.get("sha256")),
                    _text(data.get("notes")),
                    _text(data.get("limit")),
                    ident == first,
                )
            )
        out.append(ReproSuite(suite, tuple(cells)))
    return tuple(out)
