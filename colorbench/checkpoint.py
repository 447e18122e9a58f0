"""Chunked, resumable work: ``results/<model-slug>/.work/<set>/`` holds one set's finished chunks.

The flat index space of a stimulus set is cut into chunks of ``CHUNK_SIZE`` images, a
constant independent of batch size and world size, so a run interrupted anywhere and
resumed with any number of processes computes exactly the same chunks. A chunk file
appears atomically when its last image is scored; its existence is the only record of
progress, so finished chunks survive Ctrl-C, SIGKILL and power loss.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from colorbench import summary
from colorbench.atomic import write_bytes, write_json
from colorbench.errors import ColorbenchError
from colorbench.names import path_name_problem

#: images per chunk; changing it invalidates unfinished runs (it is in the manifest)
CHUNK_SIZE = 1024
WORK = ".work"
MANIFEST = "manifest.json"
#: provenance fields a resumed run must share with the run that wrote the chunks
RESUME_KEYS = (
    "model",
    "weights_sha256",
    "palette",
    "colorbench",
    "seed",
    "samples",
    "scoring",
    "normalization",
    "keep_scores",
)


def num_chunks(size: int) -> int:
    return math.ceil(size / CHUNK_SIZE)


def chunk_bounds(chunk: int, size: int) -> tuple[int, int]:
    """Flat index range ``[start, stop)`` of ``chunk`` in a set of ``size`` images."""
    start = chunk * CHUNK_SIZE
    return start, min(start + CHUNK_SIZE, size)


def batch_spans(start: int, stop: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into batches; batches never cross a chunk boundary."""
    return [(b, min(b + batch_size, stop)) for b in range(start, stop, batch_size)]


def resume_key(provenance: dict[str, Any]) -> dict[str, Any]:
    """The provenance fields a stored result or unfinished work must match to be reused."""
    return {k: provenance.get(k) for k in RESUME_KEYS}


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``["samples 1 -> 10", ...]`` for every key whose value differs."""
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in new if old.get(k) != new.get(k)]


class WorkDir:
    """The finished chunks of one stimulus set for one model (rank 0 alone touches it)."""

    def __init__(self, model_dir: Path, set_name: str) -> None:
        problem = path_name_problem(set_name)
        if problem:  # registration refuses these; a set built by hand must not escape either
            raise ColorbenchError(f"stimulus set {problem}")
        self.path = Path(model_dir) / WORK / set_name

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None

    def open(self, key: dict[str, Any], tasks: list[str], size: int) -> None:
        """Start the set's work, or check that the unfinished work there is the same run.

        Leftover temp files of a killed run are removed (the caller holds the lock).
        """
        expected = {**key, "tasks": tasks, "size": size, "chunk_size": CHUNK_SIZE}
        found = self.manifest()
        if found is None:
            self.discard()
            self.path.mkdir(parents=True, exist_ok=True)
            write_json(self.manifest_path, expected)
            return
        if found.get("model") != key.get("model"):
            raise ColorbenchError(
                f"{self.path} holds unfinished work of model {found.get('model')!r}, not "
                f"{key.get('model')!r}; move that folder away or pass another --out"
            )
        changes = describe_changes(found, expected)
        if changes:
            raise ColorbenchError(
                f"cannot resume the unfinished run in {self.path}: {'; '.join(changes)} since it "
                f"started; rerun with its options to resume, or pass --no-resume to discard its "
                f"{len(self.done())} finished chunk(s)"
            )
        for tmp in self.path.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)

    def chunk_path(self, chunk: int) -> Path:
        return self.path / f"chunk-{chunk:06d}.parquet"

    def done(self) -> set[int]:
        return {int(p.stem.split("-")[1]) for p in self.path.glob("chunk-*.parquet")}

    def write_chunk(self, chunk: int, data: bytes) -> None:
        write_bytes(self.chunk_path(chunk), data)

    def read_task(self, task: str, count: int) -> pa.Table:
        """All rows of ``task`` in chunk order, one chunk file in memory at a time."""
        parts = [
            pq.read_table(self.chunk_path(k), filters=[("task", "==", task)]) for k in range(count)
        ]
        return pa.concat_tables(parts, promote_options="permissive")

    def discard(self) -> None:
        """Remove the set's work (and ``.work`` itself once no set has any left).

        A symlinked ``.work`` or set folder is refused, never followed: removing must stay
        inside the results folder.
        """
        for link in (self.path.parent, self.path):
            if link.is_symlink():
                raise ColorbenchError(
                    f"{link} is a symlink; colorbench keeps its work there and removes it when "
                    "done, so remove the link (its target is left alone) and rerun"
                )
        shutil.rmtree(self.path, ignore_errors=True)
        try:
            self.path.parent.rmdir()
        except OSError:
            pass


@dataclass
class Resume:
    """What a run of one stimulus set still has to do."""

    #: tasks to compute, in the order of the work's manifest (empty: nothing to do)
    todo: list[str]
    #: chunks still missing, in order
    pending: list[int]
    #: selected tasks whose stored results are reused as they are
    kept: list[str]
    #: chunks an interrupted run already finished
    done: int


def decide(
    work: WorkDir,
    selected: list[str],
    key: dict[str, Any],
    size: int,
    resume: bool,
    result_dir: Callable[[str], Path],
) -> Resume:
    """The resume decision for one set (rank 0, under the model's lock).

    With ``resume``: unfinished work in ``work`` is continued (and must cover every selected
    task that has no finished result), and a task whose stored result has the same
    :func:`resume_key` is kept. Without it, earlier work is discarded and everything runs.
    ``result_dir(task)`` is where the task's stored result would be.
    """

    def finished(task: str) -> bool:
        stored = summary.read(result_dir(task))
        return stored is not None and resume_key(stored.provenance) == key

    manifest = work.manifest() if resume else None
    kept: list[str] = []
    if manifest is not None:
        todo = list(manifest.get("tasks", []))
        extra = [t for t in selected if t not in todo and not finished(t)]
        if extra:
            raise ColorbenchError(
                f"{work.path} holds an unfinished run of task(s) {', '.join(todo)}; rerun "
                "with those --task values to finish it, or pass --no-resume to discard it"
            )
    elif resume:
        todo = [t for t in selected if not finished(t)]
        kept = sorted(set(selected) - set(todo))
    else:
        todo = selected
        work.discard()
    if not todo:
        return Resume([], [], kept, 0)
    work.open(key, todo, size)
    done = work.done()
    return Resume(todo, [k for k in range(num_chunks(size)) if k not in done], kept, len(done))
