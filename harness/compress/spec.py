"""SPEC strings: what `--compress` and `harness audit --variants` accept.

    int8             weight-only int8, symmetric, one scale per output channel
    int4[:gG]        weight-only int4 round-to-nearest, symmetric, one scale per group of G
                     input weights of an output channel (default G = 128)
    int8-dynamic     int8 weights (per output channel) and int8 activations quantised per batch
    prune:F          global L1 magnitude pruning of the linear weights to sparsity F (0 < F < 1)
    prune-layer:F    the same, each layer to sparsity F on its own

`none` is the audit's base: the model as loaded, measured but not changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.errors import HarnessError, did_you_mean

DEFAULT_GROUP_SIZE = 128
# What `harness audit` runs when no suite is named.
AUDIT_SUITES = ("perplexity", "crows_pairs", "stereoset", "bbq", "counterfactual", "toxicity", "truthfulqa_mc")
VALID_FORMS = "int8, int4, int4:gG (e.g. int4:g128; G a power of 2, 16..1024), int8-dynamic, prune:F, prune-layer:F (0 < F < 1)"

# kind -> (method family, bit width)
KINDS = {
    "none": ("none", None),
    "int8": ("quantize", 8),
    "int4": ("quantize", 4),
    "int8-dynamic": ("quantize", 8),
    "prune": ("prune", None),
    "prune-layer": ("prune", None),
}


@dataclass(frozen=True)
class CompressSpec:
    kind: str  # a key of KINDS
    group_size: int | None = None  # int4 only
    sparsity: float | None = None  # prune and prune-layer only

    @property
    def text(self) -> str:
        """The canonical SPEC (what was asked, normalised: `int4` reads `int4:g128`)."""
        if self.kind == "int4":
            return f"int4:g{self.group_size}"
        if self.sparsity is not None:
            return f"{self.kind}:{self.sparsity:g}"
        return self.kind

    @property
    def folder(self) -> str:
        """A name safe as a folder name: `int4-g128`, `prune-0.3`, `prune-layer-0.5`."""
        return self.text.replace(":", "-")

    @property
    def bits(self) -> int | None:
        return KINDS[self.kind][1]

    @property
    def is_pruning(self) -> bool:
        return KINDS[self.kind][0] == "prune"

    @property
    def changes_weights(self) -> bool:
        return self.kind != "none"


def parse_spec(text: str, flag: str = "--compress") -> CompressSpec:
    """The spec of `text`, or a one-line HarnessError listing the valid forms."""
    raw = text.strip().lower()
    kind, sep, arg = raw.partition(":")

    def bad(why: str) -> HarnessError:
        return HarnessError(f"{flag} {text!r}: {why}; valid forms: {VALID_FORMS}")

    if kind not in KINDS:
        raise bad(f"unknown transform {kind!r}{did_you_mean(kind, [k for k in KINDS if k != 'none'])}")
    if kind in ("none", "int8", "int8-dynamic"):
        if sep:
            raise bad(f"{kind} takes no argument")
        return CompressSpec(kind)
    if kind == "int4":
        if not sep:
            return CompressSpec("int4", group_size=DEFAULT_GROUP_SIZE)
        match = re.fullmatch(r"g(\d+)", arg)
        if not match:
            raise bad("the int4 argument is a group size such as g128")
        group = int(match.group(1))
        if group < 16 or group > 1024 or group & (group - 1):
            raise bad(f"group size {group} must be a power of 2 from 16 to 1024")
        return CompressSpec("int4", group_size=group)
    # prune, prune-layer
    if not sep:
        raise bad(f"{kind} needs a sparsity, e.g. {kind}:0.3")
    try:
        sparsity = float(arg)
    except ValueError:
        raise bad(f"sparsity {arg!r} is not a number") from None
    if not 0.0 < sparsity < 1.0:
        raise bad(f"sparsity {arg} must lie strictly between 0 and 1")
    return CompressSpec(kind, sparsity=sparsity)


def parse_variants(text: str) -> list[CompressSpec]:
    """`int8,int4,prune:0.3` -> specs, each once (by canonical form)."""
    specs: list[CompressSpec] = []
    for part in (p for p in text.split(",") if p.strip()):
        spec = parse_spec(part, flag="--variants")
        if spec.kind == "none":
            raise HarnessError(f"--variants {text!r}: `none` is the base, which the audit always runs; drop it")
        if spec.text in (s.text for s in specs):
            raise HarnessError(f"--variants {text!r}: {spec.text} is given twice")
        specs.append(spec)
    if not specs:
        raise HarnessError(f"--variants {text!r}: name at least one variant; valid forms: {VALID_FORMS}")
    return specs
