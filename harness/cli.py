"""`harness` command line. Subcommands are listed once, here, and imported only when used."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from harness import __version__
from harness.errors import HarnessError

# name -> (module with add_arguments/main, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("harness.commands.run", "evaluate suites on a model"),
    "list": ("harness.commands.listing", "list the built-in suites and model presets"),
    "train": ("harness.commands.train", "train the from-scratch Transformer"),
    "scorecard": ("harness.commands.scorecard", "write the HTML ethics scorecard of one or more runs"),
    "gate": ("harness.commands.gate", "fail when a candidate run regressed against a baseline run"),
    "card": ("harness.commands.card", "write a Hugging Face model card (MODEL_CARD.md) of a run"),
    "review": ("harness.commands.review", "check a review file, or pin the runs it reviewed (docs/review.md)"),
    "train-filter": ("harness.commands.train_filter", "train a TF-IDF + logistic-regression toxicity filter"),
    "serve": ("harness.commands.serve", "serve a model over an OpenAI-compatible HTTP API"),
    "audit": ("harness.commands.audit", "compression audit: a model and its quantised or pruned variants, compared paired"),
    "explain": ("harness.commands.explain", "explain chosen items of a pair or multiple-choice suite (token differences, attributions, attention) as HTML"),
}

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="Offline safety and evaluation harness for language models.")
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    parser.add_argument(
        "--online",
        action="store_true",
        help="allow Hugging Face libraries to reach the network (by default they are set offline, "
        "so a missing model fails at once)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def quiet_environment(*, online: bool = False) -> None:
    """What a harness process sets before transformers loads (the CLI, and the benchmarks, which
    call the runner directly): offline unless asked, no progress bars or info logs from
    transformers and the hub, and none of torchao's warnings: transformers imports torchao
    whenever it is installed, and it warns about each CUDA-only kernel library it cannot load on
    a CPU, and torch about its enums, on every run."""
    if not online:
        for var in OFFLINE_VARIABLES:
            os.environ.setdefault(var, "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_environment(online=args.online)
    try:
        return int(importlib.import_module(args._module).main(args) or 0)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted; results so far are journaled, run the same command again to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
