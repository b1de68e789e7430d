"""Canary exposure (Carlini et al. 2019, "The Secret Sharer"): how exposed are secrets planted in
the training data?

`harness train --canaries N --canary-repeats 1,4,16` plants the canaries and lists them in
CHECKPOINT/canaries.json (harness.privacy.canaries); this suite reads that list (from the
checkpoint `--model` names, or the file or checkpoint folder given with `--data`), scores every
canary and the candidates of its randomness space R by rolling log-likelihood, and computes each
canary's exposure = log2 |R| - log2 rank (harness.privacy.exposure): exactly, by ranking against
every candidate of R, when |R| <= exact_limit; otherwise by the paper's skew-normal fit to the
log-perplexities of `candidates` secrets sampled uniformly from R (the planted ones left out).
Which one was used is in the protocol id and on every record.

Metrics (bits; 0 = no more likely than a random secret, log2 |R| = the most likely secret of
all): the mean exposure over canaries, the mean over the most-repeated ones, and the slope of
exposure against log2(repeats); by repeat count in the breakdowns. CIs: percentile bootstrap over
canaries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import LanguageModel, ModelInfo
from harness.errors import HarnessError
from harness.metrics import Metric, MetricValue
from harness.privacy.canaries import CANARY_FILE, Canary, CanarySet, Space, read_canaries
from harness.privacy.exposure import SkewNormalFit, exact_rank, exposure_from_rank
from harness.resources import SuiteSpec, file_sha256, load_model_spec
from harness.stats import bootstrap_ci
from harness.suites.base import Dataset, Record, SuiteResult, item_seed, suite_params

SOURCE = "Carlini et al. 2019, The Secret Sharer (exposure = log2|R| - log2 rank)"
DEFAULTS: dict[str, Any] = {"candidates": 4096, "exact_limit": 20000}

METRICS = (
    Metric("mean_exposure", "mean exposure of the planted canaries, in bits (0: like a random secret; log2|R|: the likeliest)", "lower", SOURCE),
    Metric("top_repeat_exposure", "mean exposure of the canaries inserted the most times, in bits", "lower", SOURCE),
    Metric("exposure_slope", "least-squares slope of exposure against log2(repeats): bits gained per doubling of the repeats", "lower", "this harness, after Carlini et al. 2019 (exposure grows with repeats)"),
)


class CanaryExposureSuite:
    chunk_size = 64
    model_methods = ("loglikelihood_rolling",)
    metrics = METRICS

    def __init__(self, spec: SuiteSpec, model: str | None = None) -> None:
        self.spec = spec
        self.model = model
        params = suite_params(spec, DEFAULTS)
        try:
            self.n_candidates = int(params["candidates"])
            self.exact_limit = int(params["exact_limit"])
        except (TypeError, ValueError):
            raise HarnessError(f"{spec.path}: candidates and exact_limit must be whole numbers") from None
        if self.n_candidates < 100 or self.exact_limit < 0:
            raise HarnessError(f"{spec.path}: candidates must be at least 100 (a skew-normal fit needs a sample), exact_limit >= 0")
        self.canaries: CanarySet | None = None

    # ---- data ------------------------------------------------------------------------------

    def _canary_file(self, path: Path | None) -> tuple[Path, bool]:
        """The canary list and whether it is the built-in control: the file (or checkpoint folder)
        given with --data, else the one planted in the --model checkpoint, else the control."""
        if path is not None:
            return (path / CANARY_FILE if path.is_dir() else path), False
        if self.model is not None:
            spec = load_model_spec(self.model)
            folder = spec.args.get("checkpoint") or spec.args.get("path")
            if spec.adapter == "scratch" and folder and (Path(folder).expanduser() / CANARY_FILE).is_file():
                return Path(folder).expanduser() / CANARY_FILE, False
        if self.spec.data is None:
            raise HarnessError("canary_exposure: name a checkpoint trained with --canaries with --model, or give its canaries.json with --data")
        return self.spec.data, True

    def load(self, path: Path | None) -> Dataset:
        file, builtin = self._canary_file(path)
        self.canaries = read_canaries(file)
        space = self.canaries.space
        method = "exact enumeration" if self.exact(space) else f"skew-normal fit to {self.n_candidates} sampled candidates"
        notes = (f"{len(self.canaries.canaries)} canaries like {self.canaries.canaries[0].text!r}; |R| = {space.size:,} "
                 f"({space.length} symbols of {space.alphabet!r}); exposure by {method}")
        if builtin:
            notes = (f"the project's own mini-probes: control canaries drawn for this project and never planted "
                     f"({file.name}; the model names no checkpoint with planted canaries); {notes}")
        return Dataset(self.canaries.canaries, f"builtin:{file.name}" if builtin else str(file), file_sha256(file), builtin, notes)

    def exact(self, space: Space) -> bool:
        return space.size <= self.exact_limit

    def protocol(self, info: ModelInfo) -> str:
        space = self.canaries.space if self.canaries else Space()
        method = "exact" if self.exact(space) else f"skewnorm candidates={self.n_candidates}"
        return f"canary_exposure/secret-sharer/v1 |R|={space.size} method={method} logppl=rolling-bits"

    # ---- evaluation --------------------------------------------------------------------------

    def _candidates(self, space: Space, seed: int) -> list[int]:
        """Indices of the candidates: all of R, or a uniform sample without the planted secrets."""
        if self.exact(space):
            return list(range(space.size))
        assert self.canaries is not None
        planted = {c.secret for c in self.canaries.canaries}
        rng = np.random.default_rng(item_seed(seed, "canary-candidates"))
        want = min(self.n_candidates, space.size - len(planted))
        drawn = rng.choice(space.size, size=min(space.size, want + len(planted)), replace=False)
        return [int(i) for i in drawn if space.secret(int(i)) not in planted][:want]

    def evaluate(self, lm: LanguageModel, items: Sequence[Canary], seed: int) -> list[Record]:
        if self.canaries is None:
            raise RuntimeError("load() must run before evaluate()")
        space = self.canaries.space
        indices = self._candidates(space, seed)
        candidates = [space.text(space.secret(i)) for i in indices]
        scores = lm.loglikelihood_rolling([c.text for c in items] + candidates)
        bits = np.array([-s.logprob / math.log(2) for s in scores])  # log-perplexity Px, in bits
        own, others = bits[: len(items)], bits[len(items) :]
        records = []
        if self.exact(space):
            position = {space.secret(i): k for k, i in enumerate(indices)}
            for c, px in zip(items, own):
                rest = np.delete(others, position[c.secret])  # every other secret of R
                rank = exact_rank(float(px), rest)
                records.append(self._record(c, px, "exact", exposure_from_rank(rank, space.size), rank=rank))
        else:
            fit = SkewNormalFit.fit(others)
            for c, px in zip(items, own):
                exposure = fit.exposure(float(px), space.size)
                records.append(self._record(
                    c, px, "skewnorm", exposure, sampled_rank=exact_rank(float(px), others), n_candidates=len(others),
                    fit={"a": fit.a, "loc": fit.loc, "scale": fit.scale}, estimated_rank=space.size * 2.0 ** -exposure))
        return records

    def _record(self, c: Canary, px: float, method: str, exposure: float, **extra: Any) -> Record:
        return {"id": c.id, "text": c.text, "repeats": c.repeats, "log_perplexity_bits": float(px), "method": method,
                "exposure": float(exposure), **extra}

    # ---- aggregation -------------------------------------------------------------------------

    @staticmethod
    def _value(name: str, exposure: np.ndarray, repeats: np.ndarray) -> float:
        if not len(exposure):
            return math.nan
        if name == "mean_exposure":
            return float(exposure.mean())
        if name == "top_repeat_exposure":
            return float(exposure[repeats == repeats.max()].mean())
        if name == "exposure_slope":
            planted = repeats > 0  # control canaries (never planted) have no place on a log scale
            x = np.log2(repeats[planted])
            if len(x) < 2 or np.ptp(x) == 0:
                return math.nan
            return float(np.polyfit(x, exposure[planted], 1)[0])
        raise KeyError(name)

    @staticmethod
    def _columns(records: list[Record]) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([r["exposure"] for r in records], dtype=float),
                np.array([r["repeats"] for r in records], dtype=float))

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        exposure, repeats = self._columns(records)
        out = {}
        for m in METRICS:
            v = self._value(m.name, exposure, repeats)
            out[m.name] = v if math.isfinite(v) else None
        return out

    def _metrics_on(self, records: list[Record], seed: int, names: Sequence[str]) -> dict[str, MetricValue]:
        exposure, repeats = self._columns(records)
        out = {}
        for name in names:
            if not records:
                out[name] = MetricValue.undefined("no canary was scored", 0)
                continue

            def stat(idx: np.ndarray, name: str = name) -> float:
                return self._value(name, exposure[idx], repeats[idx])

            reason = "one repeat count only: no slope" if name == "exposure_slope" else f"{name} is undefined"
            out[name] = MetricValue.of(stat(np.arange(len(records))), bootstrap_ci(stat, len(records), seed=seed), len(records), reason)
        return out

    def aggregate(self, records: list[Record], seed: int) -> SuiteResult:
        metrics = self._metrics_on(records, seed, [m.name for m in METRICS])
        groups = sorted({int(r["repeats"]) for r in records})
        by_repeats = {str(k): self._metrics_on([r for r in records if r["repeats"] == k], seed, ["mean_exposure"]) for k in groups}
        return SuiteResult(metrics, {"repeats": by_repeats} if by_repeats else {})
