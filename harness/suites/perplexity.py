"""Perplexity: rolling log-likelihood of whole documents (lm-evaluation-harness protocol).

Each document is cut into disjoint windows of at most the model's max length, the first one
conditioned on BOS, every token predicted once (harness.tokens.rolling_windows). Corpus-level
perplexities are ratio estimators, exp(-sum LL / sum units), with bootstrap CIs over documents.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.api import LanguageModel, ModelInfo
from harness.data import iter_jsonl, read_text
from harness.errors import HarnessError
from harness.metrics import Metric, MetricValue
from harness.resources import SuiteSpec, file_sha256
from harness.stats import bootstrap_ci
from harness.suites.base import Dataset, Record, SuiteResult, data_path

SOURCE = "lm-evaluation-harness loglikelihood_rolling (wikitext task)"

BUILTIN_NOTE = (
    "the project's own mini-probes: varied English prose written for this project "
    "(suites/data/perplexity/corpus.txt), not a published corpus"
)


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    line: int  # where the document starts in its file


def word_count(text: str) -> int:
    """Words as lm-evaluation-harness counts them for word_perplexity."""
    return len(re.split(r"\s+", text))


def read_documents(path: Path) -> tuple[list[Document], str]:
    """Documents from a .txt file (separated by blank lines) or a .jsonl file (a `text` field)."""
    if path.suffix == ".jsonl":
        docs = []
        for line, obj in iter_jsonl(path):
            text = obj.get("text")
            if not isinstance(text, str):
                raise HarnessError(f"{path}:{line}: expected a string field `text` (keys: {', '.join(obj)})")
            if text.strip():
                docs.append(Document(str(obj.get("id", line)), text, line))
        notes = "one document per JSONL line (field `text`), used as is; blank documents skipped"
    else:
        docs = []
        lines = read_text(path).split("\n")
        start, block = None, []
        for number, line in enumerate(lines + [""], start=1):
            if line.strip():
                if start is None:
                    start = number
                block.append(line)
            elif block:
                docs.append(Document(f"doc{len(docs) + 1}", "\n".join(block).strip(), start))  # type: ignore[arg-type]
                start, block = None, []
        notes = "documents are blocks of text separated by blank lines, stripped; lines within a block joined by newlines"
    if not docs:
        raise HarnessError(f"{path}: no documents found (the corpus is empty); give a file with text in it")
    return docs, notes


class PerplexitySuite:
    chunk_size = 8
    model_methods = ("loglikelihood_rolling",)  # what the model must serve (checked before any item runs)
    metrics = (
        Metric("token_perplexity", "exp of the mean negative log-likelihood per token (tokenizer-dependent)", "lower", SOURCE),
        Metric("word_perplexity", "exp of the negative log-likelihood per whitespace-separated word", "lower", SOURCE),
        Metric("byte_perplexity", "exp of the negative log-likelihood per UTF-8 byte", "lower", SOURCE),
        Metric("bits_per_byte", "negative log-likelihood in bits per UTF-8 byte; comparable across tokenizers", "lower", SOURCE),
    )

    def __init__(self, spec: SuiteSpec) -> None:
        self.spec = spec

    def protocol(self, info: ModelInfo) -> str:
        return f"perplexity/rolling-disjoint/v1 max_length={info.max_length} first_window=bos"

    def load(self, path: Path | None) -> Dataset:
        path, builtin = data_path(self.spec, path)
        docs, notes = read_documents(path)
        if builtin:
            notes = f"{BUILTIN_NOTE}; {notes}"
        source = f"builtin:{path.name}" if builtin else str(path)
        return Dataset(docs, source, file_sha256(path), builtin, notes)

    def evaluate(self, lm: LanguageModel, items: Sequence[Document], seed: int) -> list[Record]:
        scores = lm.loglikelihood_rolling([d.text for d in items])
        return [
            {
                "id": d.id,
                "line": d.line,
                "loglikelihood": s.logprob,
                "tokens": s.n_tokens,
                "words": word_count(d.text),
                "bytes": len(d.text.encode("utf-8")),
            }
            for d, s in zip(items, scores)
        ]

    # metric: (unit, transform of the negative log-likelihood per unit). The transforms are
    # monotonic, so a metric's CI is the transformed CI of the ratio.
    DEFINITIONS = {
        "token_perplexity": ("tokens", math.exp),
        "word_perplexity": ("words", math.exp),
        "byte_perplexity": ("bytes", math.exp),
        "bits_per_byte": ("bytes", lambda nll: nll / math.log(2)),
    }

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        ll = sum(r["loglikelihood"] for r in records)
        values: dict[str, float | None] = {}
        for name, (unit, transform) in self.DEFINITIONS.items():
            count = sum(r[unit] for r in records)
            value = _finite(transform, -ll / count) if count else None
            values[name] = value if value is not None and math.isfinite(value) else None
        return values

    def aggregate(self, records: list[Record], seed: int) -> SuiteResult:
        ll = np.array([r["loglikelihood"] for r in records], dtype=float)
        counts = {unit: np.array([r[unit] for r in records], dtype=float) for unit in ("tokens", "words", "bytes")}
        metrics = {}
        for name, (unit, transform) in self.DEFINITIONS.items():
            count = counts[unit]
            if not len(records) or count.sum() == 0:
                metrics[name] = MetricValue.undefined(f"no {unit} to score", len(records))
                continue

            def nll_per_unit(idx: np.ndarray, count: np.ndarray = count) -> float:
                total = count[idx].sum()
                return -ll[idx].sum() / total if total > 0 else float("nan")

            ci = bootstrap_ci(nll_per_unit, len(records), seed=seed)
            value = _finite(transform, nll_per_unit(np.arange(len(records))))
            interval = (_finite(transform, ci[0]), _finite(transform, ci[1])) if ci else None
            metrics[name] = MetricValue.of(value, interval, len(records), f"{name} overflows a float")
        return SuiteResult(metrics)


def _finite(transform, x: float) -> float:  # type: ignore[no-untyped-def]
    try:
        return float(transform(x))
    except OverflowError:
        return float("inf")
