"""`sklearn`: a TF-IDF + logistic-regression toxicity filter trained by `harness train-filter`.

Saved without pickle: the folder holds `classifier.json` (settings, provenance and the sha256 of
each array file), `vocabulary.json` (the terms in column order) and `weights.npz` (idf, coef,
intercept; read with allow_pickle=False). Loading rebuilds the scikit-learn objects from those
arrays, so no file the user hands the harness is ever unpickled, and a file that does not match its
recorded hash is refused. A folder that is not what `harness train-filter` writes (missing or
misshapen arrays, an unwritable output folder, texts without a usable word) is a one-line error.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from harness.data import read_json
from harness.errors import HarnessError
from harness.toxicity.base import DEFAULT_THRESHOLD, ClassifierInfo, Scores, score_each_on_failure

FORMAT = "harness-sklearn-filter/v1"
MANIFEST = "classifier.json"
# Word unigrams and bigrams, sublinear tf: a common strong baseline for short comments.
VECTORIZER_PARAMS: dict[str, Any] = {"ngram_range": [1, 2], "sublinear_tf": True, "min_df": 1, "max_features": 100_000, "lowercase": True}
REGRESSION_PARAMS: dict[str, Any] = {"C": 4.0, "class_weight": "balanced", "max_iter": 2000}
WEIGHT_ARRAYS = ("idf", "coef", "intercept")


@dataclass(frozen=True)
class TrainedFilter:
    vocabulary: list[str]  # term of each column
    idf: np.ndarray  # (n_terms,)
    coef: np.ndarray  # (n_terms,)
    intercept: float


def fit(texts: Sequence[str], labels: Sequence[int], seed: int, where: str = "the training texts") -> TrainedFilter:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = _vectorizer(TfidfVectorizer)
    try:
        x = vectorizer.fit_transform(list(texts))
    except ValueError as e:
        if "empty vocabulary" not in str(e):
            raise
        raise HarnessError(
            f"{where}: no usable words to train on (TF-IDF keeps words of 2 or more letters or digits); "
            "check --text-column names the text"
        ) from None
    model = LogisticRegression(random_state=seed, **REGRESSION_PARAMS).fit(x, np.asarray(labels))
    order = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    return TrainedFilter(order, vectorizer.idf_.copy(), model.coef_[0].copy(), float(model.intercept_[0]))


def build(trained: TrainedFilter) -> tuple[Any, Any]:
    """The scikit-learn vectorizer and model, rebuilt from plain arrays (no pickle)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = _vectorizer(TfidfVectorizer)
    vectorizer.vocabulary_ = {term: i for i, term in enumerate(trained.vocabulary)}
    vectorizer.idf_ = np.asarray(trained.idf, dtype=float)
    model = LogisticRegression()
    model.classes_ = np.array([0, 1])
    model.coef_ = np.asarray(trained.coef, dtype=float).reshape(1, -1)
    model.intercept_ = np.array([trained.intercept])
    return vectorizer, model


def score_arrays(trained: TrainedFilter, texts: Sequence[str]) -> np.ndarray:
    vectorizer, model = build(trained)
    return model.predict_proba(vectorizer.transform(list(texts)))[:, 1]


def _vectorizer(cls: Any) -> Any:
    params = dict(VECTORIZER_PARAMS)
    params["ngram_range"] = tuple(params["ngram_range"])
    return cls(**params)


def save(trained: TrainedFilter, folder: Path, provenance: dict[str, Any]) -> Path:
    try:
        return _save(trained, folder, provenance)
    except OSError as e:
        raise HarnessError(f"{folder}: cannot write the filter ({e.strerror or e}); give a writable folder with --out") from None


