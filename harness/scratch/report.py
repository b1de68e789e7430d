"""A self-contained HTML training report: train and validation loss curves as inline SVG, the
configuration and the corpus. No scripts, no external files; every text is HTML-escaped (the
corpus name and run name come from the user)."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

WIDTH, HEIGHT, PAD = 720, 320, 48


def _polyline(points: list[tuple[float, float]], x_max: float, y_min: float, y_max: float, color: str) -> str:
    if not points:
        return ""
    span_y = (y_max - y_min) or 1.0
    coords = " ".join(
        f"{PAD + (x / (x_max or 1.0)) * (WIDTH - 2 * PAD):.1f},{HEIGHT - PAD - (y - y_min) / span_y * (HEIGHT - 2 * PAD):.1f}"
        for x, y in points
    )
    return f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{coords}"/>'


def loss_svg(train: list[tuple[float, float]], val: list[tuple[float, float]], baseline: float | None) -> str:
    """Loss against step, train in blue and validation in orange, the unigram baseline dashed."""
    ys = [y for _, y in train + val] + ([baseline] if baseline is not None else [])
    if not ys:
        return "<p>No steps logged yet.</p>"
    x_max = max(x for x, _ in train + val) or 1.0
    y_min, y_max = min(ys), max(ys)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" role="img" '
             f'aria-label="loss curves">',
             f'<rect x="{PAD}" y="{PAD}" width="{WIDTH - 2 * PAD}" height="{HEIGHT - 2 * PAD}" fill="none" stroke="#999"/>']
    for i in range(5):  # y gridlines with labels
        y = y_min + (y_max - y_min) * i / 4
        py = HEIGHT - PAD - (i / 4) * (HEIGHT - 2 * PAD)
        parts.append(f'<text x="{PAD - 6}" y="{py + 4:.1f}" font-size="11" text-anchor="end">{y:.2f}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{HEIGHT - PAD + 18}" font-size="11" text-anchor="end">step {x_max:g}</text>')
    parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 18}" font-size="11">0</text>')
    if baseline is not None:
        parts.append(_polyline([(0, baseline), (x_max, baseline)], x_max, y_min, y_max, "#888").replace(
            'stroke-width="2"', 'stroke-width="1" stroke-dasharray="6 4"'))
    parts.append(_polyline(train, x_max, y_min, y_max, "#1f77b4"))
    parts.append(_polyline(val, x_max, y_min, y_max, "#ff7f0e"))
    parts.append("</svg>")
    return "".join(parts)


def render_report(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    esc = html.escape
    train = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None and math.isfinite(r["loss"])]
    val = [(r["step"], r["val_loss"]) for r in records if r.get("val_loss") is not None]
    baseline = meta.get("unigram_val_loss")
    last_val = f"{val[-1][1]:.4f}" if val else "-"
    rows = "".join(
        f"<tr><th>{esc(str(k))}</th><td>{esc(json.dumps(v))}</td></tr>"
        for section in ("model", "train") for k, v in sorted(meta.get(section, {}).items())
    )
    corpus = meta.get("corpus", {})
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Training report: {esc(str(meta.get("name", "")))}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:60em}}td,th{{text-align:left;padding:2px 8px}}
.k{{color:#1f77b4}}.v{{color:#ff7f0e}}.b{{color:#888}}</style></head><body>
<h1>Training report: {esc(str(meta.get("name", "")))}</h1>
<p>Step {esc(str(meta.get("step", "-")))} of {esc(str(meta.get("train", {}).get("steps", "-")))}.
Validation loss <b>{last_val}</b> nats/token; unigram baseline on the same tokens
<b>{f"{baseline:.4f}" if baseline is not None else "-"}</b>.</p>
<p><span class="k">&#9632; train loss</span> <span class="v">&#9632; validation loss</span>
<span class="b">- - unigram baseline</span></p>
{loss_svg(train, val, baseline)}
<h2>Corpus</h2><p>{esc(str(corpus.get("source", "")))}: {esc(str(corpus.get("n_documents", "-")))} documents,
{esc(str(corpus.get("n_chars", "-")))} characters, sha256 {esc(str(corpus.get("sha256", ""))[:16])}.</p>
<h2>Configuration</h2><table>{rows}</table>
</body></html>
"""


def write_report(out: Path, records: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    from harness.scratch.checkpoint import write_text

    path = out / "report.html"
    write_text(path, render_report(records, meta))
    return path
