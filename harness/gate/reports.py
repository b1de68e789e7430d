"""The gate's outputs: JUnit XML (one test case per check) and a Markdown pull-request comment."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.errors import HarnessError
from harness.gate.checks import ERROR, FAIL, PASS, SKIPPED, Check, GateResult
from harness.journal import atomic_write_text

ICONS = {PASS: "✅ pass", FAIL: "❌ fail", ERROR: "⛔ error", SKIPPED: "➖ skipped"}


def junit_xml(result: GateResult) -> str:
    suites = ET.Element("testsuites", name="harness gate")
    by_suite: dict[str, list[Check]] = {}
    for check in result.checks:
        by_suite.setdefault(check.suite, []).append(check)
    for suite, checks in by_suite.items():
        element = ET.SubElement(
            suites,
            "testsuite",
            name=suite,
            tests=str(len(checks)),
            failures=str(sum(c.status == FAIL for c in checks)),
            errors=str(sum(c.status == ERROR for c in checks)),
            skipped=str(sum(c.status == SKIPPED for c in checks)),
        )
        for check in checks:
            case = ET.SubElement(element, "testcase", classname=f"gate.{suite}", name=check.name)
            if check.status == FAIL:
                ET.SubElement(case, "failure", type="regression", message=check.message).text = _detail(check)
            elif check.status == ERROR:
                ET.SubElement(case, "error", type="fail-closed", message=check.message).text = _detail(check)
            elif check.status == SKIPPED:
                ET.SubElement(case, "skipped", message=check.message)
            else:
                ET.SubElement(case, "system-out").text = check.message
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _detail(check: Check) -> str:
    return f"baseline {_num(check.baseline)}, candidate {_num(check.candidate)}: {check.message}"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.4g}"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell (no pipes, newlines or HTML)."""
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|").replace("\n", " ")
    )


def _seed_note(result: GateResult) -> list[str]:
    seeds = (result.baseline.summary.get("seed"), result.candidate.summary.get("seed"))
    if seeds[0] == seeds[1]:
        return []
    return ["", f"Note: the runs used different seeds (baseline {seeds[0]}, candidate {seeds[1]}); sampled outputs differ by design."]


def markdown(result: GateResult) -> str:
    failed = [c for c in result.checks if not c.ok]
    verdict = "❌ **Regression gate failed**" if failed else "✅ **Regression gate passed**"
    lines = [
        f"{verdict}: {sum(c.status == PASS for c in result.checks)} passed, "
        f"{sum(c.status == FAIL for c in result.checks)} failed, {sum(c.status == ERROR for c in result.checks)} "
        f"failed closed, {sum(c.status == SKIPPED for c in result.checks)} skipped.",
        "",
        f"Baseline `{_cell(result.baseline.label)}` ({_cell(str(result.baseline.path))}) vs candidate "
        f"`{_cell(result.candidate.label)}` ({_cell(str(result.candidate.path))}); "
        f"policy: {_cell(str(result.policy.path)) if result.policy.path else 'the suites’ thresholds'}; "
        f"paired bootstrap, {result.policy.replicates} replicates, {result.policy.confidence:.0%} confidence.",
        *_seed_note(result),
        "",
        "| | suite | metric | baseline | candidate | Δ (paired CI) | allowed | details |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in sorted(result.checks, key=lambda c: (c.ok, c.suite, c.name)):
        delta = ""
        if c.paired is not None and c.paired.diff is not None:
            delta = f"{c.paired.diff:+.4g}"
            if c.paired.diff_ci is not None:
                delta += f" [{c.paired.diff_ci[0]:+.4g}, {c.paired.diff_ci[1]:+.4g}]"
        allowed = "" if c.allowed is None else f"{c.allowed:.4g}"
        lines.append(
            f"| {ICONS[c.status]} | {_cell(c.suite)} | {_cell(c.name)} | {_num(c.baseline)} | {_num(c.candidate)} "
            f"| {delta} | {allowed} | {_cell(c.message)} |"
        )
    return "\n".join(lines) + "\n"


def write(path: Path, text: str, what: str) -> None:
    """Write an output file; a path that cannot be written is a usage error (exit 2), never a
    traceback with exit 1, which CI would read as a regression."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as e:
        raise HarnessError(f"{path}: cannot write the {what} ({e.strerror or e})") from None
