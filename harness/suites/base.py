"""The contract between the runner and a suite kind.

The runner owns chunking, journaling, caching and output; a suite kind owns reading its data,
calling the adapter method it needs, and turning per-sample records into metrics.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

from harness.api import LanguageModel, ModelInfo
from harness.metrics import Metric, MetricValue
from harness.resources import SuiteSpec

Record = dict[str, Any]  # one per-sample line; always has "id", and "error" when the sample failed


@dataclass(frozen=True)
class Dataset:
    items: Sequence[Any]  # suite-specific frozen dataclasses, each with a unique `id: str`
    source: str  # the file or folder read, or "builtin:<path>" for the project's own probe data
    sha256: str  # of the bytes read
    builtin: bool
    notes: str = ""  # how the source was split into items, for the results


@dataclass(frozen=True)
class SuiteResult:
    metrics: dict[str, MetricValue]
    # Per-category values: breakdowns[by][group][metric], e.g. breakdowns["bias_type"]["gender"].
    breakdowns: dict[str, dict[str, dict[str, MetricValue]]] = field(default_factory=dict)


class SuiteKind(Protocol):
    metrics: tuple[Metric, ...]
    chunk_size: int  # items evaluated (and journaled) per adapter call
    # The adapter methods `evaluate` calls ("loglikelihood", "loglikelihood_rolling", "generate"):
    # an adapter that cannot serve one (harness.api.ChecksSupport) refuses the suite before any item runs.
    model_methods: tuple[str, ...]

    def protocol(self, info: ModelInfo) -> str:
        """Identifies the variant and every parameter that changes the numbers."""
        ...

    def load(self, path: Path | None) -> Dataset:
        """Read `path` (or the suite's built-in data when None); bad input raises HarnessError."""
        ...

    def evaluate(self, lm: LanguageModel, items: Sequence[Any], seed: int) -> list[Record]:
        """One record per item, in order. A failure on one item is a record with "error"."""
        ...

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        """Each metric's value on these records, no CIs: what the regression gate resamples
        (paired bootstrap over items) and evaluates on single records for McNemar's test."""
        ...

    def aggregate(self, records: list[Record], seed: int) -> SuiteResult:
        """Metrics with 95% CIs (and breakdowns) over the records that did not fail."""
        ...


def item_seed(seed: int, item_id: str) -> int:
    """A per-item seed, so a sampled item gives the same output whatever order it runs in."""
    digest = hashlib.sha256(f"{seed}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def data_path(spec: SuiteSpec, path: Path | None) -> tuple[Path, bool]:
    """The file to read and whether it is the suite's built-in data."""
    if path is not None:
        return path, False
    if spec.data is None:
        raise HarnessError(f"suite {spec.name} has no built-in data; give one with --data FILE")
    return spec.data, True


def suite_params(spec: SuiteSpec, defaults: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The suite YAML's `params` over `defaults`, then the command line's `overrides` that are not
    None; a param the suite does not know is a one-line error naming the file."""
    unknown = set(spec.params) - set(defaults)
    if unknown:
        raise HarnessError(f"{spec.path}: unknown param(s) {', '.join(sorted(unknown))}; known: {', '.join(defaults)}")
    return {**defaults, **spec.params, **{k: v for k, v in overrides.items() if v is not None}}
