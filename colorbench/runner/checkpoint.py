"""Chunked, resumable work: ``results/<model-slug>/.work/<set>/`` holds one set's finished chunks.

The run's *work index* is sample-major: work index ``i`` is sample ``i // K`` of
combination ``i % K`` (``K`` combinations), so a run with ``n`` samples per combination
is the first ``K * n`` work indices of any larger run (:func:`work_samples`). A run at
``--target-ci`` is thus a prefix of the paper-scale run, and a later, larger run reuses its
rows: the chunks they share are rebuilt from the stored results (:func:`seed_chunks`)
and unfinished work grows or shrinks to another size by keeping the chunks both sizes
share (:meth:`WorkDir.open`).

The work index space of a stimulus set is cut into chunks of ``CHUNK_SIZE`` images, a
constant independent of batch size and world size, so a run interrupted anywhere and
resumed with any number of processes computes exactly the same chunks. A chunk file
appears atomically when its last image is scored, and its size and sha256 are then recorded
in the manifest, so finished chunks survive Ctrl-C, SIGKILL and power loss, and a chunk that
was truncated, edited or never recorded is recomputed (alone) rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from colorbench.atomic import parquet_bytes, write_bytes, write_json
from colorbench.errors import ColorbenchError
from colorbench.names import HASH_SEP, path_name_problem
from colorbench.plugin.task import CHROMATIC_SUFFIX, GRADED_COLUMNS
from colorbench.report import summary
from colorbench.stimuli.base import Sample, StimulusSet

#: images per chunk; changing it invalidates unfinished runs (it is in the manifest)
CHUNK_SIZE = 1024
WORK = ".work"
MANIFEST = "manifest.json"
CHUNK_FILE = re.compile(r"chunk-(\d{6})\.parquet")
#: provenance fields a resumed run must share with the run that wrote the chunks
#: (every setting that can change an answer: precision via ``dtype`` and the renderer too;
#: batch size cannot - scoring is per image, and the engine already halves batches on OOM)
#: ``samples`` is not among them: a run with other samples per combination shares a prefix
RESUME_KEYS = (
    "model",
    "weights_sha256",
    "palette",
    "colorbench",
    "seed",
    "dtype",
    "renderer",
    "scoring",
    "normalization",
    "keep_scores",
    # per task (:func:`task_key`): a changed task or a new release of its plugin is recomputed
    "task_version",
    "task_plugin_version",
)


#: how work indices map to samples; recorded so work of another order is never resumed
ORDER = "sample-major"


def work_samples(stim: StimulusSet, start: int, stop: int) -> list[Sample]:
    """The samples of work indices ``[start, stop)``: index ``i`` is sample ``i // K`` of
    combination ``i % K``, whatever the run's samples per combination."""
    k = stim.num_combinations()
    return [stim.sample(i % k, i // k) for i in range(start, stop)]


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


def task_key(version: str, plugin_version: str | None) -> dict[str, Any]:
    """The resume-key fields of one task: its ``Task.version`` and its plugin's release."""
    return {"task_version": version, "task_plugin_version": plugin_version}


def describe_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``["samples 1 -> 10", ...]`` for every key whose value differs."""
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in new if old.get(k) != new.get(k)]


class WorkDir:
    """The finished chunks of one stimulus set for one model (rank 0 alone touches it)."""

    def __init__(self, model_dir: Path, set_name: str, aside: str = "") -> None:
        problem = path_name_problem(set_name)
        if problem:  # registration refuses these; a set built by hand must not escape either
            raise ColorbenchError(f"stimulus set {problem}")
        # ``aside``: a hex digest; ``+`` never occurs in a set name, so no set owns that folder
        folder = f"{set_name}{HASH_SEP}{aside}" if aside else set_name
        self.path = Path(model_dir) / WORK / folder

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def manifest(self) -> dict[str, Any] | None:
        try:
            found = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError, RecursionError):
            return None
        return found if isinstance(found, dict) else None

    def open(
        self,
        key: dict[str, Any],
        tasks: list[str],
        size: int,
        about: dict[str, Any] | None = None,
    ) -> None:
        """Start the set's work, or check that the unfinished work there is the same run.

        ``about`` is recorded when the work starts and never compared (e.g. which plugin
        each task came from, to name it should it be uninstalled before the work is done).
        Leftover temp files of a killed run are removed (the caller holds the lock).
        """
        expected = {
            **key,
            "tasks": tasks,
            "size": size,
            "chunk_size": CHUNK_SIZE,
            "order": ORDER,
        }
        found = self.manifest()
        if found is None:
            self.discard()
            self.path.mkdir(parents=True, exist_ok=True)
            write_json(self.manifest_path, {**(about or {}), **expected})
            return
        if found.get("model") != key.get("model"):
            raise ColorbenchError(
                f"{self.path} holds unfinished work of model {found.get('model')!r}, not "
                f"{key.get('model')!r}; move that folder away or pass another --out"
            )
        if found.get("size") != size and isinstance(found.get("size"), int):
            found = self._resize(found, size)
        changes = describe_changes(found, expected)
        if changes:
            raise ColorbenchError(
                f"cannot resume the unfinished run in {self.path}: {'; '.join(changes)} since it "
                f"started; rerun with its options to resume, or pass --no-resume to discard its "
                f"{len(self.done())} finished chunk(s)"
            )
        for tmp in self.path.glob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)

    def _resize(self, found: dict[str, Any], size: int) -> dict[str, Any]:
        """Keep the chunks whose work indices are the same at both sizes (the sample-major
        order makes the smaller run a prefix of the larger), drop the others."""
        old = found["size"]
        for chunk in self.done():
            if chunk_bounds(chunk, old) != chunk_bounds(chunk, size) or chunk >= num_chunks(size):
                self.chunk_path(chunk).unlink(missing_ok=True)
        resized = {**found, "size": size}
        write_json(self.manifest_path, resized)
        return resized

    def chunk_path(self, chunk: int) -> Path:
        return self.path / f"chunk-{chunk:06d}.parquet"

    def done(self) -> set[int]:
        """Chunks with a file (checked or not; see :meth:`verified`)."""
        found = (CHUNK_FILE.fullmatch(p.name) for p in self.path.glob("chunk-*.parquet"))
        return {int(m.group(1)) for m in found if m}

    def write_chunk(self, chunk: int, data: bytes) -> None:
        """Store a finished chunk, then record its size and checksum in the manifest."""
        write_bytes(self.chunk_path(chunk), data)
        manifest = self.manifest() or {}
        records = manifest.get("chunks") if isinstance(manifest.get("chunks"), dict) else {}
        records[str(chunk)] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        write_json(self.manifest_path, {**manifest, "chunks": records})

    def verified(self) -> tuple[set[int], list[str]]:
        """The chunks whose file is exactly what was recorded when it was written, and one
        line per chunk that is not (truncated, edited, unrecorded); those files are removed
        so that the chunk is computed again."""
        records = (self.manifest() or {}).get("chunks")
        records = records if isinstance(records, dict) else {}
        good, damaged = set(), []
        for chunk in sorted(self.done()):
            path = self.chunk_path(chunk)
            record = records.get(str(chunk))
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
            if isinstance(record, dict) and record == {
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }:
                good.add(chunk)
                continue
            why = "was never recorded" if record is None else "does not match its checksum"
            damaged.append(f"{path} {why}; computing that chunk again")
            path.unlink(missing_ok=True)
        return good, damaged

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


def set_aside(work: WorkDir, registered: Collection[str]) -> tuple[WorkDir, str | None]:
    """The work folder this run of the set uses, and a warning when it is not ``work``.

    Unfinished work whose manifest names a task that no loaded plugin registers can be
    neither finished (that task's rows cannot be computed or graded) nor discarded (its
    finished chunks are someone's hours): it is left as it is, to be resumed once the plugin
    is installed again, and this run works in a folder of its own beside it (one per set of
    missing tasks, so an interrupted run of the other tasks resumes there).
    """
    found = work.manifest() or {}
    tasks = found.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks):
        return work, None  # not a manifest this can read; open() says what is wrong
    missing = sorted({t for t in tasks if t not in registered})
    if not missing:
        return work, None
    digest = hashlib.sha256(json.dumps(missing).encode()).hexdigest()[:12]
    aside = WorkDir(work.path.parent.parent, work.path.name, aside=digest)
    plugins = found.get("task_plugins") if isinstance(found.get("task_plugins"), dict) else {}
    versions = found.get("tasks_versions") if isinstance(found.get("tasks_versions"), dict) else {}
    named = []
    for task in missing:
        plugin, release = plugins.get(task), (versions.get(task) or {}).get("task_plugin_version")
        who = " ".join(
            [f"plugin {plugin!r}" if plugin else "its plugin"]
            + ([f"({release})"] if release else [])
        )
        named.append(f"task {task!r} of {who}")
    return aside, (
        f"{work.path} holds unfinished work of {', '.join(named)}, which no loaded plugin "
        f"registers; its {len(work.done())} finished chunk(s) are left as they are (install the "
        f"plugin again and run --task {' --task '.join(missing)} to finish them); the other "
        f"tasks of {work.path.name} run in {aside.path}"
    )


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
    #: one line per stored chunk found damaged (it is computed again)
    damaged: list[str] = field(default_factory=list)
    #: chunks rebuilt from stored results of another samples per combination
    seeded: int = 0


def decide(
    work: WorkDir,
    selected: list[str],
    key: dict[str, Any],
    stim: StimulusSet,
    samples: int,
    resume: bool,
    result_dir: Callable[[str], Path],
    task_keys: dict[str, dict[str, Any]] | None = None,
    task_plugins: dict[str, str] | None = None,
) -> Resume:
    """The resume decision for one set (rank 0, under the model's lock).

    With ``resume``: unfinished work in ``work`` is continued (and must cover every selected
    task that has no finished result), and a task whose stored result has the same
    :func:`resume_key` (with the task's own part from ``task_keys``, :func:`task_key`, which
    the set-wide ``key`` lacks) and ``samples`` is kept. Chunks that stored results of another
    ``samples`` hold (same key) are rebuilt from them (:func:`seed_chunks`). Without
    ``resume``, earlier work is discarded and everything runs. ``result_dir(task)`` is where
    the task's stored result would be; ``task_plugins`` (task -> plugin) is recorded in new
    work (:func:`set_aside` names the plugin should it be gone by the next run).
    """
    task_keys = task_keys or {}

    def finished(task: str) -> bool:
        stored = _stored(result_dir(task), {**key, **task_keys.get(task, {})})
        return stored is not None and stored.provenance.get("samples") == samples

    size = stim.size(samples)
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
    # the chunks hold every todo task's rows: a task changed since they were written is refused
    work.open(
        {**key, "tasks_versions": {t: task_keys.get(t) for t in todo}},
        todo,
        size,
        about={"task_plugins": {t: (task_plugins or {}).get(t) for t in todo}},
    )
    seeded = seed_chunks(work, todo, key, task_keys, stim, size, result_dir) if resume else 0
    done, damaged = work.verified()
    pending = [k for k in range(num_chunks(size)) if k not in done]
    return Resume(todo, pending, kept, len(done), damaged, seeded)


def _stored(directory: Path, key: dict[str, Any]) -> summary.StoredSummary | None:
    """The stored result in ``directory`` when it has ``key`` and readable predictions."""
    stored = summary.read(directory)
    if stored is None or resume_key(stored.provenance) != key:
        return None
    predictions = stored.file("predictions")
    return stored if predictions is not None and readable_parquet(predictions) else None


def seed_chunks(
    work: WorkDir,
    tasks: list[str],
    key: dict[str, Any],
    task_keys: dict[str, dict[str, Any]],
    stim: StimulusSet,
    size: int,
    result_dir: Callable[[str], Path],
) -> int:
    """Write the missing chunks that stored results of every task in ``tasks`` already hold
    (same :func:`resume_key`, any samples per combination, nothing left out): a chunk is
    rebuilt when its whole work-index range lies inside every stored run's prefix. Returns
    the number of chunks written."""
    frames, covered = [], size
    for task in tasks:
        stored = _stored(result_dir(task), {**key, **task_keys.get(task, {})})
        n = stored.provenance.get("samples") if stored is not None else None
        if not isinstance(n, int) or stored.provenance.get("allow_missing"):
            return 0
        covered = min(covered, stim.size(n))
        frames.append(pq.read_table(stored.file("predictions")))
    full = covered // CHUNK_SIZE
    todo = [k for k in range(full) if k not in work.done()]
    if not todo:
        return 0
    k = stim.num_combinations()
    tables = []
    for table in frames:
        graded = [
            c
            for c in table.column_names
            if c in GRADED_COLUMNS
            or (
                c.endswith(CHROMATIC_SUFFIX)
                and c.removesuffix(CHROMATIC_SUFFIX) in table.column_names
            )
        ]
        table = table.drop_columns(graded)
        index = pc.add(
            pc.multiply(table["sample"], k), table["combination"]
        )  # the work index of each row
        tables.append(table.append_column("_work", index))
    for chunk in todo:
        start, stop = chunk_bounds(chunk, size)
        parts = []
        for table in tables:
            rows = table.filter(
                pc.and_(
                    pc.greater_equal(table["_work"], start),
                    pc.less(table["_work"], stop),
                )
            )
            order = pc.sort_indices(rows, [("_work", "ascending")])
            parts.append(rows.take(order).drop_columns(["_work"]))
        merged = pa.concat_tables(parts, promote_options="permissive")
        work.write_chunk(chunk, parquet_bytes(merged))
    return len(todo)


def readable_parquet(path: Path) -> bool:
    """Whether ``path`` is a parquet file whose footer reads (a truncated one's does not)."""
    try:
        pq.read_metadata(path)
    except (OSError, ValueError, pa.ArrowException):
        return False
    return True
