"""Deferred calls: how the driver evaluates many chunks at once while suite kinds stay synchronous.

A suite kind's `evaluate(lm, items, seed)` calls the model (and a classifier) and waits for the
answers. To keep several workers busy, the driver starts the evaluation of several chunks, and
wherever a chunk needs a call that has not been answered yet, the stand-in at the bottom of the
runner's model stack (`DeferredModel`, or `DeferredClassifier` for a classifier) raises
`CallsNeeded` naming that call. The chunk is put aside, the call goes to a worker, and when its
answer is back the chunk's `evaluate` runs again from the start: every call it already made is
now answered (from the call cache, or from the store below), so it gets one call further, until
it returns its records. Suite kinds are deterministic functions of their items, so a re-run makes
the same calls in the same order.

Each call a worker receives is exactly the call the serial path would make to its adapter (the
same requests, the cache hits already dropped by the runner's call cache above): the adapter
forms the same batches, so a Ray run gives the same numbers as a serial run, bit for bit (the hf
adapter's padded, length-sorted batches change the last bits when their composition changes;
this design never changes it).

The driver stays the only writer: the call cache above the stand-in stores the answers, the
runner journals the records of finished chunks in item order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from harness.api import (
    Generation,
    GenerationRequest,
    LanguageModel,
    Loglikelihood,
    LoglikelihoodRequest,
    ModelInfo,
    RequestsFailed,
    RollingLoglikelihood,
)
from harness.cache import CachedModel
from harness.toxicity.base import ClassifierInfo, Scores

Record = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What a worker builds once and then calls: a model adapter or a classifier.

    `build` is a picklable callable that runs on the worker (e.g. `harness.runner.build_model`
    with the preset and the run's options bound), so the worker builds its adapter with the
    same code as the serial path."""

    key: str  # unique in a run, e.g. "model:smollm2-135m:<fingerprint>"
    build: Callable[[], Any]
    kind: str  # "model" (its calls pass the runner's call cache, which counts them) or "classifier"

    @property
    def name(self) -> str:
        """The model's or classifier's name, for messages."""
        return self.key.split(":", 2)[1]


@dataclass(frozen=True)
class Call:
    """One adapter (or classifier) call: the method and its whole argument, as the serial path
    would make it."""

    target: str  # Target.key
    method: str  # "loglikelihood", "loglikelihood_rolling", "generate" or "score"
    payload: tuple[Any, ...]  # the requests (or texts), in order

    @cached_property
    def cost(self) -> int:
        """Roughly the work of the call, to send the largest first: characters to read, plus
        four per token to generate (a generated token costs a forward step)."""
        return sum(_request_cost(r) for r in self.payload)


def _request_cost(request: Any) -> int:
    if isinstance(request, str):
        return len(request)
    if isinstance(request, LoglikelihoodRequest):
        return len(request.context) + len(request.continuation)
    if isinstance(request, GenerationRequest):
        return len(request.prompt) + 4 * request.n * request.max_new_tokens
    return 1


@dataclass(frozen=True)
class Outcome:
    """A worker's answer to a call: the results, or the failure the serial adapter would have
    raised (re-raised in the driver where the suite kind made the call)."""

    results: tuple[Any, ...] = ()
    failed: dict[int, str] | None = None  # RequestsFailed: errors by request index (results None there)
    error: BaseException | None = None  # any other exception, raised as is (a bug, as in the serial path)

    def unwrap(self) -> list[Any]:
        if self.error is not None:
            raise self.error
        if self.failed is not None:
            raise RequestsFailed(list(self.results), dict(self.failed))
        return list(self.results)


class CallsNeeded(BaseException):
    """Raised by a stand-in for a call whose answer has not arrived yet.

    A BaseException (like KeyboardInterrupt) so that no `except Exception` in a suite kind or a
    wrapper can mistake it for a failure of the model and swallow it."""

    def __init__(self, call: Call, target: Target) -> None:
        super().__init__(f"{call.method} on {call.target}: {len(call.payload)} requests")
        self.call = call
        self.target = target


class CallStore:
    """Answers that arrived, by call, until every chunk that asked for them has finished; and
    which calls each chunk's evaluation reached (to count the call cache's misses exactly)."""

    def __init__(self) -> None:
        self._answers: dict[Call, Outcome] = {}
        self._users: dict[Call, set[int]] = {}
        self._reached: dict[int, dict[Call, bool]] = {}
        self.chunk: int | None = None  # the chunk being evaluated

    def answer(self, call: Call, target: Target) -> list[Any]:
        if self.chunk is not None:
            self._reached.setdefault(self.chunk, {})[call] = target.kind == "model"
            self._users.setdefault(call, set()).add(self.chunk)
        outcome = self._answers.get(call)
        if outcome is None:
            raise CallsNeeded(call, target)
        return outcome.unwrap()

    def put(self, call: Call, outcome: Outcome) -> None:
        self._answers[call] = outcome

    def counted_requests(self, chunk: int) -> int:
        """Requests of the counted calls that reached the stand-ins while evaluating `chunk`:
        what the call cache passed down as misses, each call counted once."""
        return sum(len(c.payload) for c, counted in self._reached.get(chunk, {}).items() if counted)

    def finished(self, chunk: int) -> None:
        for call in self._reached.pop(chunk, {}):
            users = self._users.get(call, set())
            users.discard(chunk)
            if not users:
                self._users.pop(call, None)
                self._answers.pop(call, None)


