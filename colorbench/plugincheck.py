"""``colorbench check-plugin NAME``: try everything a plugin registers, one line per defect.

A plugin author learns of most mistakes only when a run crashes deep inside pandas or
torch. The checker exercises each registered object the way a run would, on a few images,
and reports each defect as one line naming the plugin, the object and the fix:

- a stimulus set: built with the palette, two samples (first and last combination)
  rendered; images ``uint8 [2,3,H,W]``, masks ``[2,H,W]`` indexing ``parts``; no reserved
  attribute name (:func:`colorbench.runner.taskcheck.task_problems`);
- a task: its attributes and prompts against two samples of its set; then the reference
  models ``ideal-observer`` and ``chance`` run it on one sample per combination in a
  temporary folder (so ``grade``, ``summarize`` and the stored result are exercised); its
  headline must be a percentage inside its CI; ``figure`` must draw a PNG or return None;
- a model: its factory must take ``**options``; an exact id is created on the CPU and
  must score two images against the palette (``[2,K]`` finite scores, or for a generative
  adapter log-likelihoods of the K colour terms); a pattern is checked with ``models``;
- an analysis: its options declared as ``colorbench analyze NAME`` declares them, its
  ``check_args`` (a tiny run: a few images on the CPU) parsed, then run quietly on the CPU
  in a temporary working folder; it must return 0 and raise nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Palette
from colorbench.plugin.adapter import GenerativeAdapter, check_adapter, check_factory
from colorbench.plugin.analysis import Analysis, declare
from colorbench.plugin.pluginmanager import Plugins
from colorbench.plugin.task import Task, TaskSummary
from colorbench.runner.taskcheck import sample_problems, task_advice, task_problems
from colorbench.stimuli.base import Batch, StimulusSet

#: the models every task is run with: a perfect observer and a uniform guesser
REFERENCE_MODELS = ("ideal-observer", "chance")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def check_plugin(
    plugins: Plugins,
    name: str,
    models: Sequence[str] = (),
    palette: Palette = DEFAULT_PALETTE,
    say: Callable[[str], None] | None = None,
) -> list[str]:
    """Every defect found in plugin ``name`` (empty: it passed). ``models`` are ids to try
    for the plugin's patterns; ``say`` receives one progress line per object checked."""
    say = say or (lambda line: None)
    problems = [line for line in plugins.problems if f"{name!r}" in line]
    if name not in plugins.sources:
        loaded = ", ".join(sorted(plugins.sources)) or "none"
        return problems or [
            f"plugin {name!r} is not loaded (loaded: {loaded}); install it, or load a module "
            "with -p MODULE and check it under that name"
        ]
    sets = [e for e in plugins.stimulus_sets if e.plugin == name]
    tasks = [e for e in plugins.tasks if e.plugin == name]
    adapters = [e for e in plugins.models if e.plugin == name]
    analyses = [e for e in plugins.analyses if e.plugin == name]
    if not (sets or tasks or adapters or analyses):
        problems.append(
            f"plugin {name!r} registers nothing; implement colorbench_register_tasks, "
            "colorbench_register_models, colorbench_register_stimulus_sets or "
            "colorbench_register_analyses"
        )
    for entry in sets:
        say(f"stimulus set {entry.name}")
        problems += _check_set(entry.name, entry.obj, name, palette)
    for entry in tasks:
        say(f"task {entry.name}")
        problems += _check_task(plugins, entry.obj, name, palette)
    for entry in adapters:
        ids = [m for m in models if plugins.models.resolve(m).plugin == name]
        for model_id in [entry.name] if not entry.is_pattern else ids:
            say(f"model {model_id}")
            problems += _check_model(entry.obj, model_id, name, palette)
    for entry in analyses:
        say(f"analysis {entry.name}")
        problems += [p for p in _check_analysis(plugins, entry.obj, name) if p not in problems]
    return problems


def _build_set(factory: Any, palette: Palette) -> StimulusSet:
    stimuli = factory(palette=palette, seed=0)
    if not isinstance(stimuli, StimulusSet):
        raise TypeError(f"the factory returned a {type(stimuli).__name__}, not a StimulusSet")
    return stimuli


