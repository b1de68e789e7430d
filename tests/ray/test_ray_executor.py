"""`harness run --executor ray` on a real local two-worker Ray: the same results as a serial run
for every suite kind, a worker killed mid-run, a worker that cannot load its model, several
models in one run, and no Ray process left behind.

The serial reference runs with torch at one thread, each worker's share (`--cpus-per-worker 1`):
torch's numbers can differ in the last bits between thread counts (here: the tiny Llama's
attention over a KV cache in BBQ's prefix reuse), in the serial path as much as in a worker.
With the same threads, a Ray run equals a serial run byte for byte.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.ray.conftest import RAY_FLAGS, harness, ray_processes, ray_processes_after, torch_threads

ALL_KINDS = (
    "perplexity", "crows_pairs", "stereoset", "bbq", "counterfactual", "squad", "truthfulqa_mc", "toxicity",
    "toxicity_filter",
)  # fmt: skip
# Enough items for several chunks (and so several calls in flight) in most suites; two samples per
# prompt keep the sampled generations (toxicity, counterfactual's toxicity) short.
COMMON = ("--limit", "12", "--samples", "2", "--quiet")


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


def assert_same_results(serial: Path, ray: Path, suites: tuple[str, ...]) -> None:
    for suite in suites:
        assert (ray / f"{suite}.jsonl").read_bytes() == (serial / f"{suite}.jsonl").read_bytes(), suite
    a, b = summary(serial), summary(ray)
    for suite in suites:
        assert b["suites"][suite]["metrics"] == a["suites"][suite]["metrics"], suite
        assert b["suites"][suite]["breakdowns"] == a["suites"][suite]["breakdowns"], suite
    assert b["cache"] == a["cache"]  # the driver drops the same hits and sends the same misses


@pytest.fixture(scope="module")
def every_kind(tiny_models: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory, ray_tmpdir: Path) -> dict[str, Any]:
    """Every suite kind on the tiny Llama, serially (one thread) and on two Ray workers."""
    tmp = tmp_path_factory.mktemp("every-kind")
    model = tiny_models[0]
    with torch_threads(1):
        code, _, err = harness("run", *ALL_KINDS, "--model", model, *COMMON, "--out", tmp / "serial", "--cache-dir", tmp / "c1")
    assert code == 0, err
    code, stdout, err = harness(
        "run", *ALL_KINDS, "--model", model, *COMMON, "--out", tmp / "ray", "--cache-dir", tmp / "c2", *RAY_FLAGS
    )
    assert code == 0, err
    left = ray_processes_after(ray_tmpdir)
    return {"tmp": tmp, "model": model, "stdout": stdout, "stderr": err, "left": left}


@pytest.mark.parametrize("suite", ALL_KINDS)
def test_ray_run_gives_the_serial_records_and_metrics(every_kind: dict[str, Any], suite: str) -> None:
    tmp = every_kind["tmp"]
    assert_same_results(tmp / "serial", tmp / "ray", (suite,))
    records = [json.loads(line) for line in (tmp / "ray" / f"{suite}.jsonl").read_text().splitlines()]
    assert len(records) == 12 and not any("error" in r for r in records)


def test_ray_run_records_its_workers_and_is_quiet(every_kind: dict[str, Any]) -> None:
    tmp = every_kind["tmp"]
    a, b = summary(tmp / "serial"), summary(tmp / "ray")
    assert a["executor"] == {"name": "serial"}
    executor = b["executor"]
    assert executor["name"] == "ray" and executor["workers"] == 2 and executor["restarts"] == 0
    assert executor["address"] == "local" and executor["cpus_per_worker"] == 1
    assert [n["workers"] for n in executor["nodes"]] == [2] and executor["nodes"][0]["ip"]
    # Every chunk of every suite that missed the cache was a call to a worker (model or classifier).
    assert executor["calls"] >= 20
    assert a["cache"]["misses"] > 0 and a["cache"]["hits"] == 0
    # No Ray banner, warning or log line reaches the user; the results table does.
    assert every_kind["stderr"] == ""
    assert "pct_stereotype" in every_kind["stdout"]


def test_ray_started_by_the_run_is_gone_after_it(every_kind: dict[str, Any]) -> None:
    assert every_kind["left"] == [], f"Ray processes left behind: {every_kind['left']}"


def test_a_warm_rerun_starts_no_ray(every_kind: dict[str, Any], ray_tmpdir: Path) -> None:
    """Every call is answered by the driver's call cache, so no worker (and no Ray) is needed."""
    tmp = every_kind["tmp"]
    code, _, err = harness(
        "run", "crows_pairs", "bbq", "--model", every_kind["model"], "--limit", "12", "--quiet", "--out", tmp / "warm",
        "--cache-dir", tmp / "c2", *RAY_FLAGS,
    )  # fmt: skip
    assert code == 0, err
    warm = summary(tmp / "warm")
    assert warm["executor"]["workers"] == 0 and warm["executor"]["calls"] == 0
    assert warm["cache"]["misses"] == 0 and warm["cache"]["hits"] > 0
    for suite in ("crows_pairs", "bbq"):
        assert (tmp / "warm" / f"{suite}.jsonl").read_bytes() == (tmp / "serial" / f"{suite}.jsonl").read_bytes()


