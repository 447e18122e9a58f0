"""Writing a plugin (issue 24): the templates pass ``check-plugin``, a broken plugin gets one
line per defect, and a task's crash, failing figure or new version never costs other results.

The task template is the plugin docs/PLUGINS.md walks through; it runs with the reference
models and shows on the leaderboard. Plugins are generated into ``tmp_path`` and loaded with
``-p`` from there (a private import path, no entry point installed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from plugins_support import write_module

from colorbench import testing
from colorbench.cli.app import main
from colorbench.template import new_plugin, template_text

REFERENCE = ("--model", "ideal-observer", "--model", "chance")


def cli(*argv: str) -> int:
    return main(list(argv))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An import path for the generated plugins, beside the installed ones (the built-ins)."""
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    return folder


@pytest.fixture
def task_plugin(site: Path) -> str:
    """The task template, generated under a unique name into the private import path."""
    made = new_plugin("task", site / "colorbench-walk")
    return _on_path(site, made.module, site / "colorbench-walk")


def _on_path(site: Path, module: str, folder: Path) -> str:
    (folder / module).rename(site / module)  # importable from the private site
    return module


def test_task_template_passes_check_runs_and_shows_on_the_leaderboard(
    task_plugin, tmp_path, capsys
):
    assert cli("-p", task_plugin, "check-plugin", task_plugin) == 0
    assert f"plugin {task_plugin!r}: no problems found" in capsys.readouterr().out
    out = tmp_path / "results"
    assert cli("-p", task_plugin, "run", *REFERENCE, "--task", "square-color", "--out", str(out),
               "-q") == 0  # fmt: skip
    ideal = json.loads((out / "ideal-observer/square-color/summary.json").read_text())
    chance = json.loads((out / "chance/square-color/summary.json").read_text())
    assert ideal["summary"]["headline"]["value"] == 100  # sees the square, asked about it
    assert chance["summary"]["headline"]["value"] < 30  # 1 in 11 at random
    assert ideal["provenance"]["task_plugin"] == task_plugin
    assert ideal["provenance"]["task_version"] == "1"
    assert "figure" in ideal["files"]
    table = (out / "ideal-observer/square-color/table.md").read_text()
    assert "](figure.png)" in table and "## by\\_prompt" in table and "## by\\_square" in table
    board = tmp_path / "board" / "README.md"
    assert cli("leaderboard", "--results", str(out), "--out", str(board), "-q") == 0
    rows = board.read_text()
    assert "square-color" in rows and "| ideal-observer |" in rows and "| chance |" in rows


def test_the_template_own_tests_use_colorbench_testing(task_plugin, tmp_path):
    assert testing.check(task_plugin) == []
    value = testing.run(task_plugin, out=tmp_path).headlines.set_index("model")["value"]
    assert value["ideal-observer"] == 100 and value["chance"] < 30


def test_model_template_passes_check(site, capsys):
    made = new_plugin("model", site / "colorbench-rule")
    module = _on_path(site, made.module, site / "colorbench-rule")
    assert cli("-p", module, "check-plugin", module) == 0, capsys.readouterr().out
    assert cli("-p", module, "run", "--model", f"{module}-mean-color", "--task", "global-color",
               "--out", str(site / "r"), "-q") == 0  # fmt: skip


def test_new_plugin_refuses_a_used_folder(tmp_path, capsys):
    (tmp_path / "colorbench-x").mkdir()
    (tmp_path / "colorbench-x" / "keep.txt").write_text("mine")
    assert cli("new-plugin", "task", str(tmp_path / "colorbench-x")) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "colorbench-x" / "keep.txt").read_text() == "mine"


BROKEN = """
import colorbench
from {module} import SquareColor, Squares, Prompt

class SquaresAnswer(Squares):
    name = "squares-answer"
    def sample(self, combination, sample):
        s = super().sample(combination, sample)
        s.attrs["answer"] = "kept?"   # reserved: the model's answer column
        return s

class Shade(SquareColor):
    name = "square-shade"
    outcome_parts = ("square", "shade")  # no sample has a `shade`
    prompts = (Prompt("shape", "the shape", asks="square", question="What color?"),)

class BadFigure(SquareColor):
    name = "square-bad-figure"
    def figure(self, summary, path):
        raise RuntimeError("axes exploded")

@colorbench.hookimpl
def colorbench_register_stimulus_sets(register):
    register("squares-answer", SquaresAnswer)

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(Shade())
    register(BadFigure())

@colorbench.hookimpl
def colorbench_register_models(register):
    register("no-options", lambda model_id: None)
"""


