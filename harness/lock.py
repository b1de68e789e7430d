"""One writer per output folder: an advisory lock that a killed run does not leave stuck.

`harness run` holds an exclusive `flock` on `<out>/.journal/lock` while it writes there. A second
run into the same folder stops at once with a one-line error naming the live run's pid. The kernel
drops the lock when its process ends, however it ends (even `kill -9`), so a stale lock file never
blocks the next run.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from harness.errors import HarnessError


class OutputLock:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / ".journal" / "lock"
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise HarnessError(f"{self.folder}: cannot write to the output folder ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise HarnessError(
                f"{self.folder}: another harness run (pid {holder}) is writing to this folder; "
                "wait for it to finish or give another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the lock; the file stays, harmless
            self._fd = None
