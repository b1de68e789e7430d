"""`detoxify-original` / `detoxify-unbiased` / `detoxify-multilingual` through Detoxify's own code.

Offline, Detoxify needs two things it would otherwise download: the checkpoint (a dict with
`config` and `state_dict`, from the project's GitHub releases) and the Hugging Face config and
tokenizer of its base model. The harness finds them in one of two ways:

1. a classifier folder with `classifier.json` {"backend": "detoxify", "variant": ...,
   "checkpoint": FILE, "huggingface_config": FOLDER} (paths relative to the folder);
2. by name: the release file in the torch hub cache (`<torch hub dir>/checkpoints/<file>`, where
   Detoxify itself would have saved it), with the base model's config and tokenizer either in a
   folder beside it named `<file stem>.huggingface/` or in the Hugging Face cache.

The checkpoint is read with `torch.load(weights_only=True)` (tensors and plain containers only,
no arbitrary objects), its `model_type` pointed at the local config folder, and the result handed
to `detoxify.Detoxify(checkpoint=...)` in memory, so Detoxify's own loading and prediction code
runs unchanged.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.resources import file_sha256
from harness.toxicity.base import DEFAULT_THRESHOLD, ClassifierInfo, Scores, score_each_on_failure

VARIANTS = ("original", "unbiased", "multilingual")
# The release files Detoxify 0.5.4 downloads (detoxify.detoxify.MODEL_URLS), by variant.
RELEASE_FILES = {
    "original": "toxic_original-c1212f89.ckpt",
    "unbiased": "toxic_debiased-c7548aa0.ckpt",
    "multilingual": "multilingual_debiased-0b549669.ckpt",
}
ARCH_KEYS = {"model_type", "model_name", "tokenizer_name", "num_classes"}
BATCH_SIZE = 32


@dataclass(frozen=True)
class DetoxifyWeights:
    checkpoint: Path
    huggingface_config: Path | None  # None: Detoxify resolves the base model name itself


def hub_checkpoint(variant: str) -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints" / RELEASE_FILES[variant]


def find_weights(variant: str) -> DetoxifyWeights:
    """The weights for a variant by name, from the torch hub cache; a clear error when absent."""
    path = hub_checkpoint(variant)
    if not path.exists():
        raise HarnessError(
            f"Detoxify {variant} weights not found offline at {path}; copy the release file "
            f"{RELEASE_FILES[variant]} there (and its base model's Hugging Face config and tokenizer into "
            f"{path.with_suffix('.huggingface')}/), or give --classifier FOLDER with a classifier.json "
            "naming a local checkpoint and config folder (see docs/toxicity.md)"
        )
    config = path.with_suffix(".huggingface")
    return DetoxifyWeights(path, config if config.is_dir() else None)


class DetoxifyClassifier:
    def __init__(
        self,
        variant: str = "original",
        weights: DetoxifyWeights | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        device: str = "cpu",
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if variant not in VARIANTS:
            raise HarnessError(f"unknown Detoxify variant {variant!r}; one of {', '.join(VARIANTS)}")
        self.variant = variant
        self.weights = weights
        self.threshold = threshold
        self.device = device
        self.batch_size = batch_size

    @cached_property
    def _weights(self) -> DetoxifyWeights:
        return self.weights or find_weights(self.variant)

    @cached_property
    def _checkpoint_sha256(self) -> str:
        return file_sha256(self._weights.checkpoint)

    @property
    def info(self) -> ClassifierInfo:
        try:
            version = metadata.version("detoxify")
        except metadata.PackageNotFoundError:
            version = "not-installed"
        w = self._weights
        details = {"checkpoint": str(w.checkpoint), "huggingface_config": str(w.huggingface_config) if w.huggingface_config else None}
        return ClassifierInfo(
            f"detoxify-{self.variant}",
            "detoxify",
            f"detoxify-{version}/{self._checkpoint_sha256[:12]}",
            self.threshold,
            attributes=tuple(self._model.class_names),
            details=details,
        )

    @cached_property
    def _model(self) -> Any:
        try:
            from detoxify import Detoxify
        except ImportError:
            raise HarnessError(
                "the detoxify classifiers need the detoxify package; install it with `.venv/bin/pip install detoxify==0.5.4`"
            ) from None
        w = self._weights
        buffer = io.BytesIO()
        import torch

        torch.save(_prepared_checkpoint(w), buffer)
        buffer.seek(0)
        try:
            model = Detoxify(
                checkpoint=buffer,
                device=self.device,
                huggingface_config_path=str(w.huggingface_config) if w.huggingface_config else None,
            )
        except OSError as e:
            raise HarnessError(
                f"Detoxify {self.variant}: the base model's Hugging Face config/tokenizer is not available offline "
                f"({str(e).splitlines()[0][:160]}); put them in a folder and name it as `huggingface_config` in a "
                f"classifier.json, or at {w.checkpoint.with_suffix('.huggingface')}/"
            ) from None
        if "toxicity" not in model.class_names:
            raise HarnessError(f"{w.checkpoint}: the checkpoint has no `toxicity` class (classes: {', '.join(model.class_names)})")
        return model

    def _score_batch(self, texts: list[str]) -> Scores:
        model = self._model
        attributes: dict[str, list[float]] = {name: [] for name in model.class_names}
        for start in range(0, len(texts), self.batch_size):
            out = model.predict(texts[start : start + self.batch_size])
            for name, values in out.items():
                # Detoxify returns a float, not a list, for a one-text batch.
                attributes[name].extend(values if isinstance(values, list) else [values])
        toxicity = attributes.pop("toxicity")
        return Scores.ok(toxicity, attributes)

    def score(self, texts: Sequence[str]) -> Scores:
        if not texts:
            return Scores((), ())
        self._model
        return score_each_on_failure(self._score_batch, texts)


def _prepared_checkpoint(w: DetoxifyWeights) -> dict[str, Any]:
    """The checkpoint read safely and checked, its model_type pointing at the local config folder."""
    import pickle

    import torch

    if not w.checkpoint.exists():
        raise HarnessError(f"{w.checkpoint}: no such checkpoint file; check classifier.json or the path")
    try:
        loaded = torch.load(w.checkpoint, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise HarnessError(
            f"{w.checkpoint}: not a readable Detoxify checkpoint of tensors and plain values ({str(e).splitlines()[0][:160]})"
        ) from None
    if not isinstance(loaded, dict) or "config" not in loaded or "state_dict" not in loaded:
        raise HarnessError(f"{w.checkpoint}: a Detoxify checkpoint is a dict with `config` and `state_dict`; this one is not")
    try:
        args = dict(loaded["config"]["arch"]["args"])
        classes = loaded["config"]["dataset"]["args"]["classes"]
    except (KeyError, TypeError):
        raise HarnessError(
            f"{w.checkpoint}: config lacks arch.args or dataset.args.classes; not a Detoxify checkpoint"
        ) from None
    if set(args) != ARCH_KEYS or not isinstance(classes, list):
        raise HarnessError(
            f"{w.checkpoint}: config.arch.args must have exactly {', '.join(sorted(ARCH_KEYS))} (has {', '.join(sorted(args))})"
        )
    if w.huggingface_config is not None:
        if not (w.huggingface_config / "config.json").exists():
            raise HarnessError(f"{w.huggingface_config}: no config.json; give the base model's Hugging Face config and tokenizer folder")
        args["model_type"] = str(w.huggingface_config)
    config = {**loaded["config"], "arch": {**loaded["config"]["arch"], "args": args}}
    return {"config": config, "state_dict": loaded["state_dict"]}


# Registry entries (harness.toxicity.registry): one factory per variant, by name.
def original(threshold: float = DEFAULT_THRESHOLD) -> DetoxifyClassifier:
    return DetoxifyClassifier("original", threshold=threshold)


def unbiased(threshold: float = DEFAULT_THRESHOLD) -> DetoxifyClassifier:
    return DetoxifyClassifier("unbiased", threshold=threshold)


def multilingual(threshold: float = DEFAULT_THRESHOLD) -> DetoxifyClassifier:
    return DetoxifyClassifier("multilingual", threshold=threshold)
