"""Each run's difference from the baseline, per metric: paired when the runs share items."""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from harness.gate.paired import RECORD_ERRORS, MetricSpec, Paired, compare, metric_specs, worsening
from harness.gate.runs import Run, load_records


@dataclass(frozen=True)
class Delta:
    diff: float | None  # candidate minus baseline
    ci: tuple[float, float] | None
    verdict: str  # "better", "worse", "no significant change" or "" (unknown)
    note: str  # how it was computed, or why it is missing
    # Paired deltas only, for the gate's regression rule: the CI of the worsening (> 0 is worse)
    # and whether McNemar's test decided instead (a binary metric).
    worsening_ci: tuple[float, float] | None = None
    mcnemar: bool = False
    n_paired: int | None = None  # shared items of a paired delta

    @property
    def short(self) -> str:
        """How it was computed, in a few words (the full note is the cell's tooltip)."""
        if self.n_paired is not None:
            return f"paired, {self.n_paired} items"
        return "unpaired" if self.note.startswith("unpaired") else self.note


def comparable(base: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """Why two runs of a suite cannot be compared, or None when they can."""
    if base.get("protocol") != entry.get("protocol"):
        return "not comparable: the protocol ids differ"
    if (base.get("data") or {}).get("sha256") != (entry.get("data") or {}).get("sha256"):
        return "not comparable: the data hashes differ"
    return None


def suite_deltas(
    kind: Any, suite: str, baseline: Run, run: Run, *, seed: int, replicates: int, confidence: float
) -> dict[str, Delta]:
    """Per metric of `run`'s suite entry, its delta against the baseline."""
    base = baseline.summary["suites"].get(suite)
    entry = run.summary["suites"][suite]
    specs = metric_specs(entry)
    if base is None:
        return {s.name: Delta(None, None, "", "the baseline did not run this suite") for s in specs}
    why = comparable(base, entry)
    if why:
        return {s.name: Delta(None, None, "", why) for s in specs}
    paired: dict[str, Paired] = {}
    reason = kind if isinstance(kind, str) else ""
    if not reason:
        b_records, r_records = load_records(baseline, suite), load_records(run, suite)
        reason = next((r for r in (b_records, r_records) if isinstance(r, str)), "")
        if not reason:
            try:
                paired = compare(kind, specs, b_records, r_records, seed=seed, replicates=replicates, confidence=confidence)  # type: ignore[arg-type]
            except RECORD_ERRORS as e:
                reason = f"the suite kind cannot read these records ({type(e).__name__}: {e})"
    out = {}
    for spec in specs:
        p = paired.get(spec.name)
        if p is not None and p.diff is not None and p.diff_ci is not None:
            note = f"paired bootstrap over {p.n} shared items, {confidence * 100:g}% CI"
            out[spec.name] = Delta(p.diff, p.diff_ci, _verdict(p, confidence), note, p.worsening_ci, p.mcnemar is not None, p.n)
        else:
            why_not = (p.reason if p is not None else reason) or "no paired comparison"
            out[spec.name] = _unpaired(spec, base["metrics"].get(spec.name), entry["metrics"].get(spec.name), why_not, confidence)
    return out


def _verdict(p: Paired, confidence: float) -> str:
    """From McNemar's test at 1 - confidence, else from the paired CI (computed at `confidence`)."""
    if p.mcnemar is not None:
        if p.mcnemar.p_value < 1 - confidence:
            return "worse" if p.mcnemar.worse > p.mcnemar.better else "better"
        return "no significant change"
    if p.worsening_ci is None:
        return ""
    lo, hi = p.worsening_ci
    return "worse" if lo > 0 else "better" if hi < 0 else "no significant change"


def _half_width(m: dict[str, Any]) -> float | None:
    ci = m.get("ci95")
    return (ci[1] - ci[0]) / 2 if ci else None


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf((1 + confidence) / 2)


def _unpaired(
    spec: MetricSpec, base: dict[str, Any] | None, cand: dict[str, Any] | None, why: str, confidence: float
) -> Delta:
    """Difference of the full-run values; CI by adding the two CIs' half-widths in quadrature
    (a normal approximation that ignores the pairing, so it is wider than a paired CI). The runs
    record 95% CIs; under that approximation a half-width at `confidence` scales with z."""
    if not base or not cand or base.get("value") is None or cand.get("value") is None:
        return Delta(None, None, "", "no delta: the metric is null or missing in one of the runs")
    diff = cand["value"] - base["value"]
    hb, hc = _half_width(base), _half_width(cand)
    if hb is None or hc is None:
        return Delta(diff, None, "", f"unpaired, no CI ({why})")
    half = math.hypot(hb, hc) * _z(confidence) / _z(0.95)
    ci = (diff - half, diff + half)
    w_lo = worsening(spec, base["value"], cand["value"])
    verdict = "no significant change" if ci[0] <= 0 <= ci[1] else ("worse" if w_lo > 0 else "better")
    return Delta(diff, ci, verdict, f"unpaired normal approximation, {confidence * 100:g}% CI ({why})")
