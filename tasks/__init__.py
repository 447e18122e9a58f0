"""Built-in tasks (installed as ``colorbench.tasks``), registered through the task hook.

The five experiments of Arias et al. (2024), see ``docs/DESIGN.md``: global-color
and part-attribution on the shapes set (:mod:`colorbench.tasks.shapes_tasks`), and
prompt-choice, stroop-white and stroop-colored on the Stroop sets
(:mod:`colorbench.tasks.stroop_tasks`).
"""

from __future__ import annotations

from collections.abc import Callable

import colorbench
from colorbench.plugin.task import Task


def paper_tasks() -> list[Task]:
    """Fresh instances of the five paper tasks, in the paper's order."""
    from colorbench.tasks.shapes_tasks import GlobalColor, PartAttribution
    from colorbench.tasks.stroop_tasks import PromptChoice, StroopColored, StroopWhite

    return [GlobalColor(), PartAttribution(), PromptChoice(), StroopWhite(), StroopColored()]


@colorbench.hookimpl
def colorbench_register_tasks(register: Callable[[Task], None]) -> None:
    for task in paper_tasks():
        register(task)
