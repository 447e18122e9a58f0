"""Check once, then run: a :class:`Plan` is everything a run needs, resolved and validated.

:func:`build_plan` is the only place that checks a :class:`~colorbench.config.RunConfig`
against the loaded plugins: model ids become (id, factory, plugin), ``--task all`` becomes
task objects grouped by the stimulus set they share, ``auto`` device / precision / renderer
become concrete choices. Every problem is one line naming the fix, raised before any model
loads or any file is written. The engine, the API and the CLI take the plan as it is and
never check again.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path
from typing import Any

import torch

from colorbench.config import (
    MAX_NEW_TOKENS,
    NORMALIZATIONS,
    QUESTION_FORMS,
    SCORINGS,
    RunConfig,
)
from colorbench.errors import ColorbenchError, PluginError
from colorbench.palette import Palette
from colorbench.plugin.pluginmanager import Plugins
from colorbench.plugin.task import Task
from colorbench.report.results import model_slug
from colorbench.runner.device import (
    check_renderer,
    resolve_device,
    resolve_precision,
    resolve_renderer,
)
from colorbench.runner.sizing import Sizing, check_target, size_set
from colorbench.runner.taskcheck import sample_problems, task_problems
from colorbench.runner.weights import require_file
from colorbench.stimuli.base import StimulusSet

#: largest --samples accepted: 20x the paper's 500 (8.8 million shape images); more is a typo
MAX_SAMPLES = 10_000
#: --seed range: what numpy, torch and a signed 64-bit parquet/JSON integer all accept
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class ModelPlan:
    """One model to run: its id, the factory that builds its adapter, and who registered it."""

    id: str
    factory: Callable[..., Any]
    plugin: str
    #: ``<out>/<model-slug>``: the model's results, work and lock
    directory: Path


@dataclass
class SetPlan:
    """One stimulus set and the selected tasks that share its images."""

    name: str
    stimuli: StimulusSet
    renderer: str
    tasks: list[Task]
    #: samples per combination: ``--samples``, or what ``--target-ci`` needs (the largest
    #: of its tasks' sizes, since they share the images)
    samples: int = 1
    #: each task's sizing under ``--target-ci`` (empty without it)
    sizing: list[Sizing] = field(default_factory=list)


@dataclass
class Plan:
    """A validated run: the options, the models, where and how to compute, the sets."""

    config: RunConfig
    models: list[ModelPlan]
    device: torch.device
    precision: str
    sets: list[SetPlan]


def check_samples(samples: object) -> int:
    """``--samples`` (per combination): a whole number from 1 to :data:`MAX_SAMPLES`."""
    if (
        isinstance(samples, bool)
        or not isinstance(samples, Integral)
        or not 1 <= samples <= MAX_SAMPLES
    ):
        raise ColorbenchError(
            f"--samples must be a whole number from 1 to {MAX_SAMPLES} per combination "
            f"(the paper uses 500), got {samples!r}"
        )
    return int(samples)


def check_scoring(
    scoring: str | None,
    normalization: str,
    question_form: str | None = None,
    max_new_tokens: object = MAX_NEW_TOKENS,
) -> None:
    """``--scoring`` names a question mode (similarity is what contrastive models always
    use), ``--normalization`` a likelihood normalisation, ``--question-form`` a question
    form and ``--max-new-tokens`` a positive whole number."""
    if question_form is not None and question_form not in QUESTION_FORMS:
        raise ColorbenchError(
            f"--question-form must be one of {', '.join(QUESTION_FORMS)}, got {question_form!r}"
        )
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 1
    ):
        raise ColorbenchError(
            f"--max-new-tokens must be a positive whole number (default {MAX_NEW_TOKENS}), "
            f"got {max_new_tokens!r}"
        )
    if scoring is not None and scoring not in SCORINGS[1:]:
        raise ColorbenchError(
            f"--scoring must be one of {', '.join(SCORINGS[1:])} (how generative models "
            f"answer), got {scoring!r}"
        )
    if normalization not in NORMALIZATIONS:
        raise ColorbenchError(
            f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got {normalization!r}"
        )


def check_seed(seed: object) -> int:
    """``--seed``: a whole number from 0 to 2**63 - 1 (numpy refuses negatives, torch and
    parquet larger ones); checked before anything is written, so no manifest is left behind."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or not 0 <= seed <= MAX_SEED:
        raise ColorbenchError(f"--seed must be a whole number from 0 to 2**63-1, got {seed!r}")
    return int(seed)


