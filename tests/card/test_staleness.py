"""Which results a review covers: run digests, pinning, and a run that changes after the review."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.review import load_review, review_status, run_digest, run_labels, stale_runs

from .conftest import edit_summary


def _reference_digest(folder: Path) -> str:
    """The documented rule, written out independently: summary.json and *.jsonl, sorted by name,
    each as 8-byte big-endian length + name, then 8-byte length + bytes."""
    h = hashlib.sha256()
    for path in sorted([folder / "summary.json", *folder.glob("*.jsonl")], key=lambda p: p.name):
        name, data = path.name.encode(), path.read_bytes()
        h.update(len(name).to_bytes(8, "big") + name + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def test_run_digest_follows_the_documented_rule(ngram_run: Path) -> None:
    assert run_digest(ngram_run) == _reference_digest(ngram_run)
    assert run_digest(ngram_run / "summary.json") == run_digest(ngram_run)


def test_any_change_to_the_results_changes_the_digest(run_copy: Path) -> None:
    before = run_digest(run_copy)
    (run_copy / "scorecard.html").write_text("<html></html>", encoding="utf-8")  # derived files do not count
    (run_copy / "MODEL_CARD.md").write_text("# card", encoding="utf-8")
    assert run_digest(run_copy) == before
    # One per-sample record edited (a single score), summary untouched.
    path = run_copy / "perplexity.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["loglikelihood"] += 1e-9
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n", encoding="utf-8")
    after_record = run_digest(run_copy)
    assert after_record != before
    # A metric's value in summary.json.
    edit_summary(run_copy, lambda s: s["suites"]["perplexity"]["metrics"]["bits_per_byte"].update(value=0.5))
    assert run_digest(run_copy) not in (before, after_record)
    # Moving bytes from one file to the next is a change too (the lengths are hashed).
    a, b = run_copy / "bbq.jsonl", run_copy / "counterfactual.jsonl"
    joined = a.read_bytes() + b.read_bytes()
    now = run_digest(run_copy)
    a.write_bytes(joined[:-1])
    b.write_bytes(joined[-1:])
    assert run_digest(run_copy) != now


def test_a_multi_model_folder_is_digested_whole(ngram_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    for model in ("ngram", "other"):
        shutil.copytree(ngram_run, out / model, ignore=shutil.ignore_patterns(".journal"))
    whole = run_digest(out)
    assert whole not in (run_digest(out / "ngram"), run_digest(out / "other"))
    edit_summary(out / "other", lambda s: s.update(seed=99))
    assert run_digest(out) != whole
    assert run_digest(out / "ngram") == run_digest(ngram_run)
    assert run_labels([out, out / "ngram"]) == ["out", "ngram"]


def test_a_multi_model_folder_is_pinned_model_by_model(ngram_run: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    for model in ("ngram", "other"):
        shutil.copytree(ngram_run, out / model, ignore=shutil.ignore_patterns(".journal"))
    edit_summary(out / "other", lambda s: s["model"].update(preset="other"))
    code, block, _ = run_cli("review", "digest", out)
    assert code == 0
    assert block.splitlines()[1:] == [
        f'  "ngram": "{run_digest(out / "ngram")}"',
        f'  "other": "{run_digest(out / "other")}"',
    ]
    review = tmp_path / "review.yaml"
    review.write_text(f"reviewer: Ada\ndate: 2026-12-02\noverall: accept\n{block}", encoding="utf-8")
    assert stale_runs(load_review(review), [out / "other"]) == []  # one model of the folder, as the scorecard shows it
    edit_summary(out / "other", lambda s: s.update(seed=5))
    assert stale_runs(load_review(review), [out]) == ["other"]
    assert stale_runs(load_review(review), [out / "ngram"]) == []


def test_a_folder_without_results_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"no summary.json here or in its model subfolders"):
        run_digest(tmp_path)


def test_pin_then_change_a_run_makes_the_review_stale(run_copy: Path, review_file: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    # Unpinned: nothing to check, and it says so.
    review = load_review(review_file)
    assert not review.pinned and stale_runs(review, [run_copy]) == []
    assert review_status(review, [run_copy]).state == "unpinned"
    code, out, _ = run_cli("review", "check", review_file, run_copy)
    assert code == 0 and "does not pin the runs it reviewed" in out

    code, out, err = run_cli("review", "pin", review_file, run_copy)
    assert code == 0, err
    text = review_file.read_text(encoding="utf-8")
    assert text.startswith("# A review of the n-gram run (comments are kept")  # the rest kept as written
    review = load_review(review_file)
    assert review.runs == {"ngram": run_digest(run_copy)}
    assert stale_runs(review, [run_copy]) == []
    code, out, _ = run_cli("review", "check", review_file, run_copy)
    assert code == 0 and "the review covers these results (1 run unchanged)" in out

    # A later re-run changed one number.
    edit_summary(run_copy, lambda s: s["suites"]["truthfulqa_mc"]["metrics"]["mc2"].update(value=0.9))
    assert stale_runs(review, [run_copy]) == ["ngram"]
    assert review_status(review, [run_copy]).state == "stale"
    code, out, _ = run_cli("review", "check", review_file, run_copy)
    assert code == 1
    assert "CHANGED   ngram" in out and "the review is stale: ngram changed or was not reviewed" in out

    # Pinning again replaces the block (one `runs:`, the new digest).
    assert run_cli("review", "pin", review_file, run_copy)[0] == 0
    assert review_file.read_text(encoding="utf-8").count("runs:") == 1
    assert stale_runs(load_review(review_file), [run_copy]) == []


def test_a_run_the_review_never_saw_is_stale_and_a_moved_folder_is_not(ngram_run: Path, review_file: Path, run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_cli("review", "pin", review_file, ngram_run)[0] == 0
    review = load_review(review_file)
    moved = Path(shutil.copytree(ngram_run, tmp_path / "moved" / "elsewhere", ignore=shutil.ignore_patterns(".journal")))
    assert stale_runs(review, [moved]) == []
    other = Path(shutil.copytree(ngram_run, tmp_path / "seed7", ignore=shutil.ignore_patterns(".journal")))
    edit_summary(other, lambda s: s.update(seed=7))  # another run of the same model
    assert run_labels([ngram_run, other]) == ["ngram (ngram)", "ngram (seed7)"]
    assert stale_runs(review, [ngram_run, other]) == ["ngram (seed7)"]


def test_review_digest_prints_a_block_that_pins(run_copy: Path, review_file: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli("review", "digest", run_copy)
    assert code == 0 and out.startswith("runs:")
    review_file.write_text(review_file.read_text(encoding="utf-8") + out, encoding="utf-8")
    assert load_review(review_file).runs == {"ngram": run_digest(run_copy)}


def test_pin_replaces_a_runs_block_in_the_middle_and_keeps_the_comments_around_it(run_copy: Path, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    old = "0" * 64
    path = tmp_path / "review.yaml"
    path.write_text(
        f"# sign-off\nreviewer: Ada\ndate: 2026-12-02\nruns:\n  gone: \"{old}\"\n  also-gone:\n    \"{old}\"\n\n"
        "# the overall decision, after a discussion\noverall: accept  # unanimous\n",
        encoding="utf-8",
    )
    assert run_cli("review", "pin", path, run_copy)[0] == 0
    text = path.read_text(encoding="utf-8")
    assert old not in text and "gone" not in text
    assert "# sign-off\n" in text and "# the overall decision, after a discussion\noverall: accept  # unanimous\n" in text
    assert load_review(path).runs == {"ngram": run_digest(run_copy)}
