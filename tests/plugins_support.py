"""Helpers for plugin tests: throw-away plugin modules and installed-looking distributions.

Every module gets a unique name so that Python's import cache never hands one test the
module of another.
"""

from __future__ import annotations

import itertools
import textwrap
from importlib.metadata import distributions
from pathlib import Path

import pytest

from colorbench.plugin import pluginmanager

_counter = itertools.count()

#: a plugin registering one model and one task, both answering to ``{prefix}``-ids
MODEL_AND_TASK = """
import colorbench
from colorbench.plugin.task import Task, TaskSummary, Headline

CALLS = []

def factory(model_id, **options):
    CALLS.append(model_id)
    raise AssertionError("the factory must not be called while validating ids")

class FakeTask(Task):
    name = "{prefix}-task"
    stimulus_set = "{prefix}-set"
    reference = "made up for a test"

    def summarize(self, predictions, palette):
        return TaskSummary(self.name, Headline("correct %", 0.0, 0, 0.0, 0.0))

@colorbench.hookimpl
def colorbench_register_models(register):
    register("{prefix}-model", factory, description="a fake model")

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(FakeTask())
"""


#: a plugin of one more task on fake_support's set, ``fake-extra``, at release 0.3: the one
#: "uninstalled" while its work is unfinished (tests/test_resume.py, tools/bad_inputs.py)
EXTRA_TASK = """
import colorbench
from fake_support import FakeGlobal

__version__ = "0.3"

class FakeExtra(FakeGlobal):
    name = "fake-extra"

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(FakeExtra())
"""


#: a plugin registering the stimulus set ``{prefix}-set`` (fake_support's one-colour images)
STIMULUS_SET = """
import colorbench
from fake_support import FakeFlat

@colorbench.hookimpl
def colorbench_register_stimulus_sets(register):
    register("{prefix}-set", FakeFlat)
"""


def write_module(directory: Path, source: str, stem: str = "plug") -> str:
    """Write ``source`` as a uniquely named module in ``directory``; return its name."""
    name = f"cb_test_{stem}_{next(_counter)}"
    (directory / f"{name}.py").write_text(textwrap.dedent(source))
    return name


def write_distribution(
    directory: Path, dist: str, entry_points: dict[str, str], group: str = "colorbench"
) -> None:
    """A ``dist-info`` folder with entry points in ``group``, as pip would leave it."""
    info = directory / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")


def private_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make ``tmp_path`` an import path whose dist-info folders are the only installed plugins."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def entry_points(group: str):
        found = distributions(path=[str(tmp_path)])
        return [ep for dist in found for ep in dist.entry_points if ep.group == group]

    monkeypatch.setattr(pluginmanager, "entry_points", entry_points)
    return tmp_path


def plugin(site: Path, prefix: str) -> str:
    """A plugin module registering ``{prefix}-model`` and ``{prefix}-task``; its name."""
    return write_module(site, MODEL_AND_TASK.replace("{prefix}", prefix))


def stimulus_set(site: Path, prefix: str) -> str:
    """A plugin module registering ``{prefix}-set``, the set ``{prefix}-task`` runs on."""
    return write_module(site, STIMULUS_SET.replace("{prefix}", prefix), stem="set")