def assert_one_line_each(found: list[str], expected: list[tuple[str, str, str]]) -> None:
    """Each (object, defect, fix) is said by exactly one of the lines ``found``."""
    for obj, what, fix in expected:
        said = [line for line in found if obj in line and what in line and fix in line]
        assert len(said) == 1, (obj, what, found)


def problem_lines(capsys, plugin: str, count: int, prefix: str) -> list[str]:
    """check-plugin's lines about ``plugin``: each starts with ``prefix``, then the count."""
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"{count} problem(s) in plugin {plugin!r}", lines
    found = lines[:-1]
    assert all(line.startswith(prefix) for line in found), found
    return found


def test_a_broken_plugin_gets_one_line_per_defect(task_plugin, site, capsys):
    broken = write_module(site, BROKEN.format(module=task_plugin), stem="broken")
    assert cli("-p", task_plugin, "-p", broken, "check-plugin", broken) == 1
    found = problem_lines(capsys, broken, 5, f"plugin {broken!r}")
    expected = [
        ("stimulus set 'squares-answer'", "'answer'", "rename the attribute"),
        ("task 'square-shade'", "outcome part 'shade'", "add it to the samples' attrs"),
        ("task 'square-shade'", "prompt 'shape'", "put {c} where the colour goes"),
        ("task 'square-bad-figure'", "figure() raised RuntimeError: axes exploded", "draw"),
        ("model 'no-options'", "factory(model_id, **options)", "def create(model_id, **options)"),
    ]
    assert_one_line_each(found, expected)


def test_plugin_errors_in_a_run_are_one_line(task_plugin, site, tmp_path, capsys):
    broken = write_module(site, BROKEN.format(module=task_plugin), stem="broken")
    out = str(tmp_path / "r")
    assert cli("-p", task_plugin, "-p", broken, "run", "--model", "no-options", "--task",
               "square-color", "--out", out) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "def create(model_id, **options)" in err[0], err
    assert cli("-p", task_plugin, "-p", broken, "run", "--model", "chance", "--task",
               "square-shade", "--out", out) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "outcome part 'shade'" in err[0] and "check-plugin" in err[0]


def test_a_failing_figure_is_a_warning_and_the_summary_is_stored(
    task_plugin, site, tmp_path, capsys
):
    broken = write_module(site, BROKEN.format(module=task_plugin), stem="broken")
    out = tmp_path / "r"
    assert cli("-p", task_plugin, "-p", broken, "run", "--model", "ideal-observer", "--task",
               "square-bad-figure", "--out", str(out), "-q") == 0  # fmt: skip
    err = capsys.readouterr().err
    assert "figure() failed (RuntimeError: axes exploded)" in err and "Traceback" not in err
    doc = json.loads((out / "ideal-observer/square-bad-figure/summary.json").read_text())
    assert doc["summary"]["headline"]["value"] == 100 and "figure" not in doc["files"]


CRASHING = """
import colorbench
from {module} import SquareColor

class Crashing(SquareColor):
    name = "square-crash"
    def summarize(self, predictions, palette):
        return predictions["shade"]   # a KeyError deep inside the task

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(Crashing())
"""


def test_a_crashed_task_never_blocks_the_other_tasks_of_its_set(
    task_plugin, site, tmp_path, capsys
):
    crash = write_module(site, CRASHING.format(module=task_plugin), stem="crash")
    out = tmp_path / "r"
    run = ("-p", task_plugin, "-p", crash, "run", "--model", "ideal-observer", "--out", str(out))
    assert cli(*run, "--task", "square-crash", "--task", "square-color", "-q") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("colorbench: error: ideal-observer: task 'square-crash' of plugin")
    assert "KeyError" in err[-1] and "Traceback" not in "\n".join(err)
    assert (out / "ideal-observer/square-color/summary.json").is_file()  # the other task: stored
    assert not (out / "ideal-observer/.work").exists()  # nothing left to block the set
    (out / "ideal-observer/square-color").rename(tmp_path / "moved")
    assert cli(*run, "--task", "square-color", "-q") == 0  # runs alone, no --no-resume needed


VERSIONED = """
import colorbench
from {module} import SquareColor

class Versioned(SquareColor):
    name = "square-versioned"
    version = "{version}"

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(Versioned())
"""


