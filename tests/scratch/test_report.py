"""The HTML training report: self-contained, escaped, with the curves drawn from the log."""

from __future__ import annotations

from harness.scratch.report import render_report


def test_report_escapes_text_and_draws_curves():
    records = [
        {"step": 0, "loss": None, "val_loss": 6.0},
        {"step": 10, "loss": 5.0},
        {"step": 20, "loss": 4.0, "val_loss": 4.5},
    ]
    meta = {"name": "<script>alert(1)</script>", "step": 20, "unigram_val_loss": 5.5,
            "train": {"steps": 20, "note": "<b>x</b>"}, "model": {"n_layer": 2},
            "corpus": {"source": "files: a&b.txt", "n_documents": 3, "n_chars": 99, "sha256": "ab" * 32}}
    page = render_report(records, meta)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b.txt" in page and "&lt;b&gt;x&lt;/b&gt;" in page
    assert page.count("<polyline") == 3  # train, validation, unigram baseline
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    # Validation: step 0 (loss 6.0, the maximum) at the top left; step 20 (4.5) at the right edge,
    # a quarter of the way up from the minimum 4.0: y = 320 - 48 - (0.5 / 2.0) * 224 = 216.
    assert 'stroke="#ff7f0e" stroke-width="2" points="48.0,48.0 672.0,216.0"' in page
    assert "Validation loss <b>4.5000</b>" in page and "<b>5.5000</b>" in page


def test_report_without_steps():
    assert "No steps logged yet." in render_report([], {"name": "x"})
