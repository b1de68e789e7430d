"""The reviewer's sign-off on the page: harness/review.py reads and checks the file; this
module only shapes what the scorecard shows (every text escaped by the template)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.report.build import Scorecard


@dataclass(frozen=True)
class Decision:
    concern: str  # a concern id, or "overall"
    title: str
    decision: str  # accept | accept-with-conditions | reject
    notes: str


@dataclass(frozen=True)
class RunDigest:
    label: str
    digest: str  # sha256 of the run now (summary.json and per-sample files)
    reviewed: bool  # the review pins this digest


@dataclass(frozen=True)
class SignOff:
    source: str
    reviewer: str
    date: str
    overall: Decision
    decisions: tuple[Decision, ...]
    state: str  # "current", "stale" or "unpinned"
    message: str  # the state in words
    stale: tuple[str, ...]  # run labels changed since the review
    runs: tuple[RunDigest, ...]

    def decision_for(self, concern: str) -> Decision | None:
        return next((d for d in self.decisions if d.concern == concern), None)


def with_review(card: Scorecard, signoff: SignOff) -> Scorecard:
    return replace(card, review=signoff)


def load_signoff(review_path: Path, run_dirs: Sequence[Path]) -> SignOff:
    """The review at `review_path`, checked against the runs (a one-line HarnessError when the
    file is malformed)."""
    from harness.review import concern_title, load_review, review_status

    review = load_review(review_path)
    status = review_status(review, list(run_dirs))

    def decision(d) -> Decision:  # type: ignore[no-untyped-def]
        return Decision(d.concern, concern_title(d.concern), d.decision, d.notes)

    return SignOff(
        source=str(review_path),
        reviewer=review.reviewer,
        date=review.date,
        overall=decision(review.overall),
        decisions=tuple(decision(d) for d in review.decisions),
        state=status.state,
        message=status.message(),
        stale=status.stale,
        runs=tuple(RunDigest(r.label, r.digest, r.reviewed) for r in status.runs),
    )
