"""Per-sample results appended and flushed as they complete, so a killed run resumes.

`<out>/<suite>.jsonl` holds one record per line. Beside it, `<out>/.journal/<suite>.json` holds
the identity of the run that wrote it (model fingerprint, protocol id, data hash, seed); a later
run into the same folder continues the journal only if its identity is the same, and otherwise
stops with an error rather than mixing or discarding results.

When a run covers fewer items than the journal holds (a smaller `--limit` into the same folder),
`<suite>.jsonl` ends with exactly the run's items and the others move to
`<out>/.journal/<suite>.unused.jsonl`, where a later run that covers them again picks them up:
nothing journaled is lost, and the per-sample file always matches the summary.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written temporary left behind
        raise


class Journal:
    def __init__(self, path: Path, identity: dict[str, Any]) -> None:
        self.path = path
        self.identity = identity
        self.meta_path = path.parent / ".journal" / f"{path.stem}.json"
        self.unused_path = path.parent / ".journal" / f"{path.stem}.unused.jsonl"

    def open(self) -> dict[str, dict[str, Any]]:
        """Records already journaled by the same run, by item id; starts the journal if new."""
        if self.meta_path.exists():
            previous = json.loads(self.meta_path.read_text(encoding="utf-8"))
            if previous != self.identity:
                changed = sorted(k for k in set(previous) | set(self.identity) if previous.get(k) != self.identity.get(k))
                raise HarnessError(
                    f"{self.path}: holds results of a different run ({', '.join(changed)} differ); "
                    f"write to another --out folder or delete {self.path.parent}"
                )
        elif self.path.exists():
            raise HarnessError(
                f"{self.path}: exists but was not written by this harness run; "
                f"write to another --out folder or delete it"
            )
        self.meta_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.meta_path, json.dumps(self.identity, sort_keys=True))
        return {**_read_records(self.unused_path), **_read_records(self.path)}

    def append(self, records: list[dict[str, Any]]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(_lines(records))
            f.flush()

    def finish(self, ordered: list[dict[str, Any]], journaled: dict[str, dict[str, Any]]) -> None:
        """Rewrite the file as exactly `ordered` if it differs (e.g. after a resumed run), and keep
        the other `journaled` records (by id) in the unused file."""
        ids = {r["id"] for r in ordered}
        unused = [r for key, r in journaled.items() if key not in ids]
        # The unused records are saved before they leave the main file, so a kill in between
        # loses nothing (a record in both is the same record).
        if unused or self.unused_path.exists():
            _rewrite(self.unused_path, unused)
        _rewrite(self.path, ordered)


def _lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)


def _rewrite(path: Path, records: list[dict[str, Any]]) -> None:
    text = _lines(records)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        atomic_write_text(path, text)


def _read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Records of a journal file by id; a last line cut short by a kill is dropped (it is redone)."""
    if not path.exists():
        return {}
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    if len(complete) != len(data):
        with open(path, "r+b") as f:
            f.truncate(len(complete))
    records = {}
    for line in complete.decode("utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            records[record["id"]] = record
    return records
