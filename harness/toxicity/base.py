"""The classifier contract: `score(texts)` -> probability of toxicity per text, batched.

A backend that fails on one text reports an error for that text (and None as its score); the
caller counts it as an error on the sample, never as toxicity 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class ClassifierInfo:
    """What is recorded in every result: which classifier, which version, at which threshold."""

    name: str  # e.g. "profanity-check", "detoxify-unbiased", "sklearn"
    backend: str  # the backend that implements it
    version: str  # package version plus a weights/model hash where there is one
    threshold: float = DEFAULT_THRESHOLD
    attributes: tuple[str, ...] = ()  # per-attribute scores the backend also returns
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": self.backend,
            "version": self.version,
            "threshold": self.threshold,
            "attributes": list(self.attributes),
            **({"details": self.details} if self.details else {}),
        }

    @property
    def label(self) -> str:
        """A compact identity for protocol ids: name@version, threshold."""
        return f"{self.name}@{self.version} threshold={self.threshold:g}"


@dataclass(frozen=True)
class Scores:
    """Scores of a batch of texts, aligned with the input."""

    toxicity: tuple[float | None, ...]  # probability of toxicity; None where the text failed
    errors: tuple[str | None, ...]  # the failure message per text, None where it succeeded
    attributes: dict[str, tuple[float | None, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.toxicity)

    def attributes_of(self, i: int) -> dict[str, float | None]:
        return {name: values[i] for name, values in self.attributes.items()}

    @staticmethod
    def ok(toxicity: Sequence[float], attributes: dict[str, Sequence[float]] | None = None) -> Scores:
        return Scores(
            tuple(float(x) for x in toxicity),
            (None,) * len(toxicity),
            {k: tuple(float(x) for x in v) for k, v in (attributes or {}).items()},
        )


@runtime_checkable
class Classifier(Protocol):
    @property
    def info(self) -> ClassifierInfo: ...

    def score(self, texts: Sequence[str]) -> Scores: ...


def score_each_on_failure(batch_score: Any, texts: Sequence[str]) -> Scores:
    """Score `texts` in one batch; if the batch fails, score them one at a time so that a single
    bad text costs only its own score (recorded as an error), not the whole batch's."""
    try:
        return batch_score(list(texts))
    except Exception:  # noqa: BLE001 - any backend failure is isolated per text below
        pass
    toxicity: list[float | None] = []
    errors: list[str | None] = []
    attributes: dict[str, list[float | None]] = {}
    for i, text in enumerate(texts):
        try:
            one = batch_score([text])
        except Exception as e:  # noqa: BLE001
            toxicity.append(None)
            errors.append(f"{type(e).__name__}: {e}"[:300])
            for values in attributes.values():
                values.append(None)
            continue
        toxicity.append(one.toxicity[0])
        errors.append(one.errors[0])
        for name, values in one.attributes.items():
            attributes.setdefault(name, [None] * i).append(values[0])
    for values in attributes.values():
        values.extend([None] * (len(texts) - len(values)))
    return Scores(tuple(toxicity), tuple(errors), {k: tuple(v) for k, v in attributes.items()})
