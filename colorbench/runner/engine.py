"""The evaluation engine: ``run(plan, plugins, ctx) -> list[RunResult]``.

One pass over a stimulus set serves every selected task on it; a contrastive model
encodes each image once and each candidate text once per model, and every prompt's
scores are a single matrix product. The index space is cut into fixed chunks that are
stored as they finish (:mod:`colorbench.runner.checkpoint`), so a run resumes where it
stopped and ``torchrun`` ranks share the chunks round-robin
(:mod:`colorbench.runner.distributed`). Aggregation reads the chunk files back task by task,
so memory does not grow with ``--samples`` beyond the predictions themselves.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch
from rich.console import Console
from rich.progress import Progress

from colorbench.atomic import parquet_bytes
from colorbench.errors import ColorbenchError, PluginError
from colorbench.names import model_slug, printable
from colorbench.plugin.adapter import check_adapter, check_factory
from colorbench.plugin.pluginmanager import Plugins
from colorbench.plugin.task import Task, TaskSummary
from colorbench.report.results import (
    check_owner,
    notify,
    read_predictions,
    result_dir,
    write_result,
)
from colorbench.report.summary import read as read_stored
from colorbench.runner import distributed
from colorbench.runner.checkpoint import (
    CHUNK_SIZE,
    WorkDir,
    batch_spans,
    chunk_bounds,
    decide,
    num_chunks,
    resume_key,
    set_aside,
    task_key,
)
from colorbench.runner.device import auto_batch_size
from colorbench.runner.interrupt import interruptible
from colorbench.runner.lock import DirectoryLock
from colorbench.runner.plan import ModelPlan, Plan, SetPlan
from colorbench.runner.predictions import chunk_table, without_missing
from colorbench.runner.prefetch import rendered_batches
from colorbench.runner.progress import progress_bar
from colorbench.runner.provenance import now_iso, provenance
from colorbench.runner.scoring import Answers, Scorer, join_answers, scoring_mode
from colorbench.runner.sizing import CS_METHOD, Sizing, achieved, sequences
from colorbench.stimuli.base import Sample, StimulusSet


@dataclass
class RunResult:
    """One stored (model, task) result."""

    model: str
    task: str
    summary: TaskSummary
    predictions: pd.DataFrame
    path: Path


def run(plan: Plan, plugins: Plugins, ctx: distributed.Dist) -> list[RunResult]:
    """Run every (model, task) of ``plan`` and store the results under ``plan.config.out``.

    Under ``torchrun`` every rank calls this; rank 0 returns the results, the others ``[]``.
    """
    config = plan.config
    console = Console(stderr=True, quiet=config.quiet or not ctx.is_main)
    warnings = Console(stderr=True)
    progress = progress_bar(config.quiet or not ctx.is_main, console)
    results: list[RunResult] = []
    failed: list[str] = []
    with interruptible(config.out), progress:
        for model in plan.models:
            run = _ModelRun(plan, plugins, ctx, model, console, warnings, progress)
            results += run.run()
            failed += run.failed
    if failed:
        more = f" (and {len(failed) - 1} more, above)" if len(failed) > 1 else ""
        raise PluginError(f"{failed[0]}{more}; the other tasks' results are stored")
    return results


class _ModelRun:
    """Everything one model does: create the adapter, take the lock, run each set."""

    def __init__(
        self,
        plan: Plan,
        plugins: Plugins,
        ctx: distributed.Dist,
        model: ModelPlan,
        console: Console,
        warnings: Console,
        progress: Progress,
    ) -> None:
        self.plan, self.config, self.plugins, self.ctx = plan, plan.config, plugins, ctx
        self.model, self.model_id = model, model.id
        self.console, self.warnings, self.progress = console, warnings, progress
        self.text_cache: dict[str, torch.Tensor] = {}
        #: ``--stop-early``: per task, each sized figure's CS ``(centre, half-width)`` in pp
        self.sequences: dict[str, dict[str, tuple[float, float]]] = {}
        #: one line per task whose grade or summarize raised (its result is not stored)
        self.failed: list[str] = []

    def run(self) -> list[RunResult]:
        config = self.config
        torch.manual_seed(config.seed)  # identical random-init weights on every rank
        options = {
            "device": self.plan.device,
            "precision": self.plan.precision,
            "weights": config.weights,
            "palette": config.palette,
            "seed": config.seed,
            "out": config.out,
            "scoring": config.scoring,
            "resume": config.resume,
            **config.model_options,
        }
        check_factory(self.model.factory, self.model_id, self.model.plugin, options)
        created = self.model.factory(self.model_id, **options)
        self.adapter = check_adapter(created, self.model_id, self.model.plugin)
        self.mode = scoring_mode(
            self.adapter,
            config.scoring,
            config.normalization,
            score_end=config.score_end,
            question_form=config.question_form,
            max_new_tokens=config.max_new_tokens,
        )
        # a model asked another way than by default is stored and ranked as its own entry
        self.result_id = self.mode.result_id(self.model_id, self.adapter)
        self.directory = Path(config.out) / model_slug(self.result_id)
        self.device = torch.device(self.adapter.device)
        preferred = getattr(self.adapter, "preferred_batch_size", None)  # served: wide fan-out
        preferred = preferred if isinstance(preferred, int) and preferred > 0 else None
        self.batch_size = config.batch_size or preferred or auto_batch_size(self.device, CHUNK_SIZE)
        self.batch_size = min(self.batch_size, CHUNK_SIZE)
        self.t0 = time.monotonic()
        self.provenance = provenance(
            config,
            self.model_id,
            self.adapter,
            device=self.device,
            precision=self.plan.precision,
            batch_size=self.batch_size,
            world_size=self.ctx.world_size,
            started=now_iso(),
            plugin=self.model.plugin,
            scoring=self.mode.provenance(),
        )
        results: list[RunResult] = []
        with ExitStack() as stack:
            self.ctx.agree(lambda: self._lock(stack))
            for stimulus_set in self.plan.sets:
                results += self._run_set(stimulus_set)
        return results

    def _lock(self, stack: ExitStack) -> None:
        """Rank 0 holds the model directory's lock until the model is done."""
        stack.enter_context(DirectoryLock(self.directory))
        check_owner(self.directory, self.result_id)

    def _run_set(self, planned: SetPlan) -> list[RunResult]:
        stim, tasks = planned.stimuli, planned.tasks
        size = stim.size(planned.samples)
        work = WorkDir(self.directory, planned.name)
        prov = {
            **self.provenance,
            "samples": planned.samples,
            "stimulus_set": planned.name,
            "renderer": planned.renderer,
            "chunk_size": CHUNK_SIZE,
        }
        for sizing in planned.sizing:
            self._say(f"{self.result_id} {sizing.line(stim)}")
        todo_names, pending, work = self.ctx.agree(
            lambda: self._prepare(work, tasks, prov, planned)
        )
        # an unfinished run's manifest may name tasks outside this selection; it finishes them
        by_name = {t.name: t for t in tasks}
        todo = [by_name.get(name) or self.plugins.tasks.get(name) for name in todo_names]
        missing = asked = 0
        if todo and self.config.stop_early and planned.sizing:
            missing, asked, rounds = self._compute_rounds(planned, todo, work, pending)
            planned = replace(planned, samples=rounds)  # this model's; the plan is shared
            prov = {**prov, "samples": rounds}
        elif todo:
            missing, asked = self._compute(stim, planned.renderer, todo, work, pending, size)
        if not self.ctx.is_main:
            return []
        if missing and not self.config.allow_missing:
            raise ColorbenchError(
                f"{self.result_id} {planned.name}: {missing} answer(s) missing (the endpoint "
                "kept failing); answers so far are stored and no summary was written - rerun "
                "the same command to ask only those again, or pass --allow-missing"
            )
        if missing and missing == asked:
            raise ColorbenchError(
                f"{self.result_id} {planned.name}: no answer came at all ({missing} missing); "
                "nothing to store - check the endpoint and rerun the same command"
            )
        if missing:
            self._warn(f"{self.result_id} {planned.name}: {missing} answer(s) missing, left out")
            prov = {**prov, "allow_missing": True, "missing": missing}
        return self._finish(planned, todo, work, prov)

    def _prepare(
        self, work: WorkDir, tasks: list[Task], prov: dict, planned: SetPlan
    ) -> tuple[list[str], list[int], WorkDir]:
        """Rank 0: which tasks still need computing, which chunks are missing, and where."""
        size = planned.stimuli.size(planned.samples)
        task_keys = {entry.name: self._task_key(entry.obj) for entry in self.plugins.tasks}
        work, stranded = set_aside(work, task_keys)
        if stranded:
            self._warn(stranded)
        plan = decide(
            work,
            [t.name for t in tasks],
            resume_key(prov),
            planned.stimuli,
            planned.samples,
            self.config.resume,
            lambda task: result_dir(self.config.out, self.result_id, task),
            task_keys,
            {entry.name: entry.plugin for entry in self.plugins.tasks},
        )
        if plan.seeded:
            self._say(
                f"{self.result_id} {work.path.name}: {plan.seeded} chunk(s) taken from the "
                "stored results of the same run at other samples per combination"
            )
        for name in plan.kept:
            self._say(f"{self.result_id} {name}: already done, kept")
        for line in plan.damaged:
            self._warn(line)
        if plan.done:
            self._say(
                f"{self.result_id} {work.path.name}: resuming, {plan.done} of "
                f"{num_chunks(size)} chunks already done"
            )
        return plan.todo, plan.pending, work

    def _say(self, line: str) -> None:
        self.console.print(line, markup=False)

    def _compute(
        self,
        stim: StimulusSet,
        renderer: str,
        tasks: list[Task],
        work: WorkDir,
        pending: list[int],
        size: int,
    ) -> tuple[int, int]:
        """Score the pending chunks (this rank's share) and store them on rank 0; the number
        of answers that are missing (a chunk with any is stored only with ``allow_missing``,
        without them, so that the next run asks them again) and of answers asked for."""
        palette = self.config.palette
        prompts = [p for t in tasks for p in t.prompts]
        scorer = Scorer(
            self.adapter,
            prompts,
            palette,
            self.text_cache,
            self.mode,
            keep_scores=self.config.keep_scores,
            source=f"model {self.model_id!r} of plugin {self.model.plugin!r}",
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
            f"{self.result_id} · {stim.name}", total=size, completed=size - remaining
        )
        batches = rendered_batches(stim, renderer, spans, self.device)
        missing = asked = 0
        try:
            for chunk in mine:
                data, count = None, 0
                if chunk is not None:
                    start, stop = chunk_bounds(chunk, size)
                    samples: list[Sample] = []
                    parts: list[list[Answers]] = []
                    while len(samples) < stop - start:
                        batch = next(batches)
                        parts.append(scorer(batch.images))
                        samples += batch.samples
                        self.progress.advance(bar, len(batch.samples))
                    answers = join_answers(parts)
                    table = chunk_table(samples, tasks, answers, palette)
                    lost = sum(a.missing() for a in answers)
                    missing += lost
                    asked += table.num_rows
                    if not lost or self.config.allow_missing:
                        data = parquet_bytes(without_missing(table) if lost else table)
                    count = len(samples)
                gathered = self.ctx.collect((chunk, data, count))
                for other, blob, count in gathered or []:
                    if other is None or blob is None:
                        continue
                    work.write_chunk(other, blob)
                    if other != chunk:
                        self.progress.advance(bar, count)
        finally:
            batches.close()
        return missing, asked

    def _compute_rounds(
        self, planned: SetPlan, todo: list[Task], work: WorkDir, pending: list[int]
    ) -> tuple[int, int, int]:
        """``--stop-early``: compute one sample of every combination at a time (the chunks that
        round needs) and stop once every sized figure's confidence sequence is within the
        target, or at ``planned.samples``; missing and asked answers, and the rounds done."""
        stim, cap = planned.stimuli, planned.samples
        size, k = stim.size(cap), stim.num_combinations()
        missing = asked = 0
        for rounds in range(1, cap + 1):
            needed = [c for c in pending if chunk_bounds(c, size)[0] < rounds * k]
            pending = [c for c in pending if c not in needed]
            if needed:
                lost, count = self._compute(stim, planned.renderer, todo, work, needed, size)
                missing, asked = missing + lost, asked + count
            if missing:  # the caller reports it; rounds stop here
                break
            if self.ctx.agree(lambda r=rounds: self._narrow_enough(planned, todo, work, r)):
                break
        return missing, asked, rounds

    def _narrow_enough(
        self, planned: SetPlan, todo: list[Task], work: WorkDir, rounds: int
    ) -> bool:
        """Rank 0: whether every reachable sized figure's confidence sequence after
        ``rounds`` rounds is within the target (kept in ``self.sequences`` for the result)."""
        sizings = {s.task: s for s in planned.sizing}
        stim = planned.stimuli
        chunks = num_chunks(stim.size(rounds))
        narrow = True
        for task in todo:
            sizing = sizings.get(task.name)
            if sizing is None:
                continue
            frame = work.read_task(task.name, chunks).to_pandas()
            frame = frame[frame["sample"] < rounds].reset_index(drop=True)
            frame = task.grade(frame, self.config.palette)
            found = sequences(task, frame, stim)
            self.sequences[task.name] = found
            if sizing.floor_pp is None:
                narrow &= all(half <= sizing.target_pp for _, half in found.values())
        return narrow

    def _finish(
        self, planned: SetPlan, todo: list[Task], work: WorkDir, prov: dict
    ) -> list[RunResult]:
        """Rank 0: aggregate each computed task from the chunk files, store it, report it."""
        tasks, size = planned.tasks, planned.stimuli.size(planned.samples)
        sizings = {s.task: s for s in planned.sizing}
        results = []
        # a crashed task is not looked for among the stored results either
        computed = {t.name for t in todo}
        for task in todo:
            frame = work.read_task(task.name, num_chunks(size)).to_pandas()
            if self.config.stop_early:  # the last round's chunk may hold later samples
                frame = frame[frame["sample"] < planned.samples].reset_index(drop=True)
            try:  # the task plugin's code: a crash costs this task, never the others
                frame = task.grade(frame, self.config.palette)
                summary = task.summarize(frame, self.config.palette)
                summary.model, summary.prompts = self.result_id, self._prompt_texts(task)
            except Exception as exc:
                self.failed.append(self._task_failure(task, exc))
                self._warn(self.failed[-1])
                continue
            if task.name in self.sequences:  # stopped early: only the CS is still valid
                centre, half = self.sequences[task.name]["headline"]
                summary.headline = replace(
                    summary.headline,
                    ci_low=max(0.0, centre - half),
                    ci_high=min(100.0, centre + half),
                )
            final = {
                **prov,
                **self._task_key(task),
                "task_plugin": self.plugins.tasks.resolve(task.name).plugin,
                "prompts": summary.prompts,
                "wall_time_s": round(time.monotonic() - self.t0, 3),
            }
            if task.name in sizings:
                final.update(self._sized(task, sizings[task.name], frame, summary, planned))
            usage = getattr(self.adapter, "usage", None)  # served: requests, tokens, endpoints
            if callable(usage):
                final["usage"] = usage()
            directory, doc = write_result(
                self.config.out, self.result_id, task, summary, frame, final, self._warn
            )
            notify(self.plugins.pm, doc, directory, self._warn)
            results.append(RunResult(self.result_id, task.name, summary, frame, directory))
        if todo:
            work.discard()
        for task in tasks:
            if task.name not in computed:
                directory = result_dir(self.config.out, self.result_id, task.name)
                summary = read_stored(directory).task_summary()
                results.append(
                    RunResult(
                        self.result_id, task.name, summary, read_predictions(directory), directory
                    )
                )
        return results

    def _sized(
        self,
        task: Task,
        sizing: Sizing,
        frame: pd.DataFrame,
        summary: TaskSummary,
        planned: SetPlan,
    ) -> dict:
        """The ``--target-ci`` provenance of one task and its line: images used, achieved
        half-widths of the headline and of every reported figure."""
        sequence = self.sequences.get(task.name)
        if sequence is not None:
            widths = {name: round(half, 3) for name, (_, half) in sequence.items()}
        else:
            widths = achieved(task, frame, planned.stimuli)
            top = summary.headline
            widths["headline"] = round((top.ci_high - top.ci_low) / 2, 3)
        worst = max(widths, key=widths.__getitem__)
        self._say(
            f"{self.result_id} {task.name}: {planned.stimuli.size(planned.samples)} images "
            f"(n={planned.samples}); achieved 95% half-width: headline +-{widths['headline']:.2f}"
            f" pp, widest reported figure {worst} +-{widths[worst]:.2f} pp "
            f"(target +-{sizing.target_pp:g})"
        )
        found = {
            "target_ci": sizing.target_pp,
            "sizing": {
                **sizing.provenance(),
                "n_needed": sizing.samples,
                "n": planned.samples,
                "achieved_pp": widths,
            },
        }
        if self.config.stop_early:
            found["sizing"]["stop_early"] = {
                "rounds": planned.samples,
                "cap": max(s.samples for s in planned.sizing),  # the set's fixed size
                "interval": CS_METHOD,
                "alpha_per_figure": round(0.05 / len(widths), 6),
            }
        return found

    def _task_key(self, task: Task) -> dict:
        """The task's part of provenance and the resume key: its version and its plugin's."""
        plugin = self.plugins.tasks.resolve(task.name).plugin
        return task_key(getattr(task, "version", "1"), self.plugins.versions.get(plugin))

    def _task_failure(self, task: Task, exc: Exception) -> str:
        plugin = self.plugins.tasks.resolve(task.name).plugin
        text = " ".join(str(exc).split())
        return (
            f"{self.result_id}: task {task.name!r} of plugin {plugin!r} failed "
            f"({type(exc).__name__}: {text}); fix the task (`colorbench check-plugin {plugin}` "
            "checks it)"
        )

    def _prompt_texts(self, task: Task) -> dict[str, str]:
        """The exact text each prompt put to the model: its statement template or question."""
        if self.mode.form == "question":
            palette, form = self.config.palette, self.mode.question_form or "open"
            return {p.id: p.asked(palette, form) for p in task.prompts}
        return {p.id: p.template for p in task.prompts}

    def _warn(self, message: str) -> None:
        self.warnings.print(
            f"colorbench: warning: {printable(message)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
