"""`harness scorecard RUN [RUN ...] [--baseline RUN] -o scorecard.html`: the HTML ethics scorecard."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError
from harness.gate.policy import Policy, load_policy
from harness.gate.runs import load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR", help="run folders written by `harness run`, shown side by side")
    parser.add_argument("--baseline", type=Path, help="a run folder to show deltas against (paired where the runs share items)")
    parser.add_argument("-o", "--output", type=Path, default=Path("scorecard.html"), help="the HTML file to write (default: scorecard.html)")
    parser.add_argument("--policy", type=Path, help="a policy YAML whose rules override the suites' thresholds for the badges")
    parser.add_argument("--worst", type=int, default=5, help="worst samples shown per metric and run (default: 5)")
    parser.add_argument(
        "--review", type=Path, metavar="REVIEW.yaml",
        help="a reviewer's sign-off (docs/review.md) shown at the top; stale when the runs changed since",
    )


def write_scorecard(
    runs: list[Path], output: Path, baseline: Path | None = None, policy_path: Path | None = None, worst: int = 5,
    review: Path | None = None,
) -> Path:
    from harness.report.build import build_scorecard
    from harness.report.render import write_html

    if worst < 0:
        raise HarnessError(f"--worst must be 0 or more, got {worst}")
    # Without a policy, deltas use 1,000 paired replicates (the minimum METRICS.md asks for):
    # the page is for reading; the gate uses 2,000.
    policy = load_policy(policy_path) if policy_path else Policy(replicates=1000)
    loaded = [load_run(p) for p in runs]
    base = load_run(baseline) if baseline else None
    signoff = None
    if review is not None:  # a malformed review fails before the (slower) comparison
        from harness.report.signoff import load_signoff

        signoff = load_signoff(review, ([baseline] if baseline else []) + list(runs))
    card = build_scorecard(loaded, base, policy, worst)
    if signoff is not None:
        from harness.report.signoff import with_review

        card = with_review(card, signoff)
    try:
        return write_html(card, output)
    except OSError as e:
        raise HarnessError(f"{output}: cannot write the scorecard ({e.strerror or e})") from None


def main(args: argparse.Namespace) -> int:
    path = write_scorecard(args.runs, args.output, args.baseline, args.policy, args.worst, args.review)
    print(f"scorecard: {path}")
    return 0