def test_a_killed_worker_loses_nothing(
    tiny_models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_tmpdir: Path
) -> None:
    """kill -9 of a worker process while it holds a call: the call goes to a worker again, Ray
    restarts the killed one, which takes calls again, and the run ends with the serial run's
    results."""
    from harness.executors import ray_pool

    suites = ("crows_pairs", "bbq", "perplexity")
    args = ("--model", tiny_models[0], "--limit", "96", "--quiet")
    with torch_threads(1):
        code, _, err = harness("run", *suites, *args, "--out", tmp_path / "serial", "--cache-dir", tmp_path / "c1")
    assert code == 0, err

    killed: list[int] = []
    dispatch = ray_pool.RayPool._dispatch

    def dispatch_then_kill(pool: ray_pool.RayPool) -> None:
        if killed or pool.calls_done < 2 or not pool._free or not pool._queue:
            dispatch(pool)
            return
        worker = pool._free[0]  # the worker the next call goes to
        pid = pool.places[worker].pid  # the worker's own answer (its `place` method) at start-up
        # Stopped before the call is sent, the worker cannot answer it before it is killed, however
        # loaded the machine is: it dies holding the call.
        os.kill(pid, signal.SIGSTOP)
        dispatch(pool)
        assert any(w == worker and call is not None for w, call, _ in pool._in_flight.values())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
        # Hold the driver until Ray has restarted the worker, so that the run goes on with it
        # (otherwise the other worker may finish the run before the restart completes).
        import ray

        ray.get(pool.actors[worker].place.options(max_task_retries=-1).remote(), timeout=300)

    monkeypatch.setattr(ray_pool.RayPool, "_dispatch", dispatch_then_kill)
    code, _, err = harness("run", *suites, *args, "--out", tmp_path / "ray", "--cache-dir", tmp_path / "c2", *RAY_FLAGS)
    assert code == 0, err
    assert len(killed) == 1
    failed = [line for line in err.splitlines() if "failed" in line]
    assert len(failed) == 1 and f"pid {killed[0]}" in failed[0] and "is sent again" in failed[0], err
    back = [line for line in err.splitlines() if line.endswith(" is back")]
    assert len(back) == 1 and f"pid {killed[0]}" not in back[0], err  # a new process
    assert all(line.startswith("harness: Ray worker") for line in err.splitlines()), err
    assert summary(tmp_path / "ray")["executor"]["restarts"] == 1
    assert_same_results(tmp_path / "serial", tmp_path / "ray", suites)
    assert ray_processes_after(ray_tmpdir) == []


def test_a_worker_that_cannot_load_its_model_stops_the_run_naming_its_node(
    tiny_models: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ray_tmpdir: Path
) -> None:
    """The model folder exists for the driver (which reads its hashes) but not where the workers
    look: as when a path is missing on a cluster's node."""
    from harness.executors import ray_executor

    missing = tmp_path / "not-on-this-node" / "tiny-a"
    absolute = ray_executor._absolute_paths

    def elsewhere(spec: Any) -> Any:
        spec = absolute(spec)
        return type(spec)(**{**spec.__dict__, "args": {**spec.args, "path": str(missing)}})

    monkeypatch.setattr(ray_executor, "_absolute_paths", elsewhere)
    code, stdout, err = harness(
        "run", "crows_pairs", "--model", tiny_models[0], "--limit", "8", "--quiet", "--out", tmp_path / "out",
        "--cache-dir", tmp_path / "c", *RAY_FLAGS,
    )  # fmt: skip
    assert code == 2 and stdout == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("harness: error: Ray worker ") and "Traceback" not in err
    assert "node " in lines[0] and str(missing) in lines[0] and "no such model folder" in lines[0]
    assert ray_processes_after(ray_tmpdir) == []


