"""`harness serve PRESET|PATH`: serve a model over an OpenAI-compatible HTTP API (docs/serve.md).

The model is loaded exactly as `harness run` loads it (preset, folder, GGUF file or checkpoint,
with the same overrides), its weights are read before the server listens, and one line says
where it is served. Loopback only unless --host says otherwise; --api-key-env names the
environment variable holding the key every request must carry (the key itself is never printed).
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands.run import batch_size
from harness.errors import HarnessError

if TYPE_CHECKING:  # fastapi and torch load only when the command runs
    from harness.serve.engine import Engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "model", metavar="PRESET|PATH", help="a preset name, a preset YAML, a model folder, a GGUF file or a checkpoint folder"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one, printed at start)")
    parser.add_argument("--max-batch", type=int, default=8, help="most requests grouped into one model call (default: 8)")
    parser.add_argument(
        "--max-wait-ms", type=float, default=5.0, help="how long a request waits for others to batch with (default: 5)"
    )
    parser.add_argument(
        "--api-key-env", metavar="NAME", help="require `Authorization: Bearer <key>`, the key read from this environment variable"
    )
    parser.add_argument("--batch-size", type=batch_size, help="sequences per forward pass, or 'auto'")
    parser.add_argument("--max-length", type=int, help="model context length in tokens (default: the preset's)")
    parser.add_argument("--device", choices=["cpu", "cuda", "mps"], help="where the model runs")
    parser.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="model precision")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where converted models live (default: $XDG_CACHE_HOME/harness)")


def main(args: argparse.Namespace) -> int:
    _check(args)
    api_key = _api_key(args.api_key_env)
    try:
        import uvicorn

        from harness.serve.app import create_app
    except ImportError as e:
        raise HarnessError(f"harness serve needs fastapi and uvicorn ({e}); pip install fastapi uvicorn") from None
    engine = load_engine(args)
    sock = _listen(args.host, args.port)
    host, port = sock.getsockname()[:2]
    if not _is_loopback(args.host) and api_key is None:
        print(f"harness serve: warning: listening on {args.host} without --api-key-env; anyone who can reach it can use it",
              file=sys.stderr, flush=True)
    app = create_app(engine, max_batch=args.max_batch, max_wait_s=args.max_wait_ms / 1000, api_key=api_key)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    print(f"harness serve: {engine.info.name} at {_url(host, port)}", flush=True)
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def load_engine(args: argparse.Namespace) -> Engine:
    """The adapter built by `harness run`'s code, its weights loaded, wrapped for serving."""
    from harness.api import TokenScorer
    from harness.cache import default_cache_dir
    from harness.resources import load_model_spec
    from harness.runner import RunOptions, build_model
    from harness.serve.engine import Engine

    spec = load_model_spec(args.model)
    options = RunOptions(
        suites=(), model=args.model, out=Path("."), batch_size=args.batch_size, max_length=args.max_length,
        device=args.device, dtype=args.dtype, cache_dir=args.cache_dir or default_cache_dir(), use_cache=False,
    )
    adapter = build_model(spec, options)
    if not isinstance(adapter, TokenScorer):
        raise HarnessError(
            f"model {spec.name}: adapter {spec.adapter!r} cannot score tokens, so it cannot be served; "
            "serve an hf, scratch or ngram model"
        )
    engine = Engine(adapter, adapter.info)
    engine.warm_up()
    return engine


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise HarnessError(f"--port must be 0..65535, got {args.port}")
    if args.max_batch < 1:
        raise HarnessError(f"--max-batch must be at least 1, got {args.max_batch}")
    if not 0 <= args.max_wait_ms <= 1000:
        raise HarnessError(f"--max-wait-ms must be 0..1000, got {args.max_wait_ms}")
    if args.max_length is not None and args.max_length < 2:
        raise HarnessError(f"--max-length must be at least 2 tokens, got {args.max_length}")
    if args.batch_size is not None and args.batch_size != "auto" and args.batch_size < 1:
        raise HarnessError(f"--batch-size must be a positive number or 'auto', got {args.batch_size}")


def _api_key(name: str | None) -> str | None:
    if name is None:
        return None
    key = os.environ.get(name, "")
    if not key.strip():
        raise HarnessError(f"--api-key-env {name}: the environment variable {name} is not set or empty; export the key in it")
    return key.strip()


def _listen(host: str, port: int) -> socket.socket:
    """A bound socket (port 0: a free one), handed to uvicorn, so the printed URL is the real one."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        raise HarnessError(f"cannot listen on {host}:{port} ({e.strerror or e}); pick another --port or --host") from None
    return sock


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/v1"
