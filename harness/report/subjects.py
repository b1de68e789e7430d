"""What the scorecard's columns are: the runs' language models, and the classifiers that
model-free suites evaluated.

A model-free suite (a toxicity filter's evaluation) measures a classifier, not the run's
language model, so its numbers sit under the classifier's name. Two runs that evaluated the
same classifier on the same data with the same protocol and got the same numbers share one
column; anything else is a column of its own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from harness.gate.runs import Run
from harness.report.concerns import MODEL_FREE_KINDS

MODEL, CLASSIFIER = "model", "classifier"
PROMPT_LOGPROBS = {
    "verified": "prompt log-probs verified",
    "trusted": "prompt log-probs not verified (--trust-server-logprobs)",
    "refused": "prompt log-probs refused: log-likelihood suites not run",
}


@dataclass(frozen=True)
class Column:
    label: str
    path: str  # the run folder (for a classifier: the run its numbers come from)
    series: int  # colour index
    is_baseline: bool
    subject: str = MODEL  # "model" or "classifier"
    note: str = ""  # e.g. "prompt log-probs verified" for a served model
    run: int = 0  # index of the run (baseline first) whose entries fill this column


@dataclass(frozen=True)
class Subjects:
    columns: tuple[Column, ...]  # models first, then classifiers
    # (run index, suite) -> index into columns, for model-free suites
    classifier_of: dict[tuple[int, str], int]

    def models(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.columns) if c.subject == MODEL)


def is_model_free(entry: dict[str, Any] | None) -> bool:
    return entry is not None and str(entry.get("kind")) in MODEL_FREE_KINDS


def classifier_name(entry: dict[str, Any]) -> str:
    """The classifier a model-free suite evaluated, as its protocol id records it."""
    found = re.search(r"\bclassifier=(\S+)", str(entry.get("protocol") or ""))
    return found.group(1) if found else "classifier"


def served_note(summary: dict[str, Any]) -> str:
    """For a model behind an HTTP endpoint: whether its prompt log-probs were checked."""
    details = (summary.get("model") or {}).get("details") or {}
    status = (details.get("prompt_logprobs") or {}).get("status") if isinstance(details, dict) else None
    return PROMPT_LOGPROBS.get(str(status), "")


def _identity(entry: dict[str, Any]) -> str:
    values = {m: (v or {}).get("value") for m, v in (entry.get("metrics") or {}).items()}
    data = entry.get("data") or {}
    return json.dumps([classifier_name(entry), entry.get("protocol"), data.get("sha256"), values], sort_keys=True, default=str)


def subjects(runs: list[Run], labels: list[str], has_baseline: bool) -> Subjects:
    """Columns for `runs` (the baseline first when there is one), labelled `labels`."""
    columns: list[Column] = []
    for i, (run, label) in enumerate(zip(runs, labels)):
        entries = list(run.summary["suites"].values())
        # A run of model-free suites only (`harness run toxicity_filter`) involved no language model.
        if entries and all(is_model_free(e) for e in entries):
            continue
        columns.append(Column(label, str(run.path), 0, has_baseline and i == 0, MODEL, served_note(run.summary), i))
    seen: dict[str, int] = {}
    classifier_of: dict[tuple[int, str], int] = {}
    for i, run in enumerate(runs):
        for suite, entry in run.summary["suites"].items():
            if not is_model_free(entry):
                continue
            key = _identity(entry)
            if key not in seen:
                seen[key] = len(columns)
                name = classifier_name(entry)
                short, _, version = name.partition("@")  # "profanity-check@alt-profanity-check-1.9.1"
                columns.append(Column(short, str(run.path), 0, False, CLASSIFIER, version, i))
            classifier_of[(i, suite)] = seen[key]
    names = [c.label for c in columns]
    out = []
    for n, c in enumerate(columns):
        label = c.label
        if c.subject == CLASSIFIER:
            label = c.label if names.count(c.label) == 1 else f"{c.label} (in {labels[c.run]})"
            if [f"{x.label}|{labels[x.run]}" for x in columns].count(f"{c.label}|{labels[c.run]}") > 1:
                label += f" #{n + 1}"
        out.append(Column(label, c.path, n, c.is_baseline, c.subject, c.note, c.run))
    return Subjects(tuple(out), classifier_of)
