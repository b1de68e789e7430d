"""Pair and multiple-choice scoring speed on the default model, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_choice.py [--model smollm2-135m] [--items 60] [--repeats 2]

Target (issue: bias probes): scoring the candidates of each chunk of items in one adapter call
(batched, length-sorted, each shared context read once through the KV cache) is at least 2x
faster than scoring each candidate separately at batch 1, with the same log-likelihoods (to
float tolerance). Measured through the suite kinds' own `evaluate` on their built-in data:
BBQ (three answers after a shared paragraph and question), CrowS-Pairs (two whole sentences
after BOS) and StereoSet (three whole sentences). A third configuration, batched without
prefix reuse, shows what each part contributes.

Prints the target, then per suite PASS or FAIL for each half of it (speed-up of batched + prefix
reuse over batch 1, and the largest log-likelihood difference between the two against
LL_TOLERANCE), and exits 1 when any suite misses either.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

SUITES = ("bbq", "crows_pairs", "stereoset")
SPEEDUP_TARGET = 2.0  # batched + prefix reuse vs each candidate alone at batch 1
# nats; float32 sums over a few dozen tokens scored in different batch shapes (the same bound as
# tests/bias/test_prefix_reuse.py)
LL_TOLERANCE = 1e-4


class OneAtATime:
    """An adapter that is asked for one request per call (the batch-1 baseline)."""

    def __init__(self, lm: Any) -> None:
        self.lm = lm

    @property
    def info(self) -> Any:
        return self.lm.info

    def loglikelihood(self, requests: list[Any]) -> list[Any]:
        return [self.lm.loglikelihood([r])[0] for r in requests]


def run_suite(kind: Any, lm: Any, items: list[Any]) -> tuple[float, list[float]]:
    """Seconds to evaluate `items` chunk by chunk, as the runner does, and every log-likelihood."""
    started = time.perf_counter()
    records = []
    for start in range(0, len(items), kind.chunk_size):
        records += kind.evaluate(lm, items[start : start + kind.chunk_size], 0)
    elapsed = time.perf_counter() - started
    return elapsed, [ll for r in records for ll in r["loglikelihoods"].values()]


def configure(lm: Any, batch_size: int | str, prefix_reuse: bool) -> Any:
    lm.batch_size = batch_size
    lm.prefix_reuse = prefix_reuse
    return lm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--items", type=int, default=60, help="items per suite (default 60)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per configuration; the fastest counts")
    args = parser.parse_args()

    import torch

    from harness.registry import SUITE_KINDS
    from harness.resources import load_model_spec, load_suite_spec
    from harness.runner import RunOptions, build_model

    torch.manual_seed(0)
    lm = build_model(load_model_spec(args.model), RunOptions(suites=SUITES, model=args.model, out=Path(".")))
    auto = lm.batch_size
    lm.model  # load before timing
    print(f"model {args.model}, torch threads {torch.get_num_threads()}, {args.items} items per suite", flush=True)
    print(f"target: batched + prefix reuse >= {SPEEDUP_TARGET:g}x faster than each candidate alone at batch 1, "
          f"with the same log-likelihoods (max |dLL| <= {LL_TOLERANCE:g} nats)", flush=True)
    print(f"{'suite':<12} {'requests':>8} {'batch1 s':>9} {'batched s':>10} {'+prefix s':>10} {'speed-up':>9} {'max |dLL|':>10}"
          f"  {'speed':<5} {'LLs':<5}", flush=True)
    missed = []
    for name in SUITES:
        spec = load_suite_spec(name)
        kind = SUITE_KINDS.get(spec.kind)(spec)
        items = list(kind.load(None).items)[: args.items]
        kind.evaluate(configure(lm, auto, True), items[:2], 0)  # warm-up
        times: dict[str, float] = {}
        values: dict[str, list[float]] = {}
        for label, batch, reuse in (("batch1", 1, False), ("batched", auto, False), ("prefix", auto, True)):
            configure(lm, batch, reuse)
            adapter = OneAtATime(lm) if label == "batch1" else lm
            runs = [run_suite(kind, adapter, items) for _ in range(args.repeats)]
            times[label] = min(t for t, _ in runs)
            values[label] = runs[0][1]
        if len(values["batch1"]) != len(values["prefix"]):
            raise RuntimeError(f"{name}: {len(values['batch1'])} log-likelihoods at batch 1, {len(values['prefix'])} batched")
        diff = max(abs(a - b) for a, b in zip(values["batch1"], values["prefix"]))
        speedup = times["batch1"] / times["prefix"]
        fast, same = speedup >= SPEEDUP_TARGET, diff <= LL_TOLERANCE
        print(
            f"{name:<12} {len(values['prefix']):>8} {times['batch1']:>9.2f} {times['batched']:>10.2f} "
            f"{times['prefix']:>10.2f} {speedup:>8.2f}x {diff:>10.2e}  {verdict(fast):<5} {verdict(same):<5}",
            flush=True,
        )
        if not fast:
            missed.append(f"{name} speed-up {speedup:.2f}x < {SPEEDUP_TARGET:g}x")
        if not same:
            missed.append(f"{name} max |dLL| {diff:.2e} > {LL_TOLERANCE:g} nats")
    configure(lm, auto, True)
    print(f"FAIL: {'; '.join(missed)}" if missed else "PASS: every suite meets the target", flush=True)
    return 1 if missed else 0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
