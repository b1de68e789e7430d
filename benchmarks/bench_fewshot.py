"""Few-shot cost and effect on the default model: truthfulqa_mc and squad at k = 0, 1, 3, 5.

    .venv/bin/python benchmarks/bench_fewshot.py [--model smollm2-135m] [--ks 0,1,3,5] [--limit N]
                                                 [--suites truthfulqa_mc,squad] [--out DIR]

Each (suite, k) is one `harness run` (in-process, no call cache, so every model call is made) on
the suite's built-in data; k = 0 is the suite as it is without few-shot (truthfulqa_mc's primer),
k > 0 draws exemplars from the suite's built-in pool (`--num-fewshot k`; multi-turn for a chat
preset such as the default). The baseline is k = 0 in the same run of this script: the table
gives each k's wall time and CPU time (this process, all threads; steadier than wall time on a
shared machine) as multiples of k = 0's (model loading included, once per row; an untimed
one-item run first pays for importing torch and transformers, which would otherwise fall on the
k = 0 row) and the metrics with their 95% CIs, so what the longer prompts cost can be read against what they buy. Exits 1
when a run fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

METRICS = {"truthfulqa_mc": ("mc1", "mc2"), "squad": ("exact_match", "f1")}


def run_one(suite: str, k: int, model: str, limit: int | None, out: Path) -> dict[str, Any]:
    from harness.runner import RunOptions, run

    options = RunOptions(
        suites=(suite,), model=model, out=out / f"{suite}-k{k}", limit=limit, use_cache=False,
        show_progress=False, suite_params={"num_fewshot": k},
    )
    started, cpu = time.perf_counter(), time.process_time()
    summary = run(options)
    entry = summary["suites"][suite]
    return {"suite": suite, "k": k, "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
            "protocol": entry["protocol"], "metrics": {m: entry["metrics"][m] for m in METRICS[suite]}}


def fmt_metric(m: dict[str, Any]) -> str:
    if m["value"] is None:
        return "null"
    ci = m.get("ci95")
    return f"{m['value']:.3f} [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else f"{m['value']:.3f}"


def main() -> int:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the weight-loading bar would break up the table
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--ks", default="0,1,3,5", help="comma-separated k values; the first is the baseline")
    parser.add_argument("--suites", default="truthfulqa_mc,squad")
    parser.add_argument("--limit", type=int, help="only the first N items of each suite")
    parser.add_argument("--out", type=Path, help="keep the runs' results here (default: a temporary folder)")
    args = parser.parse_args()
    ks = [int(k) for k in args.ks.split(",")]
    suites = [s for s in args.suites.split(",") if s]
    print(f"few-shot on {args.model}: wall time relative to k={ks[0]}, metrics with 95% CIs"
          + (f", first {args.limit} items" if args.limit else ", all built-in items"), flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        run_one(suites[0], ks[0], args.model, 1, out / "warm-up")  # imports and first load, untimed
        for suite in suites:
            names = METRICS[suite]
            base_k = f"x k={ks[0]}"
            print(f"\n{'suite':<14} {'k':>2} {'wall s':>8} {base_k:>7} {'CPU s':>8} {base_k:>7}  " + "  ".join(f"{n:<22}" for n in names))
            base = None
            for k in ks:
                try:
                    row = run_one(suite, k, args.model, args.limit, out)
                except Exception as e:  # a benchmark reports the failure and goes on
                    print(f"{suite:<14} {k:>2} failed: {type(e).__name__}: {e}", flush=True)
                    rows.append({"suite": suite, "k": k, "error": str(e)})
                    continue
                base = base if base is not None else row
                row["relative_wall"] = row["wall_s"] / base["wall_s"]
                row["relative_cpu"] = row["cpu_s"] / base["cpu_s"]
                rows.append(row)
                cells = "  ".join(f"{fmt_metric(row['metrics'][n]):<22}" for n in names)
                print(f"{suite:<14} {k:>2} {row['wall_s']:>8.1f} {row['relative_wall']:>6.2f}x {row['cpu_s']:>8.1f} "
                      f"{row['relative_cpu']:>6.2f}x  {cells}", flush=True)
        if args.out:
            (args.out / "bench_fewshot.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
