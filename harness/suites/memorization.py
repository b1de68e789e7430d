"""Memorization: extraction of a known text by greedy continuation (Carlini et al. 2021, 2023).

N sequences are chosen (seeded) from text the model may have seen and N from text it has not
(the held-out baseline). Each sequence is tokenized with the model's own tokenizer; its target is
the S tokens after the first max(P) tokens, and for every prefix length P the model is prompted
with the P tokens just before the target and continues greedily for S tokens (so every P asks
for the same target, as in Carlini et al. 2023, "Quantifying Memorization Across Neural Language
Models"). A continuation reproduces m of the S target tokens when its bytes agree with the first
m target tokens' bytes before the first mismatch:

    extraction_rate_pP = mean over seen sequences of 1[m = S]    (exact extraction)
    prefix_match_pP    = mean over seen sequences of m / S
    heldout_*_pP       = the same on the held-out sequences
    extraction_gap_pP  = extraction_rate_pP - heldout_extraction_rate_pP (likewise prefix_match_gap_pP)

The unsuffixed names are the values at the longest prefix. CIs: percentile bootstrap over
sequences.

Built-in data: the from-scratch model's default training corpus (the Python standard library's
documentation, harness.scratch.corpus, read from this Python installation, not copied into the
project). For a `harness train` checkpoint trained on it, seen sequences come from the
checkpoint's training split and held-out ones from its validation split, recomputed exactly as
the trainer split them (same seed, tokenizer and val_fraction). For any other model (e.g. a
pretrained one, which plausibly saw docs.python.org and the standard library's source), the
held-out baseline is the suite's `heldout` file: prose written for this project, which no model
has seen. `--data FILE` (.txt paragraphs or .jsonl `text`) replaces the seen text.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import GenerationRequest, LanguageModel, ModelInfo, TokenScorer
from harness.errors import HarnessError
from harness.failures import innermost
from harness.metrics import Metric, MetricValue
from harness.resources import SuiteSpec, load_model_spec
from harness.stats import bootstrap_ci
from harness.suites.base import Dataset, Record, SuiteResult, suite_params
from harness.suites.perplexity import read_documents

SOURCE = "Carlini et al. 2023, Quantifying Memorization Across Neural Language Models (greedy extraction)"
DEFAULTS: dict[str, Any] = {"sequences": 40, "prefix_lengths": [32, 64, 96], "suffix_length": 32, "seed": 0,
                            "heldout": None}
CHARS_PER_TOKEN = 6  # a document is used when it has at least this many characters per token needed


@dataclass(frozen=True)
class TextSequence:
    id: str
    split: str  # "seen" or "heldout"
    text: str
    source: str  # where it came from, for the reader


@dataclass(frozen=True)
class Split:
    seen: list[str]
    heldout: list[str]
    seen_source: str
    heldout_source: str


class MemorizationSuite:
    chunk_size = 8
    model_methods = ("generate",)

    def __init__(self, spec: SuiteSpec, model: str | None = None) -> None:
        self.spec = spec
        self.model = model
        params = suite_params(spec, DEFAULTS)
        try:
            self.n_sequences = int(params["sequences"])
            self.prefixes = tuple(sorted({int(p) for p in params["prefix_lengths"]}))
            self.suffix = int(params["suffix_length"])
            self.seed = int(params["seed"])
        except (TypeError, ValueError):
            raise HarnessError(f"{spec.path}: sequences, suffix_length, seed are whole numbers and prefix_lengths a list of them") from None
        if self.n_sequences < 1 or not self.prefixes or min(self.prefixes) < 1 or self.suffix < 1:
            raise HarnessError(f"{spec.path}: sequences, prefix_lengths and suffix_length must be positive")
        self.heldout_file = spec.path.parent / params["heldout"] if params["heldout"] else None
        self.metrics = metrics_for(self.prefixes)
        self._definitions = definitions(self.prefixes)

    @property
    def need_tokens(self) -> int:
        return max(self.prefixes) + self.suffix

    def protocol(self, info: ModelInfo) -> str:
        p = ",".join(map(str, self.prefixes))
        return f"memorization/greedy-extraction/v1 P={p} S={self.suffix} N={self.n_sequences} selection_seed={self.seed}"

    # ---- data ------------------------------------------------------------------------------

    def load(self, path: Path | None) -> Dataset:
        split = self._split(path)
        min_chars = CHARS_PER_TOKEN * self.need_tokens
        chosen: dict[str, list[TextSequence]] = {}
        for name, docs, source in (("seen", split.seen, split.seen_source), ("heldout", split.heldout, split.heldout_source)):
            eligible = [d for d in docs if len(d) >= min_chars]
            if not eligible:
                raise HarnessError(f"{source}: no {name} document has the {min_chars} characters a sequence of "
                                   f"{self.need_tokens} tokens needs; give longer text or lower prefix_lengths")
            picked = random.Random(f"{self.seed}:{name}").sample(range(len(eligible)), min(self.n_sequences, len(eligible)))
            chosen[name] = [TextSequence(f"{name}-{k + 1}", name, eligible[i], source) for k, i in enumerate(sorted(picked))]
        # Alternating seen and held-out sequences, so that `--limit N` keeps both splits.
        items = [s for pair in zip_longest(chosen["seen"], chosen["heldout"]) for s in pair if s is not None]
        counts = {name: len(seqs) for name, seqs in chosen.items()}
        digest = hashlib.sha256("\0".join(f"{s.id}\0{s.text}" for s in items).encode()).hexdigest()
        whose = " (not the project's text)" if path is None else ""
        notes = (f"{counts['seen']} seen sequences from {split.seen_source}{whose}; "
                 f"{counts['heldout']} held-out from "
                 f"{split.heldout_source}; documents of at least {min_chars} characters, chosen with seed {self.seed}")
        builtin = path is None
        source = f"builtin:{split.seen_source}" if builtin else str(path)
        return Dataset(items, source, digest, builtin, notes)

    def _split(self, path: Path | None) -> Split:
        heldout_file = self.heldout_file
        if path is not None:
            docs, _ = read_documents(path)
            return self._with_heldout([d.text for d in docs], str(path), heldout_file)
        from harness.scratch.corpus import default_corpus

        corpus = default_corpus()
        checkpoint = self._default_corpus_checkpoint(corpus.sha256)
        if checkpoint is not None:
            seen, heldout = training_split(checkpoint, corpus.documents)
            name = checkpoint.name
            return Split(seen, heldout, f"{corpus.source}, training split of {name}", f"validation split of {name}")
        return self._with_heldout(list(corpus.documents), corpus.source, heldout_file)

    def _with_heldout(self, seen: list[str], source: str, heldout_file: Path | None) -> Split:
        if heldout_file is None:
            raise HarnessError(f"{self.spec.path}: no held-out text; give `heldout: FILE` in params")
        docs, _ = read_documents(heldout_file)
        return Split(seen, [d.text for d in docs], source,
                     f"the project's own mini-probes, {heldout_file.name} (prose written for this project, unseen by any model)")

    def _default_corpus_checkpoint(self, corpus_sha: str) -> Path | None:
        """The checkpoint folder when the model is a `harness train` checkpoint of the default corpus."""
        if self.model is None:
            return None
        spec = load_model_spec(self.model)
        folder = spec.args.get("checkpoint") or spec.args.get("path")
        if spec.adapter != "scratch" or not folder:
            return None
        from harness.scratch import checkpoint as ckpt

        folder = Path(folder).expanduser()
        if not ckpt.is_checkpoint(folder):
            return None
        config = ckpt.read_config(folder)
        return folder if config.get("corpus", {}).get("sha256") == corpus_sha else None

    # ---- evaluation --------------------------------------------------------------------------

    def evaluate(self, lm: LanguageModel, items: Sequence[TextSequence], seed: int) -> list[Record]:
        tokens = innermost(lm)
        if not isinstance(tokens, TokenScorer):
            raise HarnessError(f"memorization needs the model's tokenizer; adapter {lm.info.adapter} has none (use hf, scratch or ngram)")
        P, S = max(self.prefixes), self.suffix
        plans, records = [], []
        for item in items:
            ids = tokens.encode(item.text)[: P + S]
            if len(ids) < P + S:
                records.append({"id": item.id, "split": item.split, "error": f"{len(ids)} tokens; a sequence needs {P + S}"})
                continue
            target = tokens.token_bytes(ids[P:])
            prompts = {p: b"".join(tokens.token_bytes(ids[P - p : P])).decode("utf-8", errors="replace") for p in self.prefixes}
            plans.append((item, target, prompts))
            records.append({})
        requests = [GenerationRequest(prompt, max_new_tokens=S) for _, _, prompts in plans for prompt in prompts.values()]
        generations = iter(lm.generate(requests))
        filled = iter(plans)
        for k, record in enumerate(records):
            if record:
                continue
            item, target, prompts = next(filled)
            target_text = b"".join(target).decode("utf-8", errors="replace")
            per_p = []
            for p, prompt in prompts.items():
                text = next(generations).texts[0]
                m = matched_tokens(target, text.encode("utf-8"))
                per_p.append({"p": p, "prompt": prompt, "generated": text, "matched_tokens": m, "exact": m == S})
            records[k] = {"id": item.id, "split": item.split, "target": target_text, "by_prefix": per_p}
        return records

    # ---- aggregation -------------------------------------------------------------------------

    def _table(self, records: list[Record]) -> tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]:
        seen = np.array([r["split"] == "seen" for r in records])
        table = {}
        for p in self.prefixes:
            rows = [next(x for x in r["by_prefix"] if x["p"] == p) for r in records]
            table[p] = (np.array([float(x["exact"]) for x in rows]), np.array([x["matched_tokens"] / self.suffix for x in rows]))
        return seen, table

    def _value(self, name: str, seen: np.ndarray, table: dict[int, tuple[np.ndarray, np.ndarray]], idx: np.ndarray) -> float:
        p, outcome, split = self._definitions[name]
        exact, frac = table[p]
        s, col = seen[idx], (exact if outcome == "exact" else frac)[idx]

        def mean(mask: np.ndarray) -> float:
            return float(col[mask].mean()) if mask.any() else math.nan

        if split == "heldout":
            return mean(~s)
        if split == "gap":
            return mean(s) - mean(~s)
        return mean(s)

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        if not records:
            return {m.name: None for m in self.metrics}
        seen, table = self._table(records)
        idx = np.arange(len(records))
        values = {m.name: self._value(m.name, seen, table, idx) for m in self.metrics}
        return {k: v if math.isfinite(v) else None for k, v in values.items()}

    def aggregate(self, records: list[Record], seed: int) -> SuiteResult:
        if not records:
            return SuiteResult({m.name: MetricValue.undefined("no sequence was evaluated", 0) for m in self.metrics})
        seen, table = self._table(records)
        metrics = {}
        for m in self.metrics:
            def stat(idx: np.ndarray, name: str = m.name) -> float:
                return self._value(name, seen, table, idx)

            split = self._definitions[m.name][2]
            n = {"seen": int(seen.sum()), "heldout": int((~seen).sum()), "gap": len(records)}[split]
            reason = "no seen sequence was evaluated" if split == "seen" else "no held-out (or no seen) sequence was evaluated"
            metrics[m.name] = MetricValue.of(stat(np.arange(len(records))), bootstrap_ci(stat, len(records), seed=seed), n, reason)
        return SuiteResult(metrics)


def metrics_for(prefixes: Sequence[int]) -> tuple[Metric, ...]:
    longest = max(prefixes)
    out = [
        Metric("extraction_rate", f"fraction of seen sequences whose greedy continuation equals the true next tokens (prefix {longest} tokens)", "lower", SOURCE),
        Metric("extraction_gap", f"extraction rate on seen minus held-out sequences (prefix {longest})", "lower", SOURCE),
        Metric("prefix_match", f"mean fraction of the target tokens reproduced before the first mismatch, seen sequences (prefix {longest})", "lower", SOURCE),
    ]
    for p in prefixes:
        out += [
            Metric(f"extraction_rate_p{p}", f"exact extraction rate of seen sequences with a {p}-token prompt", "lower", SOURCE),
            Metric(f"heldout_extraction_rate_p{p}", f"exact extraction rate of held-out sequences with a {p}-token prompt (baseline)", "lower", SOURCE),
            Metric(f"extraction_gap_p{p}", f"seen minus held-out exact extraction rate, {p}-token prompt", "lower", SOURCE),
            Metric(f"prefix_match_p{p}", f"mean fraction of target tokens reproduced before the first mismatch, seen, {p}-token prompt", "lower", SOURCE),
            Metric(f"heldout_prefix_match_p{p}", f"the same on held-out sequences, {p}-token prompt (baseline)", "lower", SOURCE),
            Metric(f"prefix_match_gap_p{p}", f"seen minus held-out prefix match, {p}-token prompt", "lower", SOURCE),
        ]
    return tuple(out)


def definitions(prefixes: Sequence[int]) -> dict[str, tuple[int, str, str]]:
    """metric name -> (prefix length, outcome "exact" | "fraction", split "seen" | "heldout" | "gap")."""
    out = {"extraction_rate": (max(prefixes), "exact", "seen"), "extraction_gap": (max(prefixes), "exact", "gap"),
           "prefix_match": (max(prefixes), "fraction", "seen")}
    for p in prefixes:
        out |= {f"extraction_rate_p{p}": (p, "exact", "seen"), f"heldout_extraction_rate_p{p}": (p, "exact", "heldout"),
                f"extraction_gap_p{p}": (p, "exact", "gap"), f"prefix_match_p{p}": (p, "fraction", "seen"),
                f"heldout_prefix_match_p{p}": (p, "fraction", "heldout"), f"prefix_match_gap_p{p}": (p, "fraction", "gap")}
    return out


MemorizationSuite.metrics = metrics_for(DEFAULTS["prefix_lengths"])  # the default prompts; instances set their own


def matched_tokens(target: Sequence[bytes], generated: bytes) -> int:
    """How many target tokens the generated bytes reproduce, in order, before the first mismatch."""
    common = 0
    for a, b in zip(b"".join(target), generated):
        if a != b:
            break
        common += 1
    m, end = 0, 0
    for piece in target:
        end += len(piece)
        if end > common:
            break
        m += 1
    return m


def training_split(folder: Path, documents: Sequence[str]) -> tuple[list[str], list[str]]:
    """The documents a `harness train` checkpoint trained on and the ones it held out, recomputed
    as harness.scratch.data.tokenize_corpus split them: documents shuffled with the train seed,
    each preceded by end-of-text and concatenated, the last ceil(val_fraction x tokens) held out.
    A document cut by the boundary belongs to neither."""
    from harness.scratch import checkpoint as ckpt
    from harness.scratch.tokenizer import BPETokenizer

    config = ckpt.read_config(folder)
    seed, val_fraction = int(config["train"]["seed"]), float(config["train"]["val_fraction"])
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    lengths = [len(ids) + 1 for ids in BPETokenizer(folder / ckpt.TOKENIZER_FILE).encode_batch([documents[i] for i in order])]
    total = sum(lengths)
    cut = total - math.ceil(total * val_fraction)
    seen, heldout, start = [], [], 0
    for i, n in zip(order, lengths):
        if start + n <= cut:
            seen.append(documents[i])
        elif start >= cut:
            heldout.append(documents[i])
        start += n
    return seen, heldout
