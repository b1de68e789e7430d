"""Scoring at the hardware floor: the harness's own scoring path against a plain transformers loop
on exactly the same requests, in one process.

    .venv/bin/python benchmarks/bench_floor.py [--model smollm2-135m] [--rounds 3] [--quick]

The plain loop is written here with torch and transformers only: every request is one sequence
(context + continuation, or BOS + text), sorted by length, batches of 8 with an attention mask,
`log_softmax` (in float64, at the scored positions) + `gather`. The harness side is each suite
kind's own `evaluate`, chunk by chunk as the runner calls it, on the same model object, at the
default `--batch-size auto`.

Targets (issue 17), each printed with PASS or FAIL (the script exits 1 on any FAIL):
  1. harness scoring <= 1.05x the plain loop for crows_pairs (no shared context), bbq (a shared
     context, three short answers), truthfulqa_mc (a long primer, many answers) and perplexity;
     below 1 where prefix reuse reads a shared context once;
  2. the same log-likelihoods: max |dLL| <= 1e-4 nats against the plain loop;
  3. `--batch-size auto` no more than 5% slower than the best fixed size among 1, 4, 8, 16, 32.
Then, reported: --dtype bfloat16 against float32 (speed-up, max |dLL|, CrowS-Pairs pairs whose
choice flips, perplexity difference), and the start-up of a `harness run` split into imports,
model load and first forward, with the harness's own share of the imports.

Timings are medians over rounds that interleave the sides being compared (A B A B ...), after a
warm-up, because the machine may be shared; the load average is printed beside them.

CrowS-Pairs: the published CSV is not shipped, so the workload is the first 150 built-in pairs,
a third of them lengthened by a clause (the same on both sides) so that sentence lengths spread
like the published set's (about 16 tokens on average, up to about 35).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

SUITES = ("crows_pairs", "bbq", "truthfulqa_mc", "perplexity")
RATIO_TARGET = 1.05  # harness scoring / plain loop
AUTO_TARGET = 1.05  # auto / best fixed batch size
FIXED_SIZES = (1, 4, 8, 16, 32)
LL_TOLERANCE = 1e-4  # nats (as benchmarks/bench_choice.py and tests/bias/test_prefix_reuse.py)
PLAIN_BATCH = 8

# Clauses the benchmark adds to the end of some built-in CrowS-Pairs-style sentences (both sides
# of a pair alike), for realistic lengths. The project's own words.
TAILS = (
    "",
    " on the way back from the market",
    "",
    ", and nobody in the building seemed surprised when they heard about it later that week",
    "",
    " before the meeting had even started",
)


# ---- workloads ---------------------------------------------------------------------------------


def workload(name: str, n_items: int) -> tuple[Any, list[Any]]:
    from harness.registry import SUITE_KINDS
    from harness.resources import load_suite_spec

    spec = load_suite_spec(name)
    kind = SUITE_KINDS.get(spec.kind)(spec)
    items = list(kind.load(None).items)[:n_items]
    if name == "crows_pairs":
        items = [
            dataclasses.replace(p, sent_more=lengthen(p.sent_more, TAILS[i % len(TAILS)]),
                                sent_less=lengthen(p.sent_less, TAILS[i % len(TAILS)]))
            for i, p in enumerate(items)
        ]  # fmt: skip
    return kind, items


def lengthen(sentence: str, tail: str) -> str:
    if not tail:
        return sentence
    body = sentence.rstrip()
    return (body[:-1] if body.endswith(".") else body) + tail + "."


class Recorder:
    """Stands in for the model to collect the requests a suite kind makes (answers are dummies)."""

    def __init__(self, info: Any) -> None:
        self.info = info
        self.pairs: list[Any] = []
        self.texts: list[str] = []

    def loglikelihood(self, requests: list[Any]) -> list[Any]:
        from harness.api import Loglikelihood

        self.pairs += requests
        return [Loglikelihood(-1.0, False, 1) for _ in requests]

    def loglikelihood_rolling(self, texts: list[str]) -> list[Any]:
        from harness.api import RollingLoglikelihood

        self.texts += texts
        return [RollingLoglikelihood(-1.0, 1) for _ in texts]


class Capture:
    """Passes calls to the adapter and keeps every log-likelihood it returned, in order."""

    def __init__(self, lm: Any) -> None:
        self.lm = lm
        self.values: list[float] = []

    @property
    def info(self) -> Any:
        return self.lm.info

    def loglikelihood(self, requests: list[Any]) -> list[Any]:
        out = self.lm.loglikelihood(requests)
        self.values += [r.logprob for r in out]
        return out

    def loglikelihood_rolling(self, texts: list[str]) -> list[Any]:
        out = self.lm.loglikelihood_rolling(texts)
        self.values += [r.logprob for r in out]
        return out


def harness_scoring(kind: Any, lm: Any, items: Sequence[Any]) -> tuple[float, list[float]]:
    """Seconds for the suite kind's own evaluate, chunk by chunk as the runner calls it."""
    captured = Capture(lm)
    started = time.perf_counter()
    for start in range(0, len(items), kind.chunk_size):
        kind.evaluate(captured, items[start : start + kind.chunk_size], 0)
    return time.perf_counter() - started, captured.values


