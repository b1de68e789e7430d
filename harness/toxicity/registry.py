"""Which classifier a `--classifier` / `--guard` value names: a registered name or a folder.

Names resolve through one lazy table (nothing heavy is imported to list or check them). A folder
holds a `classifier.json` naming its backend: `harness train-filter` writes `sklearn` folders;
a `detoxify` folder names a local checkpoint and Hugging Face config folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import read_json
from harness.errors import HarnessError
from harness.registry import Registry
from harness.resources import presets_dir
from harness.toxicity.base import DEFAULT_THRESHOLD, Classifier

DEFAULT_CLASSIFIER = "profanity-check"

# name -> factory taking `threshold=`
CLASSIFIERS: Registry = Registry(
    "toxicity classifier",
    {
        "profanity-check": "harness.toxicity.profanity:ProfanityCheck",
        "detoxify": "harness.toxicity.detoxify_backend:original",
        "detoxify-original": "harness.toxicity.detoxify_backend:original",
        "detoxify-unbiased": "harness.toxicity.detoxify_backend:unbiased",
        "detoxify-multilingual": "harness.toxicity.detoxify_backend:multilingual",
        "sklearn": "harness.toxicity.registry:default_sklearn_filter",
    },
)


def default_filter_dir() -> Path:
    """Where `harness train-filter` saves by default and where `--classifier sklearn` looks."""
    return presets_dir() / "filters" / "sklearn"


def default_sklearn_filter(threshold: float = DEFAULT_THRESHOLD) -> Classifier:
    from harness.toxicity.sklearn_filter import MANIFEST, SklearnFilter

    folder = default_filter_dir()
    if not (folder / MANIFEST).exists():
        raise HarnessError(
            f"no trained filter at {folder}; train one with `harness train-filter --data FILE.csv` "
            "or give --classifier FOLDER"
        )
    return SklearnFilter(folder, threshold)


def load_classifier(spec: str, threshold: float = DEFAULT_THRESHOLD) -> Classifier:
    """A classifier from a registered name or a folder with a classifier.json."""
    check_threshold(threshold, spec)
    candidate = Path(spec).expanduser()
    if spec not in CLASSIFIERS and (candidate.is_dir() or len(candidate.parts) > 1):
        return _from_folder(candidate, threshold)
    return CLASSIFIERS.get(spec)(threshold=threshold)


def _from_folder(folder: Path, threshold: float) -> Classifier:
    manifest_path = folder / "classifier.json"
    if not folder.is_dir():
        raise HarnessError(f"{folder}: no such classifier folder; give a name ({', '.join(CLASSIFIERS.names())}) or a folder")
    if not manifest_path.exists():
        raise HarnessError(
            f"{folder}: no classifier.json; give a folder written by `harness train-filter` or a Detoxify folder (docs/toxicity.md)"
        )
    manifest = read_json(manifest_path)
    backend = manifest.get("backend") if isinstance(manifest, dict) else None
    if backend == "sklearn":
        from harness.toxicity.sklearn_filter import SklearnFilter

        return SklearnFilter(folder, threshold)
    if backend == "detoxify":
        from harness.toxicity.detoxify_backend import DetoxifyClassifier, DetoxifyWeights

        try:
            checkpoint = folder / str(manifest["checkpoint"])
            config = folder / str(manifest["huggingface_config"])
        except KeyError as e:
            raise HarnessError(f"{manifest_path}: missing key {e}; a detoxify folder names `checkpoint` and `huggingface_config`") from None
        variant = str(manifest.get("variant", "original"))
        return DetoxifyClassifier(variant, DetoxifyWeights(checkpoint, config), threshold)
    raise HarnessError(f"{manifest_path}: `backend` must be sklearn or detoxify, got {backend!r}")


@dataclass(frozen=True)
class ClassifierSpec:
    classifier: str  # a registered name or a folder
    threshold: float | None  # None: the suite's (or the default) threshold


def parse_spec(value: str, flag: str = "--classifier") -> ClassifierSpec:
    """`CLASSIFIER[:THRESHOLD]`, e.g. `profanity-check:0.8` (used by --classifier and --guard)."""
    name, sep, tail = value.rpartition(":")
    if sep:
        try:
            threshold = float(tail)
        except ValueError:
            name, threshold = value, None
    else:
        name, threshold = value, None
    if not name:
        raise HarnessError(f"{flag} {value!r}: name a classifier, e.g. {flag} profanity-check:0.8")
    if threshold is not None:
        check_threshold(threshold, f"{flag} {value}")
    return ClassifierSpec(name, threshold)


def suite_threshold(spec: ClassifierSpec, default: Any, where: object) -> float:
    """The threshold a suite scores at: the one in `NAME:T` when given, else the suite YAML's
    `threshold` (`default`). The classifier is built with the same value, so what the results
    record is what the metrics used."""
    if spec.threshold is not None:
        return spec.threshold
    try:
        threshold = float(default)
    except (TypeError, ValueError):
        raise HarnessError(f"{where}: threshold must be a number between 0 and 1, got {default!r}") from None
    check_threshold(threshold, f"{where}: threshold")
    return threshold


def check_threshold(threshold: float, where: str) -> None:
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold) and 0.0 <= threshold <= 1.0):
        raise HarnessError(f"{where}: threshold {threshold!r} must be a probability between 0 and 1")


def classifier_from(value: str | None, default: str = DEFAULT_CLASSIFIER, threshold: float = DEFAULT_THRESHOLD, flag: str = "--classifier") -> Classifier:
    """The classifier a `NAME[:THRESHOLD]` value names (`default` when None); the threshold in
    the value wins over `threshold`."""
    spec = parse_spec(value if value is not None else default, flag)
    return load_classifier(spec.classifier, spec.threshold if spec.threshold is not None else threshold)
