"""Atomic file writes: a crash or a kill leaves either the old file or the new one, never half.

Every file colorbench writes (results, chunks, manifests, leaderboard, exported metadata)
goes through :func:`atomic_path`: a temp file in the same directory, fsynced, then
``os.replace``-d over the target.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temp path next to ``path`` (same suffix, for writers that infer the format from it),
    fsynced and renamed over ``path`` when the block succeeds, removed when it fails.

    A block that writes nothing to the temp path leaves ``path`` alone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            return
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
