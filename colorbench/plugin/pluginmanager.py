"""Plugin discovery: entry points, ``-p module``, ``-p no:NAME``, and hook-driven registries.

Like pytest and simonw/llm, built-ins are ordinary plugins found through the
``colorbench`` entry-point group; the core never imports them by name. Each plugin's
hooks are called one plugin at a time so that a failing plugin is reported in one
line and the rest keep working.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points, packages_distributions
from importlib.metadata import version as distribution_version
from typing import Any

import pluggy

from colorbench.errors import PluginError
from colorbench.names import printable
from colorbench.plugin import hookspecs
from colorbench.plugin.registry import Registry

GROUP = "colorbench"

#: core modules that implement hooks themselves (the built-in stimulus sets)
CORE_PLUGINS = ("colorbench.stimuli",)


@dataclass
class Plugins:
    """The loaded plugin manager and the registries its hooks filled."""

    pm: pluggy.PluginManager
    models: Registry = field(default_factory=lambda: Registry("model"))
    tasks: Registry = field(default_factory=lambda: Registry("task", path_names=True))
    stimulus_sets: Registry = field(
        default_factory=lambda: Registry("stimulus set", path_names=True)
    )
    analyses: Registry = field(default_factory=lambda: Registry("analysis", path_names=True))
    #: one line per plugin that failed to import or whose hook raised
    problems: list[str] = field(default_factory=list)
    #: plugin name -> where it came from (``module`` or ``module (distribution version)``)
    sources: dict[str, str] = field(default_factory=dict)
    #: plugin name -> its release: ``"<distribution> <version>"`` for an installed package,
    #: ``"<module> <__version__>"`` for a ``-p`` module that declares one; in provenance and
    #: the resume key of every task it registers
    versions: dict[str, str] = field(default_factory=dict)


def _load_entry_points(
    pm: pluggy.PluginManager, problems: list[str], sources: dict, versions: dict
) -> None:
    for ep in sorted(entry_points(group=GROUP), key=lambda ep: ep.name):
        if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must not stop the others
            problems.append(f"plugin {ep.name!r} ({ep.value}) failed to import: {_one_line(exc)}")
            continue
        dist = f" ({ep.dist.name} {ep.dist.version})" if ep.dist is not None else ""
        _register(pm, plugin, ep.name, f"{ep.value}{dist}", problems, sources)
        if ep.dist is not None:
            versions[ep.name] = f"{ep.dist.name} {ep.dist.version}"


def _load_module(
    pm: pluggy.PluginManager,
    spec: str,
    how: str,
    problems: list[str],
    sources: dict,
    versions: dict | None = None,
) -> None:
    """Import and register a plugin module named on the command line (``-p``) or by the core."""
    try:
        module = importlib.import_module(spec)
    except Exception as exc:
        problems.append(f"plugin {spec!r} ({how}) failed to import: {_one_line(exc)}")
        return
    if pm.get_plugin(spec) is None and not pm.is_registered(module):
        _register(pm, module, spec, f"{spec} ({how})", problems, sources)
        release = _release(module)
        if versions is not None and release is not None:
            versions[spec] = release


def _release(module) -> str | None:
    """``"<distribution> <version>"`` of the installed package a ``-p`` module belongs to,
    else ``"<module> <__version__>"`` when the module declares one, else None."""
    top = module.__name__.partition(".")[0]
    for dist in packages_distributions().get(top, []):
        return f"{dist} {distribution_version(dist)}"
    own = getattr(module, "__version__", None)
    return f"{module.__name__} {own}" if isinstance(own, str) else None


def _register(
    pm: pluggy.PluginManager, plugin, name: str, source: str, problems: list[str], sources: dict
) -> None:
    """Register one plugin; a hook with a wrong signature is reported, not raised."""
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        problems.append(f"plugin {name!r} has an invalid hook: {_one_line(exc)}")
        return
    sources[name] = source
    for caller in pm.get_hookcallers(plugin) or ():
        if not caller.has_spec():
            problems.append(
                f"plugin {name!r} implements unknown hook {caller.name!r}; "
                "see colorbench/plugin/hookspecs.py for the hook names"
            )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def call_each(
    pm: pluggy.PluginManager,
    hook_name: str,
    arguments: Callable[[str], dict[str, Any]],
    problem: Callable[[str], None],
) -> None:
    """Call ``hook_name`` on each plugin separately, in registration order.

    ``arguments(plugin_name)`` gives the hook's keyword arguments for that plugin (each
    implementation gets those it declares, as pluggy would pass them). A plugin that raises
    is reported through ``problem`` as one line naming it, and the others still run (a
    plugin calling ``sys.exit`` too: it must not end the run silently); a
    :class:`PluginError` (a conflict between plugins) stops everything.
    """
    caller = getattr(pm.hook, hook_name)
    for impl in reversed(caller.get_hookimpls()):
        kwargs = arguments(impl.plugin_name)
        try:
            impl.function(*[kwargs[name] for name in impl.argnames])
        except PluginError:
            raise
        except (Exception, SystemExit) as exc:
            problem(f"plugin {impl.plugin_name!r} failed in {hook_name}: {_one_line(exc)}")


def _collect(plugins: Plugins, hook_name: str, make_register: Callable) -> None:
    """Fill a registry: each plugin gets a ``register`` that attributes entries to it."""
    call_each(
        plugins.pm,
        hook_name,
        lambda plugin: {"register": make_register(plugin)},
        plugins.problems.append,
    )


def load_plugins(specs: Sequence[str] = (), entrypoints: bool = True) -> Plugins:
    """Build the plugin manager: core plugins, entry points and ``-p`` specs.

    ``specs`` are ``-p`` values: a module path to load, or ``no:NAME`` to block the
    plugin registered under NAME (an entry-point name such as ``openclip``).
    """
    pm = pluggy.PluginManager(GROUP)
    pm.add_hookspecs(hookspecs)
    problems: list[str] = []
    sources: dict[str, str] = {}
    versions: dict[str, str] = {}
    for spec in specs:
        if spec.startswith("no:"):
            pm.set_blocked(spec[3:])
    for name in CORE_PLUGINS:
        if not pm.is_blocked(name):
            _load_module(pm, name, "core", problems, sources)
    if entrypoints:
        _load_entry_points(pm, problems, sources, versions)
    for spec in specs:
        if not spec.startswith("no:") and not pm.is_blocked(spec):
            _load_module(pm, spec, "-p", problems, sources, versions)

    plugins = Plugins(pm=pm, problems=problems, sources=sources, versions=versions)

    def named(registry: Registry) -> Callable:
        def make(plugin: str) -> Callable:
            def register(name: str, obj, *, description: str = "") -> None:
                registry.add(name, obj, plugin, description)

            return register

        return make

    def by_attr(registry: Registry) -> Callable:
        def make(plugin: str) -> Callable:
            def register(obj) -> None:
                registry.add(
                    getattr(obj, "name", None), obj, plugin, getattr(obj, "description", "")
                )

            return register

        return make

    _collect(plugins, "colorbench_register_stimulus_sets", named(plugins.stimulus_sets))
    _collect(plugins, "colorbench_register_models", named(plugins.models))
    _collect(plugins, "colorbench_register_tasks", by_attr(plugins.tasks))
    _collect(plugins, "colorbench_register_analyses", by_attr(plugins.analyses))
    return plugins


def report_problems(plugins: Plugins, stream=None) -> None:
    """Print one line per broken plugin (to stderr by default); the working plugins stay usable."""
    for line in plugins.problems:
        print(f"colorbench: warning: {printable(line)}", file=stream or sys.stderr)
