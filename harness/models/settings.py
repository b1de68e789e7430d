"""Settings every torch adapter takes: where it runs, at what precision, how much per batch."""

from __future__ import annotations

from harness.errors import HarnessError

DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda", "mps")

# With `--batch-size auto` a batch holds at most this many tokens (padding included), by device,
# and at most so many sequences. Scoring keeps the vocabulary-sized logits of target positions
# only, so a batch's memory is mostly activations. On CPU (SmolLM2-135M, 2 cores, same process,
# interleaved rounds) a token budget alone let batches of short sentences grow to a hundred rows,
# which ran 1.3-1.6x slower than 16 rows: CrowS-Pairs (150 sentences) took 9.6 s at 2,048 tokens,
# 8.0 s at 1,024 and 5.9 s at 1,024 tokens and 16 rows, against 7.1-7.2 s at fixed sizes 8, 16 and
# 32; perplexity windows and BBQ's shared contexts were within noise of the best fixed size.
# benchmarks/bench_floor.py checks `auto` against the best fixed size: on idle cores, whole
# workloads, 0.98x (CrowS-Pairs), 1.02x (BBQ, TruthfulQA) and 1.04x (perplexity). Letting the
# prefix-reuse path's continuation pass run without the row limit (a cache copy saved) gained 1-2%,
# within noise, so it was left out. An accelerator needs many more tokens in flight.
AUTO_TOKEN_BUDGET = {"cpu": 1024, "cuda": 8192, "mps": 4096}
AUTO_MAX_SEQUENCES: dict[str, int | None] = {"cpu": 16, "cuda": None, "mps": None}


def check_device_and_dtype(name: str, device: str, dtype: str) -> None:
    if dtype not in DTYPES:
        raise HarnessError(f"model {name}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if device not in DEVICES:
        raise HarnessError(f"model {name}: device {device!r} is not one of {', '.join(DEVICES)}")


def auto_token_budget(device: object) -> int:
    """Tokens per batch for `--batch-size auto` on `device` (a name or a torch.device)."""
    return AUTO_TOKEN_BUDGET.get(_kind(device), AUTO_TOKEN_BUDGET["cpu"])


def auto_max_sequences(device: object) -> int | None:
    """Sequences per batch for `--batch-size auto` on `device`, or None for no limit."""
    return AUTO_MAX_SEQUENCES.get(_kind(device), AUTO_MAX_SEQUENCES["cpu"])


def _kind(device: object) -> str:
    return str(getattr(device, "type", device)).split(":")[0]
