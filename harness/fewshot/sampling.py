"""Which exemplars an item gets.

The choice depends only on the run seed, the item's id and the pool (its order and contents):
not on batching, workers, --limit or the order items run in, so the same item sees the same
exemplars in every run with that seed. An exemplar is never the item itself (same id) nor a pool
entry the suite calls related to it (`related`: SQuAD, an item on the same passage; so the
answer cannot leak into the prompt).

    random  k distinct entries in a seeded random order (a lazy Fisher-Yates shuffle, so a large
            pool such as SQuAD's train file costs O(k) per item, not a shuffle of the whole pool)
    first   the first k eligible entries in pool order (the same exemplars for nearly every item)
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from harness.errors import HarnessError
from harness.fewshot.pool import Pool


def _rng(seed: int, item_id: str) -> random.Random:
    digest = hashlib.sha256(f"fewshot:{seed}:{item_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _shuffled(n: int, rng: random.Random) -> Iterator[int]:
    """0 .. n-1 in a uniformly random order, drawn one at a time."""
    moved: dict[int, int] = {}  # position -> the index now there, where it is not its own
    for i in range(n):
        j = rng.randrange(i, n)
        at_i, at_j = moved.get(i, i), moved.get(j, j)
        moved[j] = at_i
        moved.pop(i, None)
        yield at_j


def choose(
    pool: Sequence[Any],
    item_id: str,
    k: int,
    sampler: str,
    seed: int,
    related: Callable[[Any], bool] = lambda entry: False,
    pool_is_data: bool = True,
) -> tuple[int, ...]:
    """Indices into `pool` of the item's k exemplars, in the order they are shown. Pool entries
    have an `id`; when the pool is the evaluated data (`pool_is_data`) the entry with the item's
    id is the item itself. `related(entry)` is True for an entry not to be shown with this item."""
    order = range(len(pool)) if sampler == "first" else _shuffled(len(pool), _rng(seed, item_id))
    chosen: list[int] = []
    for index in order:
        if len(chosen) == k:
            break
        entry = pool[index]
        if not (pool_is_data and entry.id == item_id) and not related(entry):
            chosen.append(index)
    if len(chosen) < k:
        raise HarnessError(
            f"item {item_id!r}: only {len(chosen)} pool item(s) may be its exemplars (not itself, not on its "
            f"passage), fewer than k={k}; give a smaller --num-fewshot or a larger pool with --fewshot-data FILE"
        )
    return tuple(chosen)


def draw(
    pool: Pool[Any], items: Sequence[Any], k: int, sampler: str, seed: int,
    related: Callable[[Any, Any], bool] = lambda item, entry: False,
) -> list[tuple[Any, ...]]:
    """Each item's exemplars (pool entries, in the order shown); `related(item, entry)` as in `choose`."""
    entries = pool.items
    return [
        tuple(entries[i] for i in choose(entries, item.id, k, sampler, seed,
                                         lambda entry, item=item: related(item, entry), pool.from_data))
        for item in items
    ]
