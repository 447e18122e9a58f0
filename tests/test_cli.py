"""The command line, in process, against plugins and a run (``api.evaluate``) faked by the tests."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from plugins_support import MODEL_AND_TASK, plugin, write_module

from colorbench import __version__, api
from colorbench.cli.app import main, split_plugin_specs
from colorbench.config import RunConfig
from colorbench.plugin.task import Headline, TaskSummary

ANALYSIS = """
import colorbench
from colorbench.plugin.analysis import Analysis
from colorbench.errors import ColorbenchError

SEEN = []

class Probe(Analysis):
    name = "probe"
    description = "records what it is given"

    def add_arguments(self, parser):
        parser.add_argument("--level", type=int, default=1)
        parser.add_argument("--fail", choices=("error", "interrupt"))

    def run(self, args, plugins):
        SEEN.append((args, plugins))
        if args.fail == "error":
            raise ColorbenchError("probe cannot run: level too high; lower --level")
        if args.fail == "interrupt":
            raise KeyboardInterrupt
        return 3

@colorbench.hookimpl
def colorbench_register_analyses(register):
    register(Probe())
"""


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    assert cli(capsys, "--version") == (0, f"colorbench {__version__}\n", "")


def test_split_plugin_specs_anywhere_on_the_line():
    argv = ["-p", "a", "list", "-pb", "--plugin", "c", "--plugin=no:d", "--", "-p", "e"]
    assert split_plugin_specs(argv) == (["a", "b", "c", "no:d"], ["list", "--", "-p", "e"])


def test_usage_errors_are_one_line_with_exit_2(site, capsys):
    code, out, err = cli(capsys, "run", "--model", "x", "--samples", "0")
    assert code == 2 and out == ""
    assert err == (
        "colorbench: error: argument --samples: must be >= 1, got 0; see `colorbench run --help`\n"
    )
    code, _, err = cli(capsys, "frobnicate")
    assert code == 2 and err.count("\n") == 1 and "invalid choice: 'frobnicate'" in err


@pytest.mark.parametrize(
    ("flag", "value", "suggestion"),
    [("--model", "alpha-modle", "alpha-model"), ("--task", "alpha-tsak", "alpha-task")],
)
def test_unknown_ids_fail_before_any_model_loads(site, capsys, flag, value, suggestion):
    name = plugin(site, "alpha")
    argv = ["run", "--model", "alpha-model", "--task", "alpha-task", flag, value, "-p", name]
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and f"did you mean: {suggestion}?" in err
    assert importlib.import_module(name).CALLS == []  # the factory was never called


def test_run_prints_tables_and_where_results_went(site, capsys, monkeypatch, tmp_path):
    name = plugin(site, "alpha")
    configs: list[RunConfig] = []
    table = pd.DataFrame({"correct %": [87.5, 12.25]}, index=pd.Index(["red", "blue"], name="font"))

    def evaluate(config, plugins):
        configs.append(config)
        summary = TaskSummary("alpha-task", Headline("correct %", 49.9, 16, 30.1, 70.2), {
            "by font colour": table
        })  # fmt: skip
        path = config.out / "alpha-model" / "alpha-task"
        return [types.SimpleNamespace(model="alpha-model", task="alpha-task", summary=summary,
                                      path=path, predictions=pd.DataFrame())]  # fmt: skip

    monkeypatch.setattr(api, "evaluate", evaluate)
    out_dir = tmp_path / "res"
    argv = ["run", "--model", "alpha-model", "--samples", "3", "--seed", "7", "--out", str(out_dir)]
    code, out, err = cli(capsys, "-p", name, *argv, "--device", "cpu")
    assert (code, err) == (0, "")
    (config,) = configs
    assert config.models == ["alpha-model"] and config.tasks == ["all"]
    assert (config.samples, config.seed, config.device, config.out) == (3, 7, "cpu", out_dir)
    assert config.plugins == [name] and config.resume and not config.quiet
    assert "correct %: 49.9 (95% CI 30.1–70.2, n=16)" in out
    assert "by font colour" in out and "87.5" in out and "12.2" in out
    assert f"written to {out_dir / 'alpha-model' / 'alpha-task'}" in out

    code, out, _ = cli(capsys, "run", "-q", "--model", "alpha-model", "-p", name, "--no-resume")
    assert (
        code == 0
        and out.strip() == "alpha-model alpha-task: 49.9 -> results/alpha-model/alpha-task"
    )
    assert configs[-1].quiet and not configs[-1].resume


def test_weights_with_two_models_is_refused(site, capsys):
    name = plugin(site, "alpha")
    argv = ["run", "--model", "alpha-model", "--model", "alpha-model", "--weights", "w.pt"]
    code, _, err = cli(capsys, "-p", name, *argv)
    assert code == 2 and "--weights belongs to one model" in err


def test_plugin_problems_are_warnings_and_the_rest_works(site, capsys):
    broken = write_module(site, "raise ImportError('missing dependency foo')")
    code, out, err = cli(capsys, "list", "tasks", "-p", broken, "-p", plugin(site, "alpha"))
    assert code == 0 and "alpha-task" in out and "alpha-set" in out
    assert err == (
        f"colorbench: warning: plugin {broken!r} (-p) failed to import: "
        "ImportError: missing dependency foo\n"
    )


def test_conflict_is_one_error_line_naming_both_plugins(site, capsys):
    first, second = plugin(site, "same"), plugin(site, "same")
    code, out, err = cli(capsys, "-p", first, "-p", second, "list")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert (
        first in err and second in err and err.startswith("colorbench: error: model 'same-model'")
    )


def test_list_collapses_long_model_families_unless_all(site, capsys):
    family = write_module(
        site,
        """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register):
            register("tag-*", print, description="any tag")
            for i in range(30):
                register(f"tag{i:02d}-Arch", print)
        """,
    )
    code, out, _ = cli(capsys, "list", "models", "-p", family)
    assert code == 0
    assert "tag-*" in out and "tag00-Arch" in out and "tag05-Arch" in out
    assert "tag06-Arch" not in out and "… 24 more (30 ids)" in out
    code, out, _ = cli(capsys, "list", "models", "--all", "-p", family)
    assert all(f"tag{i:02d}-Arch" in out for i in range(30)) and "more" not in out


def test_list_prints_markup_literally(site, capsys):
    name = write_module(
        site,
        """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register):
            register("[bold]odd[/bold]", print, description="[red]x")
        """,
    )
    _, out, _ = cli(capsys, "list", "models", "-p", name)
    assert "[bold]odd[/bold]" in out and "[red]x" in out


def test_analyze_builds_a_subparser_per_analysis(site, capsys):
    name = write_module(site, ANALYSIS)
    code, _, err = cli(capsys, "-p", name, "analyze", "probe", "--level", "5", "--quiet")
    assert (code, err) == (3, "")
    ((args, plugins),) = importlib.import_module(name).SEEN
    assert (args.level, args.device, args.quiet) == (5, "auto", True)
    assert plugins.analyses.names() == ["probe"]


@pytest.mark.parametrize(
    ("fail", "code", "line"),
    [
        ("error", 2, "colorbench: error: probe cannot run: level too high; lower --level\n"),
        ("interrupt", 130, "colorbench: interrupted\n"),
    ],
)
def test_errors_and_interrupts_are_one_line(site, capsys, fail, code, line):
    name = write_module(site, ANALYSIS)
    assert cli(capsys, "analyze", "probe", "--fail", fail, "-p", name) == (code, "", line)


def test_analyze_without_a_name_lists_the_analyses(site, capsys):
    code, _, err = cli(capsys, "-p", write_module(site, ANALYSIS), "analyze")
    assert code == 2 and "name an analysis: probe" in err


def test_generate_builds_the_set_and_calls_the_exporter(site, capsys, monkeypatch, tmp_path):
    name = write_module(
        site,
        """
        import colorbench

        def factory(palette, seed):
            return ("fake-set", palette.name, seed)

        @colorbench.hookimpl
        def colorbench_register_stimulus_sets(register):
            register("fake", factory)
        """,
    )
    calls = []

    def generate(stimulus_set, samples, out, sheet=None, quiet=False, overwrite=False):
        calls.append((stimulus_set, samples, out, sheet, quiet, overwrite))
        return 42

    exporter = types.SimpleNamespace(generate=generate)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "colorbench.stimuli.export", exporter)
        argv = ["generate", "fake", "--samples", "2", "--out", str(tmp_path), "--seed", "5"]
        code, out, _ = cli(capsys, "-p", name, *argv, "--sheet", "s.png")
        assert code == 0 and f"42 images of fake written to {tmp_path}" in out
        expected = (("fake-set", "berlin-kay-11", 5), 2, tmp_path, Path("s.png"), False, False)
        assert calls == [expected]
        assert "contact sheet of fake written to s.png" in out
        code, _, err = cli(capsys, "-p", name, "generate", "fak", "--out", str(tmp_path))
        assert code == 2 and "did you mean: fake?" in err
    # the real exporter owns the "nothing to write" check
    code, _, err = cli(capsys, "-p", name, "generate", "fake")
    assert code == 2 and "nothing to write: give --out DIR, --sheet PNG or both" in err
    assert len(calls) == 1


def test_console_script_never_prints_a_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "colorbench", "run", "--model", "nonsense", "--task", "all"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("colorbench: error: unknown model 'nonsense' (known: ")


def test_ids_are_printed_literally_not_as_markup(site, capsys, monkeypatch):
    source = MODEL_AND_TASK.replace("{prefix}-task", "odd-task")  # task names are folder names
    name = write_module(site, source.replace("{prefix}", "[b]odd[/b]"))
    summary = TaskSummary("t", Headline("correct %", 1.0, 1, 0.0, 2.0))
    result = types.SimpleNamespace(model="[b]odd[/b]-model", task="t", summary=summary, path="p")
    monkeypatch.setattr(api, "evaluate", lambda config, plugins: [result])
    code, out, _ = cli(capsys, "-p", name, "run", "-q", "--model", "[b]odd[/b]-model")
    assert (code, out) == (0, "[b]odd[/b]-model t: 1.0 -> p\n")
