"""The hooks colorbench plugins implement.

colorbench's core knows hooks, not tasks or models. Built-in tasks, model adapters,
stimulus sets and analyses register through exactly these hooks, discovered from the
``colorbench`` entry-point group like any third-party package. A plugin module looks
like::

    import colorbench

    @colorbench.hookimpl
    def colorbench_register_models(register):
        register("my-vlm-*", MyAdapter.from_id, description="My VLM family")

Each hook receives a ``register`` callable. The harness calls every plugin's hook
separately, so a plugin whose hook raises is reported in one line naming it while
the others still load, and every registration is attributed to its plugin (shown by
``colorbench list``). Registering an id that another plugin already registered is a
conflict error naming both plugins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("colorbench")
hookimpl = pluggy.HookimplMarker("colorbench")


@hookspec
def colorbench_register_models(register: Callable[..., None]) -> None:
    """Register model adapters.

    ``register(model_id_or_pattern, factory, *, description="")``

    ``model_id_or_pattern`` is an exact id (``"ideal-observer"``) or an fnmatch
    pattern (``"random-*"``, ``"hf-hub:*"``) for a family; exact ids win over
    patterns. ``factory(model_id, **options)`` returns a
    :class:`colorbench.plugin.adapter.ModelAdapter`. Options the harness passes (factories
    must accept and may ignore any of them, so take ``**options``):
    ``device`` (``torch.device``), ``precision`` (``"fp32"``, ``"fp16"``, ``"bf16"``),
    ``weights`` (``pathlib.Path`` or ``None``), ``palette``
    (:class:`colorbench.palette.Palette`), ``seed`` (int), ``out`` (the results folder),
    ``scoring`` (``--scoring`` or ``None``), ``resume`` (bool), and the run's
    ``model_options`` (the served plugin's ``endpoints``, ``max_in_flight``, ...).
    """


@hookspec
def colorbench_register_tasks(register: Callable[..., None]) -> None:
    """Register tasks: ``register(task)`` with a :class:`colorbench.plugin.task.Task` instance.

    The task's ``name`` is its id on the command line (``--task global-color``).
    """


@hookspec
def colorbench_register_stimulus_sets(register: Callable[..., None]) -> None:
    """Register stimulus sets: ``register(name, factory, *, description="")``.

    ``factory(palette=..., seed=...)`` returns a
    :class:`colorbench.stimuli.base.StimulusSet`. Tasks name the set they run on, so
    a plugin can bring a new task together with the stimuli it needs.
    """


@hookspec
def colorbench_register_analyses(register: Callable[..., None]) -> None:
    """Register analyses run by ``colorbench analyze NAME``: ``register(analysis)``.

    ``analysis`` is a :class:`colorbench.plugin.analysis.Analysis`: it has a ``name``, a
    ``description``, ``add_arguments(parser)`` to declare its CLI options,
    ``run(args, plugins) -> int`` to execute them and ``check_args``, the options of a tiny
    run that ``colorbench check-plugin`` makes.
    """


@hookspec
def colorbench_result_written(model_id: str, task: str, summary: dict[str, Any], path: str) -> None:
    """Called after a (model, task) result is stored, e.g. to post it to a tracker.

    ``summary`` is the content of ``summary.json``; ``path`` its directory.
    A reporter that raises is reported and never loses the stored result.
    """
