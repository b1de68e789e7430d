"""Facts about safetensors weight files, read from their headers without loading the tensors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError


def count_parameters(files: Sequence[Path]) -> int | None:
    """Total number of values in the tensors of these safetensors files (None for no files).

    A tied output layer is stored once, so it is counted once."""
    from safetensors import safe_open

    if not files:
        return None
    total = 0
    for path in files:
        try:
            with safe_open(str(path), framework="numpy") as f:
                total += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())
        except Exception as e:  # safetensors raises its own error types for a damaged header
            raise HarnessError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    return total
