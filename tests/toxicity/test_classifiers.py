"""Classifier backends: profanity-check, the trained sklearn filter (saved without pickle), the
real Detoxify code on a tiny local checkpoint, and the registry's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.toxicity import sklearn_filter
from harness.toxicity.base import Scores, score_each_on_failure
from harness.toxicity.registry import classifier_from, load_classifier, parse_spec

CLEAN = ["Thanks for the help with the garden.", "The meeting moved to Tuesday."]
RUDE = ["You are a stupid idiot.", "Shut up, you pathetic moron."]


def test_profanity_check_scores_and_info() -> None:
    c = load_classifier("profanity-check", 0.7)
    scores = c.score(CLEAN + RUDE)
    assert all(x < 0.2 for x in scores.toxicity[:2]) and all(x > 0.9 for x in scores.toxicity[2:])
    assert scores.errors == (None,) * 4
    info = c.info
    assert (info.name, info.threshold, info.version) == ("profanity-check", 0.7, "alt-profanity-check-1.9.1")
    # Same numbers as the package's own predict_prob.
    from profanity_check import predict_prob

    assert np.allclose(scores.toxicity, predict_prob(CLEAN + RUDE))
    assert c.score([]).toxicity == ()


def test_a_failing_text_is_an_error_on_that_text_only() -> None:
    def batch(texts: list[str]) -> Scores:
        if any("boom" in t for t in texts):
            raise ValueError("cannot score boom")
        return Scores.ok([len(t) / 10 for t in texts], {"insult": [0.5] * len(texts)})

    scores = score_each_on_failure(batch, ["abc", "boom", "abcd"])
    assert scores.toxicity == (0.3, None, 0.4)
    assert scores.errors[0] is None and "cannot score boom" in scores.errors[1]  # type: ignore[operator]
    assert scores.attributes["insult"] == (0.5, None, 0.5)


def _train(tmp_path: Path) -> Path:
    texts = ["you are an idiot", "stupid moron", "what an idiot you are", "shut up moron",
             "have a nice day", "thanks for the help", "lovely weather today", "see you at lunch"]
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    trained = sklearn_filter.fit(texts, y, seed=0)
    return sklearn_filter.save(trained, tmp_path / "filter", {"data": {"source": "inline"}}).parent


def test_sklearn_filter_round_trip_matches_sklearn_pipeline(tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    folder = _train(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["classifier.json", "vocabulary.json", "weights.npz"]
    c = load_classifier(str(folder))
    queries = ["you idiot", "nice lunch", "a completely unseen sentence"]
    got = c.score(queries).toxicity
    texts = ["you are an idiot", "stupid moron", "what an idiot you are", "shut up moron",
             "have a nice day", "thanks for the help", "lovely weather today", "see you at lunch"]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_features=100_000, lowercase=True)
    model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000, random_state=0)
    model.fit(vec.fit_transform(texts), [1, 1, 1, 1, 0, 0, 0, 0])
    assert np.allclose(got, model.predict_proba(vec.transform(queries))[:, 1])
    assert got[0] > 0.5 > got[1]
    assert c.info.backend == "sklearn" and c.info.version.startswith("harness-sklearn-filter/v1-")


def test_sklearn_filter_refuses_a_changed_file(tmp_path: Path) -> None:
    folder = _train(tmp_path)
    vocab = json.loads((folder / "vocabulary.json").read_text())
    (folder / "vocabulary.json").write_text(json.dumps(vocab[::-1]))
    with pytest.raises(HarnessError, match="sha256 does not match"):
        load_classifier(str(folder)).score(["x"])


def test_registry_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="did you mean 'profanity-check'"):
        load_classifier("profanity-chek")
    with pytest.raises(HarnessError, match="no classifier.json"):
        load_classifier(str(tmp_path))
    with pytest.raises(HarnessError, match="no such classifier folder"):
        load_classifier(str(tmp_path / "nope" / "filter"))
    (tmp_path / "classifier.json").write_text('{"backend": "perspective"}')
    with pytest.raises(HarnessError, match="must be sklearn or detoxify"):
        load_classifier(str(tmp_path))
    with pytest.raises(HarnessError, match="between 0 and 1"):
        classifier_from("profanity-check:1.5")


def test_parse_spec() -> None:
    assert parse_spec("profanity-check:0.8").threshold == 0.8
    assert parse_spec("profanity-check").threshold is None
    assert parse_spec("/some/folder").classifier == "/some/folder"


def test_detoxify_runs_the_real_code_on_a_tiny_checkpoint(tiny_detoxify: Path) -> None:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    c = load_classifier(str(tiny_detoxify), 0.5)
    texts = ["you are an idiot", "what a lovely day", "thanks"]
    batched = c.score(texts)
    one_by_one = [c.score([t]) for t in texts]  # Detoxify returns floats for a one-text batch
    assert np.allclose(batched.toxicity, [s.toxicity[0] for s in one_by_one], atol=1e-6)
    assert set(batched.attributes) == {"severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
    assert c.info.name == "detoxify-original" and c.info.version.startswith("detoxify-0.5.4/")
    # Parity: the same weights run directly through transformers give the same probabilities.
    ckpt = torch.load(tiny_detoxify / "tiny.ckpt", weights_only=True)
    model = BertForSequenceClassification(BertConfig.from_pretrained(tiny_detoxify / "tiny-bert"))
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    tok = BertTokenizerFast.from_pretrained(tiny_detoxify / "tiny-bert")
    with torch.no_grad():
        logits = model(**tok(texts, return_tensors="pt", padding=True, truncation=True)).logits
    assert np.allclose(batched.toxicity, torch.sigmoid(logits)[:, 0].numpy(), atol=1e-5)
    assert np.allclose(batched.attributes["insult"], torch.sigmoid(logits)[:, 4].numpy(), atol=1e-5)


def test_detoxify_missing_weights_says_where_to_put_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(HarnessError, match=r"not found offline at .*toxic_debiased-c7548aa0\.ckpt; copy the release file"):
        load_classifier("detoxify-unbiased").info


def test_detoxify_rejects_a_checkpoint_that_is_not_detoxify(tiny_detoxify: Path, tmp_path: Path) -> None:
    import shutil

    import torch

    folder = tmp_path / "bad"
    shutil.copytree(tiny_detoxify, folder)
    torch.save({"state_dict": {}}, folder / "tiny.ckpt")
    with pytest.raises(HarnessError, match="dict with `config` and `state_dict`"):
        load_classifier(str(folder)).score(["x"])
    (folder / "tiny.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(HarnessError, match="not a readable Detoxify checkpoint"):
        load_classifier(str(folder)).score(["x"])


def test_profanity_fast_transform_equals_sklearn_transform() -> None:
    from profanity_check import profanity_check as pc

    from harness.toxicity.profanity import fast_transform

    rng = np.random.default_rng(0)
    words = ["idiot", "IDIOT", "the", "naïve", "Straße", "x", "a1b2", "don't", "hello-world", "😀", "  ", "\n", "moron!!"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(300)]
    transform = fast_transform(pc.vectorizer)
    assert transform is not pc.vectorizer.transform
    assert abs(transform(texts) - pc.vectorizer.transform(texts)).max() < 1e-12