def _save(trained: TrainedFilter, folder: Path, provenance: dict[str, Any]) -> Path:
    from importlib import metadata

    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "weights.npz", idf=trained.idf, coef=trained.coef, intercept=np.array([trained.intercept]))
    (folder / "vocabulary.json").write_text(json.dumps(trained.vocabulary, ensure_ascii=False), encoding="utf-8")
    manifest = {
        "format": FORMAT,
        "backend": "sklearn",
        "created_by": "harness train-filter",
        "scikit_learn": metadata.version("scikit-learn"),
        "vectorizer": VECTORIZER_PARAMS,
        "regression": REGRESSION_PARAMS,
        "files": {name: _sha256(folder / name) for name in ("weights.npz", "vocabulary.json")},
        **provenance,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder / MANIFEST


def read_weights(path: Path) -> tuple[np.ndarray, ...]:
    """idf, coef and intercept from `weights.npz`, each a 1-D numeric array (no pickle)."""
    retrain = "retrain with `harness train-filter`"
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise HarnessError(f"{path}: not a readable .npz weights file ({e}); {retrain}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise HarnessError(f"{path}: a single array, not an .npz archive of {', '.join(WEIGHT_ARRAYS)}; {retrain}")
    with loaded:
        missing = [name for name in WEIGHT_ARRAYS if name not in loaded.files]
        if missing:
            raise HarnessError(f"{path}: no array {', '.join(missing)} (it has {', '.join(loaded.files) or 'none'}); {retrain}")
        try:
            arrays = tuple(loaded[name] for name in WEIGHT_ARRAYS)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:  # e.g. an object array (pickled)
            raise HarnessError(f"{path}: unreadable array ({e}); {retrain}") from None
    for name, a in zip(WEIGHT_ARRAYS, arrays):
        if a.ndim != 1 or a.dtype.kind not in "fiu":
            raise HarnessError(f"{path}: `{name}` must be a 1-D numeric array, got {a.dtype} of shape {a.shape}; {retrain}")
    return arrays


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SklearnFilter:
    """A filter folder written by `harness train-filter`."""

    def __init__(self, path: Path, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.path = Path(path)
        self.threshold = threshold

    @cached_property
    def manifest(self) -> dict[str, Any]:
        manifest_path = self.path / MANIFEST
        if not manifest_path.exists():
            raise HarnessError(
                f"{self.path}: no {MANIFEST}; give a folder written by `harness train-filter --out FOLDER`"
            )
        manifest = read_json(manifest_path)
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise HarnessError(f"{manifest_path}: not a {FORMAT} manifest; retrain with `harness train-filter`")
        return manifest

    @cached_property
    def _model(self) -> tuple[Any, Any]:
        files = self.manifest.get("files") or {}
        for name in ("weights.npz", "vocabulary.json"):
            path = self.path / name
            if not path.exists():
                raise HarnessError(f"{path}: missing; the filter folder is incomplete, retrain with `harness train-filter`")
            try:
                digest = _sha256(path)
            except OSError as e:
                raise HarnessError(f"{path}: cannot read ({e.strerror or e})") from None
            if digest != files.get(name):
                raise HarnessError(
                    f"{path}: sha256 does not match {MANIFEST}; the file changed after training, retrain with `harness train-filter`"
                )
        vocabulary = read_json(self.path / "vocabulary.json")
        if not (isinstance(vocabulary, list) and all(isinstance(term, str) for term in vocabulary)):
            raise HarnessError(f"{self.path / 'vocabulary.json'}: expected a JSON list of terms; retrain with `harness train-filter`")
        idf, coef, intercept = read_weights(self.path / "weights.npz")
        if not (len(vocabulary) == len(idf) == len(coef) and intercept.shape == (1,)):
            raise HarnessError(f"{self.path}: vocabulary and weights disagree in size; retrain with `harness train-filter`")
        return build(TrainedFilter(vocabulary, idf, coef, float(intercept[0])))

    @property
    def info(self) -> ClassifierInfo:
        self._model  # a broken folder fails here, before a run starts
        files = self.manifest.get("files") or {}
        digest = hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:12]
        details = {"path": str(self.path), "trained_on": self.manifest.get("data", {}).get("source")}
        return ClassifierInfo("sklearn", "sklearn", f"{FORMAT}-{digest}", self.threshold, details=details)

    def _score_batch(self, texts: list[str]) -> Scores:
        vectorizer, model = self._model
        return Scores.ok(model.predict_proba(vectorizer.transform(texts))[:, 1])

    def score(self, texts: Sequence[str]) -> Scores:
        if not texts:
            return Scores((), ())
        self._model
        return score_each_on_failure(self._score_batch, texts)
