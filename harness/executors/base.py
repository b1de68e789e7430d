"""The contract between the runner and an executor: how model calls are executed, never what is
computed.

Suite kinds turn items into requests and records into metrics; the runner plans, caches, journals
and aggregates. An executor only decides where the model (and classifier) calls run and hands the
records back in item order. The driver (the process running `harness run`) stays the only writer
of the journal, the call cache and summary.json, whatever the executor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from harness.api import LanguageModel
from harness.resources import ModelSpec

if TYPE_CHECKING:
    from harness.runner import RunOptions

Record = dict[str, Any]


class Executor(Protocol):
    name: str

    def check(self) -> None:
        """Raise HarnessError for bad settings or a missing optional library, before anything loads."""
        ...

    def model(self, adapter: LanguageModel, spec: ModelSpec, options: RunOptions) -> LanguageModel:
        """What the runner's wrappers (failure memo, call cache, guard) wrap: the adapter itself,
        or a stand-in that sends its calls to workers. `adapter` is lazy: only `info` is read."""
        ...

    def evaluate(
        self,
        kind: Any,
        lm: LanguageModel,
        chunks: Iterable[Sequence[Any]],
        evaluate: Callable[[Sequence[Any]], list[Record]],
    ) -> Iterator[tuple[Sequence[Any], list[Record]]]:
        """(chunk, records) for every chunk, in chunk order; `evaluate(chunk)` is the serial
        evaluation of one chunk of `kind`'s items through the model stack `lm`."""
        ...

    def record(self) -> dict[str, Any]:
        """What summary.json records under "executor" (name, workers, nodes, restarts)."""
        ...

    def close(self) -> None:
        """Release workers; called once at the end of the run, also after an error."""
        ...
