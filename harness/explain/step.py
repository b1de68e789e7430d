"""Explaining a suite's items with a loaded model: after `harness run` wrote the suite's records
(`--explain K`: the K items with the largest bias signal), or for chosen items (`harness explain`).
Writes `<suite>.explain.jsonl`, one line per item, largest signal first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.explain.capability import explainer_of
from harness.explain.explain import Item, explain_items
from harness.explain.settings import Settings
from harness.explain.targets import RULES, Choice, option_requests, recorded_loglikelihoods, scoring_kind, select
from harness.journal import atomic_write_text
from harness.resources import SuiteSpec

Record = dict[str, Any]


def explain_records(
    adapter: Any,
    spec: SuiteSpec,
    items: Sequence[Any],
    chosen: Sequence[tuple[Record, Choice]],
    *,
    seed: int,
    suite_params: dict[str, Any],
    settings: Settings,
    flag: str,
) -> list[dict[str, Any]]:
    """The explanation lines of the chosen (record, choice) pairs, in their order."""
    explainer = explainer_of(adapter, flag).explainer()
    kind = scoring_kind(spec, suite_params)
    by_id = {item.id: item for item in items}
    rule = RULES[spec.kind]
    jobs = [
        Item(item_id=record["id"], suite=spec.name, kind=spec.kind, signal_name=rule.signal, choice=choice,
             requests=option_requests(kind, by_id[record["id"]], adapter.info, seed), recorded=recorded_loglikelihoods(record))
        for record, choice in chosen
    ]  # fmt: skip
    return explain_items(explainer, jobs, settings)


def write_lines(path: Path, lines: Sequence[dict[str, Any]]) -> Path:
    text = "".join(json.dumps(line, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n" for line in lines)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as e:
        raise HarnessError(f"{path}: cannot write the explanations ({e.strerror or e})") from None
    return path


def explain_after_run(
    adapter: Any, spec: SuiteSpec, items: Sequence[Any], out: Path, k: int, *, seed: int, suite_params: dict[str, Any], settings: Settings
) -> Path | None:
    """After a suite's records are written to OUT/<suite>.jsonl: explain its top K items into
    OUT/<suite>.explain.jsonl (None for a suite kind without options to compare)."""
    if spec.kind not in RULES:
        return None
    records = read_records(out / f"{spec.name}.jsonl")
    chosen = select(spec.kind, records, k)
    lines = explain_records(adapter, spec, items, chosen, seed=seed, suite_params=suite_params, settings=settings, flag="--explain")
    return write_lines(out / f"{spec.name}.explain.jsonl", lines)


def read_records(path: Path) -> list[Record]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise HarnessError(f"{path}: cannot read the suite's records ({e.strerror})") from None
    return [json.loads(line) for line in text.splitlines() if line.strip()]
