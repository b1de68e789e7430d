"""Render a ModelCard to Markdown with YAML front matter (jinja2, every value escaped)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from harness.card.content import MetricLine, ModelCard, Part, SuiteResult
from harness.card.limits import limitations
from harness.card.markdown import fence, inline
from harness.card.template import TEMPLATE
from harness.journal import atomic_write_text
from harness.review import concern_title

BADGES = {"pass": "pass", "warn": "warn", "fail": "fail", "none": "no bounds", "null": "no value"}


class Raw(str):
    """Markdown the card wrote itself: output as is, not escaped."""


def _finalize(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    if value is None:
        return ""
    return inline(value)


def num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def front_matter(card: ModelCard) -> str:
    index = card.model_index()
    for entry in index:
        entry["name"] = " ".join(str(entry["name"]).split())
    data = {"tags": ["evaluation", "safety-evaluation"], "model-index": index}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def _row(suite: str, m: MetricLine) -> str:
    value = num(m.value) if m.value is not None else f"no value: {m.reason or 'no reason recorded'}"
    ci = f"[{num(m.ci[0])}, {num(m.ci[1])}]" if m.ci else "—"
    text = (inline(suite), inline(m.name), value if m.value is not None else inline(value), ci)
    rest = ("—" if m.n is None else str(int(m.n)), inline(m.rule), BADGES.get(m.badge, m.badge))
    return "| " + " | ".join((*text, *rest)) + " |"


def metric_table(parts: Iterable[Part]) -> Raw:
    parts = list(parts)
    lines = ["| Suite | Metric | Value | 95% CI | n | Expected | Badge |", "|---|---|---|---|---|---|---|"]
    for part in parts:
        lines += [_row(part.suite.name, m) for m in part.metrics]
    data = [f"{inline(p.suite.name)}: {inline(p.suite.data_label)}, {p.suite.n_samples} items" for p in _unique(parts)]
    return Raw("\n".join(lines) + "\n\nData: " + "; ".join(data) + ".")


def _unique(parts: Iterable[Part]) -> list[Part]:
    seen: dict[str, Part] = {}
    for p in parts:
        seen.setdefault(p.suite.name, p)
    return list(seen.values())


def repro_block(card: ModelCard) -> Raw:
    text = yaml.safe_dump(card.repro, sort_keys=False, allow_unicode=True, width=1000)
    return Raw(fence(text, "yaml"))


def render_card(card: ModelCard) -> str:
    import jinja2

    env = jinja2.Environment(
        autoescape=False,  # Markdown, not HTML: _finalize escapes every value instead
        finalize=_finalize,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
    status = card.review_status
    tools: tuple[SuiteResult, ...] = card.tools
    return env.from_string(TEMPLATE).render(
        card=card,
        front_matter=Raw(front_matter(card)),
        status_line=status.message()[:1].upper() + status.message()[1:] + "." if status else "",
        title=concern_title,
        metric_table=metric_table,
        tool_table=metric_table(Part(s, s.metrics) for s in tools) if tools else "",
        limits=limitations(card),
        repro=repro_block(card),
    )


def write_card(card: ModelCard, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_card(card))
    return path
