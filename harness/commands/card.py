"""`harness card RUN_DIR [--review review.yaml] -o MODEL_CARD.md`: a Hugging Face model card."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.errors import HarnessError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder written by `harness run` (one model)")
    parser.add_argument("--review", type=Path, help="a review file (docs/review.md): the reviewer's decisions and conditions")
    parser.add_argument("-o", "--output", type=Path, default=Path("MODEL_CARD.md"), help="the Markdown file to write (default: MODEL_CARD.md)")


def write_model_card(run: Path, output: Path, review_path: Path | None = None) -> tuple[Path, str]:
    """Write the card; returns its path and the review's state in words ('' without a review)."""
    from harness.card.content import build_card, single_run
    from harness.card.render import write_card
    from harness.review import load_review, review_status

    review = load_review(review_path) if review_path else None
    status = review_status(review, [single_run(run).path]) if review else None
    card = build_card(run, review, status)
    try:
        write_card(card, output)
    except OSError as e:
        raise HarnessError(f"{output}: cannot write the model card ({e.strerror or e})") from None
    return output, status.message() if status else ""


def main(args: argparse.Namespace) -> int:
    path, review_state = write_model_card(args.run, args.output, args.review)
    if review_state:
        print(f"review: {review_state}")
    print(f"model card: {path}")
    return 0
