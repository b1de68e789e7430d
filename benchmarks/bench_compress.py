"""Compression audit of the default model on the built-in bias suites: wall time of each
variant's run relative to the base's, weight bytes, load time and tokens/s.

    .venv/bin/python benchmarks/bench_compress.py [--model smollm2-135m] [--variants int8,int4:g64,prune:0.5]
        [--limit N] [--out DIR]

A report, not a pass/fail on speed: torchao's int8 and int4 weight-only layers on CPU dequantise
their weights at every forward pass (no int8 matmul kernel is used), so they may be slower than
float32 here; int8-dynamic uses fbgemm's int8 matmuls; pruned weights are stored dense, so
pruning changes neither the bytes nor the speed. Every call is computed (--no-cache); the output
folder is kept, and a later `harness audit ... --out DIR` with more suites resumes from it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

BIAS_SUITES = ("crows_pairs", "stereoset", "bbq", "counterfactual")


def main() -> int:
    import logging

    from harness.compress.audit import run_audit
    from harness.compress.audit_report import write_html, write_json
    from harness.compress.spec import parse_variants
    from harness.runner import RunOptions

    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--variants", default="int8,int4:g64,prune:0.5")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-compress-"))
    options = RunOptions(suites=BIAS_SUITES, model=args.model, out=out, limit=args.limit, use_cache=False, show_progress=False)
    started = time.perf_counter()
    result = run_audit(options, parse_variants(args.variants))
    total = time.perf_counter() - started
    write_html(result, out / "audit.html")
    write_json(result, out / "audit.json")

    base = result.base.size_speed
    print(f"compression audit of {result.model} on {', '.join(BIAS_SUITES)}"
          f"{f' (first {args.limit} items each)' if args.limit else ''}; total {total:.0f} s; {out}")
    print(f"{'variant':<12} {'run s':>8} {'vs base':>8} {'weight MiB':>11} {'vs base':>8} {'packed MiB':>11} {'load s':>7} {'tokens/s':>9} {'vs base':>8}")
    for v in (result.base, *result.variants):
        s = v.size_speed
        packed = f"{s.weight_bytes_packed / 2**20:.1f}" if s.weight_bytes_packed else "-"
        print(f"{v.name:<12} {s.wall_time_s:>8.1f} {s.wall_time_s / base.wall_time_s:>7.2f}x "
              f"{s.weight_bytes / 2**20:>11.1f} {s.weight_bytes / base.weight_bytes:>7.2f}x {packed:>11} "
              f"{s.load_time_s:>7.2f} {s.tokens_per_s:>9.0f} {s.tokens_per_s / base.tokens_per_s:>7.2f}x")
    print()
    for v in result.variants:
        print(v.headline)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
