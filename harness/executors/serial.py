"""`--executor serial` (the default): every call runs in this process, chunk after chunk."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from harness.api import LanguageModel
from harness.executors.base import Record
from harness.resources import ModelSpec

if TYPE_CHECKING:
    from harness.runner import RunOptions


class SerialExecutor:
    name = "serial"

    def check(self) -> None:
        pass

    def model(self, adapter: LanguageModel, spec: ModelSpec, options: RunOptions) -> LanguageModel:
        return adapter

    def evaluate(
        self,
        kind: Any,
        lm: LanguageModel,
        chunks: Iterable[Sequence[Any]],
        evaluate: Callable[[Sequence[Any]], list[Record]],
    ) -> Iterator[tuple[Sequence[Any], list[Record]]]:
        for chunk in chunks:
            yield chunk, evaluate(chunk)

    def record(self) -> dict[str, Any]:
        return {"name": self.name}

    def close(self) -> None:
        pass
