"""The README's claim for models/scratch-tiny.yaml: trained on the default corpus (the standard
library's documentation) in a few minutes on 2 CPU cores, to a validation loss clearly better
than a unigram model on the same tokens.

Trains the real preset (its model and train settings, no --corpus) into a temporary folder,
exactly as `harness train --config models/scratch-tiny.yaml` does, and prints:

- wall time of the whole run (reading the corpus, training the tokenizer, the training steps,
  validation, checkpoints), against the "few minutes" budget (--max-minutes, default 5);
- the final validation loss (nats/token over the trainer's validation windows);
- the unigram model's loss on the same validation targets: their cross-entropy under the
  training tokens' unigram distribution with add-one smoothing over the model's vocabulary,
  computed here from the corpus and the checkpoint's tokenizer, independently of the trainer
  (also over every validation token, and the trainer's own figure, as cross-checks);
- PASS when the validation loss is at least --margin (default 1.0) nat/token below the unigram
  loss, i.e. the model's perplexity is at most 1/e (37%) of the unigram model's, and the run
  fits the time budget; exit status 1 otherwise.

    .venv/bin/python benchmarks/bench_scratch_tiny.py [--max-minutes 5] [--margin 1.0] [--threads N]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch

from harness.commands.train import run_from_args
from harness.scratch.trainer import Trainer, TrainRun

REPO = Path(__file__).resolve().parent.parent


def unigram_cross_entropy(train: list[int], targets: list[int], vocab_size: int) -> float:
    """Mean -log P(t) over `targets`, P(t) = (count of t in `train` + 1) / (len(train) + vocab_size)."""
    counts = Counter(train)
    total = len(train) + vocab_size
    return -sum(math.log((counts[t] + 1) / total) for t in targets) / len(targets)


def unigram_figures(run: TrainRun) -> tuple[float, float]:
    """(unigram loss on the validation windows' targets, on every validation token but the first)."""
    from harness.scratch.corpus import default_corpus
    from harness.scratch.data import tokenize_corpus, val_offsets, windows
    from harness.scratch.tokenizer import BPETokenizer

    tok = BPETokenizer(run.out / "tokenizer.json")
    cfg, block, vocab = run.train, run.model.block_size, run.model.vocab_size
    data = tokenize_corpus(default_corpus(), tok.encode_batch, tok.eot_id, vocab, block, cfg.val_fraction, cfg.seed)
    _, targets = windows(data.val, val_offsets(len(data.val), block, cfg.eval_windows), block)
    train = data.train.tolist()
    return (unigram_cross_entropy(train, targets.reshape(-1).tolist(), vocab),
            unigram_cross_entropy(train, data.val[1:].tolist(), vocab))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-minutes", type=float, default=5.0, help="the 'few minutes' budget for the whole run")
    parser.add_argument("--margin", type=float, default=1.0, help="nats/token the validation loss must beat the unigram by")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="bench-scratch-tiny-"))
    try:
        run = run_from_args(argparse.Namespace(config=REPO / "models" / "scratch-tiny.yaml", corpus=None,
                                               out=work / "scratch-tiny", steps=None, resume=False))
        load = os.getloadavg()[0]
        start = time.perf_counter()
        result = Trainer(run).fit()
        wall = time.perf_counter() - start
        same_targets, all_val = unigram_figures(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m, t = run.model, run.train
    print(f"preset: models/scratch-tiny.yaml, {result.n_parameters:,} parameters ({m.n_layer} layers, n_embd {m.n_embd}, "
          f"block {m.block_size}, vocab {m.vocab_size}), {t.steps} steps of {t.batch_size} x {m.block_size} tokens")
    print(f"corpus: {result.corpus_source}: {result.n_train_tokens:,} train / {result.n_val_tokens:,} validation tokens")
    print(f"machine: {os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads, {result.extra['precision']}, "
          f"load average {load:.1f} at start")
    print(f"wall time: {wall:.1f} s for the whole run ({result.elapsed:.1f} s in the training loop; "
          f"{result.tokens_per_s:,.0f} tokens/s, MFU {result.mfu:.1%}); budget {args.max_minutes:g} min")
    val = result.val_loss if result.val_loss is not None else float("nan")
    print(f"validation loss: {val:.4f} nats/token (perplexity {math.exp(val):,.1f})")
    print(f"unigram loss, same targets: {same_targets:.4f} nats/token (perplexity {math.exp(same_targets):,.1f}); "
          f"every validation token {all_val:.4f}; the trainer's figure {result.unigram_val_loss:.4f}")
    better = same_targets - val
    fast = wall <= args.max_minutes * 60
    clear = better >= args.margin
    print(f"better than unigram by {better:.3f} nats/token (target >= {args.margin:g}): {'PASS' if clear else 'FAIL'}; "
          f"time {wall / 60:.1f} min (target <= {args.max_minutes:g}): {'PASS' if fast else 'FAIL'}")
    return 0 if clear and fast else 1


if __name__ == "__main__":
    sys.exit(main())
