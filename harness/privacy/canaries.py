"""Canaries: random secrets planted in a training stream (Carlini et al. 2019, "The Secret Sharer").

A canary is a fixed template with a random secret drawn from a randomness space R, e.g.
"my PIN is 4 8 1 9 2 7": six digits, |R| = 10^6. `harness train --canaries N --canary-repeats
1,4,16` draws N distinct secrets per repeat count from a seeded RNG, inserts each canary document
exactly its repeat count into the training token stream (never the validation stream), checks the
counts from the token stream itself, and writes the list next to the checkpoint (CANARY_FILE),
which the `canary_exposure` suite reads.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError

CANARY_FILE = "canaries.json"
FORMAT = "harness-canaries/v1"
DEFAULT_REPEATS = (1, 4, 16)


@dataclass(frozen=True)
class Space:
    """The randomness space R: `length` symbols of `alphabet`, joined by `separator`, filled into
    `template` at "{secret}"."""

    template: str = "my PIN is {secret}"
    alphabet: str = "0123456789"
    length: int = 6
    separator: str = " "

    def __post_init__(self) -> None:
        if self.template.count("{secret}") != 1:
            raise HarnessError(f"canary template {self.template!r} must contain {{secret}} exactly once")
        if self.length < 1 or len(set(self.alphabet)) != len(self.alphabet) or len(self.alphabet) < 2:
            raise HarnessError("canary space: length must be >= 1 and the alphabet at least two distinct symbols")

    @property
    def size(self) -> int:
        return len(self.alphabet) ** self.length

    def secret(self, index: int) -> str:
        """The secret with this index in 0 .. size - 1 (base-len(alphabet) digits, most significant first)."""
        symbols = []
        for _ in range(self.length):
            index, d = divmod(index, len(self.alphabet))
            symbols.append(self.alphabet[d])
        return self.separator.join(reversed(symbols))

    def text(self, secret: str) -> str:
        return self.template.replace("{secret}", secret)

    def prefix(self) -> str:
        return self.template.split("{secret}")[0]


@dataclass(frozen=True)
class Canary:
    id: str
    secret: str
    text: str
    repeats: int  # how many times it was inserted into the training stream


@dataclass(frozen=True)
class CanarySet:
    space: Space
    canaries: tuple[Canary, ...]
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "space": asdict(self.space), "seed": self.seed,
                "canaries": [asdict(c) for c in self.canaries]}


def parse_repeats(value: str) -> tuple[int, ...]:
    """`--canary-repeats 1,4,16`: distinct positive counts."""
    try:
        counts = tuple(int(x) for x in value.split(",") if x.strip())
    except ValueError:
        raise HarnessError(f"--canary-repeats: expected comma-separated whole numbers like 1,4,16, got {value!r}") from None
    if not counts or min(counts) < 1 or len(set(counts)) != len(counts):
        raise HarnessError(f"--canary-repeats: expected distinct positive counts like 1,4,16, got {value!r}")
    return counts


def draw_canaries(n: int, repeats: Sequence[int], seed: int, space: Space = Space()) -> CanarySet:
    """N distinct secrets per repeat count, drawn uniformly from the space with a seeded RNG."""
    total = n * len(repeats)
    if n < 1:
        raise HarnessError(f"--canaries must be at least 1, got {n}")
    if total > space.size // 2:
        raise HarnessError(f"{total} canaries is too many for a space of {space.size} secrets; plant fewer")
    rng = np.random.default_rng([seed, 0xCA7A])
    chosen: list[int] = []
    seen: set[int] = set()
    while len(chosen) < total:
        index = int(rng.integers(0, space.size))
        if index not in seen:
            seen.add(index)
            chosen.append(index)
    canaries = []
    for k, r in enumerate(repeats):
        for j in range(n):
            secret = space.secret(chosen[k * n + j])
            canaries.append(Canary(f"r{r}-{j + 1}", secret, space.text(secret), int(r)))
    return CanarySet(space, tuple(canaries), seed)


def count_occurrences(stream: np.ndarray, pattern: Sequence[int]) -> int:
    """How many times `pattern` occurs as a contiguous run of `stream` (overlaps counted)."""
    pattern = np.asarray(pattern, dtype=stream.dtype)
    if len(stream) < len(pattern):
        return 0
    view = np.lib.stride_tricks.sliding_window_view(stream, len(pattern))
    return int(np.all(view == pattern, axis=1).sum())


def plant(train: np.ndarray, val: np.ndarray, canaries: CanarySet, encode: Callable[[list[str]], list[list[int]]],
          eot: int, seed: int) -> np.ndarray:
    """The training stream with each canary inserted `repeats` times as its own document.

    Each insertion is [EOT] + canary tokens, placed just before one of the stream's EOT tokens
    (a document boundary, chosen with a seeded RNG), so every copy is delimited by EOT on both
    sides, exactly as a document of the corpus is. The result is checked from the tokens: each
    canary's [EOT] + tokens + [EOT] occurs exactly `repeats` times in the training stream and never
    in the validation stream; anything else is an error, not a silent miscount."""
    ids = encode([c.text for c in canaries.canaries])
    boundaries = np.flatnonzero(train == eot)
    if len(boundaries) == 0:
        raise HarnessError("the training stream has no document boundary to insert canaries at")
    rng = np.random.default_rng([seed, 0x5EC7])
    inserts: list[tuple[int, int, list[int]]] = []  # (boundary position, order, tokens)
    for c, tokens in zip(canaries.canaries, ids):
        for _ in range(c.repeats):
            inserts.append((int(boundaries[rng.integers(0, len(boundaries))]), len(inserts), [eot, *tokens]))
    inserts.sort()
    pieces, at = [], 0
    for position, _, tokens in inserts:
        pieces.append(train[at:position])
        pieces.append(np.asarray(tokens, dtype=train.dtype))
        at = position
    pieces.append(train[at:])
    planted = np.concatenate(pieces)
    check_planted(planted, val, canaries, ids, eot)
    return planted


def check_planted(train: np.ndarray, val: np.ndarray, canaries: CanarySet, ids: list[list[int]], eot: int) -> None:
    for c, tokens in zip(canaries.canaries, ids):
        pattern = [eot, *tokens, eot]
        in_train, in_val = count_occurrences(train, pattern), count_occurrences(val, pattern)
        if in_train != c.repeats or in_val != 0:
            raise HarnessError(
                f"canary {c.id}: found {in_train} times in the training stream (planted {c.repeats}) and "
                f"{in_val} times in the validation stream; the corpus already holds this text, plant with another seed"
            )


def write_canaries(folder: Path, canaries: CanarySet) -> Path:
    from harness.scratch.checkpoint import write_json

    path = folder / CANARY_FILE
    write_json(path, canaries.to_dict())
    return path


def read_canaries(path: Path) -> CanarySet:
    """A canary file written by `harness train --canaries` (or by hand in the same format)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"{path}: no canary file; train with `harness train --canaries N` or give one with --data") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise HarnessError(f"{path}: cannot read the canary file ({e}); expected JSON written by harness train") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise HarnessError(f"{path}: not a canary file (expected \"format\": \"{FORMAT}\")")
    try:
        space = Space(**raw["space"])
        canaries = tuple(Canary(str(c["id"]), str(c["secret"]), str(c["text"]), int(c["repeats"])) for c in raw["canaries"])
    except (KeyError, TypeError, ValueError) as e:
        raise HarnessError(f"{path}: malformed canary entry ({e!r}); each needs id, secret, text and repeats") from None
    if not canaries:
        raise HarnessError(f"{path}: the canary list is empty")
    for c in canaries:
        if c.text != space.text(c.secret) or len(c.secret.split(space.separator) if space.separator else c.secret) != space.length:
            raise HarnessError(f"{path}: canary {c.id} is not in the file's randomness space (template, length)")
    return CanarySet(space, canaries, int(raw.get("seed", 0)))


def log2_space(space: Space) -> float:
    return space.length * math.log2(len(space.alphabet))