# ---- the plain loop: torch and transformers only -------------------------------------------------


def plain_loop(model: Any, tokenizer: Any, recorded: Recorder, batch_size: int = PLAIN_BATCH) -> tuple[float, list[float]]:
    """Tokenise each request into one sequence, sort by length, batch with an attention mask,
    log_softmax + gather. Seconds and log-likelihoods in request order."""
    import torch

    started = time.perf_counter()
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else bos
    sequences: list[tuple[list[int], int]] = []  # (token ids, number of scored tokens at the end)
    for r in recorded.pairs:
        context, continuation = r.context, r.continuation
        if r.chat and tokenizer.chat_template:  # a user turn, the reply starting the assistant's turn
            messages = [{"role": "user", "content": context}]
            context = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            continuation = continuation.lstrip()
        else:
            stripped = context.rstrip()
            context, continuation = stripped, context[len(stripped):] + continuation  # the trailing space moves
        if not context:
            ids = tokenizer.encode(continuation, add_special_tokens=False)
            sequences.append(([bos, *ids], len(ids)))
        else:
            head = tokenizer.encode(context, add_special_tokens=False)
            whole = tokenizer.encode(context + continuation, add_special_tokens=False)
            sequences.append((head + whole[len(head):], len(whole) - len(head)))
    for text in recorded.texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        sequences.append(([bos, *ids], len(ids)))
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i][0]))
    values = [0.0] * len(sequences)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            width = len(sequences[batch[0]][0]) - 1
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                tokens = sequences[i][0]
                ids[row, : len(tokens) - 1] = torch.tensor(tokens[:-1])
                mask[row, : len(tokens) - 1] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits
            for row, i in enumerate(batch):
                tokens, n = sequences[i]
                targets = torch.tensor(tokens[-n:])[:, None]
                # float64: torch's float32 log_softmax on CPU is off by about 1e-5 nats a token
                # (3e-4 over a 33-token sentence), more than the tolerance of the check.
                logprobs = torch.log_softmax(logits[row, len(tokens) - 1 - n : len(tokens) - 1].double(), dim=-1)
                values[i] = float(logprobs.gather(1, targets).sum())
    return time.perf_counter() - started, values


# ---- measuring -------------------------------------------------------------------------------------


Timed = Callable[[], tuple[float, list[float]]]  # a run: (seconds, log-likelihoods)


def interleaved(sides: dict[str, Timed], rounds: int) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Median seconds per side over `rounds` rounds of A B C ... (after one warm-up round of
    each), and the values of each side's first timed run."""
    for run in sides.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in sides}
    values: dict[str, list[float]] = {}
    for _ in range(rounds):
        for name, run in sides.items():
            seconds, v = run()
            times[name].append(seconds)
            values.setdefault(name, v)
    return {name: statistics.median(t) for name, t in times.items()}, values


def max_diff(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b):
        raise RuntimeError(f"{len(a)} values against {len(b)}: the two sides scored different requests")
    return max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def line(label: str, ok: bool, detail: str) -> bool:
    print(f"  {'PASS' if ok else 'FAIL'}  {label:<44} {detail}", flush=True)
    return ok


