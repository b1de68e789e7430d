"""Toxicity speed figures, as ratios measured in one run, each checked against its target.

    .venv/bin/python benchmarks/bench_toxicity.py [--texts 50000] [--prompts 2] [--k 5] [--tokens 20]

1. profanity-check: texts/s through the harness backend (target >= 50,000), beside the
   package's own `predict_prob` on the same texts.
2. Detoxify: the real Detoxify code on a locally built BERT checkpoint (4 layers, hidden 256; no
   release weights offline), batched (32 texts per forward) vs one text per call (target: batched
   faster).
3. Generation on the default model: all k samples of a prompt in one batched call (n = k) vs
   k separate calls with n = 1, same sampling parameters (target: batched faster).

Prints PASS or FAIL per target and exits 1 when any target is missed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from harness.cli import quiet_environment  # noqa: E402 (after the path is set)

quiet_environment()

SUBJECTS = ["The committee", "My neighbour", "That driver", "Our teacher", "The new manager", "This reviewer"]
PREDICATES = ["was kind to everyone", "is a complete idiot", "planted tomatoes", "wrote a stupid post",
              "fixed the old bicycle", "talked nonsense all day", "baked fresh bread", "behaved like a fool"]


PROFANITY_TARGET = 50_000  # texts/s (issue 5)


@dataclass(frozen=True)
class Target:
    name: str
    measured: float
    required: float
    unit: str
    strict: bool = False  # measured must exceed `required` (else: be at least it)

    @property
    def passed(self) -> bool:
        return self.measured > self.required if self.strict else self.measured >= self.required

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return f"{verdict}  {self.name}: {self.measured:,.2f} {self.unit} (target {'>' if self.strict else '>='} {self.required:,.2f})"


def texts(n: int) -> list[str]:
    return [f"{SUBJECTS[i % len(SUBJECTS)]} {PREDICATES[(i // 3) % len(PREDICATES)]} on day {i}." for i in range(n)]


def best_of(repeats: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_profanity(n: int) -> Target:
    from profanity_check import predict_prob

    from harness.toxicity.profanity import ProfanityCheck

    data = texts(n)
    c = ProfanityCheck()
    c.score(data[:10])  # load the model outside the timing
    ours = best_of(3, lambda: c.score(data))
    package = best_of(3, lambda: predict_prob(data))
    print(f"profanity-check: {n / ours:,.0f} texts/s through the harness (target >= {PROFANITY_TARGET:,}); "
          f"package predict_prob {n / package:,.0f} texts/s; ratio {package / ours:.2f}x")
    return Target("profanity-check scoring", n / ours, PROFANITY_TARGET, "texts/s")


def bench_detoxify(n: int) -> Target:
    from harness.toxicity.registry import load_classifier
    from tests.toxicity.tiny_detoxify import build_tiny_detoxify

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_detoxify(Path(tmp) / "bert", hidden=256, layers=4, heads=4)
        c = load_classifier(str(folder))
        data = texts(n)
        c.score(data[:4])
        batched = best_of(2, lambda: c.score(data))
        single = best_of(1, lambda: [c.score([t]) for t in data])
    print(f"detoxify (4-layer BERT, hidden 256): batched {n / batched:,.0f} texts/s, one at a time "
          f"{n / single:,.0f} texts/s; batched is {single / batched:.1f}x faster")
    return Target("detoxify batched vs one text per call", single / batched, 1.0, "x speed-up", strict=True)


def bench_generation(prompts: int, k: int, tokens: int) -> Target:
    from harness.api import GenerationRequest
    from harness.resources import load_model_spec
    from harness.runner import RunOptions, build_model
    from harness.suites.base import item_seed

    spec = load_model_spec("smollm2-135m")
    lm = build_model(spec, RunOptions(suites=("toxicity",), model="smollm2-135m", out=Path(".")))
    texts_ = ["The recipe calls for two cups of flour and", "On Saturday morning the market opens early, so"][:prompts]
    kw = dict(max_new_tokens=tokens, temperature=1.0, top_p=0.9)
    lm.generate([GenerationRequest("Warm up", max_new_tokens=2)])
    batched = best_of(1, lambda: lm.generate([GenerationRequest(p, n=k, seed=item_seed(1, p), **kw) for p in texts_]))
    separate = best_of(1, lambda: lm.generate([GenerationRequest(p, n=1, seed=item_seed(j, p), **kw) for p in texts_ for j in range(k)]))
    n_tokens = prompts * k * tokens
    print(f"generation (smollm2-135m, {prompts} prompts x k={k} x {tokens} tokens): one batched call per prompt "
          f"{batched:.1f} s ({n_tokens / batched:.0f} tokens/s), k separate calls {separate:.1f} s "
          f"({n_tokens / separate:.0f} tokens/s); batched is {separate / batched:.1f}x faster")
    return Target("generation, k samples in one call vs k calls", separate / batched, 1.0, "x speed-up", strict=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=50_000)
    parser.add_argument("--detoxify-texts", type=int, default=256)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--skip-generation", action="store_true")
    args = parser.parse_args()
    targets = [bench_profanity(args.texts), bench_detoxify(args.detoxify_texts)]
    if not args.skip_generation:
        targets.append(bench_generation(args.prompts, args.k, args.tokens))
    for target in targets:
        print(target.line())
    missed = [t.name for t in targets if not t.passed]
    if missed:
        print(f"missed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
