"""Settings every torch adapter takes: where it runs and at what precision."""

from __future__ import annotations

from harness.errors import HarnessError

DTYPES = ("float32", "bfloat16", "float16")
DEVICES = ("cpu", "cuda", "mps")


def check_device_and_dtype(name: str, device: str, dtype: str) -> None:
    if dtype not in DTYPES:
        raise HarnessError(f"model {name}: dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if device not in DEVICES:
        raise HarnessError(f"model {name}: device {device!r} is not one of {', '.join(DEVICES)}")
