"""Perplexity speed, warm-cache cost and memory on the default model, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_perplexity.py [--model smollm2-135m] [--docs 30]

Targets (issue: core harness):
  1. a whole `harness run perplexity --no-cache` (journal, bootstrap CIs and summary included; the
     model loaded beforehand) <= 1.15x the bare model forward passes over the same windows;
  2. a warm-cache re-run (new output folder) <= 5% of the cold run, both as whole commands;
  3. 10x the documents -> < 1.2x the peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "suites" / "data" / "perplexity" / "corpus.txt"
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()


def documents() -> list[str]:
    return [d.strip() for d in CORPUS.read_text(encoding="utf-8").split("\n\n") if d.strip()]


def bench_overhead(model_name: str, docs: list[str], repeats: int, tmp: Path) -> bool:
    import torch

    from harness import runner
    from harness.resources import load_model_spec
    from harness.runner import RunOptions, build_model
    from harness.models.scoring import length_sorted_batches
    from harness.tokens import rolling_windows

    lm = build_model(load_model_spec(model_name), RunOptions(suites=("perplexity",), model=model_name, out=Path(".")))
    lm.model  # load before timing
    windows = [w for d in docs for w in rolling_windows(lm.encode(d), lm.prefix_token, lm.max_length)]
    lengths = [len(w.inputs) for w in windows]
    batches = []
    for batch in length_sorted_batches(lengths, lm.batch_size):
        width = lengths[batch[0]]
        ids = torch.full((len(batch), width), lm.prefix_token, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            ids[row, : lengths[i]] = torch.tensor(windows[i].inputs)
            mask[row, : lengths[i]] = 1
        batches.append((ids, mask))

    def bare() -> None:
        with torch.inference_mode():
            for ids, mask in batches:
                lm.model(input_ids=ids, attention_mask=mask).logits

    corpus = tmp / "overhead.txt"
    corpus.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    runner.build_model = lambda spec, options: lm  # the loaded model: the run is timed, not the load
    runs = iter(range(10**6))

    def harness_run() -> None:
        options = RunOptions(suites=("perplexity",), model=model_name, out=tmp / f"overhead-{next(runs)}",
                             data=corpus, use_cache=False, show_progress=False)
        runner.run(options)

    bare()  # warm-up
    t_bare, t_harness = [], []
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits both alike
        start = time.perf_counter()
        bare()
        t_bare.append(time.perf_counter() - start)
        start = time.perf_counter()
        harness_run()
        t_harness.append(time.perf_counter() - start)
    n_tokens = sum(w.n_targets for w in windows)
    b, h = min(t_bare), min(t_harness)
    print(f"[1] {len(docs)} docs, {n_tokens} tokens, {len(windows)} windows in {len(batches)} batches")
    print(f"    bare forward {b:.2f} s ({n_tokens / b:.0f} tok/s); harness run {h:.2f} s ({n_tokens / h:.0f} tok/s)")
    return verdict("harness run / bare forward", h / b, "<=", 1.15)


def verdict(what: str, ratio: float, op: str, target: float) -> bool:
    ok = ratio <= target if op == "<=" else ratio < target
    print(f"    ratio {what} = {ratio:.3f}  (target {op} {target}): {'PASS' if ok else 'FAIL'}")
    return ok


def run_command(args: list[str]) -> tuple[float, dict]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness", *args, "--quiet"], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    out = Path(args[args.index("--out") + 1])
    return elapsed, json.loads((out / "summary.json").read_text())


def bench_cache(model_name: str, tmp: Path) -> bool:
    cache = tmp / "cache"
    cache.mkdir()
    shared_models = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "harness" / "models"
    if shared_models.exists():  # reuse the converted model: the benchmark measures evaluation, not conversion
        (cache / "models").symlink_to(shared_models)
    base = ["run", "perplexity", "--model", model_name, "--cache-dir", str(cache)]
    cold, summary = run_command(base + ["--out", str(tmp / "cold")])
    warm, warm_summary = run_command(base + ["--out", str(tmp / "warm")])
    same = summary["suites"]["perplexity"]["metrics"] == warm_summary["suites"]["perplexity"]["metrics"]
    print(f"[2] cold run {cold:.2f} s (cache {summary['cache']}); warm re-run into a new folder {warm:.2f} s "
          f"(cache {warm_summary['cache']}); identical metrics: {same}")
    return same and verdict("warm / cold", warm / cold, "<=", 0.05)


def peak_rss_mb(args: list[str]) -> float:
    probe = (
        "import resource, subprocess, sys; "
        f"subprocess.run({[sys.executable, '-m', 'harness', *args, '--quiet']!r}, check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, cwd=REPO, capture_output=True, text=True).stdout
    return int(out.split()[-1]) / 1024


def bench_memory(model_name: str, docs: list[str], n_small: int, tmp: Path) -> bool:
    peaks = {}
    for n in (n_small, 10 * n_small):
        corpus = tmp / f"corpus-{n}.txt"
        corpus.write_text("\n\n".join(docs[i % len(docs)] for i in range(n)) + "\n", encoding="utf-8")
        peaks[n] = peak_rss_mb(["run", "perplexity", "--model", model_name, "--data", str(corpus),
                                "--out", str(tmp / f"mem-{n}"), "--no-cache"])
    small, large = peaks[n_small], peaks[10 * n_small]
    print(f"[3] peak RSS {n_small} docs {small:.0f} MB; {10 * n_small} docs {large:.0f} MB")
    return verdict("peak RSS 10x docs / 1x docs", large / small, "<", 1.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--docs", type=int, default=30, help="documents for the overhead measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-docs", type=int, default=8, help="documents of the small memory run (x10 for the large)")
    args = parser.parse_args()
    docs = documents()[: args.docs]
    with tempfile.TemporaryDirectory() as tmp:
        results = [
            bench_overhead(args.model, docs, args.repeats, Path(tmp)),
            bench_cache(args.model, Path(tmp)),
            bench_memory(args.model, documents(), args.memory_docs, Path(tmp)),
        ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
