"""Ray actors that answer model and classifier calls, and the driver's side of them.

Each `Worker` is a Ray actor with a CPU share (and a GPU when asked): it sets torch's threads to
its share, builds each target (a model adapter, a classifier) once, on its first call, and then
answers calls on it. `RayPool` hands queued calls to free workers, largest first, and returns the
answers as they come. A worker that dies (its process killed, its node lost) is restarted by Ray
(`max_restarts`) and its call is sent again; each failure and restart is one line on stderr. A
worker that cannot build its target (a model path missing on its node) stops the run with a
one-line error naming the node.

`ray` is imported only here and in harness.executors.ray_executor, when `--executor ray` runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.api import RequestsFailed
from harness.errors import HarnessError
from harness.executors.deferred import Call, Outcome, Target

# Restarts per worker before the run gives up on it (a worker that keeps dying is not bad luck).
MAX_RESTARTS = 3
# How long workers may take to start (import torch, register with the cluster).
START_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Reply:
    """What a worker sends back for a call."""

    outcome: Outcome | None  # None when the call could not be served at all (`fatal`)
    fatal: str | None = None  # a HarnessError on the worker: a configuration problem, stops the run


@dataclass(frozen=True)
class Place:
    """Where a worker runs."""

    pid: int
    node_ip: str
    node_id: str

    def describe(self) -> str:
        return f"node {self.node_ip} ({self.node_id[:12]})"


class Worker:
    """The Ray actor (wrapped with `ray.remote` by RayPool). Holds the targets it has built."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self._built: dict[str, Any] = {}  # target key -> the adapter or classifier built
        self._kinds: dict[str, str] = {}

    def place(self) -> Place:
        import ray

        context = ray.get_runtime_context()
        return Place(os.getpid(), ray.util.get_node_ip_address(), context.get_node_id())

    def call(self, target: Target, method: str, payload: tuple[Any, ...]) -> Reply:
        try:
            built = self._built.get(target.key)
            if built is None:
                if target.kind == "model":
                    # One model at a time: several models in one run (repeated --model) are
                    # evaluated one after another, and a GPU may hold only one.
                    self._built = {k: v for k, v in self._built.items() if self._kinds[k] != "model"}
                built = self._built[target.key] = target.build()
                self._kinds[target.key] = target.kind
            if method == "score":
                return Reply(Outcome(results=(built.score(list(payload[0])),)))
            return Reply(Outcome(results=tuple(getattr(built, method)(list(payload)))))
        except HarnessError as e:
            return Reply(None, fatal=str(e))
        except RequestsFailed as e:
            return Reply(Outcome(results=tuple(e.results), failed=dict(e.errors)))
        # Any other exception reaches the driver as Ray's RayTaskError and is raised where the
        # suite kind made the call, as the serial path would raise it.


