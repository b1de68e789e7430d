"""A real `harness serve` process for tests: started on a free loopback port, stopped at the end.

    with start_server("ngram") as server:
        httpx2.get(f"{server.url}/models")          # server.url == "http://127.0.0.1:PORT/v1"

The server is started with `--port 0` and reports the port it got on its first line of output,
so there is no race for a port. Its stdout and stderr go to files (`server.output()` reads them),
so a chatty server can never block on a full pipe.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from harness.cli import OFFLINE_VARIABLES

REPO = Path(__file__).resolve().parent.parent
_STARTED = re.compile(r"harness serve: .* at (http://\S+?:(\d+)/v1)$", re.MULTILINE)


class ServerProcess:
    def __init__(self, process: subprocess.Popen, url: str, port: int, logs: Path) -> None:
        self.process = process
        self.url = url  # http://127.0.0.1:PORT/v1, what an OpenAI client takes as base_url
        self.port = port
        self.logs = logs

    @property
    def root(self) -> str:
        """http://127.0.0.1:PORT, for /health, /tokenize and /detokenize."""
        return self.url[: -len("/v1")]

    def output(self) -> str:
        """Everything the server printed so far (stdout, then stderr)."""
        return "".join(p.read_text(encoding="utf-8", errors="replace") for p in (self.logs / "stdout", self.logs / "stderr"))

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.root}/health", timeout=10) as r:
            return json.loads(r.read())

    def stop(self, timeout: float = 15.0) -> int | None:
        """Terminate (SIGTERM: uvicorn shuts down gracefully), kill if it lingers; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.logs, ignore_errors=True)


def start_server(model: str | Path, *extra_args: str, env: dict[str, str] | None = None, timeout: float = 180.0) -> ServerProcess:
    """`python -m harness serve MODEL --port 0 EXTRA_ARGS...`, once its /health answers.

    `env` is added to the current environment; the Hugging Face offline variables are always
    set. Raises RuntimeError with the server's output if it exits or does not answer within
    `timeout` seconds."""
    logs = Path(tempfile.mkdtemp(prefix="harness-serve-"))
    full_env = {**os.environ, **{v: "1" for v in OFFLINE_VARIABLES}, **(env or {})}
    command = [sys.executable, "-m", "harness", "serve", str(model), "--host", "127.0.0.1", "--port", "0", *map(str, extra_args)]
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=REPO, env=full_env)
    server = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server is None:
            found = _STARTED.search((logs / "stdout").read_text(encoding="utf-8", errors="replace"))
            if found:
                server = ServerProcess(process, found.group(1), int(found.group(2)), logs)
        if server is not None and _answers(server):
            return server
        if process.poll() is not None:
            break
        time.sleep(0.1)
    output = ServerProcess(process, "", 0, logs)
    output.stop()
    text = output.output()
    shutil.rmtree(logs, ignore_errors=True)
    raise RuntimeError(f"`{' '.join(command)}` did not start (exit status {process.returncode}):\n{text}")


def _answers(server: ServerProcess) -> bool:
    try:
        return server.health().get("status") == "ok"
    except (OSError, urllib.error.URLError, ValueError):
        return False
