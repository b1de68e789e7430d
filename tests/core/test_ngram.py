"""The n-gram reference model is a proper distribution, computed as its formula says."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.models.ngram import BOS, NgramCounts, NgramModel
from tests.conftest import REPO


def test_every_context_gives_a_distribution_over_bytes() -> None:
    counts = NgramModel(order=5).counts
    for history in [(), (BOS,), tuple(b"the ca"[-4:]), tuple(b"zzzq")]:
        dist = counts.distribution(history)
        assert dist.sum() == pytest.approx(1.0, abs=1e-12)
        assert all(counts.prob(history, t) == pytest.approx(dist[t], abs=1e-15) for t in range(256))


def test_interpolated_absolute_discounting_by_hand() -> None:
    # Corpus "ab", "ab", "ac" (each preceded by BOS), order 2, discount 0.5.
    counts = NgramCounts(order=2, discount=0.5).fit([list(b"ab"), list(b"ab"), list(b"ac")])
    a, b, c = ord("a"), ord("b"), ord("c")
    # Unigram level: counts a=3, b=2, c=1 (N=6, 3 distinct): P1(b) = (2-0.5)/6 + 0.5*3/6 * 1/256.
    p1_b = (2 - 0.5) / 6 + 0.5 * 3 / 6 / 256
    assert counts.prob((), b) == pytest.approx(p1_b)
    # Bigram level after "a": b twice, c once (N=3, 2 distinct): P(b|a) = (2-0.5)/3 + 0.5*2/3 * P1(b).
    assert counts.prob((a,), b) == pytest.approx((2 - 0.5) / 3 + 0.5 * 2 / 3 * p1_b)
    # A context never seen backs off entirely to the level below.
    assert counts.prob((c,), b) == pytest.approx(p1_b)


def test_rolling_loglikelihood_matches_the_formula() -> None:
    model = NgramModel(order=3, max_length=64)  # one window: every byte sees its two predecessors
    text = "the cat sat on the mat"
    (result,) = model.loglikelihood_rolling([text])
    tokens = [BOS] + list(text.encode())
    expected = sum(math.log(model.counts.prob(tuple(tokens[max(0, i - 2) : i]), tokens[i])) for i in range(1, len(tokens)))
    assert result.n_tokens == len(text) and result.logprob == pytest.approx(expected)


def test_a_relative_corpus_is_read_beside_the_preset_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.resources import load_model_spec
    from harness.runner import RunOptions, build_model

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "ngram-train.txt").write_text("a decoy corpus in the working directory\n")
    monkeypatch.chdir(tmp_path)
    builtin = build_model(load_model_spec("ngram"), RunOptions(suites=(), model="ngram", out=tmp_path))
    assert builtin._corpus_path == REPO / "models" / "data" / "ngram-train.txt"

    preset = tmp_path / "mine" / "my-ngram.yaml"
    preset.parent.mkdir()
    preset.write_text("adapter: ngram\ncorpus: text.txt\norder: 3\n")
    (preset.parent / "text.txt").write_text("my own small corpus of text\n")
    mine = build_model(load_model_spec(str(preset)), RunOptions(suites=(), model=str(preset), out=tmp_path))
    assert mine._corpus_path == preset.parent / "text.txt" and mine.counts
