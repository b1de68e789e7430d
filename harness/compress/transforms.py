"""The transforms: one function per method, each changing a loaded model in place and saying
what it did.

Which library does what (checked with torch 2.13.0 CPU and torchao 0.18.0 on this machine):
- int8: torchao `Int8WeightOnlyConfig` (per output channel, symmetric: scale = max|w| / 127.5,
  q = clamp(round(w / scale), -128, 127)); runs on CPU.
- int4: torchao `Int4WeightOnlyConfig` needs the `mslk` kernels, which have no CPU build here,
  so it fails; torchao `IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(G))`
  does the same arithmetic on CPU (symmetric round-to-nearest per group of G input weights:
  scale = max|w| / 7.5, q = clamp(round(w / scale), -8, 7)), each value kept in an int8.
- int8-dynamic: `torch.ao.quantization.quantize_dynamic` (still in torch 2.13, deprecated in
  favour of torchao) with per-channel int8 weights and activations quantised per batch (fbgemm).
- prune / prune-layer: `torch.nn.utils.prune` (global_unstructured with L1Unstructured, or
  l1_unstructured per layer), made permanent with `prune.remove`.

Which modules: every `torch.nn.Linear`, except the embeddings and the output head (the model's
output embeddings, or a linear layer whose weight is an embedding's: a tied head), which are left
alone unless `embeddings` is set. GPT-2's `Conv1D` layers are not linear modules and are not
handled; a model with nothing else to change stops with an error instead of a silent no-op.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

from harness.compress.measure import packed_int4_bytes, weight_bytes
from harness.compress.spec import CompressSpec
from harness.errors import HarnessError

TORCHAO_INSTALL = "pip install torchao==0.18.0 (or `make setup`)"


@dataclass(frozen=True)
class TransformRecord:
    """What a transform did to one model."""

    spec: str  # canonical SPEC, e.g. int4:g128
    method: str  # what was done, in words
    library: str  # library and version, e.g. "torchao 0.18.0"
    bits: int | None
    group_size: int | None
    scheme: str | None  # e.g. "symmetric, per output channel"
    target_sparsity: float | None
    measured_sparsity: float | None  # zeros / values over the changed weights, after the transform
    embeddings: bool  # embeddings and the output head were transformed too
    modules: tuple[str, ...]  # the modules changed
    left_alone: tuple[str, ...]  # embeddings and output head kept as loaded
    weight_bytes_before: int
    weight_bytes_after: int  # measured from the stored tensors
    weight_bytes_packed: int | None  # int4: computed exactly for two values per byte
    tied_head: str  # "kept", "none" (the model has no tied head) or what happened to it

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class Targets:
    linear: list[tuple[str, Any]]  # (name, module) to change
    embeddings: list[tuple[str, Any]]  # embeddings and output head, changed only on request
    unhandled: list[str]  # weight-bearing layers no transform handles (GPT-2 Conv1D)


def find_targets(model: Any) -> Targets:
    import torch.nn as nn

    embedding_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    linear, embeddings, unhandled = [], [], []
    for name, module in model.named_modules():
        if isinstance(module, nn.Embedding):
            embeddings.append((name, module))
        elif isinstance(module, nn.Linear):
            if module is output or id(module.weight) in embedding_weights:
                embeddings.append((name, module))
            else:
                linear.append((name, module))
        elif type(module).__name__ == "Conv1D":  # transformers.pytorch_utils.Conv1D (GPT-2)
            unhandled.append(name)
    return Targets(linear, embeddings, unhandled)


def tied_head(model: Any) -> tuple[Any, Any] | None:
    """(output head, embedding) when the head's weight is the embedding's, else None."""
    import torch.nn as nn

    for module in model.modules():
        if isinstance(module, nn.Embedding):
            for other in model.modules():
                if isinstance(other, nn.Linear) and other.weight is module.weight:
                    return other, module
    return None


def apply_transform(model: Any, spec: CompressSpec, *, embeddings: bool, name: str) -> TransformRecord:
    """Change `model` in place as `spec` says; a transform that would change nothing is an error."""
    targets = find_targets(model)
    chosen = targets.linear + (targets.embeddings if embeddings else [])
    left_alone = tuple(n for n, _ in targets.embeddings) if not embeddings else ()
    tie = tied_head(model)
    if spec.changes_weights and not chosen:
        extra = f" (its {len(targets.unhandled)} GPT-2 Conv1D layers are not handled)" if targets.unhandled else ""
        raise HarnessError(
            f"--compress {spec.text} would change nothing in model {name}: it has no torch.nn.Linear layer outside its "
            f"embeddings and output head{extra}; use a model with linear layers, or add --compress-embeddings"
        )
    before = weight_bytes(model)
    method, library, scheme, sparsity = TRANSFORMS[spec.kind](model, spec, chosen, name)
    changed = tuple(n for n, _ in chosen) if spec.changes_weights else ()
    after = weight_bytes(model)
    tie_state = "none"
    if tie is not None:
        head, embedding = tie
        tie_state = "kept" if head.weight is embedding.weight else "untied: head and embedding quantised alike, stored apart"
    return TransformRecord(
        spec=spec.text,
        method=method,
        library=library,
        bits=spec.bits,
        group_size=spec.group_size,
        scheme=scheme,
        target_sparsity=spec.sparsity,
        measured_sparsity=sparsity,
        embeddings=embeddings,
        modules=changed,
        left_alone=left_alone,
        weight_bytes_before=before,
        weight_bytes_after=after,
        weight_bytes_packed=packed_int4_bytes(model) if spec.kind == "int4" else None,
        tied_head=tie_state,
    )


Result = tuple[str, str, str | None, float | None]  # method, library, scheme, measured sparsity


def _none(model: Any, spec: CompressSpec, chosen: list[tuple[str, Any]], name: str) -> Result:
    return "none: the model as loaded", f"torch {_version('torch')}", None, None


def _int8(model: Any, spec: CompressSpec, chosen: list[tuple[str, Any]], name: str) -> Result:
    ao = _torchao()
    _quantize(model, ao.quantization.Int8WeightOnlyConfig(), chosen)
    return ("weight-only int8 (torchao Int8WeightOnlyConfig)", f"torchao {_version('torchao')}",
            "symmetric, one scale per output channel (max|w| / 127.5)", None)  # fmt: skip


def _int4(model: Any, spec: CompressSpec, chosen: list[tuple[str, Any]], name: str) -> Result:
    import torch

    ao = _torchao()
    from torchao.quantization.granularity import PerGroup

    widths = {int(module.weight.shape[-1]) for _, module in chosen}
    for layer_name, module in chosen:
        width = module.weight.shape[-1]
        if width % spec.group_size:  # type: ignore[operator]
            fits = [g for g in (1024, 512, 256, 128, 64, 32, 16) if all(w % g == 0 for w in widths)]
            hint = f"use int4:g{fits[0]}, the largest group that divides every layer" if fits else "use int8"
            raise HarnessError(
                f"--compress {spec.text}: layer {layer_name} of model {name} has {width} input weights per row, "
                f"not a multiple of the group size {spec.group_size}; {hint}"
            )
    config = ao.quantization.IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(spec.group_size))
    _quantize(model, config, chosen)
    return ("weight-only int4 round-to-nearest (torchao IntxWeightOnlyConfig; Int4WeightOnlyConfig has no CPU kernels)",
            f"torchao {_version('torchao')}",
            f"symmetric, one scale per group of {spec.group_size} input weights (max|w| / 7.5), values stored one per int8",
            None)  # fmt: skip


def _int8_dynamic(model: Any, spec: CompressSpec, chosen: list[tuple[str, Any]], name: str) -> Result:
    import torch
    import torch.nn as nn
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    if any(not isinstance(m, nn.Linear) for _, m in chosen):
        raise HarnessError("--compress int8-dynamic quantises linear layers only; drop --compress-embeddings")
    weight = next(m.weight for _, m in chosen)
    if weight.device.type != "cpu" or weight.dtype != torch.float32:
        raise HarnessError(
            f"--compress int8-dynamic runs float32 models on CPU (fbgemm); model {name} is {weight.dtype} on "
            f"{weight.device.type}: use --dtype float32 --device cpu"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice, once per call
        quantize_dynamic(model, {n: per_channel_dynamic_qconfig for n, _ in chosen}, dtype=torch.qint8, inplace=True)
    return ("dynamic int8 (torch.ao.quantization.quantize_dynamic): int8 weights, activations quantised per batch",
            f"torch {_version('torch')}", "weights symmetric per output channel; activations affine per tensor",
            None)  # fmt: skip


def _prune(model: Any, spec: CompressSpec, chosen: list[tuple[str, Any]], name: str) -> Result:
    import torch.nn.utils.prune as prune

    params: list[tuple[Any, str]] = []
    seen: set[int] = set()
    for _, module in chosen:  # a tied weight is pruned once, through the first module holding it
        if id(module.weight) not in seen:
            seen.add(id(module.weight))
            params.append((module, "weight"))
    if spec.kind == "prune":
        prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=spec.sparsity)
        method = "global L1 magnitude pruning (torch.nn.utils.prune.global_unstructured, L1Unstructured), made permanent"
    else:
        for module, attr in params:
            prune.l1_unstructured(module, attr, amount=spec.sparsity)
        method = "per-layer L1 magnitude pruning (torch.nn.utils.prune.l1_unstructured), made permanent"
    for module, attr in params:
        prune.remove(module, attr)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in params)
    total = sum(m.weight.numel() for m, _ in params)
    return method, f"torch {_version('torch')}", "unstructured", zeros / total


TRANSFORMS: dict[str, Callable[..., Result]] = {
    "none": _none,
    "int8": _int8,
    "int4": _int4,
    "int8-dynamic": _int8_dynamic,
    "prune": _prune,
    "prune-layer": _prune,
}


def _quantize(model: Any, config: Any, chosen: list[tuple[str, Any]]) -> None:
    from torchao.quantization import quantize_

    names = {n for n, _ in chosen}
    quantize_(model, config, filter_fn=lambda module, fqn: fqn in names)


def _torchao() -> Any:
    """torchao, imported quietly (it logs a warning for each CUDA-only kernel library it cannot
    load on a CPU machine), or the install command."""
    with _quiet_loggers("torchao", "torch.utils._pytree"):
        try:
            import torchao
            import torchao.quantization  # noqa: F401
        except ImportError:
            raise HarnessError(f"--compress int8/int4 need torchao: {TORCHAO_INSTALL}") from None
    return torchao


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def library_version(spec: CompressSpec) -> str:
    """The library and version whose arithmetic the spec uses (part of the fingerprint)."""
    if spec.kind in ("int8", "int4"):
        return f"torchao {_version('torchao')}"
    return f"torch {_version('torch')}"
