"""One registration site per plugin kind: lazy "module:attr" entries with did-you-mean errors.

Entries are strings so that listing or validating names imports nothing heavy; the object is
imported the first time it is asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from harness.errors import HarnessError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def names(self) -> list[str]:
        return sorted(self._entries)

    def check(self, name: str) -> None:
        if name not in self._entries:
            known = ", ".join(self.names())
            raise HarnessError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)}; known: {known}"
            )

    def get(self, name: str) -> T:
        self.check(name)
        module_name, _, attr = self._entries[name].partition(":")
        module = importlib.import_module(module_name)
        return getattr(module, attr)


# Model adapters: the preset's `adapter:` field names one of these.
ADAPTERS: Registry = Registry(
    "model adapter",
    {
        "hf": "harness.models.hf:HFModel",
        "ngram": "harness.models.ngram:NgramModel",
        "openai": "harness.models.served:OpenAIModel",
        "scratch": "harness.models.scratch:ScratchModel",
    },
)

# Suite kinds: a suite YAML's `kind:` field names one of these.
SUITE_KINDS: Registry = Registry(
    "suite kind",
    {
        "perplexity": "harness.suites.perplexity:PerplexitySuite",
        "crows_pairs": "harness.suites.crows_pairs:CrowsPairsSuite",
        "stereoset": "harness.suites.stereoset:StereoSetSuite",
        "bbq": "harness.suites.bbq:BBQSuite",
        "counterfactual": "harness.suites.counterfactual:CounterfactualSuite",
        "squad": "harness.suites.squad:SquadSuite",
        "truthfulqa_mc": "harness.suites.truthfulqa:TruthfulQASuite",
        "toxicity": "harness.suites.toxicity:ToxicitySuite",
        "toxicity_filter": "harness.suites.toxicity_filter:ToxicityFilterSuite",
        "memorization": "harness.suites.memorization:MemorizationSuite",
        "canary_exposure": "harness.suites.canary_exposure:CanaryExposureSuite",
        "pii_leakage": "harness.suites.pii_leakage:PIILeakageSuite",
    },
)
