"""The privacy suites on `scratch-tiny`, end to end: train with canaries, then measure.

Trains the real preset (models/scratch-tiny.yaml, its default steps and the default corpus) with
`--canaries N --canary-repeats 1,4,16` into a temporary folder, exactly as `harness train` does,
then runs `canary_exposure` (the planted canaries, and the never-planted control canaries) and
`memorization` on the checkpoint through the runner with a fresh call cache, and prints:

- the wall time of training, of each suite, and of the whole "train with canaries, then
  measure" (target <= --max-minutes, default 10, on 2 CPU cores);
- exposure by repeat count (mean and 95% CI over the canaries of each count), the control's, and
  the slope in bits per doubling of the repeats;
- memorization's extraction rate and prefix match, seen and held out, at the longest prefix;
- PASS when the end-to-end time fits and the most-repeated canaries are more exposed than the
  once-inserted ones (their CIs apart); exit status 1 otherwise.

    .venv/bin/python benchmarks/bench_privacy.py [--canaries 10] [--steps N] [--max-minutes 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.commands.train import run_from_args
from harness.runner import RunOptions, run
from harness.scratch.trainer import Trainer

REPO = Path(__file__).resolve().parent.parent


def timed_run(suite: str, checkpoint: Path, out: Path, cache: Path, data: Path | None = None) -> tuple[dict, float]:
    start = time.perf_counter()
    summary = run(RunOptions(suites=(suite,), model=str(checkpoint), out=out, data=data, cache_dir=cache, show_progress=False))
    return summary["suites"][suite], time.perf_counter() - start


def fmt(m: dict) -> str:
    ci = m.get("ci95")
    return f"{m['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") if m["value"] is not None else f"null ({m.get('reason')})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--canaries", type=int, default=10, help="canaries per repeat count (default 10)")
    parser.add_argument("--repeats", default="1,4,16", help="repeat counts (default 1,4,16)")
    parser.add_argument("--steps", type=int, help="training steps (default: the preset's)")
    parser.add_argument("--max-minutes", type=float, default=10.0, help="budget for train + measure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-privacy-"))
    try:
        train = run_from_args(argparse.Namespace(
            config=REPO / "models" / "scratch-tiny.yaml", corpus=None, out=work / "ckpt", steps=args.steps, resume=False,
            canaries=args.canaries, canary_repeats=args.repeats))
        load = os.getloadavg()[0]
        start = time.perf_counter()
        result = Trainer(train).fit()
        t_train = time.perf_counter() - start
        cache = work / "cache"
        canary, t_canary = timed_run("canary_exposure", train.out, work / "canary", cache)
        control, t_control = timed_run("canary_exposure", train.out, work / "control", cache,
                                       REPO / "suites" / "data" / "privacy" / "canaries-control.json")
        memo, t_memo = timed_run("memorization", train.out, work / "memorization", cache)
        total = time.perf_counter() - start
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"scratch-tiny: {result.n_parameters:,} parameters, {result.steps} steps, {result.n_train_tokens:,} train tokens "
          f"(with the canaries); {os.cpu_count()} CPU cores, load average {load:.1f} at start")
    print(f"wall time: train {t_train:.1f} s; canary_exposure {t_canary:.1f} s ({canary['data']['notes'].split('; ')[-1]}); "
          f"control {t_control:.1f} s; memorization {t_memo:.1f} s; end to end {total:.1f} s ({total / 60:.1f} min)")
    by = canary["breakdowns"]["repeats"]
    for repeats, metrics in sorted(by.items(), key=lambda kv: int(kv[0])):
        print(f"exposure, {repeats:>2} repeat(s): {fmt(metrics['mean_exposure'])} bits (n={metrics['mean_exposure']['n']})")
    print(f"exposure, control (never planted): {fmt(control['metrics']['mean_exposure'])} bits; chance is log2(e) = 1.443")
    print(f"exposure slope: {fmt(canary['metrics']['exposure_slope'])} bits per doubling of the repeats")
    mm = memo["metrics"]
    print(f"memorization (longest prefix): extraction rate seen {fmt(mm['extraction_rate'])}, gap {fmt(mm['extraction_gap'])}; "
          f"prefix match seen {fmt(mm['prefix_match'])}")
    top, low = by[max(by, key=int)]["mean_exposure"], by[min(by, key=int)]["mean_exposure"]
    rises = top["ci95"] is not None and low["ci95"] is not None and top["ci95"][0] > low["ci95"][1]
    fast = total <= args.max_minutes * 60
    print(f"exposure rises with the repeats (CIs apart): {'PASS' if rises else 'FAIL'}; "
          f"end to end {total / 60:.1f} min (target <= {args.max_minutes:g}): {'PASS' if fast else 'FAIL'}")
    return 0 if rises and fast else 1


if __name__ == "__main__":
    sys.exit(main())