@pytest.mark.slow
def test_ctrl_c_stops_the_ray_it_started_and_keeps_the_journal(cache_dir: Path, tmp_path: Path, ray_tmpdir: Path) -> None:
    """SIGINT in the middle of a Ray run (the default model on BBQ, long enough to interrupt):
    the usual one-line message and exit 130, the items so far journaled, no Ray process left."""
    out = tmp_path / "out"
    # A child of a non-interactive shell may start with SIGINT ignored; give it Python's handler.
    code = "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); from harness.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", "bbq", "--model", "smollm2-135m", "--out", str(out), "--cache-dir", str(cache_dir),
         "--quiet", *RAY_FLAGS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    journal = out / "bbq.jsonl"
    deadline = time.monotonic() + 300
    while not (journal.exists() and journal.read_text(encoding="utf-8").count("\n") >= 16):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no chunk journaled in 300 s"
        time.sleep(0.2)
    assert ray_processes(ray_tmpdir), "the run's Ray is not running"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("harness: interrupted; results so far are journaled"), err
    assert ray_processes_after(ray_tmpdir) == []
    assert 16 <= journal.read_text(encoding="utf-8").count("\n") < 440


def test_several_models_in_one_ray_run(tiny_models: tuple[Path, Path], tmp_path: Path, ray_tmpdir: Path) -> None:
    """`--model a --model b`: each model into OUT/<model>/, on one Ray and the same workers, each
    folder the same as a serial run of that model alone."""
    suites = ("crows_pairs", "perplexity", "toxicity")
    common = ("--limit", "12", "--samples", "2", "--quiet")
    for model in tiny_models:
        with torch_threads(1):
            code, _, err = harness(
                "run", *suites, "--model", model, *common, "--out", tmp_path / "serial" / model.name,
                "--cache-dir", tmp_path / "c1",
            )  # fmt: skip
        assert code == 0, err
    code, stdout, err = harness(
        "run", *suites, "--model", tiny_models[0], "--model", tiny_models[1], *common, "--out", tmp_path / "ray",
        "--cache-dir", tmp_path / "c2", *RAY_FLAGS,
    )  # fmt: skip
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["tiny-a", "tiny-b"]
    executors = []
    for model in tiny_models:
        assert_same_results(tmp_path / "serial" / model.name, tmp_path / "ray" / model.name, suites)
        executors.append(summary(tmp_path / "ray" / model.name)["executor"])
    # One cluster for both models: the same node, and the second model's calls came after the first's.
    assert executors[0]["nodes"] == executors[1]["nodes"] and executors[0]["workers"] == 2
    assert executors[1]["calls"] > executors[0]["calls"] > 0
    assert ray_processes_after(ray_tmpdir) == []


def test_ray_flags_need_the_ray_executor(tmp_path: Path) -> None:
    code, _, err = harness("run", "crows_pairs", "--model", "ngram", "--workers", "2", "--out", tmp_path / "o")
    assert code == 2 and err.strip() == "harness: error: --workers applies to --executor ray; add --executor ray or drop it"


def test_bad_worker_settings_stop_before_anything_loads(tmp_path: Path) -> None:
    code, _, err = harness("run", "crows_pairs", "--model", "ngram", "--executor", "ray", "--workers", "0", "--out", tmp_path / "o")
    assert code == 2 and err.strip() == "harness: error: --workers must be at least 1, got 0"
    code, _, err = harness(
        "run", "crows_pairs", "--model", "ngram", "--executor", "ray", "--gpus-per-worker", "1", "--out", tmp_path / "o"
    )
    assert code == 2 and "add --device cuda" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o" / "crows_pairs.jsonl").exists()


def test_an_address_where_no_cluster_answers_fails_at_once(tmp_path: Path) -> None:
    """Ray itself would retry for minutes, logging every attempt; the harness checks first."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed: nothing listens there
    code, _, err = harness(
        "run", "crows_pairs", "--model", "ngram", "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
        "--out", tmp_path / "o",
    )  # fmt: skip
    assert code == 2 and err.startswith(f"harness: error: --ray-address 127.0.0.1:{port}: no Ray cluster answers there")
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_without_ray_the_executor_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    code, _, err = harness("run", "crows_pairs", "--model", "ngram", "--executor", "ray", "--out", tmp_path / "o")
    assert code == 2
    assert err.strip() == "harness: error: --executor ray needs Ray: pip install 'harness[ray]'"
