"""The cost of `harness run SUITE --explain 10` on the default model, relative to the same run
without it, both measured in this process (model loading included in both, no call cache).

    .venv/bin/python benchmarks/bench_explain.py [--model smollm2-135m] [--k 10] [--steps 0 32] [--others-steps 0]
        [--others-limit 60] [--rounds 3] [--suites crows_pairs stereoset bbq counterfactual truthfulqa_mc]

Target (issue 12): on the built-in CrowS-Pairs (every pair), the run with `--explain 10` (its
defaults: token differences, gradient x input and attention, no integrated gradients) takes at
most 1.5x the run without it. The other pair suites are timed on their first `--others-limit`
items, for their per-suite cost (reported, not judged: a smaller run makes the same ten
explanations a larger share). Each integrated-gradients step count in `--steps` (CrowS-Pairs) and
`--others-steps` (the rest) is measured too (`--explain-steps N`; 0 is the default); the verdict
line is for the first of `--steps`.

Prints per suite: seconds without, seconds with, the ratio (wall time, judged; and CPU time of
this process, steadier when the machine is shared), the explanations' largest
|sum of token log-probs - recorded LL| and largest completeness error; then PASS or FAIL for
the CrowS-Pairs target, exiting 1 on FAIL.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

TARGET_SUITE = "crows_pairs"
TARGET_RATIO = 1.5


def timed_run(suite: str, model: str, out: Path, limit: int | None, explain: object | None) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all threads) of one run: on a machine shared
    with other work the CPU time is the steadier measure of what the run itself costs."""
    from harness.runner import RunOptions, run

    options = RunOptions(suites=(suite,), model=model, out=out, limit=limit, use_cache=False, show_progress=False,
                         explain=explain)  # type: ignore[arg-type]
    started, cpu = time.perf_counter(), time.process_time()
    run(options)
    return time.perf_counter() - started, time.process_time() - cpu


def quality(path: Path) -> tuple[float, float]:
    """Largest sum error (nats) and largest completeness error over the explanations written."""
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
    sums = [abs(o["loglikelihood"] - o["recorded_loglikelihood"]) for line in lines for o in line["options"]]
    comp = [o["ig"]["completeness_error"] for line in lines for o in line["options"] if o["ig"] and o["ig"]["completeness_error"] is not None]
    return max(sums, default=0.0), max(comp, default=0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--steps", type=int, nargs="+", default=[0, 32], help="integrated-gradients steps timed on CrowS-Pairs")
    parser.add_argument("--others-steps", type=int, nargs="+", default=[0], help="the same on the other suites")
    parser.add_argument("--others-limit", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per suite (medians)")
    parser.add_argument("--suites", nargs="+", default=["crows_pairs", "stereoset", "bbq", "counterfactual", "truthfulqa_mc"])
    args = parser.parse_args()

    from harness.explain.settings import ExplainOptions, Settings

    print(f"target: {TARGET_SUITE} (all items) with --explain {args.k} <= {TARGET_RATIO}x the run without it "
          f"(model {args.model}, no call cache, model loading included)")
    verdicts: dict[int, bool] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suite in args.suites:
            limit = None if suite == TARGET_SUITE else args.others_limit
            timed_run(suite, args.model, Path(tmp) / f"warm-{suite}", 4, None)  # imports and file caches warm
            # Rounds interleave the run without explanations and each step count (A B C ... A B C ...):
            # medians of wall and CPU time, steadier than one of each on a shared machine.
            step_counts = args.steps if suite == TARGET_SUITE else args.others_steps
            times: dict[int | None, list[tuple[float, float]]] = {None: [], **{s: [] for s in step_counts}}
            for r in range(args.rounds):
                times[None].append(timed_run(suite, args.model, Path(tmp) / f"base-{suite}-{r}", limit, None))
                for steps in step_counts:
                    out = Path(tmp) / f"explain-{suite}-{steps}-{r}"
                    times[steps].append(timed_run(suite, args.model, out, limit, ExplainOptions(args.k, Settings(steps=steps))))
            base, base_cpu = (statistics.median(t[i] for t in times[None]) for i in (0, 1))
            for steps in step_counts:
                out = Path(tmp) / f"explain-{suite}-{steps}-0"
                with_explain, with_cpu = (statistics.median(t[i] for t in times[steps]) for i in (0, 1))
                ratio = with_explain / base
                sum_err, comp_err = quality(out / f"{suite}.explain.jsonl")
                items = "all items" if limit is None else f"first {limit} items"
                print(f"{suite:15s} ({items}) steps={steps:3d}: without {base:7.1f} s, with --explain {args.k} "
                      f"{with_explain:7.1f} s, ratio {ratio:.2f}x (CPU {base_cpu:.0f} s vs {with_cpu:.0f} s, "
                      f"{with_cpu / base_cpu:.2f}x); max |sum - recorded| {sum_err:.1e} nats, "
                      f"max completeness error {100 * comp_err:.2f}%", flush=True)
                if suite == TARGET_SUITE:
                    verdicts[steps] = ratio <= TARGET_RATIO
    for steps, ok in verdicts.items():
        print(f"{TARGET_SUITE} --explain {args.k}, {steps} integrated-gradients steps: {'PASS' if ok else 'FAIL'} (<= {TARGET_RATIO}x)")
    if not verdicts:
        return 0
    first = args.steps[0]
    print(f"verdict ({first} integrated-gradients steps{', the default of --explain' if first == 0 else ''}): "
          f"{'PASS' if verdicts[first] else 'FAIL'}")
    return 0 if verdicts[first] else 1


if __name__ == "__main__":
    raise SystemExit(main())