def check_out(out: Path, flag: str = "--out") -> None:
    """The output folder exists as a writable folder, or can be created (its nearest existing
    parent is a writable folder): a file or a read-only folder fails here, in one line."""
    out = Path(out)
    existing = next((p for p in (out, *out.parents) if p.exists()), Path("."))
    if existing == out and not out.is_dir():
        raise ColorbenchError(f"{flag} {out} is a file, not a folder; pass a folder")
    if not existing.is_dir():
        raise ColorbenchError(f"{flag} {out}: {existing} is a file, not a folder; pass a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ColorbenchError(f"{flag} {out}: {existing} is not writable; pass a writable folder")


def build_plan(config: RunConfig, plugins: Plugins, local_rank: int = 0) -> Plan:
    """Resolve and check every option; ``local_rank`` picks the GPU under torchrun."""
    models = _models(config, plugins)
    tasks = select_tasks(plugins, config.tasks)
    check_samples(config.samples)
    if config.target_ci is not None:
        check_target(config.target_ci)
    elif config.stop_early:
        raise ColorbenchError("--stop-early needs --target-ci PP: the half-width to stop at")
    check_seed(config.seed)
    check_out(config.out)
    if config.batch_size is not None and (
        isinstance(config.batch_size, bool)
        or not isinstance(config.batch_size, int)
        or config.batch_size < 1
    ):
        raise ColorbenchError(f"--batch-size must be a positive integer, got {config.batch_size!r}")
    device = resolve_device(config.device, local_rank)
    precision = resolve_precision(config.precision, device)
    check_renderer(config.renderer)
    check_scoring(config.scoring, config.normalization, config.question_form, config.max_new_tokens)
    if config.weights is not None:
        require_file(config.weights)
    sets = _sets(plugins, tasks, config.palette, config.seed, config.renderer, device)
    for planned in sets:
        planned.samples = config.samples
        if config.target_ci is not None:
            planned.sizing = size_set(planned.tasks, planned.stimuli, config.target_ci)
            planned.samples = max(s.samples for s in planned.sizing)
    return Plan(config, models, device, precision, sets)


def _models(config: RunConfig, plugins: Plugins) -> list[ModelPlan]:
    if not config.models:
        raise ColorbenchError("no model given; name one with --model ID (`colorbench list`)")
    ids = list(dict.fromkeys(config.models))
    if config.weights is not None and len(config.models) > 1:
        raise ColorbenchError("--weights belongs to one model; run one --model at a time with it")
    models = []
    for model_id in ids:
        entry = plugins.models.resolve(model_id)
        directory = Path(config.out) / model_slug(model_id)
        models.append(ModelPlan(model_id, entry.obj, entry.plugin, directory))
    return models


def select_tasks(plugins: Plugins, names: list[str]) -> list[Task]:
    """``--task`` values (``all`` allowed) as task objects, each once, in the order given."""
    if not names:
        raise ColorbenchError("no task given; pass --task NAME or --task all")
    selected: dict[str, Task] = {}
    for name in names:
        entries = list(plugins.tasks) if name == "all" else [plugins.tasks.resolve(name)]
        for entry in entries:
            selected.setdefault(entry.name, entry.obj)
    if not selected:
        raise ColorbenchError(
            "--task all found no registered task; check the plugin warnings and `colorbench list`"
        )
    return list(selected.values())


def stimulus_set(plugins: Plugins, task: Task, palette: Palette, seed: int) -> StimulusSet:
    """The task's stimulus set, built; or one line naming the plugin that is missing."""
    if task.stimulus_set not in plugins.stimulus_sets.names():
        raise ColorbenchError(
            f"task {task.name!r} runs on stimulus set {task.stimulus_set!r}, which no loaded "
            "plugin registers; install or enable the plugin that provides it"
        )
    return plugins.stimulus_sets.get(task.stimulus_set)(palette=palette, seed=seed)


def check_task(plugins: Plugins, task: Task, stimuli: StimulusSet, palette: Palette) -> None:
    """Refuse a task that disagrees with its stimulus set (an outcome part no attribute
    provides, a reserved attribute name, a template without ``{c}``) before any model loads."""
    plugin = plugins.tasks.resolve(task.name).plugin
    sample = stimuli.sample(0, 0)
    set_plugin = plugins.stimulus_sets.resolve(task.stimulus_set).plugin
    problems = sample_problems(task.stimulus_set, sample, set_plugin)
    problems += task_problems(task, sample, palette, plugin)
    if problems:
        more = f" ({len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PluginError(
            f"{problems[0]}{more}; `colorbench check-plugin {plugin}` lists every problem"
        )


def _sets(
    plugins: Plugins,
    tasks: list[Task],
    palette: Palette,
    seed: int,
    renderer: str,
    device: torch.device,
) -> list[SetPlan]:
    """Group the tasks by stimulus set (first-seen order), build each set once and pick
    its renderer (``auto`` resolved for ``device``)."""
    sets: dict[str, SetPlan] = {}
    for task in tasks:
        name = task.stimulus_set
        if name not in sets:
            stimuli = stimulus_set(plugins, task, palette, seed)
            chosen = resolve_renderer(renderer, stimuli.backends, device, name)
            sets[name] = SetPlan(name, stimuli, chosen, [])
        check_task(plugins, task, sets[name].stimuli, palette)
        sets[name].tasks.append(task)
    return list(sets.values())
