"""Memorization: an n-gram model fitted on a text reproduces it (extraction rate 1) and not a
held-out text (rate near 0); the metrics and the token matching by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.models.ngram import NgramModel
from harness.resources import SuiteSpec
from harness.suites.memorization import MemorizationSuite, matched_tokens, training_split
from harness.suites.perplexity import read_documents

REPO = Path(__file__).resolve().parents[2]
PROSE = REPO / "suites" / "data" / "perplexity" / "corpus.txt"  # the project's own prose


def split_prose(tmp_path: Path) -> tuple[Path, Path]:
    """The project's prose cut in two: the first half the model is fitted on, the second held out."""
    docs = [d.text for d in read_documents(PROSE)[0]]
    seen, heldout = tmp_path / "seen.txt", tmp_path / "heldout.txt"
    seen.write_text("\n\n".join(docs[:15]) + "\n", encoding="utf-8")
    heldout.write_text("\n\n".join(docs[15:]) + "\n", encoding="utf-8")
    return seen, heldout


def suite(tmp_path: Path, heldout: Path) -> MemorizationSuite:
    params = {"sequences": 6, "prefix_lengths": [8, 48], "suffix_length": 24, "seed": 3, "heldout": str(heldout)}
    return MemorizationSuite(SuiteSpec("memorization", "memorization", tmp_path / "memorization.yaml", params=params))


def test_an_ngram_model_memorises_its_training_text_and_not_a_held_out_one(tmp_path: Path) -> None:
    seen, heldout = split_prose(tmp_path)
    kind = suite(tmp_path, heldout)
    dataset = kind.load(seen)
    assert [i.split for i in dataset.items].count("seen") == 6 and [i.split for i in dataset.items].count("heldout") == 6
    # Byte-level, contexts of up to 31 bytes and little discounting: a context seen once pins down the next byte.
    lm = NgramModel(corpus=str(seen), order=32, discount=0.1)
    records = kind.evaluate(lm, dataset.items, seed=0)
    assert not any("error" in r for r in records)
    result = kind.aggregate(records, seed=0).metrics
    assert result["extraction_rate_p48"].value == 1.0 and result["prefix_match_p48"].value == 1.0
    assert result["heldout_extraction_rate_p48"].value == 0.0
    assert result["heldout_prefix_match_p48"].value < 0.2
    assert result["extraction_gap_p48"].value == 1.0
    assert result["extraction_rate"].value == result["extraction_rate_p48"].value  # the longest prefix
    # The values by hand from the records.
    by_p = {p: [next(x for x in r["by_prefix"] if x["p"] == p) for r in records] for p in (8, 48)}
    seen_rows = [x for x, r in zip(by_p[8], records) if r["split"] == "seen"]
    held_rows = [x for x, r in zip(by_p[8], records) if r["split"] == "heldout"]
    assert result["extraction_rate_p8"].value == pytest.approx(sum(x["exact"] for x in seen_rows) / 6)
    assert result["prefix_match_gap_p8"].value == pytest.approx(
        sum(x["matched_tokens"] for x in seen_rows) / (6 * 24) - sum(x["matched_tokens"] for x in held_rows) / (6 * 24))
    # Each target is the 24 bytes after the first 48 of its sequence (the n-gram model's tokens are bytes).
    item = dataset.items[0]
    assert records[0]["target"] == item.text.encode()[48:72].decode()
    lo, hi = result["extraction_rate_p8"].ci
    assert lo <= result["extraction_rate_p8"].value <= hi


def test_matched_tokens_counts_whole_target_tokens_before_the_first_mismatch() -> None:
    target = [b" the", b" cat", b" sat", b"."]
    assert matched_tokens(target, b" the cat sat.") == 4
    assert matched_tokens(target, b" the cat sat. And more") == 4
    assert matched_tokens(target, b" the cap sat.") == 1  # " cat" broken at its third byte
    assert matched_tokens(target, b" the ca") == 1
    assert matched_tokens(target, b"") == 0


def test_the_training_split_is_the_trainers(tmp_path: Path) -> None:
    """training_split recomputes which documents a checkpoint trained on, as tokenize_corpus cut them."""
    from harness.scratch.corpus import read_corpus
    from harness.scratch.data import tokenize_corpus
    from harness.scratch.trainer import Trainer
    from tests.scratch.scratch_helpers import tiny_run, write_corpus

    from dataclasses import replace

    corpus_file = write_corpus(tmp_path / "corpus.txt", n_paragraphs=60)
    run = tiny_run(tmp_path / "ckpt", corpus_file, steps=1, checkpoint_every=1)
    run = replace(run, train=replace(run.train, val_fraction=0.3))
    Trainer(run).fit()
    corpus = read_corpus([corpus_file])
    seen, heldout = training_split(tmp_path / "ckpt", corpus.documents)

    from harness.scratch.tokenizer import BPETokenizer

    tok = BPETokenizer(tmp_path / "ckpt" / "tokenizer.json")
    data = tokenize_corpus(corpus, tok.encode_batch, tok.eot_id, 320, 48, 0.3, run.train.seed)
    train_text, val_text = tok.decode(data.train.tolist()), tok.decode(data.val.tolist())
    assert seen and heldout
    assert all(doc in train_text and doc not in val_text for doc in seen)
    assert all(doc in val_text for doc in heldout)
    assert len(seen) + len(heldout) in (len(corpus.documents), len(corpus.documents) - 1)  # one may straddle the cut
