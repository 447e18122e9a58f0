"""One writer per model directory: two runs into the same results could corrupt each other.

``fcntl.flock`` is released by the kernel when the process dies, so a killed run never
leaves a stale lock behind for the next one to trip over.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from colorbench.errors import ColorbenchError

LOCK_NAME = ".lock"


class DirectoryLock:
    """Exclusive, non-blocking lock on ``directory/.lock``; raises if another run holds it."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> DirectoryLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            holder = f"pid {pid}" if pid.isdigit() else "another process"
            raise ColorbenchError(
                f"another colorbench run ({holder}) is writing {self.path.parent}; "
                "wait for it to finish or pass a different --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
