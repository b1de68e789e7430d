"""`harness review check|pin|digest`: a reviewer's sign-off file (docs/review.md).

    harness review check review.yaml [RUN_DIR ...]   parse the file; with runs, say whether the
                                                    review is current, stale or unpinned
    harness review pin review.yaml RUN_DIR ...       record the runs' sha256 in the file's `runs:`
    harness review digest RUN_DIR ...                print the runs' sha256, as a `runs:` block

`check` exits 1 when the review is stale, 0 otherwise; a malformed file is exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    check = actions.add_parser("check", help="check a review file, and whether the runs changed since the review")
    check.add_argument("review", type=Path, metavar="REVIEW")
    check.add_argument("runs", type=Path, nargs="*", metavar="RUN_DIR")
    pin = actions.add_parser("pin", help="record the runs' sha256 in the review file's `runs:` block")
    pin.add_argument("review", type=Path, metavar="REVIEW")
    pin.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")
    digest = actions.add_parser("digest", help="print the runs' sha256 as a `runs:` block to paste into a review file")
    digest.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR")


def main(args: argparse.Namespace) -> int:
    from harness.journal import atomic_write_text
    from harness.review import load_review, pin_text, review_status, runs_block

    if args.action == "digest":
        print(runs_block(args.runs), end="")
        return 0
    review = load_review(args.review)
    if args.action == "pin":
        text = pin_text(args.review.read_text(encoding="utf-8"), str(args.review), args.runs)
        try:
            atomic_write_text(args.review, text)
        except OSError as e:
            raise HarnessError(f"{args.review}: cannot write the review file ({e.strerror or e})") from None
        print(f"{args.review}: pinned {len(args.runs)} run{'s' if len(args.runs) != 1 else ''}")
        return 0
    decided = ", ".join(f"{d.concern} {d.decision}" for d in review.decisions) or "no concern decided"
    print(f"{args.review}: {review.reviewer}, {review.date}: overall {review.overall.decision} ({decided})")
    if not args.runs:
        return 0
    status = review_status(review, args.runs)
    for run in status.runs:
        word = "reviewed" if run.reviewed else ("CHANGED" if status.pinned else "unpinned")
        print(f"{word:<9} {run.label}  {run.digest}")
    print(status.message())
    return 1 if status.state == "stale" else 0
