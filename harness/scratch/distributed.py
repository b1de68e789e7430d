"""Distributed data parallel through `torchrun`, and the same calls as no-ops in one process.

`torchrun --standalone --nproc_per_node=N -m harness train ...` sets RANK, WORLD_SIZE and
LOCAL_RANK; each process then trains on its slice of every global batch and DDP averages the
gradients (gloo on CPU, nccl on GPU). Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @classmethod
    def from_env(cls) -> Dist:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        return cls(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))

    def __enter__(self) -> Dist:
        if self.active and not torch.distributed.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(self.local_rank)
            torch.distributed.init_process_group(backend=backend)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.active and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def wrap(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    def no_sync(self, wrapped: torch.nn.Module) -> contextlib.AbstractContextManager[Any]:
        """Skip the gradient all-reduce on micro-batches before the last of a step."""
        return wrapped.no_sync() if self.active else contextlib.nullcontext()  # type: ignore[operator]

    def mean(self, value: torch.Tensor) -> float:
        if self.active:
            value = value.clone()
            torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.AVG if _has_avg() else torch.distributed.ReduceOp.SUM)
            if not _has_avg():
                value /= self.world
        return float(value)

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def broadcast_text(self, text: str | None) -> str:
        """Rank 0's string on every process (the tokenizer trained once)."""
        if not self.active:
            assert text is not None
            return text
        box = [text]
        torch.distributed.broadcast_object_list(box, src=0)
        return str(box[0])


def _has_avg() -> bool:
    # gloo has no AVG reduction; sum and divide there.
    return torch.distributed.get_backend() == "nccl"
