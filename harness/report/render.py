"""Render a Scorecard to one self-contained HTML file with jinja2 (autoescaping on)."""

from __future__ import annotations

from pathlib import Path

from harness.journal import atomic_write_text
from harness.report.build import Scorecard
from harness.report.charts import fmt

TEMPLATES = Path(__file__).resolve().parent / "templates"


def render_html(card: Scorecard) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped: model outputs and dataset text are untrusted
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    env.globals["fmt"] = fmt
    return env.get_template("scorecard.html.j2").render(card=card)


def write_html(card: Scorecard, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, render_html(card))
    return path
