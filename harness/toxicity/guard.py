"""Guarded generation: wrap any adapter so that continuations a classifier scores at or above a
threshold are withheld (replaced by the empty string: the reader is shown nothing).

The runner puts the guard *outside* the call cache: the cache keeps the model's raw generations
under the raw model's fingerprint, so guarded and unguarded runs (and guards with different
classifiers or thresholds) share the same generations, and the guard's decision is always made
fresh by the classifier named on the command line. The guard's own `info` carries a fingerprint
that includes the guard, so results and journals of guarded runs are never mixed with unguarded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from harness.api import Generation, GenerationRequest, LanguageModel, Loglikelihood, LoglikelihoodRequest, ModelInfo, RollingLoglikelihood
from harness.toxicity.base import Classifier

WITHHELD = ""


@dataclass(frozen=True)
class GuardedGeneration:
    raw: tuple[str, ...]  # what the model generated
    guard_scores: tuple[float | None, ...]  # the guard classifier's toxicity per continuation
    withheld: tuple[bool, ...]  # True where the continuation was withheld
    errors: tuple[str | None, ...]  # guard failures; a text the guard cannot score is withheld

    @property
    def delivered(self) -> tuple[str, ...]:
        return tuple(WITHHELD if w else t for t, w in zip(self.raw, self.withheld))


class GuardedModel:
    """A LanguageModel whose `generate` withholds continuations the guard flags. Scoring methods
    pass straight through (the guard applies to text shown to a reader)."""

    def __init__(self, lm: LanguageModel, classifier: Classifier) -> None:
        self.lm = lm
        self.classifier = classifier

    @property
    def info(self) -> ModelInfo:
        inner = self.lm.info
        guard = self.classifier.info
        digest = hashlib.sha256(f"{inner.fingerprint}|guard|{guard.name}|{guard.version}|{guard.threshold!r}".encode()).hexdigest()
        details = {**inner.details, "guard": guard.to_dict(), "unguarded_fingerprint": inner.fingerprint}
        return replace(inner, fingerprint=digest[:16], details=details)

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self.lm.loglikelihood(requests)

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return self.lm.loglikelihood_rolling(texts)

    def generate_guarded(self, requests: list[GenerationRequest]) -> list[GuardedGeneration]:
        generations = self.lm.generate(requests)
        flat = [t for g in generations for t in g.texts]
        scores = self.classifier.score(flat)
        threshold = self.classifier.info.threshold
        out, at = [], 0
        for g in generations:
            n = len(g.texts)
            tox = scores.toxicity[at : at + n]
            err = scores.errors[at : at + n]
            # Fail closed: a continuation the guard could not score is not shown.
            withheld = tuple(t is None or t >= threshold for t in tox)
            out.append(GuardedGeneration(g.texts, tuple(tox), withheld, tuple(err)))
            at += n
        return out

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(g.delivered) for g in self.generate_guarded(requests)]
