"""Toxicity-filter evaluation on labelled text (Jigsaw Unintended Bias definitions).

The classifier scores every item, and every toxic item again after each obfuscation. Metrics:
precision / recall / F1 / FPR / FNR at the threshold, ROC-AUC and PR-AUC; per identity subgroup
the subgroup, BPSN and BNSP AUCs and their generalised means (p = -5); robustness = recall on
toxic items after an obfuscation / clean recall. Definitions in harness.toxicity.filter_metrics.
No language model is involved (`needs_model = False`). CIs: percentile bootstrap over items, the
replicates drawn in batches of bounded size (fm.bootstrap_weight_batches).

The threshold is the one given with `--classifier NAME:T`, else the suite YAML's `threshold`. A
text the classifier fails on is an error, never a score: a clean item's failure fails the sample
(the runner passes it as `errored`); an obfuscated variant's failure is recorded on the sample
(`obfuscation_errors`) and left out of that obfuscation's robustness. Both are counted
(classifier_error_rate, obfuscation_error_rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import LanguageModel, ModelInfo
from harness.errors import HarnessError
from harness.metrics import Metric, MetricValue
from harness.resources import SuiteSpec, file_sha256
from harness.stats import bootstrap_ci
from harness.suites.base import Dataset, Record, SuiteResult, data_path, suite_params
from harness.toxicity import filter_metrics as fm
from harness.toxicity.base import Classifier
from harness.toxicity.labelled import LabelledItem, read_labelled
from harness.toxicity.obfuscate import OBFUSCATIONS
from harness.toxicity.registry import DEFAULT_CLASSIFIER, load_classifier, parse_spec, suite_threshold

JIGSAW = "Borkan et al. 2019, Nuanced Metrics for Measuring Unintended Bias (Jigsaw Unintended Bias)"
CLASSIC = "standard binary-classification metrics at the threshold"
ROBUST = "this harness: recall on obfuscated toxic items / clean recall"
SUBGROUP_METRICS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
DEFAULTS: dict[str, Any] = {"classifier": DEFAULT_CLASSIFIER, "threshold": 0.5, "power": fm.POWER,
                            "obfuscations": list(OBFUSCATIONS)}

METRICS = (
    Metric("precision", "flagged items that are toxic", "higher", CLASSIC),
    Metric("recall", "toxic items flagged", "higher", CLASSIC),
    Metric("f1", "harmonic mean of precision and recall", "higher", CLASSIC),
    Metric("fpr", "non-toxic items flagged (false alarms)", "lower", CLASSIC),
    Metric("fnr", "toxic items missed", "lower", CLASSIC),
    Metric("roc_auc", "probability a toxic item scores above a non-toxic one", "higher", CLASSIC),
    Metric("pr_auc", "average precision over thresholds", "higher", CLASSIC),
    Metric("subgroup_auc_power_mean", "generalised mean (p=-5) of subgroup AUCs", "higher", JIGSAW),
    Metric("bpsn_auc_power_mean", "generalised mean (p=-5) of BPSN AUCs (low: false alarms on identity mentions)", "higher", JIGSAW),
    Metric("bnsp_auc_power_mean", "generalised mean (p=-5) of BNSP AUCs (low: missed toxicity about a group)", "higher", JIGSAW),
    Metric("final_bias_metric", "0.25 x ROC-AUC + 0.25 x each of the three power means (Jigsaw competition score)", "higher", JIGSAW),
    *(Metric(f"robustness_{name}", f"recall after {name} obfuscation / clean recall", "higher", ROBUST) for name in OBFUSCATIONS),
    Metric("classifier_error_rate", "fraction of items the classifier failed to score (failed samples, not scored 0)", "lower", "this harness"),
    Metric("obfuscation_error_rate", "fraction of obfuscated toxic texts the classifier failed to score (left out of robustness)", "lower", "this harness"),
)
ERROR_METRICS = ("classifier_error_rate", "obfuscation_error_rate")

BUILTIN_NOTE = (
    "the project's own mini-probes: labelled comments written for this project "
    "(suites/data/toxicity/labelled.csv), not Davidson's or Jigsaw's data; run those with --data"
)

class ToxicityFilterSuite:
    chunk_size = 256
    needs_model = False  # the runner builds no language model when every planned suite says so
    model_methods = ()
    metrics = METRICS

    def __init__(self, spec: SuiteSpec, classifier: str | None = None, text_column: str | None = None,
                 label_column: str | None = None, positive: str | None = None) -> None:
        self.spec = spec
        params = suite_params(spec, DEFAULTS)
        self.classifier_name = classifier if classifier is not None else str(params["classifier"])
        self.classifier_spec = parse_spec(self.classifier_name)
        self.threshold = suite_threshold(self.classifier_spec, params["threshold"], spec.path)
        try:
            self.power = float(params["power"])
        except (TypeError, ValueError) as e:
            raise HarnessError(f"{spec.path}: power must be a number ({e})") from None
        if self.power == 0:
            raise HarnessError(f"{spec.path}: power must be non-zero (Jigsaw uses -5)")
        self.obfuscations = tuple(params["obfuscations"])
        bad = [o for o in self.obfuscations if o not in OBFUSCATIONS]
        if bad:
            raise HarnessError(f"{spec.path}: unknown obfuscation(s) {', '.join(bad)}; known: {', '.join(OBFUSCATIONS)}")
        self.text_column = text_column
        self.label_column = label_column
        self.positive = tuple(v.strip() for v in positive.split(",") if v.strip()) if positive else None

    @cached_property
    def classifier(self) -> Classifier:
        return load_classifier(self.classifier_spec.classifier, self.threshold)

    def protocol(self, info: ModelInfo) -> str:
        return (
            f"toxicity_filter/jigsaw-bias/v1 classifier={self.classifier.info.label} power={self.power:g} "
            f"obfuscations={','.join(self.obfuscations)}"
        )

    def load(self, path: Path | None) -> Dataset:
        path, builtin = data_path(self.spec, path)
        labelled = read_labelled(path, self.text_column, self.label_column, self.positive)
        self.classifier.info  # fail fast when the classifier is missing
        source = f"builtin:{path.name}" if builtin else str(path)
        notes = f"{BUILTIN_NOTE}; {labelled.notes}" if builtin else labelled.notes
        return Dataset(labelled.items, source, file_sha256(path), builtin, notes)

    def evaluate(self, lm: LanguageModel | None, items: Sequence[LabelledItem], seed: int) -> list[Record]:
        toxic = [it for it in items if it.label == 1]
        texts = [it.text for it in items] + [OBFUSCATIONS[o](it.text) for o in self.obfuscations for it in toxic]
        scores = self.classifier.score(texts)
        obfuscated: dict[str, dict[str, float | None]] = {it.id: {} for it in toxic}
        failures: dict[str, dict[str, str]] = {it.id: {} for it in toxic}
        at = len(items)
        for o in self.obfuscations:
            for it in toxic:
                obfuscated[it.id][o] = scores.toxicity[at]
                if scores.errors[at] is not None:
                    failures[it.id][o] = scores.errors[at]
                at += 1
        records = []
        for i, it in enumerate(items):
            r: Record = {"id": it.id, "line": it.line, "text": it.text, "label": it.label,
                         "subgroups": list(it.subgroups), "score": scores.toxicity[i]}
            attrs = {k: v for k, v in scores.attributes_of(i).items() if v is not None}
            if attrs:
                r["attributes"] = attrs
            if it.label == 1:
                r["obfuscated"] = obfuscated[it.id]
                if failures[it.id]:
                    r["obfuscation_errors"] = failures[it.id]
            if scores.errors[i] is not None:
                r["error"] = scores.errors[i]
            records.append(r)
        return records

    # ---- aggregation ---------------------------------------------------------------------

    def _arrays(self, records: list[Record]) -> dict[str, Any]:
        y = np.array([r["label"] for r in records], dtype=int)
        s = np.array([r["score"] for r in records], dtype=float)
        groups = sorted({g for r in records for g in r["subgroups"]})
        mentions = {g: np.array([g in r["subgroups"] for r in records], dtype=bool) for g in groups}
        obf = {o: np.array([np.nan if r["label"] != 1 or r["obfuscated"].get(o) is None else r["obfuscated"][o]
                            for r in records], dtype=float) for o in self.obfuscations}
        return {"y": y, "s": s, "mentions": mentions, "obf": obf, "levels": fm.score_levels(s)}

    def _statistics(self, a: dict[str, Any], w: np.ndarray) -> tuple[dict[str, Any], dict[str, str]]:
        """Every metric at weights `w` (one vector: floats; a matrix of bootstrap replicates: one
        value per row, NaN where undefined), and the reasons for the undefined ones."""
        y, s, t, lv = a["y"], a["s"], self.threshold, a["levels"]
        values: dict[str, Any] = {}
        reasons: dict[str, str] = {}

        def put(name: str, compute: Callable[[], Any]) -> None:
            try:
                values[name] = compute()
            except fm.Undefined as e:
                values[name] = math.nan
                reasons[name] = str(e)

        for name, fn in (("precision", fm.precision), ("recall", fm.recall), ("f1", fm.f1), ("fpr", fm.fpr), ("fnr", fm.fnr)):
            put(name, lambda fn=fn: fn(y, s, t, w))
        put("roc_auc", lambda: fm.roc_auc(y, s, w, levels=lv))
        put("pr_auc", lambda: fm.pr_auc(y, s, w, levels=lv))
        for g, m in a["mentions"].items():
            put(f"{g}/subgroup_auc", lambda m=m: fm.subgroup_auc(y, s, m, w, lv))
            put(f"{g}/bpsn_auc", lambda m=m: fm.bpsn_auc(y, s, m, w, lv))
            put(f"{g}/bnsp_auc", lambda m=m: fm.bnsp_auc(y, s, m, w, lv))
            put(f"{g}/fpr", lambda m=m: fm.fpr(y, s, t, w * m))
            put(f"{g}/fnr", lambda m=m: fm.fnr(y, s, t, w * m))
        for metric in SUBGROUP_METRICS:
            per = [values[f"{g}/{metric}"] for g in a["mentions"]]
            stacked = np.stack(np.broadcast_arrays(*per), axis=-1) if per else np.full(np.shape(w)[:-1] + (0,), np.nan)
            put(f"{metric}_power_mean", lambda stacked=stacked: fm.generalized_mean(stacked, self.power))
        parts = ["roc_auc"] + [f"{m}_power_mean" for m in SUBGROUP_METRICS]
        values["final_bias_metric"] = 0.25 * sum(np.asarray(values[p], dtype=float) for p in parts)
        if np.ndim(w) == 1:
            values["final_bias_metric"] = float(values["final_bias_metric"])
            if not math.isfinite(values["final_bias_metric"]):
                reasons["final_bias_metric"] = "undefined part(s): " + ", ".join(p for p in parts if p in reasons)
        for o, scores in a["obf"].items():
            put(f"robustness_{o}", lambda scores=scores: self._robustness(y, s, scores, w))
        return values, reasons

    def _robustness(self, y: np.ndarray, s: np.ndarray, obf: np.ndarray, w: np.ndarray) -> Any:
        keep = (y == 1) & np.isfinite(obf)
        if not keep.any():
            raise fm.Undefined("no toxic items scored after obfuscation")
        clean = fm.recall(y[keep], s[keep], self.threshold, w[..., keep])
        after = fm.recall(y[keep], obf[keep], self.threshold, w[..., keep])
        if np.ndim(clean) == 0 and clean == 0:
            raise fm.Undefined("clean recall is 0")
        return fm._finish(fm._ratio(after, clean), "clean recall is 0 or undefined")

    def point_estimates(self, records: list[Record]) -> dict[str, float | None]:
        if not records:
            return {m.name: None for m in METRICS}
        values, _ = self._statistics(self._arrays(records), np.ones(len(records)))
        counts = _failure_counts(records)
        values.update({name: _rate(counts, name, np.arange(len(records))) for name in ERROR_METRICS})
        return {m.name: (values[m.name] if math.isfinite(values.get(m.name, math.nan)) else None) for m in METRICS}

    def weighted_estimates(self, records: list[Record], weights: np.ndarray) -> dict[str, np.ndarray]:
        """Every metric at each row of `weights` (R x n resample counts) in one vectorised pass:
        the gate's paired bootstrap (harness.gate.paired) calls this instead of R x point_estimates."""
        values, _ = self._statistics(self._arrays(records), weights)
        for name, (failed, total) in _failure_counts(records).items():
            with np.errstate(invalid="ignore", divide="ignore"):
                values[name] = (weights @ failed) / (weights @ total)  # NaN where nothing was scored
        return {m.name: np.broadcast_to(np.asarray(values[m.name], dtype=float), (len(weights),))
                for m in METRICS if m.name in values}

    def _error_metrics(self, records: list[Record], seed: int) -> dict[str, MetricValue]:
        """The error rates over every item, failed ones included."""
        counts = _failure_counts(records)
        out = {}
        for name in ERROR_METRICS:
            n = len(records)
            value = _rate(counts, name, np.arange(n))
            failed = counts[name][0].sum()
            # With no failure every replicate is 0: skip the resampling (large sets).
            ci = (0.0, 0.0) if failed == 0 and n >= 2 else bootstrap_ci(lambda idx, name=name: _rate(counts, name, idx), n, seed=seed)
            reason = "no items" if name == "classifier_error_rate" else "no obfuscated toxic texts were scored"
            out[name] = MetricValue.of(value, ci, n, reason) if n else MetricValue.undefined(reason, 0)
        return out

    def aggregate(self, records: list[Record], seed: int, errored: list[Record] | None = None) -> SuiteResult:
        """Metrics over `records` (the items scored); the error rates also count `errored` (the
        items whose clean text failed), which the runner passes."""
        n = len(records)
        errors = self._error_metrics(records + list(errored or []), seed)
        if not n:
            undefined = {m.name: MetricValue.undefined("no items were scored", 0) for m in METRICS}
            return SuiteResult({**undefined, **errors})
        a = self._arrays(records)
        values, reasons = self._statistics(a, np.ones(n))
        replicates: dict[str, list[np.ndarray]] = {}
        for weights in fm.bootstrap_weight_batches(n, seed) if n >= 2 else ():
            for name, v in self._statistics(a, weights)[0].items():
                replicates.setdefault(name, []).append(np.broadcast_to(v, (len(weights),)))

        def value(name: str, count: int) -> MetricValue:
            if not math.isfinite(values[name]):
                return MetricValue.undefined(reasons.get(name, f"{name} is undefined"), count)
            ci = fm.percentile_ci(np.concatenate(replicates[name])) if name in replicates else None
            return MetricValue.of(values[name], ci, count, f"{name} is undefined")

        metrics = {m.name: errors[m.name] if m.name in errors else value(m.name, n) for m in METRICS}
        breakdown = {
            g: {metric: value(f"{g}/{metric}", int(a["mentions"][g].sum())) for metric in (*SUBGROUP_METRICS, "fpr", "fnr")}
            for g in a["mentions"]
        }
        return SuiteResult(metrics, {"subgroup": breakdown} if breakdown else {})


def _failure_counts(records: list[Record]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per item, (failed, scored) texts: the clean text, and the obfuscated variants."""
    clean = np.array([r.get("score") is None for r in records], dtype=float)
    obf_failed = np.array([sum(v is None for v in r.get("obfuscated", {}).values()) for r in records], dtype=float)
    obf_total = np.array([len(r.get("obfuscated", {})) for r in records], dtype=float)
    return {"classifier_error_rate": (clean, np.ones(len(records))), "obfuscation_error_rate": (obf_failed, obf_total)}


def _rate(counts: dict[str, tuple[np.ndarray, np.ndarray]], name: str, idx: np.ndarray) -> float:
    failed, total = counts[name]
    den = total[idx].sum()
    return float(failed[idx].sum() / den) if den > 0 else math.nan