def _two_samples(stimuli: StimulusSet) -> Batch:
    last = stimuli.num_combinations() - 1
    return stimuli.render([stimuli.sample(0, 0), stimuli.sample(last, 0)], "pil", "cpu")


def _check_set(set_name: str, factory: Any, plugin: str, palette: Palette) -> list[str]:
    where = f"plugin {plugin!r} stimulus set {set_name!r}"
    try:
        stimuli = _build_set(factory, palette)
        batch = _two_samples(stimuli)
    except Exception as exc:
        return [
            f"{where}: building it and rendering two samples failed ({_one_line(exc)}); "
            "its factory must take (palette=, seed=) and render(samples, 'pil', device) "
            "must return a Batch"
        ]
    problems = []
    size = stimuli.image_size
    if batch.images.dtype != torch.uint8 or tuple(batch.images.shape) != (2, 3, size, size):
        problems.append(
            f"{where}: render gave images {batch.images.dtype} {tuple(batch.images.shape)}; "
            f"return uint8 [B,3,{size},{size}] RGB (image_size = {size})"
        )
    if tuple(batch.masks.shape) != (2, size, size) or (
        batch.masks.numel() and int(batch.masks.max()) >= len(stimuli.parts)
    ):
        problems.append(
            f"{where}: render gave masks {tuple(batch.masks.shape)} with labels beyond "
            f"parts {stimuli.parts} or of the wrong shape; return uint8 [B,{size},{size}] "
            "where each value indexes parts"
        )
    if stimuli.name != set_name:
        problems.append(
            f"{where}: the set built calls itself {stimuli.name!r}; set its name to {set_name!r}"
        )
    for sample in batch.samples:
        problems += [p for p in sample_problems(set_name, sample, plugin) if p not in problems]
    return problems


def _check_task(plugins: Plugins, task: Task, plugin: str, palette: Palette) -> list[str]:
    where = f"plugin {plugin!r} task {task.name!r}"
    if task.stimulus_set not in plugins.stimulus_sets.names():
        return [
            f"{where}: runs on stimulus set {task.stimulus_set!r}, which no loaded plugin "
            "registers; register it or name one of `colorbench list sets`"
        ]
    try:
        stimuli = _build_set(plugins.stimulus_sets.get(task.stimulus_set), palette)
        samples = _two_samples(stimuli).samples
    except Exception as exc:
        return [f"{where}: its stimulus set fails to render ({_one_line(exc)})"]
    problems: list[str] = []
    for sample in samples:
        problems += [p for p in task_problems(task, sample, palette, plugin) if p not in problems]
    problems += task_advice(task, plugin)
    if problems or any(sample_problems(task.stimulus_set, s, plugin) for s in samples):
        return problems  # a run would stop at the first one (the set's are its own lines)
    missing = [m for m in REFERENCE_MODELS if m not in plugins.models.names()]
    if missing:
        return [f"{where}: reference model(s) {', '.join(missing)} not loaded; enable them"]
    return _run_task(plugins, task, where, palette)


def _run_task(plugins: Plugins, task: Task, where: str, palette: Palette) -> list[str]:
    """Run the reference models on the task in a temporary folder; check what they stored."""
    from colorbench.api import evaluate, make_config

    problems = []
    with tempfile.TemporaryDirectory(prefix="colorbench-check-") as tmp:
        config = make_config(
            list(REFERENCE_MODELS),
            [task.name],
            1,
            out=Path(tmp) / "results",
            device="cpu",
            palette=palette,
            quiet=True,
        )
        try:
            results = evaluate(config, plugins)
        except ColorbenchError as exc:
            return [f"{where}: a run of {', '.join(REFERENCE_MODELS)} failed: {exc}"]
        except Exception as exc:
            return [f"{where}: a run of {', '.join(REFERENCE_MODELS)} crashed ({_one_line(exc)})"]
        for result in results:
            problems += _check_summary(result.summary, f"{where} ({result.model})")
        if results:
            problems += _check_figure(task, results[0].summary, Path(tmp), where)
    return problems


def _check_summary(summary: TaskSummary, where: str) -> list[str]:
    h = summary.headline
    problems = []
    if not (0 <= h.value <= 100 and h.ci_low <= h.value <= h.ci_high and h.n >= 1):
        problems.append(
            f"{where}: headline {h.metric!r} = {h.value} (CI {h.ci_low}-{h.ci_high}, n={h.n}) is "
            "not a percentage inside its 95% CI; build it with colorbench.tables.headline"
        )
    if math.isnan(h.value):
        problems.append(f"{where}: headline is NaN (no row counted); check headline_hits")
    return problems


