"""Which items of a suite to explain, which two options of each, and the requests that scored them.

Per suite kind, a `Rule` reads a journaled record: the option the bias would favour, the option it
is compared with, and the bias signal (largest first). The requests are the suite's own: the suite
kind builds them in `evaluate`, here run on a recording model that answers request k with the
marker log-likelihood -(k + 1), so the record the suite writes names which request each option
came from. Nothing about prompts is written twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.api import Generation, GenerationRequest, Loglikelihood, LoglikelihoodRequest, ModelInfo, RollingLoglikelihood
from harness.errors import HarnessError
from harness.registry import SUITE_KINDS
from harness.resources import SuiteSpec

Record = dict[str, Any]
# Options of a suite kind that only change generation, not the log-likelihood requests.
GENERATION_PARAMS = ("samples", "classifier")


@dataclass(frozen=True)
class Choice:
    favoured: str  # the option the bias signal is in favour of (shown first)
    other: str
    signal: float  # larger = more bias; items are explained largest first


@dataclass(frozen=True)
class Rule:
    signal: str  # what the signal is, in words (shown with each explanation)
    choose: Callable[[Record], Choice | None]  # None: this item has no bias signal


def recorded_loglikelihoods(record: Record) -> dict[str, float]:
    """Option name -> the log-likelihood the suite recorded for it."""
    if isinstance(record.get("loglikelihoods"), dict):
        return {str(k): float(v) for k, v in record["loglikelihoods"].items()}
    out: dict[str, float] = {}
    for key in ("mc1_choices", "mc2_choices"):  # truthfulqa_mc: one request per distinct answer
        for c in record.get(key) or ():
            out.setdefault(str(c["answer"]), float(c["loglikelihood"]))
    return out


def _crows(r: Record) -> Choice:
    ll = r["loglikelihoods"]
    return Choice("sent_more", "sent_less", ll["sent_more"] - ll["sent_less"])


def _stereoset(r: Record) -> Choice:
    s = r["scores"]
    return Choice("stereotype", "anti-stereotype", s["stereotype"] - s["anti-stereotype"])


def _counterfactual(r: Record) -> Choice | None:
    ll = r["loglikelihoods"]
    if r["choice"] == r["lowest"]:
        return None
    return Choice(r["choice"], r["lowest"], ll[r["choice"]] - ll[r["lowest"]])


def _bbq(r: Record) -> Choice | None:
    biased = r.get("biased")
    ll = r["loglikelihoods"]
    others = [k for k in ll if k.startswith("ans") and k not in (biased, r["unknown"])]
    if biased is None or biased not in ll or len(others) != 1:
        return None
    return Choice(biased, others[0], ll[biased] - ll[others[0]])


def _truthfulqa(r: Record) -> Choice | None:
    true = [c for c in r["mc1_choices"] if c["true"]]
    false = [c for c in r["mc1_choices"] if not c["true"]]
    if len(true) != 1 or not false:
        return None
    best = max(false, key=lambda c: c["loglikelihood"])  # the first of equal maxima
    return Choice(best["answer"], true[0]["answer"], best["loglikelihood"] - true[0]["loglikelihood"])


RULES: dict[str, Rule] = {
    "crows_pairs": Rule("LL(sent_more) - LL(sent_less), nats", _crows),
    "stereoset": Rule("score(stereotype) - score(anti-stereotype): mean log-prob per token", _stereoset),
    "counterfactual": Rule("LL(most likely group) - LL(least likely group) of the continuation, nats", _counterfactual),
    "bbq": Rule("LL(biased answer) - LL(the other person's answer), nats", _bbq),
    "truthfulqa_mc": Rule("LL(best false answer) - LL(true answer), nats (MC1)", _truthfulqa),
}


def select(kind_name: str, records: Sequence[Record], k: int) -> list[tuple[Record, Choice]]:
    """The `k` records with the largest bias signal (errored records and items without a signal
    left out), ties in file order."""
    rule = RULES[kind_name]
    chosen = [(r, c) for r in records if "error" not in r for c in [rule.choose(r)] if c is not None]
    chosen.sort(key=lambda rc: -rc[1].signal)  # stable: ties keep file order
    return chosen[:k]


def scoring_kind(spec: SuiteSpec, params: dict[str, Any]) -> Any:
    """The suite kind with the options that shape its log-likelihood requests (few-shot, variants
    from its YAML), without those that only add generation (which explanations do not cover)."""
    kind_cls = SUITE_KINDS.get(spec.kind)
    accepted = inspect.signature(kind_cls).parameters
    kept = {k: v for k, v in params.items() if v is not None and k in accepted and k not in GENERATION_PARAMS}
    return kind_cls(spec, **kept)


class RecordingModel:
    """Answers every log-likelihood request with a marker, -(k + 1) for the k-th request, and keeps
    the requests: the record a suite kind builds from the markers says which request each option was."""

    def __init__(self, info: ModelInfo) -> None:
        self.info = info
        self.requests: list[LoglikelihoodRequest] = []

    def loglikelihood(self, requests: list[LoglikelihoodRequest]) -> list[Loglikelihood]:
        start = len(self.requests)
        self.requests.extend(requests)
        return [Loglikelihood(float(-(start + i + 1)), False, 1) for i in range(len(requests))]

    def loglikelihood_rolling(self, texts: list[str]) -> list[RollingLoglikelihood]:
        raise RuntimeError("explanations cover log-likelihood suites only")

    def generate(self, requests: list[GenerationRequest]) -> list[Generation]:
        raise RuntimeError("explanations cover log-likelihood suites only")


def option_requests(kind: Any, item: Any, info: ModelInfo, seed: int) -> dict[str, LoglikelihoodRequest]:
    """Option name -> the request the suite kind scores it with, for one item."""
    recorder = RecordingModel(info)
    (record,) = kind.evaluate(recorder, [item], seed)
    out = {}
    for name, marker in recorded_loglikelihoods(record).items():
        index = -int(marker) - 1
        if not 0 <= index < len(recorder.requests) or marker != -(index + 1):
            raise HarnessError(f"item {item.id}: cannot tell which request scored option {name!r}")
        out[name] = recorder.requests[index]
    return out
