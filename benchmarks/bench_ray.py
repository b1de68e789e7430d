"""Scale-out on Ray: two workers x one thread against the serial path with two threads, and the
driver's own cost per item, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_ray.py [--model smollm2-135m] [--suite crows_pairs] [--limit N] [--repeats 1]

Target (issue 11): on this machine's two cores, a local Ray with two workers of one CPU each
evaluates the suite in at most 1.15x the time of the serial path with torch on two threads
(Ray's start-up and the workers' model loading excluded: they are paid once per run and printed
apart), with per-sample records identical to the serial path's at the workers' thread count (one;
torch's results can change in the last bits with the thread count, so the difference from the
two-thread serial run is printed, not gated). The serial path on one thread is timed too: two
workers against it show how close to linear the scaling is.

The driver's own cost is measured twice: (1) the whole `harness run` path (planning, the call
cache, deferred re-evaluation, merging, journaling, aggregation) with every call answered at once
from the answers the workers gave, divided by the items; (2) the driver process's CPU time per
item during the timed Ray run (which adds Ray's client work). With W workers each taking w
seconds per item, one driver keeps up until W ~ w / (driver seconds per item): the scaling note
(docs/scale-out.md) takes its numbers from here.

Prints PASS or FAIL and exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

RATIO_TARGET = 1.15  # Ray (2 workers x 1 thread) time / serial (2 threads) time


def _burn(seconds: float) -> int:
    """Pure-Python work for about `seconds` (on an idle core); returns the iterations done."""
    n, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        n += sum(range(1000)) > 0
    return n


def cpu_capacity() -> float:
    """How many cores' worth of work two busy processes get done right now (2.0 on an idle
    two-core machine; less when other processes share it): the ceiling for two workers."""
    import multiprocessing

    alone = _burn(1.0)
    with multiprocessing.get_context("fork").Pool(2) as pool:
        together = sum(pool.map(_burn, [1.0, 1.0]))
    return together / alone


def evaluate_all(executor: Any, kind: Any, lm: Any, items: list[Any], seed: int) -> tuple[float, float, list[dict]]:
    """Wall and driver-CPU seconds to evaluate `items` chunk by chunk through `executor`, and the records."""
    from harness.runner import chunks

    wall, cpu = time.perf_counter(), time.process_time()
    records: list[dict] = []
    for _, chunk_records in executor.evaluate(kind, lm, chunks(items, kind.chunk_size), lambda c: kind.evaluate(lm, c, seed)):
        records += chunk_records
    return time.perf_counter() - wall, time.process_time() - cpu, records


def warm_up_workers(executor: Any, lm: Any) -> float:
    """Start Ray and have every worker load the model (one small call each); seconds taken."""
    from harness.api import LoglikelihoodRequest
    from harness.executors.deferred import Call

    started = time.perf_counter()
    pool = executor._started_pool()
    for i in range(pool.size):
        call = Call(lm.target.key, "loglikelihood", (LoglikelihoodRequest(f"warm-up {i}", " call"),))
        pool.submit(call, lm.target)
    for _ in range(pool.size):
        pool.next_done()
    return time.perf_counter() - started


def compare(a: list[dict], b: list[dict]) -> tuple[bool, float, list[str]]:
    """(identical, largest relative float difference, fields whose non-float values differ)."""
    worst, other = 0.0, []

    def walk(x: Any, y: Any, where: str) -> None:
        nonlocal worst
        if isinstance(x, float) and isinstance(y, float):
            worst = max(worst, abs(x - y) / max(abs(x), abs(y), 1e-300))
        elif isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
            for k in x:
                walk(x[k], y[k], f"{where}.{k}")
        elif isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
            for i, (u, v) in enumerate(zip(x, y)):
                walk(u, v, f"{where}[{i}]")
        elif x != y:
            other.append(where)

    for i, (x, y) in enumerate(zip(a, b)):
        walk(x, y, f"record {i}")
    if len(a) != len(b):
        other.append("record count")
    return json.dumps(a) == json.dumps(b), worst, other


class InstantBackend:
    """Answers every call at once from answers recorded in a Ray run (no model, no transport)."""

    def __init__(self, answers: dict[Any, Any]) -> None:
        self.answers = answers
        self.queue: list[Any] = []
        self.size = 2

    def submit(self, call: Any, target: Any) -> None:
        self.queue.append(call)

    def next_done(self) -> tuple[Any, Any]:
        call = self.queue.pop(0)
        return call, self.answers[call]


def driver_cost(args: argparse.Namespace, answers: dict[Any, Any], tmp: Path) -> tuple[float, float, int]:
    """Seconds of a whole `harness run` (the runner with a fresh call cache and journal) whose
    calls are answered at once, the seconds of its aggregation alone, and its item count."""
    from harness.cache import default_cache_dir
    from harness.executors.ray_executor import RayExecutor
    from harness.runner import RunOptions, plan, run

    class Instant(RayExecutor):
        def _started_pool(self) -> Any:
            self._pool = self._pool or InstantBackend(answers)
            return self._pool

        def record(self) -> dict[str, Any]:
            return {"name": "instant"}

        def close(self) -> None:
            pass

    cache = tmp / "driver-cache"
    cache.mkdir()
    (cache / "models").symlink_to(default_cache_dir() / "models")  # the converted model, not the calls
    options = RunOptions(suites=(args.suite,), model=args.model, out=tmp / "driver", limit=args.limit,
                         cache_dir=cache, show_progress=False)
    started = time.perf_counter()
    summary = run(options, executor=Instant(workers=2))
    total = time.perf_counter() - started
    planned = plan(options)[0]
    records = [json.loads(line) for line in (tmp / "driver" / f"{args.suite}.jsonl").read_text(encoding="utf-8").splitlines()]
    started = time.perf_counter()
    planned.kind.aggregate(records, options.seed)
    return total, time.perf_counter() - started, summary["suites"][args.suite]["n_samples"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--suite", default="crows_pairs", help="a built-in suite (default crows_pairs: 180 pairs)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N items (default: all)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per configuration; the fastest counts")
    args = parser.parse_args()

    import torch

    from harness.executors.ray_executor import RayExecutor
    from harness.executors.serial import SerialExecutor
    from harness.registry import SUITE_KINDS
    from harness.resources import load_model_spec, load_suite_spec
    from harness.runner import RunOptions, build_model

    torch.set_num_threads(2)
    spec = load_suite_spec(args.suite)
    kind = SUITE_KINDS.get(spec.kind)(spec)
    items = list(kind.load(None).items)[: args.limit]
    model_spec = load_model_spec(args.model)
    options = RunOptions(suites=(args.suite,), model=args.model, out=Path("."))
    print(f"suite {args.suite}: {len(items)} items in chunks of {kind.chunk_size}; model {args.model}", flush=True)
    print(f"target: Ray, 2 workers x 1 thread, <= {RATIO_TARGET:g}x the serial path's time with 2 threads "
          f"(start-up excluded), with the same records", flush=True)

    print(f"CPU capacity now       : {cpu_capacity():8.2f} cores (two busy processes against one; the machine may "
          "be shared)", flush=True)
    serial_lm = build_model(model_spec, options)
    kind.evaluate(serial_lm, items[:1], options.seed)  # load the model before timing
    ray = RayExecutor(workers=2, cpus_per_worker=1)
    ray_lm = ray.model(build_model(model_spec, options), model_spec, options)
    recorded: dict[Any, Any] = {}
    try:
        start_up = warm_up_workers(ray, ray_lm)
        pool = ray._started_pool()
        next_done = pool.next_done

        def recording_next_done() -> Any:
            call, outcome = next_done()
            recorded[call] = outcome
            return call, outcome

        pool.next_done = recording_next_done  # type: ignore[method-assign]
        serial_runs, ray_runs, one_thread_runs = [], [], []
        for _ in range(args.repeats):  # alternated, so that load from elsewhere hits both alike
            serial_runs.append(evaluate_all(SerialExecutor(), kind, serial_lm, items, options.seed))
            ray_runs.append(evaluate_all(ray, kind, ray_lm, items, options.seed))
            torch.set_num_threads(1)  # each worker's share: the reference for identical records
            one_thread_runs.append(evaluate_all(SerialExecutor(), kind, serial_lm, items, options.seed))
            torch.set_num_threads(2)
        restarts = sum(pool.restarts)
    finally:
        ray.close()
    serial_s = min(r[0] for r in serial_runs)
    ray_s, ray_cpu = min((r[0], r[1]) for r in ray_runs)
    identical, _, differing = compare(one_thread_runs[0][2], ray_runs[0][2])
    _, worst, decisions = compare(serial_runs[0][2], ray_runs[0][2])
    ratio = ray_s / serial_s
    n = len(items)
    print(f"serial, 2 threads      : {serial_s:8.2f} s  ({serial_s / n * 1000:7.1f} ms/item)", flush=True)
    print(f"ray, 2 workers x 1     : {ray_s:8.2f} s  ({ray_s / n * 1000:7.1f} ms/item); start-up {start_up:.1f} s "
          f"(Ray, workers, model loads) not included; {restarts} restarts", flush=True)
    one_s = min(r[0] for r in one_thread_runs)
    print(f"serial, 1 thread       : {one_s:8.2f} s  ({one_s / n * 1000:7.1f} ms/item); 2 workers are "
          f"{one_s / ray_s:.2f}x as fast (2 would be linear)", flush=True)
    print(f"ratio ray / serial     : {ratio:8.3f}  (target <= {RATIO_TARGET:g})  {verdict(ratio <= RATIO_TARGET)}", flush=True)
    print(f"records vs 1 thread    : {'identical bytes' if identical else 'DIFFERENT'}"
          + (f" ({', '.join(differing[:5])})" if differing else "") + f"  {verdict(identical)}", flush=True)
    print(f"records vs 2 threads   : max relative float difference {worst:.2e}"
          + (f"; other fields differ: {', '.join(decisions[:5])}" if decisions else "; same texts and decisions")
          + " (torch's thread count changes the last bits, in the serial path too)", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        driver_s, aggregate_s, driver_n = driver_cost(args, recorded, Path(tmp))
    worker_s = ray_s * 2 / n  # seconds of one worker per item
    loop_s = driver_s - aggregate_s
    print(f"driver, whole run      : {driver_s / driver_n * 1000:8.2f} ms/item ({driver_s:.2f} s for {driver_n} items, "
          "answers instant), of which:", flush=True)
    print(f"  per chunk            : {loop_s / driver_n * 1000:8.2f} ms/item (plan, model info, cache, deferred "
          "re-evaluation, merging, journal)", flush=True)
    print(f"  aggregation          : {aggregate_s / driver_n * 1000:8.2f} ms/item (metrics and bootstrap CIs, once "
          "per suite at the end)", flush=True)
    print(f"driver CPU during Ray  : {ray_cpu / n * 1000:8.2f} ms/item (the timed Ray run: evaluation and Ray's "
          "client work)", flush=True)
    per_item = max(loop_s / driver_n, ray_cpu / n)
    print(f"one worker             : {worker_s * 1000:8.1f} ms/item -> one driver keeps up with about "
          f"{worker_s / per_item:.0f} such workers (worker ms/item / the larger driver ms/item above)", flush=True)
    missed = []
    if ratio > RATIO_TARGET:
        missed.append(f"ratio {ratio:.3f} > {RATIO_TARGET:g}")
    if not identical:
        missed.append("records differ from the serial path's at the same thread count")
    print(f"FAIL: {'; '.join(missed)}" if missed else "PASS: Ray meets the target with the serial path's records", flush=True)
    return 1 if missed else 0


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