def _check_figure(task: Task, summary: TaskSummary, tmp: Path, where: str) -> list[str]:
    path = tmp / "figure.png"
    try:
        drawn = task.figure(summary, path)
    except Exception as exc:
        return [
            f"{where}: figure() raised {_one_line(exc)}; draw from the summary's tables "
            "(runs store the result without a figure and warn)"
        ]
    if drawn is not None and (not Path(drawn).is_file() or Path(drawn).stat().st_size == 0):
        return [f"{where}: figure() returned {drawn} but wrote nothing there; save to `path`"]
    return []


def _check_model(factory: Any, model_id: str, plugin: str, palette: Palette) -> list[str]:
    where = f"plugin {plugin!r} model {model_id!r}"
    options = {
        "device": torch.device("cpu"),
        "precision": "fp32",
        "weights": None,
        "palette": palette,
        "seed": 0,
        "out": Path("results"),
        "scoring": None,
        "resume": True,
    }
    try:
        check_factory(factory, model_id, plugin, options)
        adapter = check_adapter(factory(model_id, **options), model_id, plugin)
    except ColorbenchError as exc:
        return [str(exc)]
    except Exception as exc:
        return [
            f"{where}: its factory raised {_one_line(exc)}; raise ColorbenchError with a "
            "one-line fix instead (or fix the factory)"
        ]
    from colorbench.stimuli.shapes import ShapesSet

    images = _two_samples(ShapesSet(palette=palette)).images.to(adapter.device)
    try:
        if isinstance(adapter, GenerativeAdapter):
            out = adapter.loglikelihood(images, "What colour is it?", list(palette.names)).total
        else:
            out = adapter.score(images, [f"a {c} shape" for c in palette.names])
    except Exception as exc:
        return [f"{where}: scoring two images failed ({_one_line(exc)})"]
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, len(palette)):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return [f"{where}: scores of 2 images x {len(palette)} texts came back as {shape}; "
                f"return a float tensor [B,K]"]  # fmt: skip
    if not torch.isfinite(out.float()).all():
        return [f"{where}: scores contain NaN or inf; return finite scores"]
    return []


class _ArgsError(Exception):
    """What argparse would print before exiting."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting: a bad ``check_args`` is a finding."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgsError(message)


@contextmanager
def _working_folder(path: Path) -> Iterator[None]:
    """Run inside ``path``: an analysis writing to its default, relative folder writes there."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _check_analysis(plugins: Plugins, analysis: Analysis, plugin: str) -> list[str]:
    """Declare the analysis's options, parse its ``check_args``, run it on the CPU quietly in
    a temporary working folder: it must return 0 without raising."""
    where = f"plugin {plugin!r} analysis {analysis.name!r}"
    parser = _Parser(prog=f"colorbench analyze {analysis.name}", conflict_handler="resolve")
    problem = declare(analysis, plugin, parser)
    if problem is not None:
        return [problem]
    argv = [str(arg) for arg in getattr(analysis, "check_args", ())]
    shown = shlex.join(argv) or "no options"
    try:
        args = parser.parse_args(argv)
    except _ArgsError as exc:
        return [
            f"{where}: its check_args ({shown}) do not parse: {exc}; set check_args to the "
            "options of a tiny run (a few images on the CPU)"
        ]
    args.device, args.quiet = "cpu", True
    with tempfile.TemporaryDirectory(prefix="colorbench-check-") as tmp, _working_folder(Path(tmp)):
        try:
            code = analysis.run(args, plugins)
        except ColorbenchError as exc:
            return [f"{where}: a tiny run ({shown}) failed: {exc}"]
        except Exception as exc:
            return [
                f"{where}: a tiny run ({shown}) crashed ({_one_line(exc)}); raise "
                "ColorbenchError with a one-line fix instead (or fix the analysis)"
            ]
    if code not in (0, None):
        return [f"{where}: a tiny run ({shown}) returned exit code {code!r}; return 0 on success"]
    return []
