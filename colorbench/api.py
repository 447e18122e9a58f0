"""The Python API: ``colorbench.run(...)`` does what ``colorbench run`` does, for notebooks.

The CLI builds its :class:`~colorbench.config.RunConfig` and runs it with the same two
functions (:func:`make_config`, :func:`evaluate`), so the two cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from colorbench.config import RunConfig
from colorbench.errors import ColorbenchError, suggest
from colorbench.palette import palette_option
from colorbench.plugin.pluginmanager import Plugins, load_plugins

_OPTIONS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name not in ("models", "tasks"))


def make_config(
    models: str | Sequence[str], tasks: str | Sequence[str] = "all", samples: int = 1, **options
) -> RunConfig:
    """A RunConfig from CLI-shaped values: a palette may be a file, paths may be strings."""
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ColorbenchError(
            f"unknown run option {unknown[0]!r}{suggest(unknown[0], _OPTIONS)}; "
            f"valid options: {', '.join(_OPTIONS)}"
        )
    options["palette"] = palette_option(options.get("palette"))
    for name in ("weights", "out"):
        if options.get(name) is not None:
            options[name] = Path(options[name])
    return RunConfig(models=_as_list(models), tasks=_as_list(tasks), samples=samples, **options)


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def evaluate(config: RunConfig, plugins: Plugins) -> list[Any]:
    """Plan the run, then hand the plan to the engine; returns one ``RunResult`` per result.

    The distributed context comes first so that the plan's device is this rank's GPU under
    ``torchrun``; every rank calls this, rank 0 returns the results and the others ``[]``.
    """
    # imported here: torch and the engine are heavy, and `colorbench list` never needs them
    from colorbench.runner import distributed
    from colorbench.runner.engine import run
    from colorbench.runner.plan import build_plan

    ctx = distributed.from_env(config.device)
    try:
        return run(build_plan(config, plugins, ctx.local_rank), plugins, ctx)
    finally:
        ctx.close()


@dataclass
class Results:
    """What :func:`run` returns: one ``engine.RunResult`` per model and task."""

    runs: list[Any]

    @property
    def headlines(self) -> pd.DataFrame:
        """One row per (model, task): the headline figure, its 95% CI, n and where it is stored."""
        rows = [
            {"model": r.model, "task": r.task, **vars(r.summary.headline), "path": str(r.path)}
            for r in self.runs
        ]
        return pd.DataFrame(
            rows, columns=["model", "task", "metric", "value", "n", "ci_low", "ci_high", "path"]
        )

    @property
    def predictions(self) -> pd.DataFrame:
        """Every per-sample prediction of every run, with a ``model`` column in front."""
        frames = [r.predictions.assign(model=r.model) for r in self.runs]
        if not frames:
            return pd.DataFrame()
        frame = pd.concat(frames, ignore_index=True)
        return frame[["model", *(c for c in frame.columns if c != "model")]]

    def tables(self, model: str, task: str) -> dict[str, pd.DataFrame]:
        """The task's tables (paper layout) for one model, by table name."""
        for r in self.runs:
            if r.model == model and r.task == task:
                return r.summary.tables
        done = [f"{r.model}/{r.task}" for r in self.runs]
        raise KeyError(f"no run of {model!r} on {task!r}{suggest(f'{model}/{task}', done)}")


def run(
    model: str | list[str], task: str | list[str] = "all", samples: int = 1, **options
) -> Results:
    """Run models on tasks, store the results like the CLI does, and return them as DataFrames.

    ``options`` are those of ``colorbench run``: ``device``, ``batch_size``, ``weights``,
    ``out`` (default ``results``), ``seed``, ``precision``, ``palette`` (a
    :class:`~colorbench.palette.Palette` or a JSON file), ``renderer``, ``resume``, ``quiet``
    and ``plugins`` (``-p`` specs such as ``["my_plugin", "no:openclip"]``). Plugin problems
    are issued as warnings; bad ids raise :class:`~colorbench.errors.ColorbenchError`.

    Example::

        import colorbench

        res = colorbench.run("ideal-observer", ["stroop-white", "prompt-choice"], samples=2)
        res.headlines                          # one row per (model, task)
        res.tables("ideal-observer", "stroop-white")  # {table name: DataFrame}
        res.predictions.groupby("task").outcome.value_counts()
    """
    config = make_config(model, task, samples, **options)
    plugins = load_plugins(config.plugins)
    for problem in plugins.problems:
        warnings.warn(problem, stacklevel=2)
    return Results(runs=evaluate(config, plugins))
