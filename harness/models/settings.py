"""Settings every torch adapter takes: where it runs, at what precision, how much per batch."""

from __future__ import annotations

from harness.errors import HarnessError

DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda", "mps")

# With `--batch-size auto` a batch holds at most this many tokens (padding included), by device.
# Scoring keeps the vocabulary-sized logits of target positions only, so a batch's memory is
# mostly activations; on CPU (SmolLM2-135M, 2 cores) big batches of short sentences beat small
# ones (60 CrowS-Pairs sentences: batch 32 9.3 s, 8 12.7 s, 1 47 s), and perplexity windows of
# ~160 tokens ran 2.5x slower one at a time than 8 together. benchmarks/bench_floor.py checks
# `auto` against the best fixed size. An accelerator needs even more tokens in flight.
AUTO_TOKEN_BUDGET = {"cpu": 2048, "cuda": 8192, "mps": 4096}


def check_device_and_dtype(name: str, device: str, dtype: str) -> None:
    if dtype not in DTYPES:
        raise HarnessError(f"model {name}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if device not in DEVICES:
        raise HarnessError(f"model {name}: device {device!r} is not one of {', '.join(DEVICES)}")


def auto_token_budget(device: object) -> int:
    """Tokens per batch for `--batch-size auto` on `device` (a name or a torch.device)."""
    kind = str(getattr(device, "type", device)).split(":")[0]
    return AUTO_TOKEN_BUDGET.get(kind, AUTO_TOKEN_BUDGET["cpu"])
