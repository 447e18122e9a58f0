"""One writer per model directory: two runs into the same results could corrupt each other.

``fcntl.flock`` is released by the kernel when the process dies, so a killed run never
leaves a stale lock behind for the next one to trip over. The lock file is opened without
following symlinks: a results folder is shared, and a planted ``.lock -> somefile`` must not
get that file truncated.
"""

from __future__ import annotations

import fcntl
import os
import stat
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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            if self.path.is_symlink():
                raise ColorbenchError(
                    f"{self.path} is a symlink, not colorbench's lock file; remove it "
                    "(nothing it points to was touched) and rerun"
                ) from None
            raise ColorbenchError(
                f"cannot write {self.path.parent}: {exc.strerror or exc}; "
                "pass a writable --out folder"
            ) from None
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise ColorbenchError(
                f"{self.path} is not a plain file of its own (a hard link or special file); "
                "remove it and rerun"
            )
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
