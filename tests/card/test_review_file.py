"""The review file: what it accepts, and a one-line file:line error, exit 2, for what it does not."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.review import load_review, parse_review

from .conftest import REVIEW

REPO = Path(__file__).resolve().parents[2]


def test_the_full_example_parses(review_file: Path) -> None:
    review = load_review(review_file)
    assert (review.reviewer, review.date, review.source) == ("Ada Lovelace", "2026-12-02", str(review_file))
    assert [(d.concern, d.decision) for d in review.decisions] == [
        ("harmful-content", "accept"),
        ("fairness", "accept-with-conditions"),  # by its title, in another case
        ("truthfulness", "reject"),  # a bare decision
    ]
    assert review.decision_for("fairness").notes == "English only; re-run BBQ on the published data before release"
    assert review.decision_for("truthfulness").notes == ""
    assert review.decision_for("language-modelling") is None  # left out: no decision
    assert (review.overall.concern, review.overall.decision, review.overall.notes) == ("overall", "accept-with-conditions", "internal demo use only")
    assert review.runs == {} and not review.pinned


def test_the_documented_example_parses() -> None:
    """docs/review.md's full example is a valid review file (the docs cannot drift from the parser)."""
    docs = (REPO / "docs" / "review.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# review\.yaml.*?)```", docs, re.S)
    assert block, "docs/review.md has no ```yaml block starting with '# review.yaml'"
    review = parse_review(block.group(1), "docs/review.md")
    assert review.pinned and len(review.decisions) == 4


def _body(lines: str) -> str:
    return "reviewer: Ada Lovelace\ndate: 2026-12-02\n" + lines


# (file text, line of the error, words the message must have)
BAD = {
    "not YAML": ("reviewer: Ada\ndate: 2026-12-02\nconcerns: {fairness: accept\n", 4, "not valid YAML"),
    "tab indentation": ("reviewer: Ada\ndate: 2026-12-02\noverall:\n\tdecision: accept\n", 4, "not valid YAML"),
    "unknown concern": (_body("concerns:\n  fairnes: accept\noverall: accept\n"), 4, "unknown concern 'fairnes' (did you mean 'fairness'"),
    "unknown decision": (
        _body("concerns:\n  harmful-content: accept\n  fairness:\n    decision: maybe\noverall: accept\n"),
        6,
        "unknown decision 'maybe' for fairness; use accept, accept-with-conditions or reject",
    ),
    "decision that is not text": (_body("overall: yes\n"), 3, "unknown decision 'yes' for overall"),
    "decision a list": (_body("overall:\n  decision: [accept, reject]\n"), 4, "the decision for overall must be one of accept, accept-with-conditions or reject, not a list"),
    "no decision": (_body("concerns:\n  fairness: {notes: hmm}\noverall: accept\n"), 4, "no `decision:` for fairness"),
    "missing reviewer": ("date: 2026-12-02\noverall: accept\n", 1, "no `reviewer:`"),
    "empty reviewer": ("reviewer:\ndate: 2026-12-02\noverall: accept\n", 1, "`reviewer:` is empty; give the reviewer's name"),
    "reviewer a list": ("reviewer: [Ada, Grace]\ndate: 2026-12-02\noverall: accept\n", 1, "`reviewer:` must be text, not a list"),
    "missing date": ("reviewer: Ada\noverall: accept\n", 1, "no `date:`"),
    "date a mapping": ("reviewer: Ada\ndate: {day: 2}\noverall: accept\n", 2, "`date:` must be a date as YYYY-MM-DD, e.g. 2026-12-02, not a mapping"),
    "bad date": ("reviewer: Ada\ndate: 2026-02-30\noverall: accept\n", 2, "`date:` must be a date as YYYY-MM-DD"),
    "missing overall": (_body("concerns:\n  fairness: accept\n"), 1, "no `overall:` decision"),
    "notes a number": (_body("overall: {decision: accept, notes: 42}\n"), 3, "`notes:` must be text, not '42'"),
    "conditions without notes": (_body("overall:\n  decision: accept-with-conditions\n"), 3, "accept-with-conditions for overall needs `notes:`"),
    "unknown field": (_body("overal: accept\n"), 3, "unknown field 'overal' in a review file (did you mean 'overall'?)"),
    "concern twice": (_body("concerns:\n  fairness: accept\n  Fairness and bias: reject\noverall: accept\n"), 5, "concern 'fairness' is decided twice (also on line 4)"),
    "concerns a list": (_body("concerns:\n  - fairness\noverall: accept\n"), 4, "`concerns:` must be a mapping"),
    "bad digest": (_body("overall: accept\nruns:\n  smollm2-135m: abc123\n"), 5, "the digest of run 'smollm2-135m' must be 64 hex digits"),
    "empty file": ("", 1, "the review file is empty"),
    "a list, not a review": ("- reviewer: Ada\n", 1, "a review file must be a mapping"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_review_file_is_one_line_naming_file_and_line_exit_2(name: str, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    text, line, words = BAD[name]
    path = tmp_path / "review.yaml"
    path.write_text(text, encoding="utf-8")
    code, out, err = run_cli("review", "check", path)
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"harness: error: {path}:{line}: "), err
    assert words in err, err


def test_a_missing_review_file_is_a_one_line_error(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run_cli("review", "check", tmp_path / "nope.yaml")
    assert code == 2 and err == f"harness: error: {tmp_path / 'nope.yaml'}: no such review file\n"


def test_harness_card_with_a_bad_review_exits_2_in_a_real_process(ngram_run: Path, tmp_path: Path) -> None:
    """The whole path through the installed entry point: no traceback, one line, no card written."""
    review = tmp_path / "review.yaml"
    review.write_text(REVIEW.replace("truthfulness: reject", "truthfulness: rejected"), encoding="utf-8")
    card = tmp_path / "MODEL_CARD.md"
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "card", str(ngram_run), "--review", str(review), "-o", str(card)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == (
        f"harness: error: {review}:9: unknown decision 'rejected' for truthfulness (did you mean 'reject'?); "
        "use accept, accept-with-conditions or reject\n"
    )
    assert not card.exists()


def test_errors_do_not_depend_on_the_file_name(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"^team/sign-off\.yml:3: unknown decision 'ok' for overall"):
        parse_review(_body("overall: ok\n"), "team/sign-off.yml")
