"""Shared fixtures: an isolated call cache that still reuses the converted default model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cache import default_cache_dir
from harness.cli import OFFLINE_VARIABLES

for _var in OFFLINE_VARIABLES:
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """A fresh call cache per test. The GGUF-converted default model (under models/) and the
    file-hash memo are linked from the user's cache, so the 20 s conversion happens once per
    machine, not once per test."""
    shared = default_cache_dir()
    shared.mkdir(parents=True, exist_ok=True)
    (shared / "models").mkdir(exist_ok=True)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "models").symlink_to(shared / "models", target_is_directory=True)
    return cache


@pytest.fixture
def run_cli(cache_dir: Path, capsys: pytest.CaptureFixture[str]):
    """Run `harness ARGS...` in-process; returns (exit status, stdout, stderr).

    `--cache-dir` is filled in with the test's isolated cache for `run` unless given.
    """
    from harness.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        argv = [str(a) for a in args]
        if argv and argv[0] == "run" and "--cache-dir" not in argv and "--no-cache" not in argv:
            argv += ["--cache-dir", str(cache_dir)]
        code = main(argv)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
