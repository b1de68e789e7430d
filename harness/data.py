"""Reading input files with errors that name the file and line. Shared by every suite kind."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def read_text(path: Path) -> str:
    """A whole UTF-8 file (a leading BOM dropped, CRLF normalised to LF)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file; check the path") from None
    except IsADirectoryError:
        raise HarnessError(f"{path}: is a folder; give a file") from None
    except OSError as e:
        raise HarnessError(f"{path}: cannot read ({e.strerror})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise HarnessError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x}); re-encode the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file."""
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise HarnessError(f"{path}:{number}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise HarnessError(f"{path}:{number}: expected a JSON object per line, got {type(obj).__name__}")
        yield number, obj


def read_json(path: Path) -> Any:
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise HarnessError(f"{path}:{e.lineno}: invalid JSON ({e.msg} at column {e.colno})") from None


def read_csv(path: Path, required: tuple[str, ...] = ()) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Header and (line number, row) pairs of a CSV file; quoted fields may hold commas and newlines.

    The line number is where the row starts in the file. A missing required column is an error
    naming the columns the file does have.
    """
    text = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise HarnessError(f"{path}: the file is empty; expected a CSV header line") from None
    except csv.Error as e:
        raise HarnessError(f"{path}:1: malformed CSV ({e})") from None
    missing = [c for c in required if c not in header]
    if missing:
        raise HarnessError(
            f"{path}:1: missing column(s) {', '.join(missing)}; the header has {', '.join(h or '(unnamed)' for h in header)}"
        )
    rows = []
    line = reader.line_num + 1
    try:
        for values in reader:
            if values:
                if len(values) != len(header):
                    raise HarnessError(
                        f"{path}:{line}: {len(values)} fields where the header has {len(header)}; check the quoting"
                    )
                rows.append((line, dict(zip(header, values))))
            line = reader.line_num + 1
    except csv.Error as e:
        raise HarnessError(f"{path}:{line}: malformed CSV ({e})") from None
    return header, rows
