"""The model thread, and micro-batching of the requests that arrive together.

The event loop never touches the model: every adapter call goes to `ModelThread`, a single
worker thread (models and tokenizers are not thread-safe, and one forward pass at a time is what
a CPU or a single GPU can do anyway). `MicroBatcher` collects the items that concurrent requests
submit — waiting at most `max_wait_s` after the first one, or until `max_batch` are queued — and
hands them to the model thread as one list, so eight clients scoring at once cost one batched
forward pass instead of eight. Each item's result (or the batch's exception) goes back to the
request that submitted it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_WAIT_S = 0.005


class ModelThread:
    """One worker thread; `run` awaits a function call on it without blocking the event loop."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="harness-model")

    async def run(self, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class BatchStats:
    calls: int = 0  # adapter calls made
    items: int = 0  # items they carried
    largest: int = 0  # the most items in one call

    def as_dict(self) -> dict[str, int]:
        return {"calls": self.calls, "items": self.items, "largest": self.largest}


class MicroBatcher(Generic[T, R]):
    """`await submit(item)` -> that item's result from one `run_batch(items)` call on the model
    thread, shared with the items submitted at about the same time. `run_batch` may put an
    exception in place of an item's result: `submit` raises it for that item alone."""

    def __init__(
        self, run_batch: Callable[[Sequence[T]], Sequence[R]], thread: ModelThread, max_batch: int,
        max_wait_s: float = MAX_WAIT_S,
    ) -> None:
        self.run_batch = run_batch
        self.thread = thread
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for _, future in self._pending:
            future.cancel()

    async def submit(self, item: T) -> R:
        if self._wake is None:
            raise RuntimeError("MicroBatcher.start() was not called")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    async def submit_all(self, items: Sequence[T]) -> list[R]:
        return list(await asyncio.gather(*(self.submit(x) for x in items)))

    async def _loop(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            if len(self._pending) < self.max_batch:
                await asyncio.sleep(self.max_wait_s)  # let the requests arriving together join
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            if not self._pending:
                self._wake.clear()
            batch = [(item, future) for item, future in batch if not future.cancelled()]
            if not batch:
                continue
            self.stats.calls += 1
            self.stats.items += len(batch)
            self.stats.largest = max(self.stats.largest, len(batch))
            try:
                results = await self.thread.run(self.run_batch, [item for item, _ in batch])
            except Exception as e:  # the whole call failed: every request in it gets the error
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (_, future), result in zip(batch, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):  # this item's own failure (e.g. a prompt too long)
                    future.set_exception(result)
                else:
                    future.set_result(result)
