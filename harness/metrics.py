"""What a metric is (its meaning travels with it) and what a computed value looks like."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["higher", "lower", "target"]


@dataclass(frozen=True)
class Metric:
    """A metric's identity: name, meaning, which way is better, and where it is defined."""

    name: str
    description: str
    direction: Direction  # "higher" or "lower" is better, or closest to `target`
    source: str  # the paper or reference code that defines it
    target: float | None = None  # the ideal value when direction is "target"
    # A mean of per-item 0/1 outcomes (an accuracy): paired comparisons use McNemar's test.
    binary: bool = False

    def __post_init__(self) -> None:
        if (self.direction == "target") != (self.target is not None):
            raise ValueError(f"metric {self.name}: a target value goes with direction 'target' only")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "description": self.description,
            "direction": self.direction,
            "source": self.source,
        }
        if self.target is not None:
            d["target"] = self.target
        if self.binary:
            d["binary"] = True
        return d


@dataclass(frozen=True)
class MetricValue:
    """A computed metric: a float with its 95% CI, or None with the reason it is undefined."""

    value: float | None
    ci: tuple[float, float] | None = None
    reason: str | None = None
    n: int | None = None  # sampling units it was computed over

    @staticmethod
    def undefined(reason: str, n: int | None = None) -> MetricValue:
        return MetricValue(None, None, reason, n)

    @staticmethod
    def of(value: float, ci: tuple[float, float] | None, n: int, reason_if_nan: str) -> MetricValue:
        """`value` unless it is NaN or infinite, in which case undefined with `reason_if_nan`."""
        if value is None or not math.isfinite(value):
            return MetricValue.undefined(reason_if_nan, n)
        if ci is not None and not all(math.isfinite(x) for x in ci):
            ci = None
        return MetricValue(float(value), ci, None, n)

    def to_dict(self, metric: Metric | None = None) -> dict[str, Any]:
        d: dict[str, Any] = {"value": self.value, "ci95": list(self.ci) if self.ci else None}
        if self.reason is not None:
            d["reason"] = self.reason
        if self.n is not None:
            d["n"] = self.n
        if metric is not None:
            d.update(metric.to_dict())
        return d
