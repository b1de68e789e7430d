"""`--executor ray`: the run's model and classifier calls go to Ray workers; the driver plans,
caches, journals and aggregates exactly as the serial path does.

Without `--ray-address` the executor starts a single-node Ray here (`num_cpus` = workers x CPUs
per worker, no dashboard, quiet) and shuts it down when the run ends, however it ends; with one it
joins that cluster (`auto`, `ray://host:10001`) and only disconnects. Ray starts on the first call
that misses the call cache, so a warm re-run starts no Ray at all.

How the work is spread (harness.executors.deferred): the runner's model stack ends in a
DeferredModel instead of the adapter, and the suite kinds' classifiers (and a --guard's) are
replaced by DeferredClassifiers for the length of a suite. Several chunks are evaluated at once
(`chunks_per_worker` per worker); each call they need goes to a free worker, largest first.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.api import LanguageModel
from harness.cache import call_cache_in
from harness.errors import HarnessError
from harness.executors.deferred import (
    CacheCounters,
    Call,
    CallStore,
    DeferredClassifier,
    DeferredModel,
    Outcome,
    Record,
    Target,
    evaluate_deferred,
    return_value,
    unloaded_copy,
)
from harness.resources import ModelSpec

if TYPE_CHECKING:
    from harness.executors.ray_pool import RayPool
    from harness.runner import RunOptions

INSTALL = "--executor ray needs Ray: pip install 'harness[ray]'"
# Passed to a cluster's workers, so that they run offline and quiet as the driver does.
PASSED_VARIABLES = (
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_VERBOSITY",
    "HF_HUB_DISABLE_PROGRESS_BARS",
)  # fmt: skip


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise HarnessError(INSTALL) from None
    return ray


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: int = 1,
        gpus_per_worker: float = 0.0,
        chunks_per_worker: int = 2,
    ) -> None:
        self.address = address
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.chunks_per_worker = chunks_per_worker
        self._store = CallStore()
        self._pool: RayPool | None = None
        self._ray: Any = None
        self._own_connection = False  # this run called ray.init, so it calls ray.shutdown

    def check(self) -> None:
        """Fail before anything loads: the flags' values, and Ray itself."""
        if self.workers is not None and self.workers < 1:
            raise HarnessError(f"--workers must be at least 1, got {self.workers}")
        if self.cpus_per_worker < 1:
            raise HarnessError(f"--cpus-per-worker must be at least 1, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise HarnessError(f"--gpus-per-worker must be 0 or more, got {self.gpus_per_worker:g}")
        import_ray()
        if self.address is not None:
            _check_reachable(self.address)

    # ---- what the runner's model stack and suite kinds call -----------------------------------

    def model(self, adapter: LanguageModel, spec: ModelSpec, options: RunOptions) -> LanguageModel:
        from harness.runner import build_model

        device = options.device or spec.args.get("device", "cpu")
        if self.gpus_per_worker > 0 and device != "cuda":
            raise HarnessError(
                f"--gpus-per-worker {self.gpus_per_worker:g} gives each worker a GPU, but model {spec.name} runs on "
                f"{device}; add --device cuda"
            )
        key = f"model:{spec.name}:{adapter.info.fingerprint}"
        build = functools.partial(build_model, _absolute_paths(spec), options)
        return DeferredModel(adapter, Target(key, build, kind="model"), self._store)

    def evaluate(
        self,
        kind: Any,
        lm: LanguageModel,
        chunks: Iterable[Sequence[Any]],
        evaluate: Callable[[Sequence[Any]], list[Record]],
    ) -> Iterator[tuple[Sequence[Any], list[Record]]]:
        cached = call_cache_in(lm)
        with self._classifiers_deferred(kind, lm):
            yield from evaluate_deferred(
                chunks,
                evaluate,
                self,
                self._store,
                active=lambda: self._worker_count() * self.chunks_per_worker,
                counters=CacheCounters(cached) if cached is not None else None,
            )

    @contextmanager
    def _classifiers_deferred(self, kind: Any, lm: LanguageModel) -> Iterator[None]:
        """The suite kind's classifier (a kind that uses one has built it while loading its
        data) and the guard's, replaced by stand-ins while the suite runs."""
        from harness.toxicity.guard import GuardedModel

        holders = [kind] if "classifier" in vars(kind) else []
        wrapper: Any = lm
        while wrapper is not None:
            if isinstance(wrapper, GuardedModel):
                holders.append(wrapper)
            wrapper = getattr(wrapper, "lm", None)
        originals = [(holder, holder.classifier) for holder in holders]
        for holder, classifier in originals:
            key = f"classifier:{classifier.info.label}"
            target = Target(key, functools.partial(return_value, unloaded_copy(classifier)), kind="classifier")
            holder.classifier = DeferredClassifier(classifier, target, self._store)
        try:
            yield
        finally:
            for holder, classifier in originals:
                holder.classifier = classifier

    # ---- the Backend contract: calls to the pool, started on the first one ---------------------

    def submit(self, call: Call, target: Target) -> None:
        self._started_pool().submit(call, target)

    def next_done(self) -> tuple[Call, Outcome]:
        return self._started_pool().next_done()

    def _worker_count(self) -> int:
        if self._pool is not None:
            return self._pool.size
        return self.workers or max(1, (os.cpu_count() or 1) // self.cpus_per_worker)

    def _started_pool(self) -> RayPool:
        if self._pool is None:
            from harness.executors.ray_pool import RayPool

            ray = self._ray = import_ray()
            self._connect(ray)
            n = self.workers or self._default_workers(ray)
            self._check_resources(ray, n)
            self._pool = RayPool(ray, n, self.cpus_per_worker, self.gpus_per_worker)
        return self._pool

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():  # a program that embeds the harness connected already
            return
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        runtime_env = self._runtime_env()
        if runtime_env is not None:
            quiet["runtime_env"] = runtime_env
        try:
            if self.address is None:
                n = self.workers or max(1, (os.cpu_count() or 1) // self.cpus_per_worker)
                ray.init(num_cpus=n * self.cpus_per_worker, include_dashboard=False, **quiet)
            else:
                ray.init(address=self.address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray"
            hint = ""
            if self.address not in (None, "auto") and "RAY_AUTH_MODE" not in os.environ:
                hint = " (a cluster with token authentication needs RAY_AUTH_MODE=token with an explicit address)"
            raise HarnessError(f"cannot start or join {where}: {_first_line(e)}{hint}") from None
        self._own_connection = True

    def _runtime_env(self) -> dict[str, Any] | None:
        """Workers must import this harness. On this machine they run this Python with this
        environment (a local Ray's processes inherit it), so they need nothing unless this process
        found the harness on a path of its own (then PYTHONPATH points them to it; a runtime env
        costs seconds, as Ray's pre-started workers cannot serve it). On a cluster the package is
        shipped to the nodes (its dependencies must be installed there) with the variables that
        keep Hugging Face libraries offline and quiet."""
        import harness

        package = Path(harness.__file__).resolve().parent
        if self.address is None:
            if _fresh_python_finds(package):
                return None
            pythonpath = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH")) if p)
            return {"env_vars": {"PYTHONPATH": pythonpath}}
        env_vars = {k: os.environ[k] for k in PASSED_VARIABLES if k in os.environ}
        return {"env_vars": env_vars, "py_modules": [str(package)]}

    def _default_workers(self, ray: Any) -> int:
        total = ray.cluster_resources()
        n = int(total.get("CPU", 0) // self.cpus_per_worker)
        if self.gpus_per_worker > 0:
            n = min(n, int(total.get("GPU", 0) // self.gpus_per_worker))
        if n < 1:
            raise HarnessError(
                f"the Ray cluster has {total.get('CPU', 0):g} CPUs and {total.get('GPU', 0):g} GPUs: not enough for one "
                f"worker of {self.cpus_per_worker} CPU(s) and {self.gpus_per_worker:g} GPU(s)"
            )
        return n

    def _check_resources(self, ray: Any, n: int) -> None:
        free = ray.available_resources()
        cpus, gpus = n * self.cpus_per_worker, n * self.gpus_per_worker
        if free.get("CPU", 0) + 1e-9 < cpus or free.get("GPU", 0) + 1e-9 < gpus:
            raise HarnessError(
                f"{n} workers need {cpus} CPUs and {gpus:g} GPUs, but the Ray cluster has {free.get('CPU', 0):g} CPUs "
                f"and {free.get('GPU', 0):g} GPUs free; lower --workers or --cpus-per-worker"
            )

    # ---- results and the end ------------------------------------------------------------------

    def record(self) -> dict[str, Any]:
        pool = self._pool
        return {
            "name": self.name,
            "address": self.address or "local",
            "workers": pool.size if pool else 0,
            "cpus_per_worker": self.cpus_per_worker,
            "gpus_per_worker": self.gpus_per_worker,
            "nodes": pool.nodes if pool else [],
            "restarts": sum(pool.restarts) if pool else 0,
            "calls": pool.calls_done if pool else 0,
        }

    def close(self) -> None:
        """Stop the workers and, when this run started or joined Ray itself, disconnect (which
        stops a Ray it started, leaving no Ray process behind)."""
        try:
            if self._pool is not None:
                self._pool.close()
        finally:
            if self._own_connection:
                self._own_connection = False
                self._ray.shutdown()


def _absolute_paths(spec: ModelSpec) -> ModelSpec:
    """The preset with a relative model path made absolute: workers do not share the driver's
    working directory (on a cluster the path must exist on every node)."""
    path = spec.args.get("path")
    if isinstance(path, str) and not Path(path).expanduser().is_absolute():
        spec = replace(spec, args={**spec.args, "path": str(Path(path).expanduser().resolve())})
    if spec.path is not None and not spec.path.is_absolute():
        spec = replace(spec, path=spec.path.resolve())
    return spec


def _check_reachable(address: str) -> None:
    """Fail at once when nothing listens at a `host:port` (or `ray://host:port`) address."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not port.isdigit():
        return
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=10).close()
    except OSError as e:
        raise HarnessError(
            f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e}); check the address, "
            "or start one with `ray start --head`"
        ) from None


def _fresh_python_finds(package: Path) -> bool:
    """Whether this Python, started afresh with this environment (as a local Ray starts its
    workers), imports the harness from `package`."""
    probe = "import importlib.util, sys; s = importlib.util.find_spec('harness'); sys.stdout.write(s.origin if s else '')"
    try:
        found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return bool(found) and Path(found).resolve().parent == package


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__
