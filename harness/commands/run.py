"""`harness run SUITE [SUITE ...] --model M`: evaluate, journal, and summarise."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.cache import default_cache_dir
from harness.errors import HarnessError
from harness.executors import EXECUTORS
from harness.explain.settings import ExplainOptions, check_settings
from harness.runner import RunOptions, run, run_models


def batch_size(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {value!r}") from None


def fewshot_count(value: str) -> int | tuple[str, int]:
    """`--num-fewshot K` (every suite that builds prompts) or `SUITE=K` (that suite only)."""
    name, sep, count = value.rpartition("=")
    try:
        k = int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K or SUITE=K, got {value!r}") from None
    return (name, k) if sep else k


def fewshot_counts(values: list[int | tuple[str, int]] | None, suites: list[str]) -> int | dict[str, int] | None:
    """The --num-fewshot values: one K for every suite, or K per suite name ("*": the others)."""
    if not values:
        return None
    counts: dict[str, int] = {}
    for value in values:
        name, k = value if isinstance(value, tuple) else ("*", value)
        counts[name] = k
    names = {s for suite in suites for s in (suite, Path(suite).stem)}
    for name in counts:
        if name != "*" and name not in names:
            raise HarnessError(f"--num-fewshot {name}={counts[name]}: no suite {name!r} in this command ({', '.join(suites)})")
    return counts["*"] if list(counts) == ["*"] else counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suites", nargs="+", metavar="SUITE", help="suite names (see `harness list`) or suite YAML files")
    parser.add_argument(
        "--model",
        action="append",
        help="a preset name, a preset YAML, a model folder, a GGUF file or openai:BASE_URL (required unless no suite "
        "needs a model); repeat it to evaluate several models, each into OUT/<model>/",
    )
    parser.add_argument("--data", type=Path, help="evaluate this file instead of the suite's built-in data")
    parser.add_argument("--limit", type=int, help="evaluate only the first N items, in source order")
    parser.add_argument("--out", type=Path, default=Path("results") / "latest", help="output folder (default: results/latest)")
    parser.add_argument("--seed", type=int, default=1234, help="seed for sampling and bootstrap (default: 1234)")
    parser.add_argument("--batch-size", type=batch_size, help="sequences per forward pass, or 'auto'")
    parser.add_argument("--max-length", type=int, help="model context length in tokens (default: the preset's)")
    parser.add_argument("--device", choices=["cpu", "cuda", "mps"], help="where the model runs")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="model precision")
    parser.add_argument(
        "--trust-server-logprobs",
        action="store_true",
        help="served models: skip the start-up probe's value checks of the server's prompt log-probs (shape checks stay); "
        "recorded in summary.json",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="cache folder (default: $XDG_CACHE_HOME/harness)")
    parser.add_argument("--no-cache", action="store_true", help="do not read or write the model-call cache")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--scorecard", action="store_true", help="also write the HTML ethics scorecard to OUT/scorecard.html")
    why = parser.add_argument_group("explanations: pair and multiple-choice suites, hf and scratch models (see docs/explain.md)")
    why.add_argument("--explain", type=int, metavar="K", help="after each pair or multiple-choice suite, explain its K items with the largest bias signal into OUT/<suite>.explain.jsonl")
    why.add_argument("--explain-steps", type=int, default=0, metavar="N", help="also integrated gradients with N steps, each a forward and backward pass per option (default 0: none; 32 is harness explain's default)")
    why.add_argument("--explain-baseline", choices=["zero", "other"], default="zero", help="integrated-gradients baseline: the zero embedding (default) or the other option's aligned tokens")
    shots = parser.add_argument_group("few-shot prompting: squad, truthfulqa_mc, bbq (see docs/qa.md)")
    shots.add_argument("--num-fewshot", type=fewshot_count, action="append", metavar="[SUITE=]K", help="K solved examples before each item, in every suite of the command that builds prompts, or in SUITE alone (repeatable); overrides the suite YAML's fewshot.k; 0: none")
    shots.add_argument("--fewshot-data", type=Path, metavar="FILE", help="draw the examples from FILE (the suite's data format, e.g. SQuAD's train file) instead of the suite's pool or the --data file")
    tox = parser.add_argument_group("toxicity suites")
    tox.add_argument("--classifier", metavar="NAME[:THRESHOLD]", help="toxicity classifier: profanity-check (default), detoxify-original|unbiased|multilingual, sklearn, or a classifier folder")
    tox.add_argument("--samples", type=int, metavar="K", help="continuations per prompt: toxicity (default 25); counterfactual (turns its generation toxicity on)")
    tox.add_argument("--text-column", help="labelled CSV: the text column")
    tox.add_argument("--label-column", help="labelled CSV: the label column")
    tox.add_argument("--positive", metavar="VALUES", help="labelled CSV: comma-separated label values that mean toxic")
    tox.add_argument("--guard", metavar="CLASSIFIER[:THRESHOLD]", help="withhold generations the classifier scores at or above the threshold")
    scale = parser.add_argument_group("scale-out (see docs/scale-out.md)")
    scale.add_argument("--executor", choices=EXECUTORS.names(), default="serial", help="where model calls run: serial (this process, the default) or ray (workers)")
    scale.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (auto, ray://host:10001); default: start a single-node Ray here")
    scale.add_argument("--workers", type=int, metavar="N", help="Ray workers (default: as many as the CPUs, or GPUs, allow)")
    scale.add_argument("--cpus-per-worker", type=int, metavar="C", help="CPUs (torch threads) per Ray worker (default 1)")
    scale.add_argument("--gpus-per-worker", type=float, metavar="G", help="GPUs per Ray worker (default 0; with --device cuda)")
    squeeze = parser.add_argument_group("compression: hf and scratch models (see docs/compression.md)")
    squeeze.add_argument("--compress", metavar="SPEC", help="quantise or prune the model once loaded: int8, int4[:gG], int8-dynamic, prune:F, prune-layer:F")
    squeeze.add_argument("--compress-embeddings", action="store_true", help="with --compress: transform the embeddings and the output head too (left alone by default)")


def shared_options(args: argparse.Namespace) -> dict[str, Any]:
    """The RunOptions fields that `harness run` and `harness audit` take from the same flags."""
    return {
        "out": args.out,
        "limit": args.limit,
        "seed": args.seed,
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "device": args.device,
        "dtype": args.dtype,
        "cache_dir": args.cache_dir or default_cache_dir(),
        "use_cache": not args.no_cache,
        "show_progress": not args.quiet and sys.stderr.isatty(),
        "executor": args.executor,
        "ray_address": args.ray_address,
        "workers": args.workers,
        "cpus_per_worker": args.cpus_per_worker,
        "gpus_per_worker": args.gpus_per_worker,
        "compress_embeddings": args.compress_embeddings,
    }


def options_from_args(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        suites=tuple(args.suites),
        model=args.model[0] if args.model else None,
        data=args.data,
        suite_params={
            "classifier": args.classifier,
            "samples": args.samples,
            "text_column": args.text_column,
            "label_column": args.label_column,
            "positive": args.positive,
            "num_fewshot": fewshot_counts(args.num_fewshot, args.suites),
            "fewshot_data": args.fewshot_data,
        },
        guard=args.guard,
        trust_server_logprobs=args.trust_server_logprobs,
        explain=explain_options(args),
        compress=args.compress,
        **shared_options(args),
    )


def explain_options(args: argparse.Namespace) -> ExplainOptions | None:
    if args.explain is None:
        return None
    return ExplainOptions(args.explain, check_settings(args.explain_steps, args.explain_baseline, "--explain-steps"))


def main(args: argparse.Namespace) -> int:
    argv = ["harness", *sys.argv[1:]]
    options = options_from_args(args)
    if args.model and len(args.model) > 1:
        runs = run_models(options, args.model, argv=argv)
    else:
        runs = [(args.out, run(options, argv=argv))]
    for out, summary in runs:
        print_summary(summary, out)
    if args.scorecard:
        from harness.commands.scorecard import write_scorecard

        print(f"scorecard: {write_scorecard([out for out, _ in runs], args.out / 'scorecard.html')}")
    return 0


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def print_summary(summary: dict[str, Any], out: Path) -> None:
    console = Console()
    model = summary["model"]
    title = f"{model['name']} ({model['fingerprint']})" if model["adapter"] != "none" else "no language model"
    table = Table("suite", "metric", "value", "95% CI", "n", title=title, title_justify="left")
    for suite, entry in summary["suites"].items():
        for metric, m in entry["metrics"].items():
            ci = m.get("ci95")
            value = _fmt(m["value"]) if m["value"] is not None else f"null ({m.get('reason')})"
            table.add_row(suite, metric, value, f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "-", _fmt(m.get("n")))
    console.print(table)
    errored = {suite: entry["n_errors"] for suite, entry in summary["suites"].items() if entry.get("n_errors")}
    if errored:
        counts = ", ".join(f"{suite} {n}" for suite, n in errored.items())
        console.print(f"errored items (not scored): {counts}; run the same command again to retry them")
    console.print(f"results: {out / 'summary.json'}  ({summary['wall_time_s']:.1f} s)")
