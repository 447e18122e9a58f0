"""The evaluation engine: ``evaluate(config, plugins) -> list[RunResult]``.

One pass over a stimulus set serves every selected task on it; a contrastive model
encodes each image once and each candidate text once per model, and every prompt's
scores are a single matrix product. The index space is cut into fixed chunks that are
stored as they finish (:mod:`colorbench.checkpoint`), so a run resumes where it
stopped and ``torchrun`` ranks share the chunks round-robin
(:mod:`colorbench.distributed`). Aggregation reads the chunk files back task by task,
so memory does not grow with ``--samples`` beyond the predictions themselves.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from rich.console import Console
from rich.progress import Progress

from colorbench import distributed
from colorbench.adapter import ContrastiveAdapter, ModelAdapter
from colorbench.checkpoint import (
    CHUNK_SIZE,
    WorkDir,
    chunk_bounds,
    chunk_bytes,
    num_chunks,
    resume_key,
)
from colorbench.config import RunConfig
from colorbench.device import (
    auto_batch_size,
    check_renderer,
    resolve_device,
    resolve_precision,
    resolve_renderer,
)
from colorbench.errors import ColorbenchError
from colorbench.lock import DirectoryLock
from colorbench.palette import Palette
from colorbench.pluginmanager import Plugins
from colorbench.prefetch import prefetch
from colorbench.progress import progress_bar
from colorbench.provenance import now_iso, provenance
from colorbench.results import (
    check_owner,
    model_slug,
    notify,
    read_predictions,
    read_summary,
    result_dir,
    write_result,
)
from colorbench.stimuli.base import Batch, Sample, StimulusSet
from colorbench.task import Task, TaskSummary

#: largest --samples accepted: 20x the paper's 500 (8.8 million shape images); more is a typo
MAX_SAMPLES = 10_000
#: columns the engine writes; stimulus attributes with these names are not copied over them
CORE_COLUMNS = ("sample_id", "set", "combination", "sample", "task", "prompt", "answer", "score")


@dataclass
class RunResult:
    """One stored (model, task) result."""

    model: str
    task: str
    summary: TaskSummary
    predictions: pd.DataFrame
    path: Path


class Interrupted(ColorbenchError):
    """Ctrl-C or SIGTERM: finished chunks are kept and the same command resumes."""

    exit_code = 130


@dataclass
class Plan:
    """A validated run: model ids, and the selected tasks grouped by the set they share."""

    models: list[str]
    groups: dict[str, list[Task]]
    sets: dict[str, StimulusSet]


def validate(config: RunConfig, plugins: Plugins) -> Plan:
    """Check every option before any work starts; each problem is one line naming the fix."""
    if not config.models:
        raise ColorbenchError("no model given; pass --model ID (`colorbench list` shows them)")
    if not config.tasks:
        raise ColorbenchError("no task given; pass --task NAME or --task all")
    for model in config.models:
        plugins.models.resolve(model)
    names: list[str] = []
    for name in config.tasks:
        for n in plugins.tasks.names() if name == "all" else [plugins.tasks.resolve(name).name]:
            if n not in names:
                names.append(n)
    if not names:
        raise ColorbenchError("--task all found no registered task; check `colorbench list`")
    samples = config.samples
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ColorbenchError(
            f"--samples must be a whole number from 1 to {MAX_SAMPLES} per combination "
            f"(the paper uses 500), got {samples!r}"
        )
    if config.batch_size is not None and (
        isinstance(config.batch_size, bool)
        or not isinstance(config.batch_size, int)
        or config.batch_size < 1
    ):
        raise ColorbenchError(f"--batch-size must be a positive integer, got {config.batch_size!r}")
    device = resolve_device(config.device)
    resolve_precision(config.precision, device)
    check_renderer(config.renderer)
    if config.weights is not None:
        if len(config.models) > 1:
            raise ColorbenchError("--weights applies to one model; run one --model at a time")
        if not Path(config.weights).is_file():
            raise ColorbenchError(f"weights file {config.weights} does not exist; check --weights")
    groups: dict[str, list[Task]] = {}
    sets: dict[str, StimulusSet] = {}
    for name in names:
        task = plugins.tasks.get(name)
        if task.stimulus_set not in sets:
            if task.stimulus_set not in plugins.stimulus_sets.names():
                raise ColorbenchError(
                    f"task {name!r} runs on stimulus set {task.stimulus_set!r}, which no loaded "
                    "plugin registers; install or enable the plugin that provides it"
                )
            factory = plugins.stimulus_sets.get(task.stimulus_set)
            sets[task.stimulus_set] = factory(palette=config.palette, seed=config.seed)
            resolve_renderer(
                config.renderer, sets[task.stimulus_set].backends, device, task.stimulus_set
            )
        groups.setdefault(task.stimulus_set, []).append(task)
    return Plan(models=list(dict.fromkeys(config.models)), groups=groups, sets=sets)


def evaluate(config: RunConfig, plugins: Plugins) -> list[RunResult]:
    """Run every selected (model, task) and store the results under ``config.out``.

    Under ``torchrun`` every rank calls this; rank 0 returns the results, the others ``[]``.
    """
    plan = validate(config, plugins)
    ctx = distributed.from_env(config.device)
    console = Console(stderr=True, quiet=config.quiet or not ctx.is_main)
    warnings = Console(stderr=True)
    progress = progress_bar(config.quiet or not ctx.is_main, console)
    try:
        with _sigterm_as_interrupt(), progress:
            results: list[RunResult] = []
            for model_id in plan.models:
                run = _ModelRun(config, plan, plugins, ctx, model_id, console, warnings, progress)
                results += run.run()
            return results
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted; finished chunks are kept in {config.out}; "
            f"resume with the same command{_command_hint()}"
        ) from None
    finally:
        ctx.close()


def _command_hint() -> str:
    if Path(sys.argv[0]).name in ("colorbench", "__main__.py"):
        return ": " + shlex.join(["colorbench", *sys.argv[1:]])
    return ""


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's stop) unwinds like Ctrl-C, so the in-flight chunk is discarded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Scorer:
    """Answers every prompt of a set's tasks for a batch of images.

    A :class:`ContrastiveAdapter` encodes the images once; the texts of all prompts are
    encoded once per model (``text_cache``) and all prompts are scored by one product.
    Any other adapter is asked ``score(images, texts)`` once per prompt.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        prompts: Sequence[Sequence[str]],
        text_cache: dict[str, torch.Tensor],
    ) -> None:
        self.adapter = adapter
        self.prompts = [list(texts) for texts in prompts]
        self.max_batch = sys.maxsize
        self.text_matrix: torch.Tensor | None = None
        if isinstance(adapter, ContrastiveAdapter):
            missing = list(dict.fromkeys(t for texts in self.prompts for t in texts))
            missing = [t for t in missing if t not in text_cache]
            if missing:
                with torch.inference_mode():
                    encoded = adapter.encode_texts(missing).float()
                text_cache.update(zip(missing, encoded, strict=True))
            self.text_matrix = torch.stack([text_cache[t] for texts in self.prompts for t in texts])

    def __call__(self, images: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per prompt: ``(answer index [B], its score [B])``; halves the batch on CUDA OOM."""
        pieces = []
        for piece in images.split(min(self.max_batch, len(images))):
            try:
                pieces.append(self._score(piece))
            except torch.cuda.OutOfMemoryError:
                if len(piece) == 1:
                    raise
                torch.cuda.empty_cache()
                self.max_batch = len(piece) // 2
                return self(images)
        return join_answers(pieces)

    def _score(self, images: torch.Tensor) -> list[tuple[np.ndarray, np.ndarray]]:
        with torch.inference_mode():
            if self.text_matrix is not None:
                embeddings = self.adapter.encode_images(images).float()
                sims = embeddings @ self.text_matrix.to(embeddings.device).T
                blocks = sims.split([len(t) for t in self.prompts], dim=1)
            else:
                blocks = [self.adapter.score(images, texts).float() for texts in self.prompts]
            out = []
            for block in blocks:
                value, index = block.max(dim=1)
                out.append((index.cpu().numpy(), value.cpu().numpy().astype(np.float32)))
            return out


def join_answers(
    parts: Sequence[list[tuple[np.ndarray, np.ndarray]]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Concatenate consecutive batches' per-prompt ``(answer index, score)`` arrays."""
    return [
        (np.concatenate([p[i][0] for p in parts]), np.concatenate([p[i][1] for p in parts]))
        for i in range(len(parts[0]))
    ]


def batch_spans(start: int, stop: int, batch_size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` cut into batches; batches never cross a chunk boundary."""
    return [(b, min(b + batch_size, stop)) for b in range(start, stop, batch_size)]


def chunk_table(
    samples: Sequence[Sample],
    tasks: Sequence[Task],
    answers: list[tuple[np.ndarray, np.ndarray]],
    palette: Palette,
) -> pa.Table:
    """Rows of one chunk: per task, one row per image x prompt (image-major), then attributes.

    ``answers`` holds, per prompt of ``tasks`` in order, the answer indices and scores.
    """
    n = len(samples)
    base = pd.DataFrame(
        {
            "sample_id": [s.sample_id for s in samples],
            "set": [s.set for s in samples],
            "combination": np.array([s.combination for s in samples], dtype=np.int64),
            "sample": np.array([s.sample for s in samples], dtype=np.int64),
        }
    )
    attrs = pd.DataFrame([s.attrs for s in samples], index=range(n))
    attrs = attrs.drop(columns=[c for c in attrs.columns if c in CORE_COLUMNS])
    names = np.array(palette.names, dtype=object)
    frames, offset = [], 0
    for task in tasks:
        ids = [p.id for p in task.prompts]
        per_task = answers[offset : offset + len(ids)]
        offset += len(ids)
        rows = np.repeat(np.arange(n), len(ids))
        frame = base.iloc[rows].reset_index(drop=True)
        frame["task"] = task.name
        frame["prompt"] = np.tile(np.array(ids, dtype=object), n)
        frame["answer"] = names[np.stack([a for a, _ in per_task], axis=1).reshape(-1)]
        frame["score"] = np.stack([s for _, s in per_task], axis=1).reshape(-1)
        frames.append(pd.concat([frame, attrs.iloc[rows].reset_index(drop=True)], axis=1))
    return pa.Table.from_pandas(pd.concat(frames, ignore_index=True), preserve_index=False)


class _ModelRun:
    """Everything one model does: create the adapter, take the lock, run each set."""

    def __init__(
        self,
        config: RunConfig,
        plan: Plan,
        plugins: Plugins,
        ctx: distributed.Dist,
        model_id: str,
        console: Console,
        warnings: Console,
        progress: Progress,
    ) -> None:
        self.config, self.plan, self.plugins, self.ctx = config, plan, plugins, ctx
        self.model_id = model_id
        self.console, self.warnings, self.progress = console, warnings, progress
        self.model_dir = Path(config.out) / model_slug(model_id)
        self.text_cache: dict[str, torch.Tensor] = {}

    def run(self) -> list[RunResult]:
        config = self.config
        device = resolve_device(config.device, self.ctx.local_rank)
        precision = resolve_precision(config.precision, device)
        torch.manual_seed(config.seed)  # identical random-init weights on every rank
        entry = self.plugins.models.resolve(self.model_id)
        self.adapter: ModelAdapter = entry.obj(
            self.model_id,
            device=device,
            precision=precision,
            weights=config.weights,
            palette=config.palette,
            seed=config.seed,
        )
        self.device = torch.device(self.adapter.device)
        if self.device.type == "cuda":
            self.render_stream = torch.cuda.Stream(self.device)
        self.batch_size = config.batch_size or auto_batch_size(self.device, CHUNK_SIZE)
        self.batch_size = min(self.batch_size, CHUNK_SIZE)
        self.t0 = time.monotonic()
        self.provenance = provenance(
            config,
            self.model_id,
            self.adapter,
            device=self.device,
            precision=precision,
            batch_size=self.batch_size,
            world_size=self.ctx.world_size,
            started=now_iso(),
            plugin=entry.plugin,
        )
        results: list[RunResult] = []
        with ExitStack() as stack:
            self.ctx.agree(lambda: self._lock(stack))
            for set_name, tasks in self.plan.groups.items():
                results += self._run_set(set_name, tasks)
        return results

    def _lock(self, stack: ExitStack) -> None:
        """Rank 0 holds the model directory's lock until the model is done."""
        stack.enter_context(DirectoryLock(self.model_dir))
        check_owner(self.model_dir, self.model_id)

    def _run_set(self, set_name: str, tasks: list[Task]) -> list[RunResult]:
        stim = self.plan.sets[set_name]
        renderer = resolve_renderer(self.config.renderer, stim.backends, self.device, set_name)
        size = stim.size(self.config.samples)
        work = WorkDir(self.model_dir, set_name)
        prov = {
            **self.provenance,
            "stimulus_set": set_name,
            "renderer": renderer,
            "chunk_size": CHUNK_SIZE,
        }
        todo_names, pending = self.ctx.agree(lambda: self._prepare(work, tasks, prov, size))
        todo = [self.plugins.tasks.get(name) for name in todo_names]
        if todo:
            self._compute(stim, renderer, todo, work, pending, size)
        if not self.ctx.is_main:
            return []
        return self._finish(tasks, todo, work, prov, size)

    def _completed(self, task: str, key: dict) -> bool:
        doc = read_summary(result_dir(self.config.out, self.model_id, task))
        return doc is not None and resume_key(doc.get("provenance", {})) == key

    def _prepare(
        self, work: WorkDir, tasks: list[Task], prov: dict, size: int
    ) -> tuple[list[str], list[int]]:
        """Rank 0: which tasks still need computing and which chunks are missing."""
        key = resume_key(prov)
        selected = [t.name for t in tasks]
        manifest = work.manifest() if self.config.resume else None
        if manifest is not None:
            todo = list(manifest.get("tasks", []))
            extra = [t for t in selected if t not in todo and not self._completed(t, key)]
            if extra:
                raise ColorbenchError(
                    f"{work.path} holds an unfinished run of task(s) {', '.join(todo)}; rerun "
                    "with those --task values to finish it, or pass --no-resume to discard it"
                )
        elif self.config.resume:
            todo = [t for t in selected if not self._completed(t, key)]
            for name in sorted(set(selected) - set(todo)):
                self.console.print(f"{self.model_id} {name}: already done, kept", markup=False)
        else:
            todo = selected
            work.discard()
        if not todo:
            return [], []
        work.open(key, todo, size)
        done = work.done()
        if done:
            self.console.print(
                f"{self.model_id} {work.path.name}: resuming, {len(done)} of "
                f"{num_chunks(size)} chunks already done",
                markup=False,
            )
        return todo, [k for k in range(num_chunks(size)) if k not in done]

    def _render(
        self, stim: StimulusSet, renderer: str, span: tuple[int, int]
    ) -> tuple[Batch, torch.cuda.Event | None]:
        """Render (background thread); on CUDA on a side stream, with an event marking the end."""
        samples = stim.samples(*span, self.config.samples)
        if self.device.type != "cuda":
            return stim.render(samples, renderer, None), None
        with torch.cuda.stream(self.render_stream):
            batch = stim.render(samples, renderer, self.device if renderer == "torch" else None)
            images = batch.images
            if images.device.type == "cpu":
                images = images.pin_memory()
            batch.images = images.to(self.device, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record()
        return batch, ready

    def _receive(self, rendered: tuple[Batch, torch.cuda.Event | None]) -> Batch:
        """Make the encoding stream wait for the render stream's batch (CUDA only)."""
        batch, ready = rendered
        if ready is not None:
            current = torch.cuda.current_stream(self.device)
            current.wait_event(ready)
            batch.images.record_stream(current)
        return batch

    def _compute(
        self,
        stim: StimulusSet,
        renderer: str,
        tasks: list[Task],
        work: WorkDir,
        pending: list[int],
        size: int,
    ) -> None:
        """Score the pending chunks (this rank's share) and store them on rank 0."""
        palette = self.config.palette
        scorer = Scorer(
            self.adapter, [p.texts(palette) for t in tasks for p in t.prompts], self.text_cache
        )
        schedule = distributed.rounds(pending, self.ctx.world_size)
        mine = [r[self.ctx.rank] for r in schedule]
        spans = [
            span
            for chunk in mine
            if chunk is not None
            for span in batch_spans(*chunk_bounds(chunk, size), self.batch_size)
        ]
        remaining = sum(stop - start for start, stop in (chunk_bounds(k, size) for k in pending))
        bar = self.progress.add_task(
            f"{self.model_id} · {stim.name}", total=size, completed=size - remaining
        )
        stream = prefetch(spans, lambda span: self._render(stim, renderer, span))
        try:
            for chunk in mine:
                data, count = None, 0
                if chunk is not None:
                    start, stop = chunk_bounds(chunk, size)
                    samples: list[Sample] = []
                    parts: list[list[tuple[np.ndarray, np.ndarray]]] = []
                    while len(samples) < stop - start:
                        batch = self._receive(next(stream)[1])
                        parts.append(scorer(batch.images))
                        samples += batch.samples
                        self.progress.advance(bar, len(batch.samples))
                    answers = join_answers(parts)
                    data = chunk_bytes(chunk_table(samples, tasks, answers, palette))
                    count = len(samples)
                gathered = self.ctx.collect((chunk, data, count))
                for other, blob, count in gathered or []:
                    if other is None:
                        continue
                    work.write_chunk(other, blob)
                    if other != chunk:
                        self.progress.advance(bar, count)
        finally:
            stream.close()

    def _finish(
        self, tasks: list[Task], todo: list[Task], work: WorkDir, prov: dict, size: int
    ) -> list[RunResult]:
        """Rank 0: aggregate each computed task from the chunk files, store it, report it."""
        results = []
        computed = {t.name for t in todo}
        for task in todo:
            frame = work.read_task(task.name, num_chunks(size)).to_pandas()
            frame["outcome"] = task.classify(frame)
            frame["correct"] = task.correct(frame)
            summary = task.summarize(frame, self.config.palette)
            final = {**prov, "wall_time_s": round(time.monotonic() - self.t0, 3)}
            directory, doc = write_result(
                self.config.out, self.model_id, task, summary, frame, final
            )
            notify(self.plugins.pm, doc, directory, self._warn)
            results.append(RunResult(self.model_id, task.name, summary, frame, directory))
        if todo:
            work.discard()
        for task in tasks:
            if task.name not in computed:
                directory = result_dir(self.config.out, self.model_id, task.name)
                doc = read_summary(directory)
                summary = TaskSummary.from_dict(doc["summary"])
                results.append(
                    RunResult(
                        self.model_id, task.name, summary, read_predictions(directory), directory
                    )
                )
        return results

    def _warn(self, message: str) -> None:
        self.warnings.print(f"colorbench: warning: {message}", markup=False, highlight=False)
