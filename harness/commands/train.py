"""`harness train --config models/scratch-tiny.yaml`: train the from-scratch Transformer.

The preset YAML is both the adapter preset (`adapter: scratch`, `checkpoint: FOLDER`) and the
training config (`model:` and `train:` mappings, optional `corpus:` files relative to the YAML).
Without a corpus the model trains on the standard library's documentation. Several processes:
`torchrun --standalone --nproc_per_node=2 -m harness train --config ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.resources import read_yaml

PRESET_KEYS = ("adapter", "description", "checkpoint", "model", "train", "corpus")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="a scratch preset YAML, e.g. models/scratch-tiny.yaml")
    parser.add_argument("--corpus", type=Path, nargs="+", metavar="FILE",
                        help="UTF-8 text files to train on (default: the preset's corpus, else the standard library docs)")
    parser.add_argument("--out", type=Path, help="checkpoint folder (default: the preset's `checkpoint:`)")
    parser.add_argument("--steps", type=int, help="optimizer steps (default: the preset's train.steps)")
    parser.add_argument("--resume", action="store_true", help="continue the checkpoint in the output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--canaries", type=int, default=0, metavar="N",
                        help="plant N random secrets per repeat count in the training stream, listed in CHECKPOINT/canaries.json "
                        "for `harness run canary_exposure` (docs/privacy.md)")
    parser.add_argument("--canary-repeats", default="1,4,16", metavar="R1,R2,...",
                        help="how many times each group of canaries is inserted (default: 1,4,16)")


def run_from_args(args: argparse.Namespace) -> Any:
    from harness.scratch.model import GPTConfig
    from harness.scratch.trainer import TrainConfig, TrainRun, with_steps

    path: Path = args.config
    raw = read_yaml(path)
    unknown = sorted(set(raw) - set(PRESET_KEYS))
    if unknown:
        raise HarnessError(f"{path}: unknown key(s) {', '.join(unknown)}; a scratch preset has {', '.join(PRESET_KEYS)}")
    if raw.get("adapter") != "scratch":
        raise HarnessError(f"{path}: `adapter: scratch` expected; `harness train` trains from-scratch presets only")
    for key in ("model", "train"):
        if not isinstance(raw.get(key) or {}, dict):
            raise HarnessError(f"{path}: `{key}:` must be a mapping of settings")
    model = GPTConfig.from_dict(raw.get("model") or {}, where=f"{path}: model")
    train = TrainConfig.from_dict(raw.get("train") or {}, where=f"{path}: train")
    if args.steps is not None:
        if args.steps < 1:
            raise HarnessError(f"--steps must be a positive integer, got {args.steps}")
        train = with_steps(train, args.steps)
    if args.corpus:
        corpus = tuple(args.corpus)
    else:
        listed = raw.get("corpus") or []
        if isinstance(listed, str):
            listed = [listed]
        corpus = tuple(path.parent / p for p in listed)
    out = args.out or Path(raw.get("checkpoint") or Path("models") / path.stem)
    canaries = getattr(args, "canaries", 0) or 0
    if canaries < 0:
        raise HarnessError(f"--canaries must be 0 or more secrets per repeat count, got {canaries}")
    from harness.privacy.canaries import parse_repeats

    repeats = parse_repeats(getattr(args, "canary_repeats", "1,4,16"))
    return TrainRun(model=model, train=train, out=Path(out), corpus=corpus, resume=args.resume, name=path.stem,
                    canaries=canaries, canary_repeats=repeats)


def main(args: argparse.Namespace) -> int:
    from harness.scratch.trainer import Trainer

    run = run_from_args(args)
    is_main = int(os.environ.get("RANK", "0")) == 0
    show = is_main and not args.quiet and sys.stderr.isatty()
    display = _Display(run, show, quiet=args.quiet or not is_main)
    try:
        with display:
            result = Trainer(run, on_record=display.update).fit()
    except KeyboardInterrupt:
        if is_main:
            print(f"harness: interrupted; continue from the last checkpoint in {run.out} with --resume", file=sys.stderr)
        return 130
    if is_main:
        _print_summary(result)
    return 0


class _Display:
    """A rich progress bar (loss, tokens/s, ETA) on a terminal; a line per validation otherwise."""

    def __init__(self, run: Any, show: bool, quiet: bool) -> None:
        self.run, self.show, self.quiet = run, show, quiet
        self.progress: Any = None
        self.task: Any = None

    def __enter__(self) -> _Display:
        if self.show:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.progress = Progress(
                TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"), TextColumn("val {task.fields[val]}"),
                TextColumn("{task.fields[rate]} tok/s"), TextColumn("eta"), TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=self.run.train.steps, loss="-", val="-", rate="-")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, record: Any) -> None:
        val = f"{record.val_loss:.3f}" if record.val_loss is not None else None
        if self.progress is not None:
            fields = {"loss": f"{record.loss:.3f}" if record.step else "-", "rate": f"{record.tokens_per_s:,.0f}"}
            if val:
                fields["val"] = val
            self.progress.update(self.task, completed=record.step, **fields)
        elif not self.quiet and val is not None:
            loss = f"loss {record.loss:.4f}  " if record.step else ""
            print(f"step {record.step}/{self.run.train.steps}  {loss}val {val}  {record.tokens_per_s:,.0f} tok/s",
                  file=sys.stderr, flush=True)


def _print_summary(result: Any) -> None:
    val = f"{result.val_loss:.4f}" if result.val_loss is not None else "-"
    print(f"trained steps {result.start_step}..{result.steps} in {result.elapsed:.1f} s "
          f"({result.n_parameters:,} parameters, {result.extra['precision']} on {result.extra['device']}, "
          f"{result.extra['world_size']} process(es), global batch {result.extra['global_batch']})")
    print(f"throughput: {result.tokens_per_s:,.0f} tokens/s; MFU {result.mfu:.1%} "
          f"(of {result.peak_flops / 1e9:,.0f} GFLOP/s per process, {result.extra['peak_source']})")
    print(f"validation loss {val} nats/token; unigram baseline on the same tokens {result.unigram_val_loss:.4f}")
    print(f"corpus: {result.corpus_source} ({result.n_train_tokens:,} train / {result.n_val_tokens:,} validation tokens)")
    print(f"checkpoint: {result.out}  report: {result.out / 'report.html'}")
