"""Helpers for a plugin's own tests: run it in a folder of your choice, check it.

::

    from colorbench import testing

    def test_my_plugin(tmp_path):
        assert testing.check("my_plugin") == []
        results = testing.run("my_plugin", out=tmp_path)  # ideal-observer and chance
        assert results.headlines.set_index("model")["value"]["ideal-observer"] == 100

The plugin is found by name: an installed one through its entry point, otherwise the
module of that name is imported (``-p``), so a plugin's tests work from its source folder
before it is installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path

from colorbench.api import Results, evaluate, make_config
from colorbench.errors import ColorbenchError
from colorbench.plugin.pluginmanager import GROUP, Plugins, load_plugins
from colorbench.plugincheck import REFERENCE_MODELS, check_plugin


def load(plugin: str) -> Plugins:
    """Every installed plugin, plus ``plugin`` imported as a module when it is not installed."""
    installed = {ep.name for ep in entry_points(group=GROUP)}
    return load_plugins([] if plugin in installed else [plugin])


def check(plugin: str, models: Sequence[str] = ()) -> list[str]:
    """What ``colorbench check-plugin`` reports for ``plugin``: one line per problem."""
    return check_plugin(load(plugin), plugin, models)


def run(
    plugin: str,
    out: Path,
    models: Sequence[str] = REFERENCE_MODELS,
    tasks: Sequence[str] | None = None,
    samples: int = 1,
    **options,
) -> Results:
    """Run ``models`` (default: the reference models) on ``tasks`` (default: every task
    ``plugin`` registers) into ``out`` (e.g. pytest's ``tmp_path``), on the CPU, quietly.

    A plugin that registers models but no task is run on ``tasks`` you name."""
    plugins = load(plugin)
    if plugins.problems:
        raise ColorbenchError("; ".join(plugins.problems))
    if tasks is None:
        tasks = [e.name for e in plugins.tasks if e.plugin == plugin]
    options = {"device": "cpu", "quiet": True, **options}
    config = make_config(list(models), list(tasks), samples, out=Path(out), **options)
    return Results(runs=evaluate(config, plugins))