class DeferredModel:
    """Stands in for a language model in the driver: returns the answer of a call the workers
    have answered, and otherwise raises CallsNeeded naming it.

    `lm` is the driver's own adapter for the same preset: it is never called, but gives `info`
    (adapters compute it from file hashes, without loading anything) and is what the runner's
    `innermost` finds (e.g. to ask a served model once which methods it can serve)."""

    def __init__(self, lm: LanguageModel, target: Target, store: CallStore) -> None:
        self.lm = lm
        self.target = target
        self.store = store

    @property
    def info(self) -> ModelInfo:
        return self.lm.info

    def _call(self, method: str, payload: Sequence[Any]) -> list[Any]:
        if not payload:
            return []  # nothing to compute; no round trip
        return self.store.answer(Call(self.target.key, method, tuple(payload)), self.target)

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self._call("loglikelihood", requests)

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return self._call("loglikelihood_rolling", texts)

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return self._call("generate", requests)


class DeferredClassifier:
    """Stands in for a toxicity classifier in the driver, as DeferredModel does for a model."""

    def __init__(self, classifier: Any, target: Target, store: CallStore) -> None:
        self.classifier = classifier
        self.target = target
        self.store = store

    @property
    def info(self) -> ClassifierInfo:
        return self.classifier.info

    def score(self, texts: Sequence[str]) -> Scores:
        if not texts:
            return Scores((), ())  # nothing to compute; no round trip
        (scores,) = self.store.answer(Call(self.target.key, "score", (tuple(texts),)), self.target)
        return scores


def unloaded_copy(obj: Any) -> Any:
    """A shallow copy of a lazily loading object (an adapter or classifier) without what it has
    loaded: the values of its `cached_property` attributes are dropped, so the copy is small to
    send and loads again where it is used."""
    clone = copy.copy(obj)
    for klass in type(obj).__mro__:
        for name, attr in vars(klass).items():
            if isinstance(attr, cached_property):
                clone.__dict__.pop(name, None)
    return clone


def return_value(value: Any) -> Any:
    """`build` for a target shipped as an object (a classifier's unloaded copy)."""
    return value


class Backend(Protocol):
    """Moves calls to workers and answers back (harness.executors.ray_pool.RayPool)."""

    def submit(self, call: Call, target: Target) -> None:
        """Queue a call; it goes to a worker when one is free, largest first."""
        ...

    def next_done(self) -> tuple[Call, Outcome]:
        """Wait for the next answered call."""
        ...


class CacheCounters:
    """The hit and miss counters of the runner's call cache, which a re-run evaluation would
    otherwise count twice."""

    def __init__(self, cached: CachedModel) -> None:
        self.cached = cached

    def read(self) -> tuple[int, int]:
        return self.cached.hits, self.cached.misses

    def write(self, hits: int, misses: int) -> None:
        self.cached.hits, self.cached.misses = hits, misses


@dataclass
class _Window:
    chunks: dict[int, Sequence[Any]] = field(default_factory=dict)  # started, not finished
    done: dict[int, list[Record]] = field(default_factory=dict)  # finished, not yet handed back
    waiting: dict[Call, list[int]] = field(default_factory=dict)  # call -> chunks waiting for it


def evaluate_deferred(
    chunks: Iterable[Sequence[Any]],
    evaluate: Callable[[Sequence[Any]], list[Record]],
    backend: Backend,
    store: CallStore,
    *,
    active: Callable[[], int],
    counters: CacheCounters | None = None,
) -> Iterator[tuple[Sequence[Any], list[Record]]]:
    """(chunk, records) for every chunk, in order, evaluating up to `active()` chunks at once
    (asked each time, as the number of workers is known once they have started).

    `evaluate(chunk)` is the serial path's evaluation of one chunk, through the runner's model
    stack whose bottom is a DeferredModel on `store`."""
    window = _Window()
    todo = enumerate(chunks)
    next_out = 0
    exhausted = False

    def attempt(i: int) -> None:
        before = counters.read() if counters else (0, 0)
        store.chunk = i
        try:
            records = evaluate(window.chunks[i])
        except CallsNeeded as need:
            if counters:
                counters.write(*before)  # this attempt's counts are made again by the next one
            if need.call not in window.waiting:
                window.waiting[need.call] = []
                backend.submit(need.call, need.target)
            window.waiting[need.call].append(i)
            return
        finally:
            store.chunk = None
        if counters:
            # The successful attempt saw every request of the chunk once, but a call answered in
            # an earlier attempt reads as a cache hit now; the misses are the requests that went
            # to the workers, as in the serial path.
            hits, misses = counters.read()
            seen = hits + misses - sum(before)
            sent = store.counted_requests(i)
            counters.write(before[0] + seen - sent, before[1] + sent)
        store.finished(i)
        window.done[i] = records

    while True:
        # Start chunks while fewer than `active` are in progress, and do not run far ahead of
        # the first unfinished one (its records are handed back first).
        while not exhausted and len(window.chunks) - len(window.done) < active() and len(window.chunks) < 4 * active():
            try:
                i, chunk = next(todo)
            except StopIteration:
                exhausted = True
                break
            window.chunks[i] = chunk
            attempt(i)
        while next_out in window.done:
            yield window.chunks.pop(next_out), window.done.pop(next_out)
            next_out += 1
        if exhausted and not window.chunks:
            return
        if not window.waiting:
            continue  # room for more chunks (all answered from the cache)
        call, outcome = backend.next_done()
        store.put(call, outcome)
        for i in window.waiting.pop(call, []):
            attempt(i)
