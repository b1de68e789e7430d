"""What to explain and how, checked where a command starts (no torch here: `harness run` imports
this before it knows whether the model will load)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

DEFAULT_STEPS = 32  # `harness explain`: integrated gradients on the items asked for
# `harness run --explain K`: none unless --explain-steps asks. Each step is a forward and a backward
# pass over the option, so 32 steps made a built-in CrowS-Pairs run with --explain 10 take 4.8x
# the run without it (benchmarks/bench_explain.py), against 1.2x for token differences, gradient x
# input and attention; and on SmolLM2-135M the log-likelihood along the straight path from every
# baseline tried is rough (jumps of several nats between neighbouring points), so 32 steps leave
# completeness errors of 20% to 1,700% there (docs/explain.md).
RUN_STEPS = 0
BASELINES = ("zero", "other")
# The suite kinds whose items have options to compare (harness.explain.targets.RULES).
EXPLAINABLE_KINDS = ("crows_pairs", "stereoset", "counterfactual", "bbq", "truthfulqa_mc")


@dataclass(frozen=True)
class Settings:
    steps: int = DEFAULT_STEPS  # integrated-gradients quadrature nodes; 0: no integrated gradients
    baseline: str = "zero"  # "zero": the zero embedding; "other": the other option's aligned tokens

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "baseline": self.baseline}


@dataclass(frozen=True)
class ExplainOptions:
    """`harness run --explain K`: after each suite of a kind in EXPLAINABLE_KINDS, explain its K
    items with the largest bias signal into OUT/<suite>.explain.jsonl."""

    k: int
    settings: Settings = Settings(steps=RUN_STEPS)


def check_settings(steps: int, baseline: str, flag: str) -> Settings:
    if steps < 0:
        raise HarnessError(f"{flag}: integrated-gradients steps must be 0 (none) or more, got {steps}")
    if baseline not in BASELINES:
        raise HarnessError(f"{flag}: baseline {baseline!r} is not one of {', '.join(BASELINES)}")
    return Settings(steps, baseline)


def check_run(options: ExplainOptions, kinds: Sequence[str], executor: str, model: str | None) -> None:
    """Before the model is built: K, the suites, where the run happens and the adapter's capability."""
    from harness.explain.capability import check_preset

    if options.k < 1:
        raise HarnessError(f"--explain must be a positive number of items per suite, got {options.k}")
    if not any(k in EXPLAINABLE_KINDS for k in kinds):
        raise HarnessError(f"--explain: none of the suites is of a kind that can be explained ({', '.join(EXPLAINABLE_KINDS)})")
    if executor != "serial":
        raise HarnessError("--explain runs the model in this process; drop --executor ray (or explain later with `harness explain`)")
    if model is not None:
        check_preset(model, "--explain")
