"""Training throughput of `harness train`'s Trainer vs a plain nanoGPT-style PyTorch loop.

Both train the same model (the scratch-tiny preset's architecture and batch) on the same tokens,
in the same process, in alternating rounds so a change in machine load hits both; each round
starts from fresh weights. Prints tokens/s of each per round and at best, the median of the
per-round ratios (target >= 1.0; robust to load that changes between rounds on a shared
machine), PASS/FAIL on that median (exit status 1 on a miss) and the Trainer's model FLOPs
utilisation.

The Trainer's tokens/s is the one it prints: tokens over the summed time of its optimizer steps
(batch assembly, forward, backward, clipping, AdamW), leaving out validation, log lines and
checkpoints; the plain loop's is tokens over the wall time of its loop (batch sampling,
forward, backward, clipping, AdamW, reading the loss).

    .venv/bin/python benchmarks/bench_train.py [--steps 30] [--rounds 8] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.commands.train import run_from_args
from harness.scratch.model import GPT, GPTConfig
from harness.scratch.trainer import Trainer, TrainRun

REPO = Path(__file__).resolve().parent.parent
TARGET = 1.0


def plain_loop(config: GPTConfig, train_tokens: torch.Tensor, batch: int, steps: int, lr: float) -> float:
    """nanoGPT's train.py reduced to its loop: random windows, forward, loss, backward, clip, AdamW."""
    torch.manual_seed(0)
    model = GPT(config)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    block = config.block_size

    def get_batch() -> tuple[torch.Tensor, torch.Tensor]:
        ix = torch.randint(len(train_tokens) - block, (batch,))
        x = torch.stack([train_tokens[i : i + block] for i in ix])
        y = torch.stack([train_tokens[i + 1 : i + 1 + block] for i in ix])
        return x, y

    x, y = get_batch()
    start = time.perf_counter()
    for _ in range(steps):
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        x, y = get_batch()
        loss.item()  # nanoGPT reads the loss every log interval; once per step here, as the Trainer may
    return steps * batch * block / (time.perf_counter() - start)


def _train_tokens(work: Path, corpus: Path, preset: TrainRun, train_cfg) -> torch.Tensor:
    """The Trainer's training split of the same corpus, with a tokenizer trained the same way."""
    from harness.scratch.corpus import read_corpus
    from harness.scratch.data import tokenize_corpus
    from harness.scratch.tokenizer import BPETokenizer, train_tokenizer

    text = read_corpus([corpus])
    (work / "tokenizer.json").write_text(train_tokenizer(text.documents, preset.model.vocab_size).to_str(), encoding="utf-8")
    tok = BPETokenizer(work / "tokenizer.json")
    return tokenize_corpus(text, tok.encode_batch, tok.eot_id, preset.model.vocab_size, preset.model.block_size,
                           train_cfg.val_fraction, train_cfg.seed).train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)  # short rounds are dominated by load noise
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = run_from_args(argparse.Namespace(config=REPO / "models" / "scratch-tiny.yaml", corpus=None, out=None,
                                              steps=None, resume=False))
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    corpus = work / "corpus.txt"
    from harness.scratch.corpus import default_corpus

    corpus.write_text("\n\n".join(default_corpus().documents[:1500]), encoding="utf-8")
    train_cfg = replace(preset.train, steps=args.steps, warmup_steps=5, eval_every=10**6, eval_windows=4,
                        checkpoint_every=10**6, log_every=10, device="cpu", precision="float32", peak_tflops=None)
    trainer_rates, plain_rates, mfu = [], [], 0.0
    tokens: torch.Tensor | None = None
    try:
        for i in range(args.rounds):
            # Alternate which one goes first (ABBA), so a load trend does not favour either.
            order = ("trainer", "plain") if i % 2 == 0 else ("plain", "trainer")
            for which in order:
                if which == "plain" and tokens is None:
                    tokens = _train_tokens(work, corpus, preset, train_cfg)
                if which == "trainer":
                    result = Trainer(TrainRun(model=preset.model, train=train_cfg, out=work / f"run{i}", corpus=(corpus,))).fit()
                    trainer_rates.append(result.tokens_per_s)
                    mfu = max(mfu, result.mfu)
                else:
                    plain_rates.append(plain_loop(preset.model, tokens, train_cfg.batch_size, args.steps, train_cfg.learning_rate))
            print(f"round {i + 1}: trainer {trainer_rates[-1]:,.0f} tokens/s, plain loop {plain_rates[-1]:,.0f} tokens/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best_trainer, best_plain = max(trainer_rates), max(plain_rates)
    print(f"config: scratch-tiny model, batch {train_cfg.batch_size} x {preset.model.block_size} tokens, "
          f"{args.steps} steps per round, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    print(f"trainer:    {best_trainer:,.0f} tokens/s (MFU {mfu:.1%} of the measured matmul peak)")
    print(f"plain loop: {best_plain:,.0f} tokens/s")
    ratios = sorted(t / p for t, p in zip(trainer_rates, plain_rates))
    median = statistics.median(ratios)
    verdict = "PASS" if median >= TARGET else "FAIL"
    print(f"ratio: median of rounds {median:.3f}, best vs best {best_trainer / best_plain:.3f} "
          f"(target >= {TARGET}; rounds {', '.join(f'{r:.2f}' for r in ratios)}); {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
