"""Plugin discovery: entry points, ``-p``, ``-p no:NAME``, broken plugins and conflicts."""

from __future__ import annotations

import pytest
from plugins_support import plugin, write_distribution, write_module

from colorbench.errors import ColorbenchError, PluginError
from colorbench.plugin import pluginmanager
from colorbench.plugin.pluginmanager import load_plugins


def test_dash_p_loads_a_module_from_the_path(site):
    name = plugin(site, "alpha")
    plugins = load_plugins([name])
    entry = plugins.models.resolve("alpha-model")
    assert entry.plugin == name and entry.description == "a fake model"
    assert plugins.tasks.get("alpha-task").stimulus_set == "alpha-set"
    assert plugins.problems == []
    assert plugins.sources[name] == f"{name} (-p)"


def test_entry_point_plugin_is_discovered_with_its_distribution(site):
    write_distribution(site, "colorbench-alpha", {"alpha": plugin(site, "alpha")})
    plugins = load_plugins()
    assert plugins.models.resolve("alpha-model").plugin == "alpha"
    assert "colorbench-alpha 0.1" in plugins.sources["alpha"]


def test_plugin_that_raises_on_import_is_one_line_and_the_rest_load(site):
    broken = write_module(site, "raise RuntimeError('boom\\nsecond line')")
    write_distribution(site, "colorbench-mixed", {"broken": broken, "good": plugin(site, "good")})
    plugins = load_plugins([write_module(site, "import does_not_exist_anywhere")])
    assert plugins.models.resolve("good-model").plugin == "good"
    assert len(plugins.problems) == 2
    assert all("\n" not in p for p in plugins.problems)
    ep_problem = next(p for p in plugins.problems if "'broken'" in p)
    assert "failed to import" in ep_problem and "RuntimeError: boom second line" in ep_problem
    assert any("ModuleNotFoundError" in p and "(-p)" in p for p in plugins.problems)


def test_plugin_whose_hook_raises_is_reported_and_others_still_register(site):
    bad = write_module(
        site,
        """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register):
            raise ValueError("no models today")
        """,
    )
    good = plugin(site, "good")
    plugins = load_plugins([bad, good])
    assert plugins.problems == [
        f"plugin {bad!r} failed in colorbench_register_models: ValueError: no models today"
    ]
    assert plugins.models.names() == ["good-model"]


def test_two_plugins_registering_one_id_is_a_conflict_naming_both(site):
    first, second = plugin(site, "same"), plugin(site, "same")
    with pytest.raises(PluginError) as info:
        load_plugins([first, second])
    message = str(info.value)
    assert first in message and second in message and "'same-model'" in message
    assert "-p no:" in message


def test_no_name_disables_an_entry_point_plugin_and_resolves_the_conflict(site):
    write_distribution(site, "colorbench-a", {"a": plugin(site, "same")})
    write_distribution(site, "colorbench-b", {"b": plugin(site, "same")})
    with pytest.raises(PluginError):
        load_plugins()
    plugins = load_plugins(["no:a"])
    assert plugins.models.resolve("same-model").plugin == "b"
    assert "a" not in plugins.sources


def test_no_name_disables_a_dash_p_module(site):
    name = plugin(site, "alpha")
    assert len(load_plugins([name, f"no:{name}"]).models) == 0


def test_hook_with_a_wrong_signature_or_an_unknown_name_is_reported(site):
    wrong = write_module(
        site,
        """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register, extra):
            pass
        """,
    )
    typo = write_module(
        site,
        """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_model(register):
            pass
        """,
    )
    plugins = load_plugins([wrong, typo, plugin(site, "fine")])
    assert len(plugins.problems) == 2
    assert f"plugin {wrong!r} has an invalid hook" in plugins.problems[0]
    assert (
        f"plugin {typo!r} implements unknown hook 'colorbench_register_model'"
        in (plugins.problems[1])
    )
    assert plugins.models.names() == ["fine-model"]


def test_unknown_ids_suggest_the_nearest_names(site):
    plugins = load_plugins([plugin(site, "alpha")])
    with pytest.raises(ColorbenchError, match=r"did you mean: alpha-model\?"):
        plugins.models.resolve("alpha-modle")
    with pytest.raises(ColorbenchError, match=r"did you mean: alpha-task\?"):
        plugins.tasks.resolve("alpha-tsak")


def test_a_broken_core_plugin_is_reported_like_any_other(site, monkeypatch):
    broken = write_module(site, "raise SyntaxError('half-edited file')")
    monkeypatch.setattr(pluginmanager, "CORE_PLUGINS", (broken,))
    plugins = load_plugins([plugin(site, "alpha")])
    assert plugins.problems == [
        f"plugin {broken!r} (core) failed to import: SyntaxError: half-edited file"
    ]
    assert plugins.models.names() == ["alpha-model"]


def test_an_id_close_to_nothing_lists_known_names(site):
    plugins = load_plugins([plugin(site, "alpha")])
    with pytest.raises(ColorbenchError, match=r"unknown task 'zzz' \(known: alpha-task\)"):
        plugins.tasks.resolve("zzz")
    with pytest.raises(ColorbenchError, match=r"\(no analysis is registered\)"):
        plugins.analyses.resolve("zzz")
