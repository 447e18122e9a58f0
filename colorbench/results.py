"""The results store: ``results/<model-slug>/<task>/`` with predictions, summary, table, figure.

Every file is written atomically (temp file in the same directory, fsync, ``os.replace``)
so a crash or a kill leaves either the old file or the new one, never half of one.
``summary.json`` is written last: its presence marks a finished (model, task) result,
which is what the leaderboard reads and what a resumed run skips.
"""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from colorbench.errors import ColorbenchError
from colorbench.markdown import escape, table
from colorbench.names import model_slug, printable
from colorbench.task import Task, TaskSummary

SCHEMA = "colorbench.summary/1"
PREDICTIONS = "predictions.parquet"
SUMMARY = "summary.json"
TABLE = "table.md"
FIGURE = "figure.png"


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
    os.close(fd)
    tmp = Path(name)
    try:
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


def write_error(path: Path, exc: OSError) -> ColorbenchError:
    """One line for a write that failed: a full disk says how much space is left."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        try:
            free = f"{shutil.disk_usage(path.parent).free / 2**20:.1f} MiB free"
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
    write_bytes(path, text.encode())


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_parquet(path: Path, frame: pd.DataFrame | pa.Table) -> None:
    table_ = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    buffer = io.BytesIO()
    pq.write_table(table_, buffer)
    write_bytes(path, buffer.getvalue())


def result_dir(out: Path, model_id: str, task: str) -> Path:
    return Path(out) / model_slug(model_id) / task


def render_tables(model_id: str, summary: TaskSummary) -> str:
    """``table.md``: every summary table under its own heading, cells escaped."""
    parts = [f"# {escape(model_id)}: {escape(summary.task)}\n"]
    h = summary.headline
    parts.append(
        f"Headline: {escape(h.metric)} = {h.value:.1f} "
        f"(95% CI {h.ci_low:.1f}-{h.ci_high:.1f}, n = {h.n})\n"
    )
    for name, df in summary.tables.items():
        parts.append(f"## {escape(name)}\n\n{table(df)}")
    return "\n".join(parts)


def write_result(
    out: Path,
    model_id: str,
    task: Task,
    summary: TaskSummary,
    predictions: pd.DataFrame,
    provenance: dict[str, Any],
) -> tuple[Path, dict[str, Any]]:
    """Store one (model, task) result; returns its directory and the ``summary.json`` content."""
    directory = result_dir(out, model_id, task.name)
    write_parquet(directory / PREDICTIONS, predictions)
    write_text(directory / TABLE, render_tables(model_id, summary))
    files = {"predictions": PREDICTIONS, "table": TABLE}
    with atomic_path(directory / FIGURE) as tmp:
        drawn = task.figure(summary, tmp)
    if drawn is not None:
        files["figure"] = FIGURE
    else:
        (directory / FIGURE).unlink(missing_ok=True)
    doc = {
        "schema": SCHEMA,
        "model": model_id,
        "task": task.name,
        "provenance": provenance,
        "summary": summary.to_dict(),
        "files": files,
    }
    write_json(directory / SUMMARY, doc)
    return directory, doc


def read_summary(directory: Path) -> dict[str, Any] | None:
    """The ``summary.json`` of a finished result, or None if absent or not ours."""
    try:
        doc = json.loads((directory / SUMMARY).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        return None
    return doc


def check_owner(model_dir: Path, model_id: str) -> None:
    """Refuse a model folder holding another model's results (planted, or written by a
    colorbench whose folder names were not unique): they would be mixed or replaced."""
    for path in sorted(Path(model_dir).glob(f"*/{SUMMARY}")):
        doc = read_summary(path.parent)
        if doc is not None and doc.get("model") != model_id:
            raise ColorbenchError(
                f"{model_dir} holds results of model {printable(repr(doc.get('model')))}, not "
                f"{model_id!r}; move that folder away or pass another --out"
            )


def read_predictions(directory: Path) -> pd.DataFrame:
    return pq.read_table(directory / PREDICTIONS).to_pandas()


def notify(pm: Any, doc: dict[str, Any], directory: Path, warn: Callable[[str], None]) -> None:
    """Call every ``colorbench_result_written`` reporter; one that raises becomes a warning."""
    caller = pm.hook.colorbench_result_written
    kwargs = {
        "model_id": doc["model"],
        "task": doc["task"],
        "summary": doc,
        "path": str(directory),
    }
    for impl in caller.get_hookimpls():
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except Exception as exc:  # a reporter must never lose the stored result
            warn(f"reporter {impl.plugin_name!r} failed for {doc['task']}: {exc!r}; result kept")
