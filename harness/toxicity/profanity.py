"""`profanity-check`: the alt-profanity-check package's linear model (TF-IDF + calibrated linear
SVM trained on human-labelled data, shipped inside the package, no download). The offline default.

The package pins scikit-learn and joblib exactly (see requirements.txt); its model files are
loaded with joblib because they ship inside a package installed from the pinned registry release,
not from a user-supplied path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cached_property
from importlib import metadata
from typing import Any

from harness.errors import HarnessError
from harness.toxicity.base import DEFAULT_THRESHOLD, ClassifierInfo, Scores, score_each_on_failure

PACKAGE = "alt-profanity-check"


class ProfanityCheck:
    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.threshold = threshold

    @cached_property
    def _model(self) -> tuple[Any, Any]:
        try:
            from profanity_check import profanity_check as pc
        except ImportError:
            raise HarnessError(
                f"the profanity-check classifier needs the {PACKAGE} package; install it with "
                f"`.venv/bin/pip install {PACKAGE}==1.9.1`"
            ) from None
        return fast_transform(pc.vectorizer), pc.model

    @property
    def info(self) -> ClassifierInfo:
        try:
            version = metadata.version(PACKAGE)
        except metadata.PackageNotFoundError:
            version = "not-installed"
        return ClassifierInfo("profanity-check", "profanity-check", f"{PACKAGE}-{version}", self.threshold)

    def _score_batch(self, texts: list[str]) -> Scores:
        transform, model = self._model
        # predict_proba on the whole batch; column 1 is the offensive class. (The package's own
        # predict_prob does the same through a per-row numpy apply.)
        return Scores.ok(model.predict_proba(transform(texts))[:, 1])

    def score(self, texts: Sequence[str]) -> Scores:
        if not texts:
            return Scores((), ())
        self._model  # a missing package is a configuration error, not a per-text failure
        return score_each_on_failure(self._score_batch, texts)


# The settings under which the shortcut below reproduces TfidfVectorizer.transform exactly.
_PLAIN = {"analyzer": "word", "ngram_range": (1, 1), "lowercase": True, "preprocessor": None, "tokenizer": None,
          "strip_accents": None, "norm": "l2", "use_idf": True, "sublinear_tf": False, "binary": False, "input": "content"}


def fast_transform(vectorizer: Any) -> Callable[[list[str]], Any]:
    """`vectorizer.transform`, or an equivalent about twice as fast for the package's plain
    unigram TF-IDF: lower-case, find tokens with the vectorizer's own pattern, keep those in the
    vocabulary (stop words never are), count, scale by idf, L2-normalise. Used only when the
    vectorizer's settings are the plain ones and a probe gives the same matrix."""
    import numpy as np
    from scipy import sparse
    from sklearn.preprocessing import normalize

    params = vectorizer.get_params()
    if any(params.get(k) != v for k, v in _PLAIN.items()):
        return vectorizer.transform
    find = re.compile(vectorizer.token_pattern).findall
    vocabulary, idf = vectorizer.vocabulary_, sparse.diags(vectorizer.idf_)

    def transform(texts: list[str]) -> Any:
        get = vocabulary.get
        columns: list[int] = []
        indptr = [0]
        for text in texts:
            columns.extend(i for i in map(get, find(text.lower())) if i is not None)
            indptr.append(len(columns))
        counts = sparse.csr_matrix(
            (np.ones(len(columns)), np.asarray(columns, dtype=np.int64), np.asarray(indptr, dtype=np.int64)),
            shape=(len(texts), len(vocabulary)),
        )
        counts.sum_duplicates()
        return normalize(counts @ idf, norm="l2", copy=False)

    probe = ["You are a complete IDIOT, idiot!", "the cat sat on the mat", "", "naïve café 123 ok"]
    if abs(transform(probe) - vectorizer.transform(probe)).max() > 1e-12:
        return vectorizer.transform
    return transform
