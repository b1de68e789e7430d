"""Helpers for the Ray tests: the CLI in-process, torch's thread count, and the processes of the
local Ray clusters these tests start.

Every test here runs `harness run ... --executor ray --workers 2 --cpus-per-worker 1`, which
starts a real single-node Ray (`ray.init(num_cpus=2)`) and stops it at the end of the run. Ray's
temporary folder is set (RAY_TMPDIR) to a folder of this test session, so the tests can tell the
Ray processes they started from any other on the machine.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.tiny_models import build_tiny_llama

RAY_FLAGS = ("--executor", "ray", "--workers", "2", "--cpus-per-worker", "1")


@pytest.fixture(scope="package", autouse=True)
def ray_tmpdir() -> Iterator[Path]:
    """A short folder for Ray's sockets and logs (a Unix socket path must stay under 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="hray-", dir="/tmp"))
    old = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("RAY_TMPDIR", None)
    else:
        os.environ["RAY_TMPDIR"] = old
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="package")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two tiny random Llamas (different weights, same tokenizer), as transformers folders."""
    folder = tmp_path_factory.mktemp("models")
    return build_tiny_llama(folder / "tiny-a", seed=0), build_tiny_llama(folder / "tiny-b", seed=1)


def harness(*args: object) -> tuple[int, str, str]:
    """`harness ARGS...` in this process: (exit status, stdout, stderr)."""
    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads for a serial run: the same as each Ray worker's CPU share, since
    torch's results can differ in the last bits between thread counts (docs/scale-out.md)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def ray_processes(tmpdir: Path) -> list[int]:
    """Processes of the Ray clusters started under `tmpdir`: raylet, gcs_server and the workers
    name it in their command line or inherit RAY_TMPDIR from the driver."""
    tag = str(tmpdir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + b"\0" + (proc / "environ").read_bytes()
        except OSError:
            continue
        if tag in text:
            found.append(int(proc.name))
    return found


def ray_processes_after(tmpdir: Path, wait_s: float = 10.0) -> list[int]:
    """The Ray processes still alive after `wait_s` seconds (an empty list when Ray stopped)."""
    deadline = time.monotonic() + wait_s
    while True:
        left = ray_processes(tmpdir)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)
