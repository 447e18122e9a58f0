"""Atomic file writes: a crash or a kill leaves either the old file or the new one, never half.

Every file colorbench writes (results, chunks, manifests, leaderboard, exported metadata)
goes through :func:`atomic_path`: a temp file in the same directory, fsynced, then
``os.replace``-d over the target.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from colorbench.errors import ColorbenchError


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path next to ``path`` (same suffix, for writers that infer the format from it),
    fsynced and renamed over ``path`` when the block succeeds, removed when it fails.

    The temp file is created here, exclusively and without following symlinks (``mkstemp``),
    under an unpredictable name: a symlink planted in a shared results folder cannot redirect
    the write. A block that leaves it empty leaves ``path`` alone. A full disk or a folder
    that cannot be written is one :class:`ColorbenchError` naming the path (and free space).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(
            prefix=f".{path.stem}.tmp-{os.getpid()}-", suffix=path.suffix, dir=path.parent
        )
    except OSError as exc:
        raise write_error(path, exc) from None
    tmp = Path(name)
    try:  # from here a Ctrl-C or SIGTERM anywhere still removes the temp file
        try:
            os.fchmod(fd, 0o666 & ~_umask())
        finally:
            os.close(fd)
        yield tmp
        if tmp.is_symlink() or tmp.stat().st_size == 0:
            return
        fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        raise write_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    """The process umask, read without changing it (``os.umask`` sets it, racing other threads).

    ``mkstemp`` creates files readable by their owner only; results folders are shared
    between people and tools, so a result gets the mode any ordinary write would give it.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_error(path: Path, exc: OSError) -> ColorbenchError:
    """One line for a write that failed: a full disk says how much space is left."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            left = shutil.disk_usage(path.parent).free
            free = f"{left / 2**20:.1f} MiB free" if left >= 2**20 else f"{left // 1024} KiB free"
        except OSError:
            free = "free space unknown"
        return ColorbenchError(
            f"disk full writing {path} ({free}); free some space and rerun the same command "
            "(finished work is kept)"
        )
    return ColorbenchError(
        f"cannot write {path}: {exc.strerror or exc}; pass a writable --out folder"
    )


def write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: Path, text: str) -> None:
    """UTF-8, newlines as given (``\\n`` stays ``\\n`` on every platform)."""
    write_bytes(path, text.encode())


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame | pa.Table) -> None:
    write_bytes(path, parquet_bytes(frame))


def parquet_bytes(frame: pd.DataFrame | pa.Table) -> bytes:
    """A table as parquet file content (chunks travel between ranks as these bytes)."""
    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()