def test_a_new_task_version_is_recomputed_not_kept(task_plugin, site, tmp_path, capsys):
    out = tmp_path / "r"
    for version, said in (("1", ""), ("1", "already done, kept"), ("2", "")):
        module = write_module(site, VERSIONED.format(module=task_plugin, version=version))
        assert cli("-p", task_plugin, "-p", module, "run", "--model", "chance", "--task",
                   "square-versioned", "--out", str(out)) == 0  # fmt: skip
        err = capsys.readouterr().err
        assert (said in err) if said else ("already done" not in err), (version, err)
        doc = json.loads((out / "chance/square-versioned/summary.json").read_text())
        assert doc["provenance"]["task_version"] == version


def test_plugins_doc_walks_through_the_task_template_verbatim():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "PLUGINS.md").read_text()
    assert template_text("task", "__init__.py.tmpl") in doc


ANALYSES = """
import colorbench
from colorbench.errors import ColorbenchError
from colorbench.plugin.analysis import Analysis

RUNS = []

class MeanColour(Analysis):
    '''Works: renders shapes from the loaded plugins, writes a report to its default folder.'''
    name = "mean-colour"
    description = "mean RGB of a few shapes"
    check_args = ("--images", "2")

    def add_arguments(self, parser):
        parser.add_argument("--images", type=int, required=True)
        parser.add_argument("--out", default="analysis/mean-colour")

    def run(self, args, plugins):
        import os
        from pathlib import Path
        from colorbench.palette import DEFAULT_PALETTE
        stimuli = plugins.stimulus_sets.get("shapes")(palette=DEFAULT_PALETTE, seed=0)
        samples = [stimuli.sample(i, 0) for i in range(args.images)]
        images = stimuli.render(samples, "pil", "cpu").images
        Path(args.out).mkdir(parents=True)
        Path(args.out, "report.md").write_text(str(images.float().mean().item()))
        RUNS.append((os.getcwd(), args.device, args.quiet, len(images)))
        return 0

class NoDeclare(MeanColour):
    name = "no-declare"
    def add_arguments(self, parser):
        raise NameError("name 'parsr' is not defined")

class NoCheckArgs(MeanColour):
    name = "no-check-args"
    check_args = ()          # --images is required

class Crashes(MeanColour):
    name = "crashes"
    def run(self, args, plugins):
        return {}["layer9"]

class Refuses(MeanColour):
    name = "refuses"
    def run(self, args, plugins):
        raise ColorbenchError("--images 2 is too few; pass --images 8 or more")

class Fails(MeanColour):
    name = "fails"
    def run(self, args, plugins):
        return 3

@colorbench.hookimpl
def colorbench_register_analyses(register):
    for analysis in ({analyses}):
        register(analysis())
"""


def test_check_plugin_runs_a_working_analysis_in_a_temporary_folder(
    site, tmp_path, monkeypatch, capsys
):
    module = write_module(site, ANALYSES.replace("{analyses}", "MeanColour,"), stem="analysis")
    monkeypatch.chdir(tmp_path)
    assert cli("-p", module, "check-plugin", module) == 0, capsys.readouterr().out
    assert "checking analysis mean-colour" in capsys.readouterr().err
    runs = __import__(module).RUNS
    assert len(runs) == 1 and runs[0][1:] == ("cpu", True, 2)  # ran on check_args, CPU, quiet
    assert not (tmp_path / "analysis").exists()  # its default folder: not in the user's
    assert not Path(runs[0][0]).exists()  # but in a temporary one, removed after


def test_a_broken_analysis_gets_one_line_per_defect(site, tmp_path, capsys):
    names = "MeanColour, NoDeclare, NoCheckArgs, Crashes, Refuses, Fails"
    module = write_module(site, ANALYSES.replace("{analyses}", names), stem="analysis")
    assert cli("-p", module, "check-plugin", module) == 1
    found = problem_lines(capsys, module, 5, f"plugin {module!r} analysis '")
    expected = [
        ("'no-declare'", "add_arguments(parser) raised NameError", "parser.add_argument"),
        ("'no-check-args'", "check_args (no options) do not parse", "set check_args"),
        ("'crashes'", "crashed (KeyError: 'layer9')", "raise ColorbenchError"),
        ("'refuses'", "(--images 2) failed: --images 2 is too few", "pass --images 8"),
        ("'fails'", "returned exit code 3", "return 0"),
    ]
    assert_one_line_each(found, expected)
    # `colorbench analyze` says the same of the analysis that cannot declare its options
    out = str(tmp_path / "mean")
    assert cli("-p", module, "analyze", "mean-colour", "--images", "1", "--out", out, "-q") == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "'no-declare'" in line]
    assert len(warned) == 1 and "add_arguments(parser) raised NameError" in warned[0]
