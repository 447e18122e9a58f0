"""Export folders appear whole or not at all.

An export is written into a hidden sibling folder and renamed onto ``--out`` when complete,
so an interrupted or failed export leaves nothing a harness could half-load, and an
existing folder with anything in it is refused rather than mixed with.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from colorbench.errors import ColorbenchError
from colorbench.plugin.pluginmanager import Plugins
from colorbench.plugin.task import Task


def plugin_requirements(plugins: Plugins, tasks: Sequence[Task], where: str) -> list[str]:
    """README lines naming, per task, the plugin (and its release) that must be installed
    ``where`` the task's code grades the answers (a task from a plugin is not in colorbench)."""
    lines = [f"Install colorbench and each task's plugin {where}:", ""]
    for task in tasks:
        plugin = plugins.tasks.resolve(task.name).plugin
        release = plugins.versions.get(plugin) or "no installed release: install its module"
        lines.append(f"- `{task.name}` (version {task.version}): plugin `{plugin}` ({release})")
    return [*lines, ""]


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder to write the export into; renamed onto ``out`` when the block succeeds."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ColorbenchError(f"{out} exists and is not an empty folder; choose a new --out")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = out.parent / f".{out.name}.partial-{os.getpid()}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir()
    except OSError as exc:
        raise ColorbenchError(
            f"cannot create {out}: {exc.strerror or exc}; choose a writable --out folder"
        ) from None
    try:
        yield stage
        if out.exists():
            out.rmdir()  # empty, checked above
        stage.rename(out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
