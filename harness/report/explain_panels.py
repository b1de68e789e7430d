"""Explanation panels of a suite's drill-down: each explained item's options as token heat-maps
(per-token difference, gradient x input, integrated gradients; the value in each token's `title`)
and an attention map per layer (head-averaged, the heads behind `<details>`), as inline HTML and
SVG. Everything here is numbers and untrusted token text; the template escapes the text.

Reads `<run>/<suite>.explain.jsonl` (harness.explain.explain); no torch.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = 4  # shades of an attention map (level 0, the lightest, is not drawn)
CELL = 12  # px per cell of the labelled map
SMALL_CELL = 5  # px per cell of the per-layer and per-head maps
HEAD_GAP = 6  # px between the heads of a layer
COMPLETENESS_WARNING = 0.05  # above this completeness error the page says the attributions do not add up
MAX_LABEL = 14  # characters of a token shown as an axis label
NOTE = (
    "How to read these panels. Token differences add up to the difference of the two options' "
    "log-likelihoods that the suite recorded. Attributions (gradient × input, integrated gradients) "
    "depend on the baseline they are measured from; the completeness error beside each says how far "
    "the integrated gradients miss f(input) − f(baseline). Attention weights show where the model "
    "looks, not why it prefers an option: they are not explanations by themselves (Jain & Wallace 2019)."
)
# The same for explanations without integrated gradients (harness run --explain's default).
NOTE_WITHOUT_IG = (
    "How to read these panels. Token differences add up to the difference of the two options' "
    "log-likelihoods that the suite recorded. Gradient × input is a first-order attribution: the "
    "gradient at the input times the input, measured from the zero embedding; it says which tokens "
    "the log-likelihood is locally most sensitive to, not how much each contributes. Attention "
    "weights show where the model looks, not why it prefers an option: they are not explanations by "
    "themselves (Jain & Wallace 2019)."
)


@dataclass(frozen=True)
class Token:
    text: str  # untrusted: escaped by the template
    value: float | None
    style: str  # background colour, computed here from the value ("" for none)
    title: str  # the value, shown on hover


@dataclass(frozen=True)
class HeatRow:
    label: str
    help: str
    tokens: tuple[Token, ...]


@dataclass(frozen=True)
class AttentionMap:
    title: str
    width: int  # px
    height: int
    left: int  # px of row labels (0 without labels)
    top: int  # px of column labels
    cell: int  # px per cell
    n_rows: int
    n_cols: int
    rows: tuple[str, ...]  # query tokens (untrusted); empty on unlabelled maps
    cols: tuple[str, ...]  # key tokens (untrusted)
    paths: tuple[tuple[str, str], ...]  # (fill colour, path in cell units) per shade


@dataclass(frozen=True)
class Layer:
    index: int
    mean: AttentionMap
    heads: tuple[AttentionMap, ...]  # drawn side by side in one SVG (see `heads_width`)

    @property
    def heads_width(self) -> int:
        return sum(h.width + HEAD_GAP for h in self.heads)


@dataclass(frozen=True)
class OptionPanel:
    name: str
    loglikelihood: float
    recorded: float
    completeness: str  # the integrated gradients' completeness error in words, or that they were not computed
    rows: tuple[HeatRow, ...]
    key: AttentionMap | None  # all layers and heads averaged, labelled: the layers' maps share its geometry
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class ItemPanel:
    id: str
    signal_name: str
    signal: float
    explained: float
    recorded: float
    max_abs_error: float
    settings: str
    options: tuple[OptionPanel, ...]


@dataclass(frozen=True)
class ExplainSection:
    items: tuple[ItemPanel, ...]
    note: str  # why there are no panels, or a problem reading them ("" when fine)
    reading: str = NOTE


def _colour(value: float | None, scale: float) -> str:
    """Diverging: blue for positive (favours this option), red for negative, white at 0."""
    if value is None or not math.isfinite(value) or scale <= 0:
        return ""
    t = max(-1.0, min(1.0, value / scale))
    r, g, b = (255 - int(180 * t), 255 - int(120 * t), 255) if t >= 0 else (255, 255 + int(150 * t), 255 + int(180 * t))
    return f"background:#{r:02x}{g:02x}{b:02x}"


def _row(label: str, help: str, texts: Sequence[str], values: Sequence[float | None], what: str) -> HeatRow:
    finite = [abs(v) for v in values if v is not None and math.isfinite(v)]
    scale = max(finite) if finite else 0.0
    tokens = []
    for text, v in zip(texts, values):
        tokens.append(Token(text, v, _colour(v, scale), "—" if v is None else f"{what} {v:+.4f}"))
    return HeatRow(label, help, tuple(tokens))


def _label(text: str) -> str:
    text = text.replace("\n", "⏎").replace("\t", "⇥")
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 1] + "…"


def attention_map(title: str, weights: np.ndarray, rows: Sequence[str] = (), cols: Sequence[str] = (), cell: int = CELL) -> AttentionMap:
    """An SVG heat-map of weights (n_rows, n_cols), each row shaded relative to its own largest
    weight (a row is where one position looks; the first positions, which can only look at a few
    tokens, would otherwise set the scale for all). One path per shade in cell units, equal
    neighbours in a row merged into one rectangle, so a map costs bytes in proportion to its
    shaded runs. Labels only when `rows` and `cols` are given (one labelled map per option; the
    per-layer maps share its geometry)."""
    n_rows, n_cols = weights.shape
    labelled = bool(rows) and bool(cols)
    left = 8 + 7 * max(len(_label(r)) for r in rows) if labelled else 0
    top = 8 + 7 * max(len(_label(c)) for c in cols) if labelled else 0
    by_level: dict[int, list[str]] = {}
    if weights.size:
        row_max = np.maximum(weights.max(axis=1, keepdims=True), 1e-12)  # (n_rows, 1)
        levels = np.minimum((weights / row_max * LEVELS).astype(int), LEVELS - 1)  # (n_rows, n_cols)
        for i, row in enumerate(levels.tolist()):
            j = 0
            while j < n_cols:
                k = j
                while k + 1 < n_cols and row[k + 1] == row[j]:
                    k += 1
                if row[j] > 0:
                    by_level.setdefault(row[j], []).append(f"M{j} {i}h{k - j + 1}v1h-{k - j + 1}z")
                j = k + 1
    return AttentionMap(
        title=f"{title}; each row shaded up to its largest weight" if labelled else title,
        width=left + cell * n_cols + 2,
        height=top + cell * n_rows + 2,
        left=left,
        top=top,
        cell=cell,
        n_rows=n_rows,
        n_cols=n_cols,
        rows=tuple(_label(r) for r in rows) if labelled else (),
        cols=tuple(_label(c) for c in cols) if labelled else (),
        paths=tuple((_shade(level), "".join(parts)) for level, parts in sorted(by_level.items())),
    )


def _shade(level: int) -> str:
    t = level / (LEVELS - 1)
    return f"#{int(255 - 200 * t):02x}{int(255 - 160 * t):02x}{int(255 - 60 * t):02x}"


def _decode(entry: dict[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(entry["base64"]), dtype="<f2").reshape(entry["shape"]).astype(np.float32)


def _option(option: dict[str, Any]) -> OptionPanel:
    text = [str(t) for t in option["text"]]
    n_inputs = len(text) - 1
    ig = option["ig"]
    err = None if ig is None else ig.get("completeness_error")
    if ig is None:
        completeness = "integrated gradients not computed (0 steps; --explain-steps N or harness explain --steps N computes them)"
    elif err is None:
        completeness = "completeness error of integrated gradients: undefined (f(input) = f(baseline))"
    else:
        completeness = (f"completeness error of integrated gradients: {100 * err:.2f}% of f(input) − f(baseline) = "
                        f"{ig['f_input'] - ig['f_baseline']:+.4f}")
    if err is not None and err > COMPLETENESS_WARNING:
        completeness += (f" — above {100 * COMPLETENESS_WARNING:g}%: the integrated gradients below do not add up to the change "
                         "they explain; read them with care (more steps, or another baseline, may help)")
    inputs = text[:n_inputs]
    rows = (
        _row("token difference", "log P(token) here minus log P of the same token in the other option (shared tokens only)",
             text, option["token_differences"], "difference"),
        _row("log-probability", "log P(token | tokens before it), the scored tokens",
             text, [None] * (len(text) - option["n_targets"]) + list(option["logprobs"]), "log-prob"),
        _row("gradient × input", "attribution of this option's log-likelihood to each input token",
             inputs, option["grad_x_input"], "gradient × input"),
    ) + (() if ig is None else (
        _row("integrated gradients", "attribution along the path from the baseline; sums to f(input) − f(baseline)",
             inputs, option["integrated_gradients"], "integrated gradients"),
    ))  # fmt: skip
    layers: list[Layer] = []
    key = None
    if "attention" in option:
        att = _decode(option["attention"])  # (L, H, n_targets, n_inputs)
        first = int(option["attention"]["rows_from"])
        queries = [f"{inputs[first + r]}→" for r in range(att.shape[2])]
        key = attention_map(f"mean over {att.shape[0]} layers and {att.shape[1]} heads; rows: the positions predicting "
                            "the scored tokens, columns: the tokens they see", att.mean(axis=(0, 1)), queries, inputs)
        for layer in range(att.shape[0]):
            mean = attention_map(f"layer {layer}, mean of {att.shape[1]} heads", att[layer].mean(axis=0), cell=SMALL_CELL)
            heads = tuple(attention_map(f"layer {layer}, head {h}", att[layer, h], cell=SMALL_CELL) for h in range(att.shape[1]))
            layers.append(Layer(layer, mean, heads))
    return OptionPanel(str(option["name"]), float(option["loglikelihood"]), float(option["recorded_loglikelihood"]),
                       completeness, rows, key, tuple(layers))  # fmt: skip


def item_panel(line: dict[str, Any]) -> ItemPanel:
    s = line["settings"]
    d = line["difference"]
    return ItemPanel(
        id=str(line["id"]),
        signal_name=str(line["signal"]["name"]),
        signal=float(line["signal"]["value"]),
        explained=float(d["explained"]),
        recorded=float(d["recorded"]),
        max_abs_error=float(d["max_abs_error"]),
        settings=(f"integrated gradients: {s['steps']} steps ({s['method']}), baseline {s['baseline']}" if s["steps"]
                  else "integrated gradients: not computed (0 steps)"),
        options=tuple(_option(o) for o in line["options"]),
    )


def section(lines: Sequence[dict[str, Any]], note: str = "") -> ExplainSection:
    """The panels of explanation lines, with the reading note that fits them (integrated
    gradients or not)."""
    with_ig = not lines or any(line["settings"]["steps"] for line in lines)
    return ExplainSection(tuple(item_panel(line) for line in lines), note, NOTE if with_ig else NOTE_WITHOUT_IG)


def load_section(path: Path) -> ExplainSection | None:
    """The panels of an explain file; None when the run has none for the suite."""
    if not path.exists():
        return None
    try:
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
        return section(lines, "" if lines else "no item of this suite had a bias signal to explain")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        return ExplainSection((), f"{path}: unreadable explanations ({type(e).__name__}: {e})")


def run_section(run_path: Path, suite: str) -> ExplainSection | None:
    return load_section(run_path / f"{suite}.explain.jsonl")