class RayPool:
    """The driver's side of the workers: a queue of calls, the workers free to take one, and the
    calls in flight. Implements harness.executors.deferred.Backend."""

    def __init__(self, ray: Any, n_workers: int, cpus_per_worker: int, gpus_per_worker: float) -> None:
        self._ray = ray
        from ray.exceptions import GetTimeoutError, RayError, RayTaskError

        self._system_error = RayError  # the base of Ray's errors: a lost worker, node or object
        self._task_error = RayTaskError  # an exception the worker's code raised
        self._timeout_error = GetTimeoutError
        remote = ray.remote(Worker).options(
            num_cpus=cpus_per_worker,
            num_gpus=gpus_per_worker,
            max_restarts=MAX_RESTARTS,
            max_task_retries=0,  # a lost call is sent again by the pool, which says so
            scheduling_strategy="SPREAD",  # over the cluster's nodes, rather than filling one first
        )
        self.size = n_workers
        self.actors = [remote.remote(max(1, int(cpus_per_worker))) for _ in range(n_workers)]
        self.places: list[Place | None] = [None] * n_workers
        self.restarts = [0] * n_workers
        self.calls_done = 0
        self._queue: list[tuple[Call, Target]] = []
        self._free: list[int] = []
        self._in_flight: dict[Any, tuple[int, Call | None, Target | None]] = {}  # ref -> (worker, call, target)
        self._wait_for_places(range(n_workers))

    # ---- start-up and places ----------------------------------------------------------------

    def _wait_for_places(self, workers: Sequence[int]) -> None:
        refs = {self.actors[w].place.remote(): w for w in workers}
        try:
            places = self._ray.get(list(refs), timeout=START_TIMEOUT_S)
        except self._timeout_error:
            raise HarnessError(
                f"{len(refs)} Ray worker(s) did not start within {START_TIMEOUT_S:.0f} s; check that the "
                "cluster has the CPUs/GPUs asked for (--workers, --cpus-per-worker, --gpus-per-worker)"
            ) from None
        except self._system_error as e:  # e.g. the harness or its dependencies missing on a node
            raise HarnessError(
                f"a Ray worker could not start: {_first_line(e)} (is the harness's environment on every node?)"
            ) from None
        for w, place in zip(refs.values(), places):
            self.places[w] = place
            self._free.append(w)

    @property
    def nodes(self) -> list[dict[str, Any]]:
        """Each node the workers ran on, with its worker count."""
        by_node: dict[str, dict[str, Any]] = {}
        for place in self.places:
            if place is not None:
                entry = by_node.setdefault(place.node_id, {"ip": place.node_ip, "node_id": place.node_id, "workers": 0})
                entry["workers"] += 1
        return list(by_node.values())

    def _where(self, worker: int) -> str:
        place = self.places[worker]
        return f"Ray worker {worker}" + (f" (pid {place.pid}, {place.describe()})" if place else "")

    # ---- the Backend contract ---------------------------------------------------------------

    def submit(self, call: Call, target: Target) -> None:
        self._queue.append((call, target))

    def next_done(self) -> tuple[Call, Outcome]:
        while True:
            self._dispatch()
            if not self._in_flight:
                raise RuntimeError("no call in flight and none queued; nothing to wait for")
            (ref,), _ = self._ray.wait(list(self._in_flight), num_returns=1)
            worker, call, target = self._in_flight.pop(ref)
            try:
                reply = self._ray.get(ref)
            except self._task_error as e:  # the adapter raised: a bug, raised where the suite called
                reply = Reply(Outcome(error=e))
            except self._system_error as e:  # the worker (or its node) died, or its answer was lost
                self._lost(worker, call, target, e)
                continue
            if call is None:  # a restarted worker answered its first call: it is back
                self.places[worker] = reply
                print(f"harness: {self._where(worker)} is back", file=sys.stderr)
                self._free.append(worker)
                continue
            self._free.append(worker)
            self.calls_done += 1
            if reply.fatal is not None:
                raise HarnessError(f"{self._where(worker)} cannot serve {target.name}: {_one_line(reply.fatal)}")
            assert reply.outcome is not None
            return call, reply.outcome

    def _dispatch(self) -> None:
        """Give free workers the largest queued calls (so the last calls of a run are small)."""
        if not self._free or not self._queue:
            return
        self._queue.sort(key=lambda item: item[0].cost)
        while self._free and self._queue:
            call, target = self._queue.pop()
            worker = self._free.pop(0)
            ref = self.actors[worker].call.remote(target, call.method, call.payload)
            self._in_flight[ref] = (worker, call, target)

    def _lost(self, worker: int, call: Call | None, target: Target | None, error: BaseException) -> None:
        """A worker failed with a call in flight (its process killed, its node lost): say so, send
        the call again (to whichever worker is free first), and wait for Ray to restart the worker;
        its first answer after the restart puts it back to work."""
        if call is None or target is None:  # the wait for the restart itself failed: Ray gave up on it
            raise HarnessError(f"{self._where(worker)} failed and Ray could not restart it: {_first_line(error)}") from None
        self.restarts[worker] += 1
        if self.restarts[worker] > MAX_RESTARTS:
            raise HarnessError(
                f"{self._where(worker)} failed {self.restarts[worker]} times; last: {_first_line(error)}"
            ) from None
        print(
            f"harness: {self._where(worker)} failed ({type(error).__name__}); its {call.method} call "
            f"({len(call.payload)} requests) is sent again; restart {self.restarts[worker]} of {MAX_RESTARTS}",
            file=sys.stderr,
        )
        self._queue.append((call, target))
        # Retried by Ray until the restarted actor answers (or Ray gives up on it).
        ref = self.actors[worker].place.options(max_task_retries=-1).remote()
        self._in_flight[ref] = (worker, None, None)

    def close(self) -> None:
        for actor in self.actors:
            self._ray.kill(actor, no_restart=True)
        self.actors = []


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


def _one_line(message: str) -> str:
    return " ".join(message.split())
