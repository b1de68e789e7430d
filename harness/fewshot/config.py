"""The few-shot settings of one suite: its YAML's `fewshot:` block under `params`, overridden by
`--num-fewshot K` and `--fewshot-data FILE`.

    params:
      fewshot:
        k: 0                                # exemplars per item; 0 is the suite as it was
        pool: data/qa/squad-fewshot.json    # the built-in pool, relative to the YAML
        sampler: random                     # random (seeded per item) | first (pool order)
        delimiter: "\n\n"                   # after each exemplar (plain rendering)
        template: "Q: {{ question }}\nA:"   # truthfulqa_mc only: exemplars and item when k > 0
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError, did_you_mean
from harness.resources import SuiteSpec

SAMPLERS = ("random", "first")
KEYS = ("k", "pool", "sampler", "delimiter", "template")


@dataclass(frozen=True)
class FewshotConfig:
    k: int = 0
    pool: Path | None = None  # the suite's built-in pool; None: exemplars come from the data itself
    sampler: str = "random"
    delimiter: str = "\n\n"  # lm-evaluation-harness's fewshot_delimiter
    template: str | None = None  # a suite's own template for k > 0 (truthfulqa_mc: the primer-less one)
    data: Path | None = None  # --fewshot-data: the pool for this run

    @property
    def active(self) -> bool:
        return self.k > 0


def fewshot_config(
    spec: SuiteSpec,
    num_fewshot: int | Mapping[str, int] | None = None,
    fewshot_data: Path | None = None,
    template_allowed: bool = False,
) -> FewshotConfig:
    """The suite's `params.fewshot` block, checked, with the flags applied (--num-fewshot wins
    over the YAML's `k`; given per suite, as {suite name: k, "*": k for the others}, the entry
    for this suite's name)."""
    if isinstance(num_fewshot, Mapping):
        num_fewshot = num_fewshot.get(spec.name, num_fewshot.get("*"))
    block = spec.params.get("fewshot") or {}
    where = f"{spec.path}: params.fewshot"
    if not isinstance(block, dict):
        raise HarnessError(f"{where} must be a mapping with keys {', '.join(KEYS)}")
    allowed = KEYS if template_allowed else tuple(k for k in KEYS if k != "template")
    for key in block:
        if key not in allowed:
            raise HarnessError(f"{where}.{key} is not a few-shot setting{did_you_mean(str(key), allowed)}; known: {', '.join(allowed)}")
    k = block.get("k", 0)
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise HarnessError(f"{where}.k must be a whole number of 0 or more, got {k!r}")
    if num_fewshot is not None:
        if isinstance(num_fewshot, bool) or not isinstance(num_fewshot, int) or num_fewshot < 0:
            raise HarnessError(f"--num-fewshot must be a whole number of 0 or more, got {num_fewshot!r}")
        k = num_fewshot
    sampler = block.get("sampler", "random")
    if sampler not in SAMPLERS:
        raise HarnessError(f"{where}.sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    delimiter = block.get("delimiter", "\n\n")
    if not isinstance(delimiter, str):
        raise HarnessError(f"{where}.delimiter must be a string, got {delimiter!r}")
    pool = block.get("pool")
    if pool is not None and not isinstance(pool, str):
        raise HarnessError(f"{where}.pool must be a file path relative to the suite YAML, got {pool!r}")
    template = block.get("template")
    if template is not None and (not isinstance(template, str) or not template.strip()):
        raise HarnessError(f"{where}.template must be a non-empty jinja2 template, got {template!r}")
    if fewshot_data is not None and k == 0:
        raise HarnessError(
            f"--fewshot-data needs exemplars to draw: give --num-fewshot K (K > 0) or set params.fewshot.k in {spec.path}"
        )
    return FewshotConfig(
        k=k,
        pool=(spec.path.parent / pool) if pool else None,
        sampler=sampler,
        delimiter=delimiter,
        template=template,
        data=Path(fewshot_data) if fewshot_data is not None else None,
    )
