"""KV-cache generation vs recomputing the whole sequence at every step, 256 new tokens.

Same model, same prompt, greedy decoding, measured in the same run; prints both speeds, the
ratio (target >= 3x) and whether the two produced identical tokens. The model has the
scratch-tiny preset's shape with a 512-token block (so 256 new tokens fit without the cache
being rebuilt), with random weights: speed does not depend on what the weights are.

    .venv/bin/python benchmarks/bench_kv_cache.py [--new-tokens 256] [--repeats 3] [--threads N]

Batch-1 decoding of a 1M-parameter model is bound by per-operation overhead, not arithmetic; on
a busy machine a second torch thread mostly waits, which slows the cached path more than the
recompute path (measured on this 2-core machine shared with other jobs: 4.9x with --threads 1
and 3.3x with 2 threads at load average 3; 2.7x with 2 threads at load average 8).
"""

from __future__ import annotations

import argparse
import time

import torch

from harness.scratch.generate import generate_tokens
from harness.scratch.model import GPT, GPTConfig


def timed(model: GPT, prompt: list[int], new: int, use_cache: bool) -> tuple[float, list[int]]:
    start = time.perf_counter()
    out = generate_tokens(model, [prompt], new, use_cache=use_cache)[0]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=2048, block_size=512, n_layer=4, n_head=4, n_embd=128)
    model = GPT(config).eval()
    prompt = torch.randint(0, config.vocab_size, (args.prompt_tokens,)).tolist()
    timed(model, prompt, 8, True)  # warm-up
    cached, recomputed = [], []
    for _ in range(args.repeats):  # interleaved, so a change in machine load hits both
        t, a = timed(model, prompt, args.new_tokens, True)
        cached.append(t)
        t, b = timed(model, prompt, args.new_tokens, False)
        recomputed.append(t)
    t_cache, t_full = min(cached), min(recomputed)
    print(f"model: {model.n_parameters():,} parameters, {config.n_layer} layers, prompt {args.prompt_tokens} tokens, "
          f"{torch.get_num_threads()} threads")
    print(f"kv cache:  {args.new_tokens / t_cache:8.1f} tokens/s ({t_cache:.2f} s)")
    print(f"recompute: {args.new_tokens / t_full:8.1f} tokens/s ({t_full:.2f} s)")
    print(f"ratio: {t_full / t_cache:.2f}x (target >= 3x); identical tokens: {a == b}")


if __name__ == "__main__":
    main()
