"""audit.json and audit.html: the same numbers, the page self-contained (inline style, no script,
nothing fetched) and rendered by jinja2 with autoescaping on, like the scorecard
(harness.report.render): model names, paths and suite names are the user's text."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from harness.compress.audit import AuditResult, MetricRow
from harness.journal import atomic_write_text
from harness.report.charts import fmt

TEMPLATES = Path(__file__).resolve().parent / "templates"


def write_json(result: AuditResult, path: Path) -> Path:
    atomic_write_text(path, json.dumps(result.to_dict(), indent=1, allow_nan=False, default=_unserialisable))
    return path


def _unserialisable(x: Any) -> Any:
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def render_html(result: AuditResult) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is escaped: names and paths are untrusted text
        undefined=jinja2.StrictUndefined,
    )
    env.globals.update(num=num, signed=signed, mib=mib, ratio=ratio, verdict=verdict)
    return env.get_template("audit.html.j2").render(audit=result, suites=_by_suite(result))


def write_html(result: AuditResult, path: Path) -> Path:
    atomic_write_text(path, render_html(result))
    return path


def _by_suite(result: AuditResult) -> list[tuple[str, list[tuple[str, list[tuple[str, MetricRow]]]]]]:
    """suite -> metric -> [(variant, row)], in the base run's order."""
    table: dict[str, dict[str, list[tuple[str, MetricRow]]]] = {}
    for v in result.variants:
        for row in v.rows:
            table.setdefault(row.suite, {}).setdefault(row.metric, []).append((v.name, row))
    return [(suite, list(metrics.items())) for suite, metrics in table.items()]


def num(x: float | None) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return fmt(x)


def signed(x: float | None) -> str:
    if x is None:
        return "–"
    return ("+" if x > 0 else "") + fmt(x)


def mib(n: int | None) -> str:
    return "–" if n is None else f"{n / 2**20:.2f} MiB"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def verdict(row: MetricRow) -> str:
    if row.significant is None:
        return "undefined"
    if not row.significant:
        return "no significant change"
    return "worse" if row.worse else "better" if row.worse is False else "changed"
