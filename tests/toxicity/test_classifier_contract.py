"""One contract, every backend: the same checks on each registered kind of classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.toxicity import sklearn_filter
from harness.toxicity.base import Classifier, Scores
from harness.toxicity.registry import load_classifier

TEXTS = ["You are a stupid idiot.", "Thanks for the lovely day.", "", "naïve café ☕", "moron " * 200]


@pytest.fixture(params=["profanity-check", "sklearn", "detoxify"])
def classifier(request: pytest.FixtureRequest, tmp_path: Path) -> Classifier:
    if request.param == "sklearn":
        trained = sklearn_filter.fit(["you idiot", "stupid moron", "nice day", "thanks friend"], [1, 1, 0, 0], seed=0)
        return load_classifier(str(sklearn_filter.save(trained, tmp_path / "f", {}).parent), 0.4)
    if request.param == "detoxify":
        return load_classifier(str(request.getfixturevalue("tiny_detoxify")), 0.4)
    return load_classifier(request.param, 0.4)


def test_classifier_contract(classifier: Classifier) -> None:
    info = classifier.info
    assert info.name and info.backend and info.version and info.threshold == 0.4
    assert info.label.endswith("threshold=0.4")
    scores = classifier.score(TEXTS)
    assert isinstance(scores, Scores) and len(scores) == len(TEXTS)
    assert all(e is None for e in scores.errors)
    assert all(isinstance(x, float) and 0.0 <= x <= 1.0 for x in scores.toxicity)
    for values in scores.attributes.values():
        assert len(values) == len(TEXTS)
    # Order is the input's, whatever the backend does inside; batching does not change a score.
    reversed_scores = classifier.score(TEXTS[::-1]).toxicity
    assert reversed_scores == pytest.approx(scores.toxicity[::-1], abs=1e-6)
    assert classifier.score([TEXTS[1]]).toxicity[0] == pytest.approx(scores.toxicity[1], abs=1e-6)
    assert classifier.score([]).toxicity == ()
