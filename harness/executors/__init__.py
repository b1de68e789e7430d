"""Executors: where a run's model and classifier calls execute (harness.executors.base).

One registration site: `--executor NAME` resolves here, lazily, so Ray is imported only by a run
that asks for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import HarnessError
from harness.registry import Registry

if TYPE_CHECKING:
    from harness.executors.base import Executor
    from harness.runner import RunOptions

EXECUTORS: Registry = Registry(
    "executor",
    {
        "serial": "harness.executors.serial:SerialExecutor",
        "ray": "harness.executors.ray_executor:RayExecutor",
    },
)

# The RunOptions fields that only the Ray executor reads, with their flags.
RAY_FLAGS = {"ray_address": "--ray-address", "workers": "--workers", "cpus_per_worker": "--cpus-per-worker",
             "gpus_per_worker": "--gpus-per-worker"}


def open_executor(options: RunOptions) -> Executor:
    """The executor the options name, checked (bad values and a missing Ray stop here, before any
    data or model loads). It starts workers only when the first call needs one."""
    name = options.executor
    EXECUTORS.check(name)
    if name == "ray":
        executor = EXECUTORS.get(name)(
            address=options.ray_address,
            workers=options.workers,
            cpus_per_worker=options.cpus_per_worker if options.cpus_per_worker is not None else 1,
            gpus_per_worker=options.gpus_per_worker if options.gpus_per_worker is not None else 0.0,
        )
    else:
        given = [flag for field, flag in RAY_FLAGS.items() if getattr(options, field) is not None]
        if given:
            raise HarnessError(f"{', '.join(given)} applies to --executor ray; add --executor ray or drop it")
        executor = EXECUTORS.get(name)()
    executor.check()
    return executor