def bench_floor(lm: Any, suites: dict[str, tuple[Any, list[Any]]], rounds: int) -> list[bool]:
    """Targets 1 and 2: the harness at auto against the plain loop, per suite."""
    print(f"[1] harness scoring (batch auto) against the plain loop (batch {PLAIN_BATCH}); {load()}", flush=True)
    results = []
    for name, (kind, items) in suites.items():
        recorded = Recorder(lm.info)
        kind.evaluate(recorded, items, 0)
        lm.batch_size = "auto"
        medians, values = interleaved(
            {"plain": lambda: plain_loop(lm.model, lm.tokenizer, recorded), "harness": lambda: harness_scoring(kind, lm, items)},
            rounds,
        )
        ratio = medians["harness"] / medians["plain"]
        diff = max_diff(values["plain"], values["harness"])
        n = len(recorded.pairs) or len(recorded.texts)
        what = "requests" if recorded.pairs else "documents"
        results.append(line(f"{name} ({len(items)} items, {n} {what})", ratio <= RATIO_TARGET,
                            f"harness {medians['harness']:.2f} s / plain {medians['plain']:.2f} s = {ratio:.2f}x "
                            f"(target <= {RATIO_TARGET})"))  # fmt: skip
        results.append(
            line(f"{name} log-likelihoods", diff <= LL_TOLERANCE, f"max |dLL| {diff:.1e} (target <= {LL_TOLERANCE:g})")
        )
    return results


def bench_auto(lm: Any, suites: dict[str, tuple[Any, list[Any]]], rounds: int, share: float) -> list[bool]:
    """Target 3: auto against each fixed batch size, on the harness's own path (on the first
    `share` of each workload: six settings are timed)."""
    print(f"[2] --batch-size auto against fixed sizes {', '.join(map(str, FIXED_SIZES))}; {load()}", flush=True)
    results = []
    for name, (kind, all_items) in suites.items():
        items = all_items[: max(2, round(len(all_items) * share))]
        def at(size: int | str) -> Timed:
            def run() -> tuple[float, list[float]]:
                lm.batch_size = size
                return harness_scoring(kind, lm, items)

            return run

        medians, _ = interleaved({str(size): at(size) for size in ("auto", *FIXED_SIZES)}, rounds)
        best = min(FIXED_SIZES, key=lambda s: medians[str(s)])
        ratio = medians["auto"] / medians[str(best)]
        table = " ".join(f"{s}:{medians[str(s)]:.2f}" for s in FIXED_SIZES)
        results.append(line(f"{name} ({len(items)} items) auto vs best fixed ({best})", ratio <= AUTO_TARGET,
                            f"auto {medians['auto']:.2f} s = {ratio:.2f}x (target <= {AUTO_TARGET}); fixed {table}"))  # fmt: skip
    lm.batch_size = "auto"
    return results


def bench_bfloat16(lm: Any, lm_bf16: Any, suites: dict[str, tuple[Any, list[Any]]], rounds: int) -> None:
    """Reported, no target: what --dtype bfloat16 buys and what it changes."""
    import math

    print(f"[3] --dtype bfloat16 against float32 (harness, batch auto); {load()}", flush=True)
    for name in ("crows_pairs", "perplexity"):
        if name not in suites:
            continue
        kind, items = suites[name]
        medians, values = interleaved(
            {"float32": lambda: harness_scoring(kind, lm, items), "bfloat16": lambda: harness_scoring(kind, lm_bf16, items)},
            rounds,
        )
        f32, b16 = values["float32"], values["bfloat16"]
        detail = f"speed-up {medians['float32'] / medians['bfloat16']:.2f}x, max |dLL| {max_diff(f32, b16):.3f} nats"
        if name == "crows_pairs":
            flips = sum((f32[i] > f32[i + 1]) != (b16[i] > b16[i + 1]) for i in range(0, len(f32), 2))
            detail += f", {flips} of {len(f32) // 2} pairs flip"
        else:
            recorded = Recorder(lm.info)
            kind.evaluate(recorded, items, 0)
            tokens = sum(len(lm.encode(t)) for t in recorded.texts)
            ppl32, ppl16 = math.exp(-sum(f32) / tokens), math.exp(-sum(b16) / tokens)
            detail += f", token perplexity {ppl32:.3f} -> {ppl16:.3f} ({(ppl16 / ppl32 - 1) * 100:+.2f}%)"
        print(f"  note  {name:<44} {detail}", flush=True)


# ---- start-up ----------------------------------------------------------------------------------------

