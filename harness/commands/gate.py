"""`harness gate --baseline RUN --candidate RUN`: fail when the candidate regressed significantly.

Exit status: 0 when every gated metric passed, 1 when one regressed, broke an absolute bound or
could not be verified (fail closed: missing or null metric, protocol or data mismatch, or no
metric gated at all), 2 on usage errors (unreadable run folder or policy file, an output file
that cannot be written).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.gate.checks import PASS, SKIPPED, run_gate
from harness.gate.policy import Policy, load_policy
from harness.gate.reports import ICONS, junit_xml, markdown, write
from harness.gate.runs import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--baseline", type=Path, required=True, help="the reference run folder")
    parser.add_argument("--candidate", type=Path, required=True, help="the run folder under test")
    parser.add_argument(
        "--policy", type=Path, help="gate policy YAML (default: the metrics, directions and tolerances in the suites' thresholds)"
    )
    parser.add_argument("--junit", type=Path, help="write JUnit XML here (one test case per metric)")
    parser.add_argument("--markdown", type=Path, help="write a Markdown summary here (for a pull-request comment)")


def main(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy) if args.policy else Policy()
    result = run_gate(load_run(args.baseline), load_run(args.candidate), policy)
    if args.junit:
        write(args.junit, junit_xml(result), "JUnit report")
    if args.markdown:
        write(args.markdown, markdown(result), "Markdown summary")
    for check in result.checks:
        print(f"{ICONS[check.status]:<10} {check.suite}.{check.name}: {check.message}")
    passed = sum(c.status == PASS for c in result.checks)
    skipped = sum(c.status == SKIPPED for c in result.checks)
    failed = len(result.checks) - passed - skipped
    verdict = "FAILED" if result.exit_code else "passed"
    print(f"gate: {verdict} ({passed} checks passed, {failed} failed or failed closed, {skipped} skipped)")
    return result.exit_code
