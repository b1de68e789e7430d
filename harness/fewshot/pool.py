"""Where a suite's exemplars come from, in this order:

1. `--fewshot-data FILE`: that file, read with the suite's own reader (e.g. SQuAD's train file);
2. the suite's built-in pool (`params.fewshot.pool`), when the built-in data is evaluated;
3. otherwise the evaluated data itself, under the exclusion rules of harness.fewshot.sampling
   (never the item, never an item on its passage).

A pool with fewer items than k (k + 1 when it is the evaluated data, since an item cannot be its
own exemplar) is a one-line error before the model loads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from harness.errors import HarnessError
from harness.fewshot.config import FewshotConfig
from harness.resources import file_sha256

T = TypeVar("T")


@dataclass(frozen=True)
class Pool(Generic[T]):
    items: tuple[T, ...]
    source: str  # "builtin:<file>", the --fewshot-data path, or the evaluated data's source
    sha256: str  # of the pool's bytes (the data's own hash when the pool is the data)
    from_data: bool  # the exemplars come from the evaluated data itself

    @property
    def label(self) -> str:
        """The pool in the protocol id: `data`, or its sha256's first 12 hex digits."""
        return "data" if self.from_data else self.sha256[:12]


def load_pool(
    config: FewshotConfig,
    data_builtin: bool,
    data_items: Sequence[T],
    data_source: str,
    data_sha256: str,
    read: Callable[[Path], Sequence[T]],
) -> Pool[T] | None:
    """The pool the run draws from, or None at k = 0 (nothing is read)."""
    if not config.active:
        return None
    if config.data is not None:
        path = config.data
        pool = Pool(tuple(read(path)), str(path), file_sha256(path), from_data=False)
    elif data_builtin and config.pool is not None:
        path = config.pool
        pool = Pool(tuple(read(path)), f"builtin:{path.name}", file_sha256(path), from_data=False)
    else:
        pool = Pool(tuple(data_items), data_source, data_sha256, from_data=True)
    need = config.k + 1 if pool.from_data else config.k
    if len(pool.items) < need:
        why = f", and an item is never its own exemplar" if pool.from_data else ""
        raise HarnessError(
            f"{pool.source}: the few-shot pool has {len(pool.items)} item(s), too few for k={config.k}{why}; "
            "give a smaller --num-fewshot or a larger pool with --fewshot-data FILE"
        )
    return pool
