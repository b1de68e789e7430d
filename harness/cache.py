"""An on-disk (SQLite) cache of model calls, wrapped around any adapter.

Keys are the model's fingerprint, the method and the request; a sampled generation is cached only
when it carries a seed. The wrapped adapter is called only for the requests the cache lacks, in
one batch, so a warm re-run never loads the model at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

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

R = TypeVar("R")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "harness"


class CallCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.commit()

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(f"SELECT key, value FROM calls WHERE key IN ({marks})", chunk):
                found[key] = json.loads(value)
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO calls (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in items.items()],
            )

    def close(self) -> None:
        self._db.close()


def _request_key(request: Any) -> Any:
    """A request as its cache key: its fields, less an empty `history` (the multi-turn field came
    later; leaving it out keeps the keys of single-turn requests what they were)."""
    if not hasattr(request, "__dataclass_fields__"):
        return request
    fields = asdict(request)
    if "history" in fields and not fields["history"]:
        del fields["history"]
    return fields


def call_cache_in(lm: Any) -> CachedModel | None:
    """The call cache in a model stack (each wrapper holds the next as `.lm`), or None."""
    while lm is not None and not isinstance(lm, CachedModel):
        lm = getattr(lm, "lm", None)
    return lm


class CachedModel:
    """A LanguageModel that answers from the cache and forwards only the misses."""

    def __init__(self, lm: LanguageModel, cache: CallCache) -> None:
        self.lm = lm
        self.cache = cache
        info = lm.info
        self._namespace = json.dumps([info.fingerprint, info.max_length], sort_keys=True)
        self.hits = 0
        self.misses = 0

    @property
    def info(self) -> ModelInfo:
        return self.lm.info

    def _key(self, method: str, request: Any) -> str:
        payload = json.dumps([self._namespace, method, request], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _call(
        self,
        method: str,
        requests: Sequence[Any],
        compute: Callable[[list[Any]], list[R]],
        encode: Callable[[R], Any],
        decode: Callable[[Any], R],
        cacheable: Callable[[Any], bool] = lambda r: True,
    ) -> list[R]:
        keys = [self._key(method, _request_key(r)) if cacheable(r) else None for r in requests]
        found = self.cache.get_many([k for k in keys if k is not None])
        results: list[R | None] = [decode(found[k]) if k in found else None for k in keys]
        missing = [i for i, r in enumerate(results) if r is None]
        self.hits += len(requests) - len(missing)
        self.misses += len(missing)
        if missing:
            failed: dict[int, str] = {}
            try:
                computed = compute([requests[i] for i in missing])
            except RequestsFailed as e:
                # The answers that did arrive are kept; the failed requests are asked again next time.
                computed = e.results
                failed = {missing[j]: message for j, message in e.errors.items()}
            new = {}
            for i, result in zip(missing, computed):
                results[i] = result
                if keys[i] is not None and result is not None:
                    new[keys[i]] = encode(result)
            self.cache.put_many(new)
            if failed:
                raise RequestsFailed(results, failed)
        return results  # type: ignore[return-value]

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return self._call("loglikelihood", requests, self.lm.loglikelihood, asdict, lambda v: Loglikelihood(**v))

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return self._call(
            "loglikelihood_rolling", texts, self.lm.loglikelihood_rolling, asdict, lambda v: RollingLoglikelihood(**v)
        )

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return self._call(
            "generate",
            requests,
            self.lm.generate,
            lambda g: list(g.texts),
            lambda v: Generation(tuple(v)),
            cacheable=lambda r: not r.sampled or r.seed is not None,
        )
