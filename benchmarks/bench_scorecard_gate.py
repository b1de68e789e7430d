"""Scorecard and gate on large runs, as ratios measured in one run.

    .venv/bin/python benchmarks/bench_scorecard_gate.py [--items 1500]

Times are CPU time of this process (the machine is shared). Synthetic perplexity runs (per-document records in the real JSONL layout, summaries computed by
the real suite kind) of N/10 and N documents. Targets (issue 7):
  1. 10x the items -> the scorecard HTML grows < 1.2x (worst samples are capped, so the page
     stays small however large the run: no viewer that crashes on large runs);
  2. 10x the items -> the gate's time grows <= 12x (linear in items; no quadratic step);
Also printed, without a target: the gate's time over the run's own CI time. The gate recomputes
every metric through the suite kind's `point_estimates(records)` (plain Python over records) for
each of its 2,000 paired replicates, where the kind's own CIs are vectorised with numpy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def write_run(folder: Path, n: int, seed: int, scale: float = 1.0) -> float:
    """A perplexity run of n documents; returns the seconds its aggregate (CIs) took."""
    from harness.resources import load_suite_spec
    from harness.suites.perplexity import PerplexitySuite

    rng = np.random.default_rng(seed)
    spec = load_suite_spec("perplexity")
    kind = PerplexitySuite(spec)
    records = []
    for i in range(n):
        size = int(rng.integers(200, 1200))
        records.append(
            {"id": f"doc{i + 1}", "line": 2 * i + 1, "loglikelihood": -size * 0.72 * scale * rng.uniform(0.9, 1.1),
             "tokens": size // 4, "words": size // 6, "bytes": size}
        )
    started = time.process_time()
    result = kind.aggregate(records, 1234)
    aggregate_s = time.process_time() - started
    folder.mkdir(parents=True)
    (folder / "perplexity.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    defs = {m.name: m for m in kind.metrics}
    summary = {
        "schema_version": 1, "harness_version": "bench", "git_sha": None, "created_at": "", "command": [],
        "python": "", "libraries": {}, "model": {"name": f"synthetic-{scale}", "fingerprint": "x"}, "seed": 1234,
        "limit": None, "cache": None, "wall_time_s": 0,
        "suites": {"perplexity": {
            "kind": "perplexity", "description": "synthetic", "protocol": "perplexity/bench", "n_samples": n, "n_errors": 0,
            "samples_file": "perplexity.jsonl",
            "data": {"source": "synthetic", "sha256": "0" * 64, "builtin": False, "notes": "", "limit": None},
            "thresholds": dict(spec.thresholds), "wall_time_s": 0,
            "metrics": {k: v.to_dict(defs[k]) for k, v in result.metrics.items()}, "breakdowns": {},
        }},
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    return aggregate_s


def measure(root: Path, n: int) -> tuple[float, int, float]:
    from harness.commands.scorecard import write_scorecard
    from harness.gate.checks import run_gate
    from harness.gate.policy import Policy
    from harness.gate.runs import load_run

    aggregate_s = write_run(root / f"base{n}", n, 1)
    write_run(root / f"cand{n}", n, 1, scale=1.01)
    started = time.process_time()
    result = run_gate(load_run(root / f"base{n}"), load_run(root / f"cand{n}"), Policy())
    gate_s = time.process_time() - started
    assert result.exit_code == 1  # the 1% worse candidate is caught
    page = write_scorecard([root / f"cand{n}"], root / f"card{n}.html", baseline=root / f"base{n}")
    return gate_s, page.stat().st_size, aggregate_s


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1500)
    n = parser.parse_args().items
    root = Path(tempfile.mkdtemp(prefix="bench-scorecard-"))
    try:
        small_gate, small_html, _ = measure(root, n // 10)
        big_gate, big_html, big_aggregate = measure(root, n)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    html_ratio, gate_ratio = big_html / small_html, big_gate / small_gate
    html_ok, gate_ok = html_ratio < 1.2, gate_ratio <= 12

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    print(f"items {n // 10} -> {n}")
    print(f"1. scorecard HTML  {small_html / 1024:.1f} KiB -> {big_html / 1024:.1f} KiB: ratio {html_ratio:.2f} (target < 1.2): {verdict(html_ok)}")
    print(f"2. gate time       {small_gate:.2f} s -> {big_gate:.2f} s: ratio {gate_ratio:.1f} (target <= 12): {verdict(gate_ok)}")
    print(f"3. gate / run CIs  {big_gate:.2f} s / {big_aggregate:.2f} s: ratio {big_gate / big_aggregate:.2f} (information)")
    return 0 if html_ok and gate_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
