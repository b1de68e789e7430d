"""Model calls that fail (a served model's server refused or never answered) become errored
records, never scores.

An adapter raises `harness.api.RequestsFailed` when some requests of a batch could not be answered.
`FailureMemo` remembers those requests for the rest of the run, so that `evaluate_items` can
re-evaluate a failed chunk item by item (the answers that arrived come from the call cache, the
known failures fail at once without asking the server again) and journal exactly the items whose
requests failed as `{"id": ..., "error": ...}`. The next run of the same command retries them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.api import (
    ChecksSupport,
    Generation,
    GenerationRequest,
    LanguageModel,
    Loglikelihood,
    LoglikelihoodRequest,
    ModelInfo,
    RequestsFailed,
    RollingLoglikelihood,
)
from harness.errors import HarnessError


class FailureMemo:
    """A LanguageModel that fails at once, with the same message, the requests that already failed
    in this run, and forwards the others."""

    def __init__(self, lm: LanguageModel) -> None:
        self.lm = lm
        self._failed: dict[tuple[str, Any], str] = {}

    @property
    def info(self) -> ModelInfo:
        return self.lm.info

    def _call(self, method: str, requests: Sequence[Any], compute: Callable[[list[Any]], list[Any]]) -> list[Any]:
        known = {i: self._failed[(method, r)] for i, r in enumerate(requests) if (method, r) in self._failed}
        todo = [i for i in range(len(requests)) if i not in known]
        results: list[Any] = [None] * len(requests)
        errors = dict(known)
        if todo:
            try:
                computed = compute([requests[i] for i in todo])
            except RequestsFailed as e:
                computed = e.results
                for j, message in e.errors.items():
                    errors[todo[j]] = message
                    self._failed[(method, requests[todo[j]])] = message
            for i, result in zip(todo, computed):
                results[i] = result
        if errors:
            raise RequestsFailed(results, errors)
        return results

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self._call("loglikelihood", requests, self.lm.loglikelihood)

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return self._call("loglikelihood_rolling", texts, self.lm.loglikelihood_rolling)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return self._call("generate", requests, self.lm.generate)


def evaluate_items(evaluate: Callable[[Sequence[Any]], list[dict[str, Any]]], items: Sequence[Any]) -> list[dict[str, Any]]:
    """`evaluate(items)`, except that when model calls fail the items are evaluated one at a time
    and each item whose own requests failed gets an errored record (the first failure's message)."""
    try:
        return evaluate(items)
    except RequestsFailed as e:
        if len(items) == 1:
            message = next(iter(e.errors.values()))
            return [{"id": items[0].id, "error": f"model call failed: {message}"}]
    return [record for item in items for record in evaluate_items(evaluate, [item])]


def innermost(lm: Any) -> Any:
    """The adapter under the runner's wrappers (guard, call cache, failure memo), which wrap it as `.lm`."""
    while hasattr(lm, "lm"):
        lm = lm.lm
    return lm


def check_support(lm: LanguageModel, suites: Sequence[tuple[str, Sequence[str]]]) -> None:
    """Refuse, before any item runs, the suites that need a method the adapter says it cannot serve
    (harness.api.ChecksSupport, e.g. a server that returns no prompt log-probabilities).

    `suites` is (suite name, the adapter methods it calls) for each suite that uses the model."""
    adapter = innermost(lm)
    if not isinstance(adapter, ChecksSupport):
        return
    refused: dict[str, list[str]] = {}  # reason -> suites
    can_run = []
    for name, methods in suites:
        reasons = [r for r in (adapter.unsupported(m) for m in methods) if r]
        if reasons:
            refused.setdefault(reasons[0], []).append(name)
        else:
            can_run.append(name)
    if refused:
        reason, names = next(iter(refused.items()))
        others = sorted({n for ns in refused.values() for n in ns} - set(names))
        also = f" (also refused: {', '.join(others)})" if others else ""
        hint = f"; run the other suites ({', '.join(can_run)}) on their own" if can_run else ""
        raise HarnessError(f"suite(s) {', '.join(names)} cannot run on model {lm.info.name}: {reason}{also}{hint}")
