"""sha256 of (large) files, remembered by path, size and modification time."""

from __future__ import annotations

import json
from pathlib import Path

from harness.journal import atomic_write_text
from harness.resources import file_sha256


def cached_file_sha256(path: Path, cache_dir: Path) -> str:
    """The file's sha256; hashing a 500 MB weight file takes a second, so the answer is kept in
    `<cache_dir>/hashes.json` under the file's resolved path, size and mtime."""
    path = path.resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    memo_path = cache_dir / "hashes.json"
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if key in memo:
        return memo[key]
    digest = file_sha256(path)
    memo[key] = digest
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(memo_path, json.dumps(memo, indent=0))
    except OSError:
        pass  # a read-only cache only costs the hash again next time
    return digest