STARTUP_PROBE = r"""
import json, os, sys, time
t0 = time.perf_counter()
from harness.commands import run as _run            # what `harness run` imports to parse and plan
from harness.resources import load_model_spec
from harness.runner import RunOptions, build_model
from harness.api import LoglikelihoodRequest
from pathlib import Path
t1 = time.perf_counter()
lm = build_model(load_model_spec(sys.argv[1]), RunOptions(suites=("crows_pairs",), model=sys.argv[1], out=Path(".")))
lm.info                                             # fingerprint from file hashes: no torch
import torch, transformers
lm._model_class()                                   # the model's class, as the adapter imports it
from transformers import AutoTokenizer
t2 = time.perf_counter()
lm.tokenizer, lm.model
t3 = time.perf_counter()
lm.loglikelihood([LoglikelihoodRequest("", "The first sentence of the run.")])
t4 = time.perf_counter()
print(json.dumps({"harness": t1 - t0, "libraries": t2 - t1, "load": t3 - t2, "first": t4 - t3}))
"""


def bench_startup(model: str) -> None:
    """The start-up of a scoring run, in a fresh interpreter, with -X importtime to find the
    harness's own share of the import time."""
    print(f"[4] start-up of a scoring run, fresh process; {load()}", flush=True)
    started = time.perf_counter()
    python = subprocess.run([sys.executable, "-c", "pass"], check=True)
    interpreter = time.perf_counter() - started
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", STARTUP_PROBE, model], check=True, cwd=REPO, capture_output=True, text=True
    )
    whole = time.perf_counter() - started
    phases = json.loads(out.stdout.strip().splitlines()[-1])
    own = 0.0
    for row in out.stderr.splitlines():  # "import time: self [us] | cumulative | package"
        parts = row.split("|")
        if len(parts) == 3 and parts[2].strip().startswith("harness"):
            own += int(parts[0].split(":")[1]) / 1e6
    del python
    imports = phases["harness"] + phases["libraries"]
    print(f"  note  whole probe {whole:.2f} s: interpreter {interpreter:.2f} s, imports {imports:.2f} s "
          f"(harness modules' own code {own:.2f} s; torch, transformers and the rest {imports - own:.2f} s), "
          f"model + tokenizer load {phases['load']:.2f} s, first forward {phases['first']:.2f} s", flush=True)  # fmt: skip
    print("  note  -X importtime inflates import times; the split, not the sum, is the point", flush=True)


# ---- main --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per comparison (medians)")
    parser.add_argument("--pairs", type=int, default=150, help="CrowS-Pairs pairs (default 150)")
    parser.add_argument("--bbq", type=int, default=48, help="BBQ questions (default 48)")
    parser.add_argument("--truthfulqa", type=int, default=16, help="TruthfulQA questions (default 16)")
    parser.add_argument("--docs", type=int, default=16, help="perplexity documents (default 16)")
    parser.add_argument("--auto-share", type=float, default=1.0, help="share of each workload for the batch-size sweep (default: all of it)")
    parser.add_argument("--quick", action="store_true", help="a third of every workload, one round (a smoke run)")
    parser.add_argument("--skip", nargs="*", default=(), choices=("floor", "auto", "bfloat16", "startup"))
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
        args.pairs, args.bbq, args.truthfulqa, args.docs = (n // 3 for n in (args.pairs, args.bbq, args.truthfulqa, args.docs))

    import torch

    from harness.resources import load_model_spec
    from harness.runner import RunOptions, build_model

    torch.manual_seed(0)
    spec = load_model_spec(args.model)
    lm = build_model(spec, RunOptions(suites=SUITES, model=args.model, out=Path(".")))
    lm.model  # loaded before timing
    sizes = {"crows_pairs": args.pairs, "bbq": args.bbq, "truthfulqa_mc": args.truthfulqa, "perplexity": args.docs}
    suites = {name: workload(name, n) for name, n in sizes.items()}
    print(f"model {args.model} ({lm.dtype}, {lm.device}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.rounds} rounds; {load()}", flush=True)  # fmt: skip
    results: list[bool] = []
    if "floor" not in args.skip:
        results += bench_floor(lm, suites, args.rounds)
    if "auto" not in args.skip:
        results += bench_auto(lm, suites, args.rounds, args.auto_share)
    if "bfloat16" not in args.skip:
        lm_bf16 = build_model(spec, RunOptions(suites=SUITES, model=args.model, out=Path("."), dtype="bfloat16"))
        lm_bf16.model
        bench_bfloat16(lm, lm_bf16, suites, args.rounds)
        del lm_bf16
    if "startup" not in args.skip:
        bench_startup(args.model)
    missed = results.count(False)
    print(f"FAIL: {missed} of {len(results)} targets missed" if missed else f"PASS: all {len(results)} targets met", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
