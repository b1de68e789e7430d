"""The `openai` adapter against `harness serve`, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_served.py [--model smollm2-135m] [--repeats 2]

Targets (issue: served models):
  1. a whole `harness run perplexity` through `harness serve` (the server started beforehand, the
     model's tokenizer local, token-id prompts) <= 1.3x the same command in-process (model load
     included, as a user runs it), with the same perplexity;
  2. CrowS-Pairs (built-in data) through the adapter with `concurrency: 8` >= 1.5x faster than with
     `concurrency: 1` against `harness serve --max-batch 8` (the server scores requests that arrive
     together in one forward pass), with the same per-pair log-likelihoods.

Both commands run with --no-cache, so every request reaches the server. Runs are interleaved and
the fastest of `--repeats` is kept, so drift on a shared machine hits both sides alike.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

PERPLEXITY_TARGET = 1.3  # served / in-process, whole command
CONCURRENCY_TARGET = 1.5  # concurrency 1 / concurrency 8, whole command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`harness serve MODEL` in a subprocess, ready when /health answers."""

    def __init__(self, model: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "harness", "serve", model, "--port", str(self.port), *args],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"harness serve exited: {self.process.stderr.read() if self.process.stderr else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit("harness serve did not answer /health within 120 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def preset(tmp: Path, name: str, url: str, tokenizer: str, **extra: object) -> Path:
    path = tmp / f"{name}.yaml"
    lines = ["adapter: openai", f"base_url: {url}", f"tokenizer: {tokenizer}"] + [f"{k}: {json.dumps(v)}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def timed_run(args: list[str], out: Path, cache: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "harness", "run", *args, "--out", str(out), "--cache-dir", str(cache), "--no-cache", "--quiet"],
        check=True, cwd=REPO, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - start, json.loads((out / "summary.json").read_text())


def verdict(what: str, ratio: float, op: str, target: float) -> bool:
    ok = ratio <= target if op == "<=" else ratio >= target
    print(f"    ratio {what} = {ratio:.3f}  (target {op} {target}): {'PASS' if ok else 'FAIL'}")
    return ok


def shared_cache(tmp: Path) -> Path:
    """A cache folder that reuses the converted default model (conversion is not measured)."""
    cache = tmp / "cache"
    cache.mkdir()
    models = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness" / "models"
    if models.exists():
        (cache / "models").symlink_to(models)
    return cache


def bench_perplexity(model: str, repeats: int, tmp: Path, cache: Path) -> bool:
    server = Server(model)
    try:
        served = preset(tmp, "served-ppl", server.url, model)
        with urllib.request.urlopen(f"{server.url}/models") as r:
            length = json.load(r)["data"][0]["max_model_len"]
        # The same windows as in-process: the server takes max_length + 1 tokens for scoring.
        served_args = ["perplexity", "--model", str(served), "--max-length", str(length)]
        local_args = ["perplexity", "--model", model]
        timed_run(served_args, tmp / "warm", cache)  # warm-up: the server's first batches, file caches
        t_local, t_served = [], []
        for k in range(repeats):
            t, local = timed_run(local_args, tmp / f"ppl-local-{k}", cache)
            t_local.append(t)
            t, remote = timed_run(served_args, tmp / f"ppl-served-{k}", cache)
            t_served.append(t)
    finally:
        server.stop()
    a = local["suites"]["perplexity"]["metrics"]["word_perplexity"]["value"]
    b = remote["suites"]["perplexity"]["metrics"]["word_perplexity"]["value"]
    same = abs(a - b) <= 1e-6 * abs(a)
    print(f"[1] perplexity on {model}: in-process {min(t_local):.2f} s, served {min(t_served):.2f} s "
          f"(word perplexity {a:.6g} vs {b:.6g}, same: {same})")  # fmt: skip
    return verdict("served / in-process", min(t_served) / min(t_local), "<=", PERPLEXITY_TARGET) and same


def bench_concurrency(model: str, repeats: int, tmp: Path, cache: Path) -> bool:
    server = Server(model, "--max-batch", "8")
    try:
        one = preset(tmp, "served-c1", server.url, model, concurrency=1)
        eight = preset(tmp, "served-c8", server.url, model, concurrency=8)
        timed_run(["crows_pairs", "--model", str(eight)], tmp / "warm-crows", cache)
        t_one, t_eight = [], []
        for k in range(repeats):
            t, s1 = timed_run(["crows_pairs", "--model", str(one)], tmp / f"c1-{k}", cache)
            t_one.append(t)
            t, s8 = timed_run(["crows_pairs", "--model", str(eight)], tmp / f"c8-{k}", cache)
            t_eight.append(t)
    finally:
        server.stop()
    ll = [json.loads(line)["loglikelihoods"] for k in ("c1", "c8") for line in (tmp / f"{k}-0" / "crows_pairs.jsonl").read_text().splitlines()]
    half = len(ll) // 2
    worst = max(abs(a[s] - b[s]) for a, b in zip(ll[:half], ll[half:]) for s in ("sent_more", "sent_less"))
    n = s1["suites"]["crows_pairs"]["n_samples"]
    print(f"[2] crows_pairs, {n} pairs ({2 * n} requests) on {model} via harness serve --max-batch 8: "
          f"concurrency 1 {min(t_one):.2f} s, concurrency 8 {min(t_eight):.2f} s; largest LL difference {worst:.2g}")  # fmt: skip
    return verdict("concurrency 1 / concurrency 8", min(t_one) / min(t_eight), ">=", CONCURRENCY_TARGET) and worst <= 1e-4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = shared_cache(Path(tmp))
        results = [
            bench_perplexity(args.model, args.repeats, Path(tmp), cache),
            bench_concurrency(args.model, args.repeats, Path(tmp), cache),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
