"""The standalone page of `harness explain`: the scorecard's explanation panels on their own,
self-contained like the scorecard (inline CSS and SVG, no script, autoescaped)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.journal import atomic_write_text
from harness.report.explain_panels import section
from harness.report.render import TEMPLATES


def render_page(suite: str, model: str, lines: Sequence[dict[str, Any]]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined)
    panels = section(lines)
    generated = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return env.get_template("explain.html.j2").render(suite=suite, model=model, section=panels, generated_at=generated)


def write_page(path: Path, suite: str, model: str, lines: Sequence[dict[str, Any]]) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, render_page(suite, model, lines))
    except OSError as e:
        raise HarnessError(f"{path}: cannot write the page ({e.strerror or e})") from None
    return path
