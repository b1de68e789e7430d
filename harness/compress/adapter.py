"""What a torch adapter (hf, scratch) holds for `--compress SPEC`.

The adapter builds a `Compression` in its constructor (the SPEC is parsed there, so a bad one
stops the run before anything loads), adds `identity` to its fingerprint (the call cache never
mixes variants), calls `apply` right after its model is loaded, and reports `details()` under
`info.details["compression"]` in summary.json.

`apply` also measures what the audit's size/speed row needs: the load time (from the start of
loading to the end of the transform), the weight bytes, and the tokens per second of every
forward pass of the run (forward hooks on the model count the tokens and the time). The record
is kept in `<cache>/compression/<fingerprint>.json`, so a run answered entirely from the journal
or the call cache, which never loads the model, still reports what the transform did.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

from harness.api import ModelInfo
from harness.compress.spec import CompressSpec, parse_spec
from harness.errors import HarnessError


class Compression:
    def __init__(self, *, spec: CompressSpec, embeddings: bool, model_name: str, cache_dir: Any) -> None:
        self.spec = spec
        self.embeddings = embeddings
        self.model_name = model_name
        self.cache_dir = cache_dir
        self.record: dict[str, Any] | None = None  # set by apply, in this process
        self._tokens = 0  # through the model's forward passes since it loaded
        self._seconds = 0.0
        self._started = 0.0

    @property
    def identity(self) -> dict[str, Any] | None:
        """What goes into the model's fingerprint; None for the base (`none`), whose fingerprint
        and cached calls are the plain model's."""
        if not self.spec.changes_weights:
            return None
        from harness.compress.transforms import library_version

        return {"spec": self.spec.text, "embeddings": self.embeddings, "library": library_version(self.spec)}

    def apply(self, model: Any, load_started: float, fingerprint: str) -> Any:
        """Transform the loaded model in place, record what was done, and start counting its
        forward passes. Returns the model."""
        from harness.compress.transforms import apply_transform

        record = apply_transform(model, self.spec, embeddings=self.embeddings, name=self.model_name)
        self.record = {**record.to_dict(), "modules_changed": len(record.modules),
                       "load_time_s": round(time.perf_counter() - load_started, 3)}  # fmt: skip
        model.register_forward_pre_hook(self._before, with_kwargs=True)
        model.register_forward_hook(self._after, with_kwargs=True)
        self._save(fingerprint)
        return model

    # ---- speed: tokens through the model's forward passes, and the time they took -----------

    def _before(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        if ids is not None and mask is not None and mask.shape == ids.shape:
            self._tokens += int(mask.sum())  # padding excluded
        elif ids is not None:
            self._tokens += int(ids.numel())  # generation with a KV cache: the new tokens only
        self._started = time.perf_counter()

    def _after(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        self._seconds += time.perf_counter() - self._started

    # ---- the record --------------------------------------------------------------------------

    def details(self, fingerprint: str) -> dict[str, Any]:
        """For summary.json: what was asked, what the transform did (this run's, or the last
        run's that loaded the same variant), and the speed measured in this run."""
        asked = {"spec": self.spec.text, "embeddings": self.embeddings}
        if self.record is None:
            stored = self._load(fingerprint)
            if stored is None:
                return {**asked, "applied": False,
                        "note": "the model was not loaded in this run (answered from the journal or call cache)"}  # fmt: skip
            return {**asked, "applied": True, "measured_in_this_run": False, **stored}
        speed = {"tokens": self._tokens, "forward_s": round(self._seconds, 3),
                 "tokens_per_s": round(self._tokens / self._seconds, 1) if self._seconds > 0 else None}  # fmt: skip
        return {**asked, "applied": True, "measured_in_this_run": True, **self.record, "speed": speed}

    def _path(self, fingerprint: str) -> Any:
        from pathlib import Path

        return Path(self.cache_dir) / "compression" / f"{fingerprint}-{self.spec.folder}.json"

    def _save(self, fingerprint: str) -> None:
        from harness.journal import atomic_write_text

        path = self._path(fingerprint)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(self.record, indent=1))
        except OSError:
            pass  # a read-only cache only loses the record for later cached runs

    def _load(self, fingerprint: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(fingerprint).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None


def compression_from(compress: str | None, embeddings: bool, model_name: str, cache_dir: Any) -> Compression | None:
    """The adapter's Compression for its `compress` / `compress_embeddings` arguments."""
    if compress is None:
        if embeddings:
            raise HarnessError("--compress-embeddings applies with --compress SPEC; give a SPEC or drop it")
        return None
    return Compression(spec=parse_spec(compress), embeddings=embeddings, model_name=model_name, cache_dir=cache_dir)


def with_compression(identity: ModelInfo, compression: Compression | None) -> ModelInfo:
    """A torch adapter's `info`: its identity, and with --compress what the transform did (known
    once the model loads) under details["compression"]."""
    if compression is None:
        return identity
    return replace(identity, details={**identity.details, "compression": compression.details(identity.fingerprint)})
