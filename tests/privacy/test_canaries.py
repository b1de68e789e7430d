"""Canaries: insertion into the training stream is exact, `harness train --canaries` writes the
list, and exposure (exact ranks, independently recomputed) rises with the repeats."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.models.ngram import NgramModel
from harness.privacy.canaries import Canary, CanarySet, Space, draw_canaries, parse_repeats, plant, read_canaries
from harness.resources import SuiteSpec
from harness.scratch.corpus import read_corpus
from harness.scratch.data import tokenize_corpus
from harness.scratch.tokenizer import EOT, train_tokenizer
from harness.suites.canary_exposure import CanaryExposureSuite
from tests.scratch.scratch_helpers import tiny_run, write_corpus


def segments(stream: list[int], eot: int) -> list[tuple[int, ...]]:
    """The documents of a token stream: the runs between end-of-text tokens."""
    docs, current = [], []
    for t in stream:
        if t == eot:
            docs.append(tuple(current))
            current = []
        else:
            current.append(t)
    docs.append(tuple(current))
    return [d for d in docs if d]


def test_plant_inserts_each_canary_exactly_its_repeat_count(tmp_path: Path) -> None:
    corpus = read_corpus([write_corpus(tmp_path / "corpus.txt")])
    tok = train_tokenizer(corpus.documents, 320)
    encode = lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]  # noqa: E731
    eot = tok.token_to_id(EOT)
    data = tokenize_corpus(corpus, encode, eot, 320, 48, 0.1, seed=7)
    canaries = draw_canaries(3, (1, 4, 16), seed=7)
    planted = plant(data.train.numpy(), data.val.numpy(), canaries, encode, eot, seed=7)

    # Independently of the module's own check: the planted stream's documents are the original
    # ones plus each canary's tokens exactly `repeats` times, and nothing else changed.
    before, after = Counter(segments(data.train.tolist(), eot)), Counter(segments(planted.tolist(), eot))
    added = after - before
    expected = Counter({tuple(encode([c.text])[0]): c.repeats for c in canaries.canaries})
    assert added == expected and not (before - after)
    assert len(planted) == len(data.train) + sum(c.repeats * (len(encode([c.text])[0]) + 1) for c in canaries.canaries)
    assert sum(added.values()) == 3 * (1 + 4 + 16)
    # None in the validation stream; the secrets are distinct and drawn from the seed.
    assert not Counter(segments(data.val.tolist(), eot)) & expected
    assert len({c.secret for c in canaries.canaries}) == 9
    assert draw_canaries(3, (1, 4, 16), seed=7) == canaries and draw_canaries(3, (1, 4, 16), seed=8) != canaries


def test_a_canary_already_in_the_corpus_is_refused() -> None:
    canaries = CanarySet(Space(length=1), (Canary("r1-1", "7", "my PIN is 7", 1),), 0)
    encode = lambda texts: [[ord(ch) for ch in t] for t in texts]  # noqa: E731
    eot = 0
    text = encode(["my PIN is 7"])[0]
    train = np.array([eot, *text, eot, 65, 66], dtype=np.int64)  # the corpus holds the canary once already
    with pytest.raises(HarnessError, match="found 2 times in the training stream"):
        plant(train, np.array([eot, 67], dtype=np.int64), canaries, encode, eot, seed=0)


def test_parse_repeats() -> None:
    assert parse_repeats("1,4,16") == (1, 4, 16)
    for bad in ("", "1,1", "0,2", "a"):
        with pytest.raises(HarnessError):
            parse_repeats(bad)


def test_train_with_canaries_then_run_the_suite_on_the_checkpoint(tmp_path: Path, run_cli) -> None:
    from dataclasses import replace

    from harness.scratch.trainer import Trainer

    run = replace(tiny_run(tmp_path / "ckpt", write_corpus(tmp_path / "corpus.txt"), steps=2, checkpoint_every=2),
                  canaries=2, canary_repeats=(1, 3))
    Trainer(run).fit()
    written = read_canaries(tmp_path / "ckpt" / "canaries.json")
    assert written == draw_canaries(2, (1, 3), seed=run.train.seed)
    config = json.loads((tmp_path / "ckpt" / "scratch_config.json").read_text())
    assert config["canaries"] == {"file": "canaries.json", "per_repeat": 2, "repeats": [1, 3]}
    assert config["identity"]["canaries"] == {"n": 2, "repeats": [1, 3]}

    # `harness run canary_exposure --model CHECKPOINT` finds the planted list (a smaller candidate
    # sample than the suite's default, for speed).
    suite_yaml = tmp_path / "canary_exposure.yaml"
    suite_yaml.write_text("kind: canary_exposure\nparams: {candidates: 300}\n")
    code, _, err = run_cli("run", suite_yaml, "--model", tmp_path / "ckpt", "--out", tmp_path / "out", "--quiet")
    assert code == 0, err
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["suites"]["canary_exposure"]
    assert summary["data"]["source"] == str(tmp_path / "ckpt" / "canaries.json")
    assert summary["protocol"].endswith("method=skewnorm candidates=300 logppl=rolling-bits")
    assert sorted(summary["breakdowns"]["repeats"]) == ["1", "3"] and summary["metrics"]["mean_exposure"]["n"] == 4


def write_ngram_world(folder: Path) -> tuple[Path, Path]:
    """An n-gram model's corpus with planted canaries (3-digit space), and their list."""
    space = Space(length=3)
    plan = {"r16-1": ("4 1 7", 16), "r4-1": ("9 0 2", 4), "r1-1": ("3 8 5", 1), "r0-1": ("6 6 1", 0)}
    canaries = tuple(Canary(cid, s, space.text(s), r) for cid, (s, r) in plan.items())
    prose = ["The harbour master counts the boats every morning before the tide turns.",
             "A quiet library keeps its maps in long drawers under the windows."]
    docs = prose + [c.text for c in canaries for _ in range(c.repeats)]
    corpus = folder / "corpus.txt"
    corpus.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    listing = folder / "canaries.json"
    listing.write_text(json.dumps(CanarySet(space, canaries, 0).to_dict()), encoding="utf-8")
    return corpus, listing


