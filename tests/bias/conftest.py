"""A table-driven fake model, so each metric can be checked against numbers worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import Loglikelihood, LoglikelihoodRequest, ModelInfo
from harness.resources import SuiteSpec


class TableLM:
    """loglikelihood looks the continuation up in `table` (text -> logprob, or (logprob, n_tokens));
    `by_context` keys on (context, continuation) first. Every call is recorded."""

    def __init__(self, table: dict, by_context: dict | None = None) -> None:
        self.table = table
        self.by_context = by_context or {}
        self.calls: list[list[LoglikelihoodRequest]] = []

    @property
    def info(self) -> ModelInfo:
        return ModelInfo("table", "fake", None, "none", 2048, "fake0000")

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        self.calls.append(list(requests))
        out = []
        for r in requests:
            value = self.by_context.get((r.context, r.continuation), self.table.get(r.continuation))
            if value is None:
                raise KeyError(r.continuation)
            logprob, n = value if isinstance(value, tuple) else (value, 1)
            out.append(Loglikelihood(float(logprob), False, n))
        return out


def spec(kind: str, tmp_path: Path, params: dict | None = None) -> SuiteSpec:
    return SuiteSpec(name=kind, kind=kind, path=tmp_path / f"{kind}.yaml", params=params or {})


@pytest.fixture
def write(tmp_path: Path):
    def write(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        return path

    return write
