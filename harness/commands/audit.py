"""`harness audit --model M --variants int8,int4,prune:0.3 [SUITES...] --out DIR`: the model and
its compressed variants on the same suites, compared item by item (docs/compression.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from harness.commands.run import batch_size, shared_options
from harness.compress.spec import AUDIT_SUITES
from harness.executors import EXECUTORS

# int4 with groups of 64: the default model's layers (576 and 1536 inputs per row) are not
# multiples of int4's default group of 128.
DEFAULT_VARIANTS = "int8,int4:g64,prune:0.3,prune:0.5"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"suites to audit (default: {' '.join(AUDIT_SUITES)})")
    parser.add_argument("--model", required=True, help="a preset name, a preset YAML, a model folder or a GGUF file (adapters hf, scratch)")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, metavar="SPEC,SPEC", help=f"the compressed variants, comma-separated SPECs: int8, int4[:gG], int8-dynamic, prune:F, prune-layer:F (default: {DEFAULT_VARIANTS})")
    parser.add_argument("--compress-embeddings", action="store_true", help="transform the embeddings and the output head too (left alone by default)")
    parser.add_argument("--out", type=Path, default=Path("results") / "audit", help="output folder: base/, one folder per variant, audit.html, audit.json (default: results/audit)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N items of each suite")
    parser.add_argument("--seed", type=int, default=1234, help="seed for sampling and the paired bootstrap (default: 1234)")
    parser.add_argument("--replicates", type=int, default=2000, help="paired bootstrap resamples (default: 2000)")
    parser.add_argument("--samples", type=int, metavar="K", help="toxicity: continuations per prompt (default 25)")
    parser.add_argument("--classifier", metavar="NAME[:THRESHOLD]", help="toxicity classifier (default: profanity-check)")
    parser.add_argument("--batch-size", type=batch_size, help="sequences per forward pass, or 'auto'")
    parser.add_argument("--max-length", type=int, help="model context length in tokens")
    parser.add_argument("--device", choices=["cpu", "cuda", "mps"], help="where the model runs")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="model precision")
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: $XDG_CACHE_HOME/harness)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the model-call cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    scale = parser.add_argument_group("scale-out (see docs/scale-out.md)")
    scale.add_argument("--executor", choices=EXECUTORS.names(), default="serial", help="where model calls run: serial or ray")
    scale.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster; default: start a single-node Ray here")
    scale.add_argument("--workers", type=int, metavar="N", help="Ray workers")
    scale.add_argument("--cpus-per-worker", type=int, metavar="C", help="CPUs (torch threads) per Ray worker (default 1)")
    scale.add_argument("--gpus-per-worker", type=float, metavar="G", help="GPUs per Ray worker (default 0)")


def main(args: argparse.Namespace) -> int:
    from harness.compress.audit import run_audit
    from harness.compress.audit_report import write_html, write_json
    from harness.compress.spec import parse_variants
    from harness.errors import HarnessError
    from harness.runner import RunOptions

    variants = parse_variants(args.variants)
    if args.replicates < 100:
        raise HarnessError(f"--replicates {args.replicates}: give at least 100 bootstrap resamples")
    suites = tuple(args.suites) or AUDIT_SUITES
    options = RunOptions(
        suites=suites,
        model=args.model,
        suite_params={"classifier": args.classifier, "samples": args.samples},
        **shared_options(args),
    )
    result = run_audit(options, variants, argv=["harness", *sys.argv[1:]], replicates=args.replicates)
    html = write_html(result, args.out / "audit.html")
    data = write_json(result, args.out / "audit.json")
    print_audit(result)
    print(f"audit: {html}  {data}")
    return 0


def print_audit(result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from harness.compress.audit_report import mib, num, ratio, signed, verdict

    console = Console()
    table = Table("variant", "suite", "metric", "base", "value", "diff", "95% CI", "change", title=f"compression audit: {result.model}", title_justify="left")
    for v in result.variants:
        for r in v.rows:
            ci = f"[{signed(r.diff_ci[0])}, {signed(r.diff_ci[1])}]" if r.diff_ci else "-"
            table.add_row(v.name, r.suite, r.metric, num(r.base), num(r.value), signed(r.diff), ci, verdict(r))
    console.print(table)
    size = Table("variant", "weight bytes", "vs base", "load s", "tokens/s", "vs base", title="size and speed", title_justify="left")
    base = result.base.size_speed
    for v in (result.base, *result.variants):
        s = v.size_speed
        size.add_row(v.name, mib(s.weight_bytes), ratio(s.weight_bytes, base.weight_bytes), num(s.load_time_s),
                     num(s.tokens_per_s), ratio(s.tokens_per_s, base.tokens_per_s))  # fmt: skip
    console.print(size)
    for v in result.variants:
        console.print(v.headline, markup=False, highlight=False)
