"""A small deterministic reference LM: a byte-level n-gram model with interpolated absolute
discounting (Ney, Essen & Kneser 1994), fitted on text the project writes itself.

It implements the whole adapter contract with the same shared token functions as the neural
adapters, so it serves as a fast model for tests and as a baseline row in results. Tokens are
UTF-8 bytes (ids 0-255) plus BOS (256), so its token perplexity is a byte perplexity.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from harness.api import (
    Generation, GenerationRequest, Loglikelihood, LoglikelihoodRequest, ModelInfo, RollingLoglikelihood, TokenLogprobs,
)
from harness.data import read_text
from harness.errors import HarnessError
from harness.resources import presets_dir
from harness.tokens import Span, SpanScore, cut_at_stop, pair_loglikelihoods, rolling_loglikelihoods

BOS = 256
VOCAB = 256  # the model predicts bytes only; BOS is context, never a prediction


class NgramCounts:
    """Counts of every context of length 0..order-1 and the bytes that follow it."""

    def __init__(self, order: int, discount: float) -> None:
        self.order = order
        self.discount = discount
        self.next: dict[tuple[int, ...], dict[int, int]] = defaultdict(dict)
        self.total: dict[tuple[int, ...], int] = defaultdict(int)

    def fit(self, documents: list[list[int]]) -> NgramCounts:
        for doc in documents:
            seq = [BOS] + doc
            for i in range(1, len(seq)):
                for k in range(self.order):
                    if i - k < 0:
                        break
                    h = tuple(seq[i - k : i])
                    followers = self.next[h]
                    followers[seq[i]] = followers.get(seq[i], 0) + 1
                    self.total[h] += 1
        return self

    def _levels(self, history: tuple[int, ...]) -> Iterator[tuple[int, dict[int, int]]]:
        """(count, followers) of the contexts of `history` from the empty one up to the longest
        one seen in training; interpolation stops at the first context never seen."""
        for k in range(0, min(len(history), self.order - 1) + 1):
            h = history[len(history) - k :] if k else ()
            total = self.total.get(h, 0)
            if total == 0:
                return
            yield total, self.next[h]

    def prob(self, history: tuple[int, ...], token: int) -> float:
        """P(token | history): each level discounts its counts by `discount` and gives the mass
        it frees to the level below, starting from the uniform distribution over bytes."""
        p = 1.0 / VOCAB
        for total, followers in self._levels(history):
            p = (max(followers.get(token, 0) - self.discount, 0.0) + self.discount * len(followers) * p) / total
        return p

    def distribution(self, history: tuple[int, ...]) -> np.ndarray:
        """P(. | history) over all 256 bytes, by the same recursion as `prob`."""
        p = np.full(VOCAB, 1.0 / VOCAB)
        for total, followers in self._levels(history):
            counts = np.zeros(VOCAB)
            counts[list(followers)] = list(followers.values())
            p = (np.maximum(counts - self.discount, 0.0) + self.discount * len(followers) * p) / total
        return p


class NgramModel:
    def __init__(
        self,
        *,
        name: str = "ngram",
        corpus: str = "data/ngram-train.txt",
        order: int = 5,
        discount: float = 0.75,
        max_length: int = 1024,
        batch_size: int | str | None = None,  # accepted for a uniform CLI; the model is not batched
        preset_dir: Path | None = None,  # a relative `corpus` is read from here (the preset's folder)
    ) -> None:
        if order < 1:
            raise HarnessError(f"model {name}: order must be at least 1, got {order}")
        if not 0 < discount < 1:
            raise HarnessError(f"model {name}: discount must be in (0, 1), got {discount}")
        self.name = name
        self.corpus = corpus
        self.order = order
        self.discount = discount
        self.max_length = max_length
        self.preset_dir = Path(preset_dir) if preset_dir is not None else None

    @cached_property
    def _corpus_path(self) -> Path:
        path = Path(self.corpus).expanduser()
        return path if path.is_absolute() else (self.preset_dir or presets_dir()) / path

    @cached_property
    def _text(self) -> str:
        return read_text(self._corpus_path)

    @cached_property
    def counts(self) -> NgramCounts:
        documents = [list(d.strip().encode("utf-8")) for d in self._text.split("\n\n") if d.strip()]
        if not documents:
            raise HarnessError(f"{self._corpus_path}: the n-gram training corpus is empty")
        return NgramCounts(self.order, self.discount).fit(documents)

    @cached_property
    def info(self) -> ModelInfo:
        digest = hashlib.sha256(self._text.encode("utf-8"))
        digest.update(f"order={self.order} discount={self.discount}".encode())
        n_params = sum(len(f) for f in self.counts.next.values())
        return ModelInfo(
            name=self.name,
            adapter="ngram",
            n_parameters=n_params,
            tokenizer="utf-8 bytes + BOS",
            max_length=self.max_length,
            fingerprint=digest.hexdigest()[:16],
            details={"order": self.order, "discount": self.discount, "corpus": self._corpus_path.name},
        )

    @staticmethod
    def encode(text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def _score(self, spans: Sequence[Span], check_greedy: bool = True) -> list[SpanScore]:
        return [self._score_one(span, check_greedy) for span in spans]

    def _score_one(self, span: Span, check_greedy: bool) -> SpanScore:
        logprob, greedy = 0.0, check_greedy
        tokens = span.tokens
        for i in range(len(tokens) - span.n_targets, len(tokens)):
            history = tuple(tokens[max(0, i - self.order + 1) : i])
            logprob += math.log(self.counts.prob(history, tokens[i]))
            if greedy:
                greedy = int(np.argmax(self.counts.distribution(history))) == tokens[i]
        return SpanScore(logprob, greedy)

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        return pair_loglikelihoods(self._score, self.encode, BOS, self.max_length, requests)

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        return rolling_loglikelihoods(
            lambda spans: self._score(spans, check_greedy=False), self.encode, BOS, self.max_length, texts
        )

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        return [Generation(tuple(self._sample(r, j) for j in range(r.n))) for r in requests]

    def _sample(self, r: GenerationRequest, j: int) -> str:
        rng = np.random.default_rng([r.seed or 0, j])
        history = [BOS] + self.encode(r.prompt)
        out: list[int] = []
        for _ in range(r.max_new_tokens):
            p = self.counts.distribution(tuple(history[-(self.order - 1) :]) if self.order > 1 else ())
            if r.sampled:
                p = p ** (1.0 / r.temperature)
                p = _top_p(p / p.sum(), r.top_p)
                token = int(rng.choice(VOCAB, p=p))
            else:
                token = int(np.argmax(p))
            out.append(token)
            history.append(token)
            text = bytes(out).decode("utf-8", errors="ignore")
            if any(s and s in text for s in r.stop):
                break
        return cut_at_stop(bytes(out).decode("utf-8", errors="ignore"), r.stop)

    # ---- optional capability (harness.api.TokenScorer), for `harness serve` ----------------------

    prefix_token = BOS
    vocab_size = VOCAB + 1  # the bytes, and BOS

    @staticmethod
    def token_bytes(ids: list[int]) -> list[bytes]:
        return [bytes([i]) if 0 <= i < VOCAB else b"" for i in ids]

    def score_tokens(self, sequences: list[list[int]], top_k: int) -> list[TokenLogprobs]:
        """Each position's log-prob by the same `prob` as `loglikelihood`; the alternatives from
        the full distribution at that position."""
        results = []
        for tokens in sequences:
            logprobs, top = [], []
            for i in range(1, len(tokens)):
                history = tuple(tokens[max(0, i - self.order + 1) : i])
                logprobs.append(math.log(self.counts.prob(history, tokens[i])))
                if top_k > 0:
                    p = self.counts.distribution(history)
                    best = [int(t) for t in np.argsort(-p, kind="stable")[:top_k]]
                    # The target among them carries exactly its own log-prob.
                    top.append(tuple((t, logprobs[-1] if t == tokens[i] else math.log(p[t])) for t in best))
                else:
                    top.append(())
            results.append(TokenLogprobs(tuple(logprobs), tuple(top)))
        return results


def _top_p(p: np.ndarray, top_p: float) -> np.ndarray:
    """Nucleus filtering: keep the most probable tokens whose mass first reaches top_p."""
    if top_p >= 1.0:
        return p
    order = np.argsort(-p, kind="stable")
    cumulative = np.cumsum(p[order])
    keep = order[: int(np.searchsorted(cumulative, top_p)) + 1]
    q = np.zeros_like(p)
    q[keep] = p[keep]
    return q / q.sum()