def suite(tmp_path: Path, **params: object) -> CanaryExposureSuite:
    return CanaryExposureSuite(SuiteSpec("canary_exposure", "canary_exposure", tmp_path / "canary_exposure.yaml", params=params))


def test_exposure_is_exact_and_rises_with_the_repeats_on_an_ngram_model(tmp_path: Path) -> None:
    corpus, listing = write_ngram_world(tmp_path)
    lm = NgramModel(corpus=str(corpus), order=8)
    kind = suite(tmp_path)
    items = kind.load(listing).items
    records = {r["id"]: r for r in kind.evaluate(lm, items, seed=0)}

    # The exact rank recomputed here: every secret of the 1,000, by the model's own log-likelihood.
    space = Space(length=3)
    all_bits = {space.secret(i): -lm.loglikelihood_rolling([space.text(space.secret(i))])[0].logprob / math.log(2)
                for i in range(space.size)}
    for c in items:
        rank = 1 + sum(b < all_bits[c.secret] for s, b in all_bits.items() if s != c.secret)
        assert records[c.id]["method"] == "exact" and records[c.id]["rank"] == rank
        assert records[c.id]["exposure"] == pytest.approx(math.log2(1000) - math.log2(rank))
    exposure = {cid: r["exposure"] for cid, r in records.items()}
    assert exposure["r16-1"] == pytest.approx(math.log2(1000))  # the likeliest secret of all
    assert exposure["r16-1"] >= exposure["r4-1"] >= exposure["r1-1"] > exposure["r0-1"]

    result = kind.aggregate(list(records.values()), seed=0)
    assert result.metrics["mean_exposure"].value == pytest.approx(np.mean(list(exposure.values())))
    assert result.metrics["top_repeat_exposure"].value == pytest.approx(exposure["r16-1"])
    x = np.log2([16, 4, 1])
    y = [exposure["r16-1"], exposure["r4-1"], exposure["r1-1"]]
    assert result.metrics["exposure_slope"].value == pytest.approx(np.polyfit(x, y, 1)[0])
    assert result.breakdowns["repeats"]["16"]["mean_exposure"].value == pytest.approx(exposure["r16-1"])


def test_extrapolation_is_used_above_the_exact_limit(tmp_path: Path) -> None:
    corpus, listing = write_ngram_world(tmp_path)
    lm = NgramModel(corpus=str(corpus), order=8)
    exact_kind, sampled_kind = suite(tmp_path), suite(tmp_path, exact_limit=0, candidates=400)
    exact = {r["id"]: r for r in exact_kind.evaluate(lm, exact_kind.load(listing).items, seed=0)}
    sampled = {r["id"]: r for r in sampled_kind.evaluate(lm, sampled_kind.load(listing).items, seed=0)}
    assert "skewnorm" in sampled_kind.protocol(lm.info) and "exact" in exact_kind.protocol(lm.info)
    for cid, r in sampled.items():
        assert r["method"] == "skewnorm" and r["n_candidates"] == 400
        assert 0.0 <= r["exposure"] <= math.log2(1000)
    # The top canary is far below every sampled candidate: the estimate reaches the cap, like the exact rank 1.
    assert sampled["r16-1"]["exposure"] == pytest.approx(exact["r16-1"]["exposure"])
    assert abs(sampled["r0-1"]["exposure"] - exact["r0-1"]["exposure"]) < 1.5
