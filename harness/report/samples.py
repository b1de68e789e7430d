"""The worst samples of a run per metric, with their text (model outputs and dataset text).

A sample's score on a metric is the suite kind's point estimate on that one record, so "worst"
means what the metric means: the highest per-document perplexity, a wrong answer, the most
toxic continuation. Text comes from the record's own string fields (model outputs) and, when the
run's data file can be read again with the same hash, from the dataset item.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

MAX_TEXT = 600  # characters of each text field shown
MAX_FIELDS = 12  # text fields shown per sample
SKIP_FIELDS = ("id", "error")


@dataclass(frozen=True)
class Sample:
    id: str
    score: float
    texts: tuple[tuple[str, str], ...]  # (field, text), untrusted: escaped by the template


@dataclass(frozen=True)
class WorstSamples:
    metric: str
    direction: str
    samples: tuple[Sample, ...]


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " […]"


def _strings(obj: Any, prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """String fields of a record or item, nested up to three levels (e.g. a list of generated
    continuations, each a mapping with its text and scores). A nested mapping's numbers label its
    strings: `continuations.3.text (toxicity 0.81)`."""
    out: list[tuple[str, str]] = []
    if isinstance(obj, dict):
        items = list(obj.items())
    elif isinstance(obj, (list, tuple)):
        items = list(enumerate(obj))
    else:
        return out
    numbers = ""
    if depth and isinstance(obj, dict):
        nums = [f"{k} {v:.3g}" for k, v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]
        numbers = f" ({', '.join(nums)})" if nums else ""
    for key, value in items:
        if depth == 0 and key in SKIP_FIELDS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, str) and value.strip():
            out.append((name + numbers, _clip(value)))
        elif isinstance(value, (dict, list, tuple)) and depth < 2:
            out.extend(_strings(value, f"{name}.", depth + 1))
    return out


def _with_item_text(fields: list[tuple[str, str]], item: Any) -> list[tuple[str, str]]:
    """The record's fields, then the dataset item's fields whose text the record lacks."""
    seen = {text for _, text in fields}
    return fields + [(f"data: {name}", text) for name, text in item if text not in seen]


def _masked(fields: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Personal data the detectors find (harness.privacy.pii) replaced by [KIND] in every text
    shown; the run's records keep the raw text."""
    from harness.privacy.pii import mask

    return [(name, mask(text)) for name, text in fields]


def _capped(fields: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    if len(fields) <= MAX_FIELDS:
        return tuple(fields)
    return tuple(fields[:MAX_FIELDS]) + (("…", f"{len(fields) - MAX_FIELDS} more text fields not shown"),)


def dataset_texts(kind: Any, entry: dict[str, Any]) -> tuple[dict[str, list[tuple[str, str]]], str]:
    """Item id -> its text fields, re-read from the run's data when its hash still matches;
    else ({}, the reason)."""
    data = entry.get("data") or {}
    source, sha = data.get("source"), data.get("sha256")
    if not isinstance(source, str) or not hasattr(kind, "load"):
        return {}, "the run names no data source"
    try:
        path = None if data.get("builtin") else Path(source)
        if path is not None and not path.exists():
            return {}, f"dataset text not shown: {source} is not on this machine"
        dataset = kind.load(path)
    except (HarnessError, OSError, TypeError, ValueError) as e:
        return {}, f"dataset text not shown: {e}"
    if dataset.sha256 != sha:
        return {}, "dataset text not shown: the data file changed since the run"
    texts = {}
    for item in dataset.items:
        fields = dataclasses.asdict(item) if dataclasses.is_dataclass(item) else getattr(item, "__dict__", {})
        texts[str(item.id)] = _strings(fields)
    return texts, ""


def worst_samples(
    kind: Any, specs: list[Any], records: list[dict[str, Any]], texts: dict[str, list[tuple[str, str]]], k: int
) -> list[WorstSamples]:
    """Per metric (a paired.MetricSpec), the k records with the worst per-record value."""
    ok = [r for r in records if "error" not in r]
    per_record = [kind.point_estimates([r]) for r in ok]
    result = []
    for spec in specs:
        scored = []
        for record, values in zip(ok, per_record):
            v = values.get(spec.name)
            if v is None or not math.isfinite(v):
                continue
            badness = v if spec.direction == "lower" else -v if spec.direction == "higher" else abs(v - (spec.target or 0))
            scored.append((badness, v, record))
        scored.sort(key=lambda t: -t[0])
        samples = tuple(
            Sample(str(r["id"]), v, _capped(_masked(_with_item_text(_strings(r), texts.get(str(r["id"]), ())))))
            for _, v, r in scored[:k]
        )
        if samples:
            result.append(WorstSamples(spec.name, spec.direction, samples))
    return result
