"""One item's explanation: its two options taken apart and aligned, as one JSON line.

Line layout (`<suite>.explain.jsonl`, schema `explain/v1`; keys sorted, so two runs of the same
model on the same items write the same bytes):

    {"schema", "id", "suite", "kind", "signal": {"name", "value"}, "settings": {"steps", "baseline", "method"},
     "segments": [{"same", "a": [start, end], "b": [start, end], "delta"}],
     "difference": {"explained": LL(a) - LL(b) from the per-token log-probs, "recorded": the same
                    from the suite's record, "max_abs_error": the larger of the two options' errors},
     "options": [{"name", "tokens", "text", "n_targets", "logprobs", "loglikelihood",
                  "recorded_loglikelihood", "token_differences", "grad_x_input",
                  "integrated_gradients" (null at 0 steps), "ig": {"f_input", "f_baseline", "completeness_error"}
                  (null at 0 steps),
                  "attention": {"dtype": "float16", "shape": [L, H, n_targets, n_inputs],
                                "rows_from": first query position, "base64": little-endian bytes}}]}

Per-token lists run over the option's tokens (`tokens`, `text`); `logprobs` over its last
`n_targets` tokens; attributions over its inputs (all tokens but the last).
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.explain.align import Segment, aligned_baseline, segment_deltas, segments, token_differences
from harness.explain.capability import Explainer
from harness.explain.compute import POWER, TextExplanation, explain_spans
from harness.explain.settings import Settings
from harness.explain.targets import Choice

SCHEMA = "explain/v1"


def encode_attention(att: np.ndarray) -> dict[str, Any]:
    data = att.astype("<f2")
    return {"dtype": "float16", "shape": list(data.shape), "base64": base64.b64encode(data.tobytes()).decode("ascii")}


def _option(name: str, e: TextExplanation, text: list[str], recorded: float, diffs: list[float | None]) -> dict[str, Any]:
    option: dict[str, Any] = {
        "name": name,
        "tokens": list(e.tokens),
        "text": text,
        "n_targets": e.n_targets,
        "logprobs": list(e.logprobs),
        "loglikelihood": e.f_input,
        "recorded_loglikelihood": recorded,
        "token_differences": diffs,
        "grad_x_input": list(e.grad_x_input),
        "integrated_gradients": None if e.integrated_gradients is None else list(e.integrated_gradients),
        "ig": None if e.integrated_gradients is None else
              {"f_input": e.f_input, "f_baseline": e.f_baseline, "completeness_error": e.completeness_error},
    }
    if e.attention is not None:
        option["attention"] = {**encode_attention(e.attention), "rows_from": e.n_inputs - e.n_targets}
    return option


@dataclass(frozen=True)
class Item:
    """One item to explain: `choice.favoured` (a) against `choice.other` (b), with the suite's own
    requests for them and the log-likelihoods the suite recorded."""

    item_id: str
    suite: str
    kind: str
    signal_name: str
    choice: Choice
    requests: dict[str, Any]
    recorded: dict[str, float]


def explain_items(explainer: Explainer, items: Sequence[Item], settings: Settings) -> list[dict[str, Any]]:
    """The explanation lines of the items, in their order; all options' own passes are batched."""
    spans, segs, baselines = [], [], []
    for item in items:
        span_a, span_b = explainer.spans([item.requests[n] for n in (item.choice.favoured, item.choice.other)])
        there, back = segments(span_a.tokens, span_b.tokens), segments(span_b.tokens, span_a.tokens)
        spans += [span_a, span_b]
        segs.append((there, back))
        if settings.baseline == "other":
            baselines += [aligned_baseline(len(span_a.tokens) - 1, span_b.tokens, there),
                          aligned_baseline(len(span_b.tokens) - 1, span_a.tokens, back)]  # fmt: skip
        else:
            baselines += [None, None]
    explained = explain_spans(explainer, spans, steps=settings.steps, baseline_tokens=baselines)
    return [_line(explainer, item, explained[2 * i], explained[2 * i + 1], *segs[i], settings) for i, item in enumerate(items)]


def _line(
    explainer: Explainer, item: Item, a: TextExplanation, b: TextExplanation, segs: Sequence[Segment], back: Sequence[Segment],
    settings: Settings,
) -> dict[str, Any]:
    names, recorded = (item.choice.favoured, item.choice.other), item.recorded
    deltas = segment_deltas(a, b, segs)
    errors = [abs(a.f_input - recorded[names[0]]), abs(b.f_input - recorded[names[1]])]
    return {
        "schema": SCHEMA,
        "id": item.item_id,
        "suite": item.suite,
        "kind": item.kind,
        "signal": {"name": item.signal_name, "value": item.choice.signal},
        "settings": {**settings.to_dict(), "method": f"gauss-legendre a=u^{POWER}" if settings.steps else None},
        "segments": [{"same": s.same, "a": list(s.a), "b": list(s.b), "delta": d} for s, d in zip(segs, deltas)],
        "difference": {
            "explained": math.fsum(deltas),
            "recorded": recorded[names[0]] - recorded[names[1]],
            "max_abs_error": max(errors),
        },
        "options": [
            _option(names[0], a, explainer.token_text(a.tokens), recorded[names[0]], token_differences(a, b, segs)),
            _option(names[1], b, explainer.token_text(b.tokens), recorded[names[1]], token_differences(b, a, back)),
        ],
    }
