"""The ``colorbench`` command line: run, list, leaderboard, generate, export, import, analyze.

Plugins are loaded before the parser is built, because analyses bring their own sub-commands
(``colorbench analyze NAME``). Heavy modules (the engine, the stimulus exporter) are imported
inside the sub-command that needs them, so ``colorbench list`` stays fast and keeps working
when one of them is broken. Every :class:`~colorbench.errors.ColorbenchError` reaches the user
as one line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from rich.console import Console

from colorbench import __version__
from colorbench.cli.argtypes import (
    SERVED_OPTIONS,
    add_results_option,
    add_served_options,
    add_stimulus_options,
    add_target_option,
    add_task_option,
    positive_int,
)
from colorbench.cli.session import Session
from colorbench.config import (
    CLUSTER_UNITS,
    MAX_NEW_TOKENS,
    NORMALIZATIONS,
    PRECISIONS,
    QUESTION_FORMS,
    RENDERERS,
    SCORINGS,
)
from colorbench.errors import ColorbenchError
from colorbench.names import printable
from colorbench.plugin.analysis import declare

if TYPE_CHECKING:
    from colorbench.plugin.pluginmanager import Plugins

PLUGIN_FLAGS = ("-p", "--plugin")
QUIET_HELP = "no progress bars or tables, one line per result"
CLUSTER_HELP = (
    "unit the paired test clusters rows by: image (this set of images) or combination "
    "(generalises over samples of each factor combination); default: each task's headline unit "
    "(image; XKCD colour for color-naming)"
)


class UsageError(ColorbenchError):
    """A command line argparse rejected."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one ``colorbench: error:`` line like every other error."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message}; see `{self.prog} --help`")


def split_plugin_specs(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """Take every ``-p SPEC`` out of ``argv`` (before or after the sub-command), like pytest.

    The specs decide which plugins load, and the plugins decide which sub-commands exist, so
    they are read before argparse sees the rest. Arguments after ``--`` are left alone.
    """
    specs: list[str] = []
    rest: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg == "--":
            rest += [arg, *args]
            break
        if arg in PLUGIN_FLAGS:
            spec = next(args, None)
            if spec is None or spec.startswith("-"):
                raise UsageError(f"argument {arg}: expected a plugin module or no:NAME")
            specs.append(spec)
        elif arg.startswith("--plugin="):
            specs.append(arg.partition("=")[2])
        elif arg.startswith("-p") and not arg.startswith("--"):
            specs.append(arg[2:].lstrip("="))
        else:
            rest.append(arg)
    return specs, rest


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """Import ``module.name`` when a sub-command needs it; a missing part is one line."""
    try:
        return getattr(importlib.import_module(module), name)
    except ImportError as exc:
        raise ColorbenchError(f"{module} is not available ({exc}); reinstall colorbench") from None


def _cmd_run(args: argparse.Namespace, session: Session) -> int:
    from colorbench import api
    from colorbench.cli import display

    config = api.make_config(
        args.model,
        args.task or ["all"],
        args.samples,
        device=args.device,
        batch_size=args.batch_size,
        weights=args.weights,
        out=args.out,
        seed=args.seed,
        precision=args.precision,
        scoring=args.scoring,
        normalization=args.normalization,
        score_end=args.score_end,
        question_form=args.question_form,
        max_new_tokens=args.max_new_tokens,
        palette=args.palette,
        renderer=args.renderer,
        resume=not args.no_resume,
        keep_scores=args.keep_scores,
        quiet=args.quiet,
        plugins=session.specs,
        allow_missing=args.allow_missing,
        target_ci=args.target_ci,
        stop_early=args.stop_early,
        model_options={k: getattr(args, k) for k in SERVED_OPTIONS if getattr(args, k) is not None},
    )
    results = api.evaluate(config, session.plugins)
    for result in results:
        if args.quiet:
            h = result.summary.headline
            session.console.print(f"{result.model} {result.task}: {h.value:.1f} -> {result.path}")
        else:
            display.print_summary(session.console, result.model, result.summary, result.path)
    if len(results) > 1 and not args.quiet:
        session.console.print(display.results_table(results))
    return 0


def _cmd_list(args: argparse.Namespace, session: Session) -> int:
    from colorbench.cli import display

    plugins, show = session.plugins, args.what
    tables = {
        "tasks": lambda: display.tasks_table(plugins.tasks),
        "models": lambda: display.models_table(plugins.models, show_all=args.all),
        "sets": lambda: display.named_table("stimulus sets", plugins.stimulus_sets),
        "analyses": lambda: display.named_table("analyses", plugins.analyses),
        "plugins": lambda: display.plugins_table(plugins.sources),
    }
    for what, make in tables.items():
        if show in ("all", what):
            session.console.print(make())
    return 0


def _cmd_leaderboard(args: argparse.Namespace, session: Session) -> int:
    from colorbench.report.leaderboard import build

    board = build(args.results, args.out, args.baseline, args.cluster)
    for warning in board.warnings:
        print(f"colorbench: warning: {printable(warning)}", file=sys.stderr)
    if not args.quiet:
        session.console.print(
            f"leaderboard of {len(board.models)} models x {len(board.tasks)} tasks "
            f"from {board.results} written to {args.out} and "
            f"{args.out.parent / 'leaderboard.csv'}"
        )
    return 0


def _cmd_compare(args: argparse.Namespace, session: Session) -> int:
    from colorbench.cli import display
    from colorbench.report.compare import compare

    comparisons = compare(args.results, args.model_a, args.model_b, args.task, args.cluster)
    if args.quiet:
        for c in comparisons:
            r = c.result
            session.console.print(
                f"{c.task}: {r.difference:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}] "
                f"p={r.p_value:.3g}{' *' if r.significant else ''}",
                markup=False,
            )
    else:
        session.console.print(display.comparison_table(comparisons))
    return 0


def _cmd_generate(args: argparse.Namespace, session: Session) -> int:
    from colorbench.palette import palette_option
    from colorbench.runner.plan import check_seed

    factory = session.plugins.stimulus_sets.get(args.set)
    stimulus_set = factory(palette=palette_option(args.palette), seed=check_seed(args.seed))
    generate = _lazy("colorbench.stimuli.export", "generate")
    count = generate(
        stimulus_set,
        args.samples,
        args.out,
        sheet=args.sheet,
        quiet=args.quiet,
        overwrite=args.overwrite,
    )
    if not args.quiet and args.out is not None:
        session.console.print(f"{count} images of {args.set} written to {args.out}")
    if not args.quiet and args.sheet is not None:
        session.console.print(f"contact sheet of {args.set} written to {args.sheet}")
    return 0


def _cmd_check_plugin(args: argparse.Namespace, session: Session) -> int:
    from colorbench.palette import palette_option
    from colorbench.plugincheck import check_plugin

    say = None if args.quiet else lambda line: print(f"checking {line}", file=sys.stderr)
    problems = check_plugin(
        session.plugins, args.name, args.model or (), palette_option(args.palette), say
    )
    for line in problems:
        session.console.print(printable(line), soft_wrap=True)
    if problems:
        session.console.print(f"{len(problems)} problem(s) in plugin {args.name!r}")
        return 1
    session.console.print(f"plugin {args.name!r}: no problems found")
    return 0


def _cmd_new_plugin(args: argparse.Namespace, session: Session) -> int:
    from colorbench.template import new_plugin

    written = new_plugin(args.kind, args.dir)
    if not args.quiet:
        session.console.print(
            f"{args.kind} plugin {written.name} written to {args.dir}; try it with "
            f"`colorbench -p {written.module} check-plugin {written.module}`"
        )
    return 0


def _cmd_analyze(args: argparse.Namespace, session: Session) -> int:
    if getattr(args, "analysis", None) is None:
        names = session.plugins.analyses.names()
        raise UsageError(f"name an analysis: {', '.join(names) or 'none are registered'}")
    return int(args.analysis.run(args, session.plugins) or 0)


def build_parser(plugins: Plugins) -> argparse.ArgumentParser:
    """The full parser; ``analyze`` gets one sub-parser per analysis the plugins registered."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
    )
    parser = _Parser(
        prog="colorbench",
        description="How well do vision-language models understand colour?",
        epilog="docs/CLI.md has the full reference; docs/PLUGINS.md how to write a plugin.",
    )
    parser.add_argument(
        *PLUGIN_FLAGS,
        metavar="MODULE|no:NAME",
        action="append",
        dest="plugin_specs",
        help="load a plugin module, or disable plugin NAME (repeatable, anywhere on the line)",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument("--version", action="version", version=f"colorbench {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", parents=[common], help="evaluate models on tasks")
    run.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="ID",
        help="model id (repeatable); `colorbench list models` shows them",
    )
    add_task_option(run)
    add_stimulus_options(run)
    add_target_option(run)
    run.add_argument(
        "--stop-early",
        action="store_true",
        help="with --target-ci: add one sample per combination at a time and stop once an "
        "anytime-valid confidence sequence is that tight (capped at the --target-ci size)",
    )
    run.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]")
    run.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="images per batch; default: sized to free memory",
    )
    run.add_argument("--weights", type=Path, metavar="PATH", help="checkpoint file for the model")
    add_results_option(run)
    run.add_argument("--precision", choices=PRECISIONS, default="auto")
    run.add_argument(
        "--scoring",
        choices=SCORINGS[1:],
        default=None,
        help="how generative models answer: likelihood of each colour term (their default) or "
        "a generated answer parsed to a term; contrastive models always use similarity",
    )
    run.add_argument(
        "--normalization",
        choices=NORMALIZATIONS,
        default="sum",
        help="likelihood of multi-token answers: summed (default) or mean per token",
    )
    run.add_argument(
        "--score-end",
        action="store_true",
        help="likelihood: score each colour term followed by the end-of-answer token, so that "
        "'Red' no longer collects the mass of 'Reddish' (results stored as @likelihood-end)",
    )
    run.add_argument(
        "--question-form",
        choices=QUESTION_FORMS,
        default=None,
        help="how generative models are asked: naming the palette's terms ('Answer with one "
        "of: black, white, ...'; generate's default) or for one word (likelihood's default)",
    )
    run.add_argument(
        "--max-new-tokens",
        type=positive_int,
        default=MAX_NEW_TOKENS,
        metavar="N",
        help=f"generate: the longest answer in tokens (default {MAX_NEW_TOKENS}); an answer "
        "that reaches it is counted as truncated, never as a colour",
    )
    run.add_argument("--renderer", choices=RENDERERS, default="auto")
    run.add_argument(
        "--keep-scores",
        action="store_true",
        help="store every candidate's score per answer (score_<colour> columns)",
    )
    run.add_argument(
        "--no-resume", action="store_true", help="start over instead of resuming an interrupted run"
    )
    add_served_options(run)
    run.set_defaults(func=_cmd_run)

    lst = commands.add_parser("list", parents=[common], help="tasks, models, sets, analyses")
    lst.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=("all", "tasks", "models", "sets", "analyses", "plugins"),
    )
    lst.add_argument("--all", action="store_true", help="every model id, not a collapsed list")
    lst.set_defaults(func=_cmd_list)

    board = commands.add_parser("leaderboard", parents=[common], help="build leaderboard/")
    board.add_argument(
        "--results",
        type=Path,
        default=None,
        metavar="DIR",
        help="results folder; default: the one leaderboard.json beside --out names, else results/",
    )
    board.add_argument(
        "--out",
        type=Path,
        default=Path("leaderboard/README.md"),
        metavar="FILE",
        help="markdown file; leaderboard.csv is written beside it",
    )
    board.add_argument(
        "--baseline",
        metavar="ID",
        help="model the other rows are compared with; default: the baseline in "
        "leaderboard.json beside --out, if it has results",
    )
    board.add_argument("--cluster", choices=CLUSTER_UNITS, help=CLUSTER_HELP)
    board.set_defaults(func=_cmd_leaderboard)

    cmp = commands.add_parser(
        "compare", parents=[common], help="paired test of two models on identical stimuli"
    )
    cmp.add_argument("model_a", metavar="A", help="model id (its results are in --results)")
    cmp.add_argument("model_b", metavar="B", help="model id it is compared with")
    cmp.add_argument("--task", action="append", metavar="NAME", help="repeatable; default: all")
    cmp.add_argument("--results", type=Path, default=Path("results"), metavar="DIR")
    cmp.add_argument("--cluster", choices=CLUSTER_UNITS, help=CLUSTER_HELP)
    cmp.set_defaults(func=_cmd_compare)

    gen = commands.add_parser("generate", parents=[common], help="export stimuli as PNG files")
    gen.add_argument("set", metavar="SET", help="stimulus set (`colorbench list sets`)")
    add_stimulus_options(gen)
    gen.add_argument("--out", type=Path, metavar="DIR", help="PNG files and metadata.csv")
    gen.add_argument("--sheet", type=Path, metavar="PNG", help="also write a contact sheet")
    gen.add_argument(
        "--overwrite",
        action="store_true",
        help="export into a non-empty --out, replacing an earlier export's images and metadata",
    )
    gen.set_defaults(func=_cmd_generate)

    check = commands.add_parser(
        "check-plugin",
        parents=[common],
        help="try everything a plugin registers; one line per problem",
    )
    check.add_argument("name", metavar="NAME", help="plugin name (`colorbench list plugins`)")
    check.add_argument(
        "--model",
        action="append",
        metavar="ID",
        help="an id to try for the plugin's model patterns (repeatable)",
    )
    check.add_argument("--palette", type=Path, metavar="FILE", help="palette JSON (default: 11)")
    check.set_defaults(func=_cmd_check_plugin)

    new = commands.add_parser(
        "new-plugin", parents=[common], help="write a plugin template that passes check-plugin"
    )
    new.add_argument("kind", choices=("task", "model"))
    new.add_argument(
        "dir", type=Path, metavar="DIR", help="new folder (must not exist or be empty)"
    )
    new.set_defaults(func=_cmd_new_plugin)

    from colorbench.cli.harness import add_parsers as add_harness_parsers

    add_harness_parsers(commands, common)

    analyze = commands.add_parser("analyze", parents=[common], help="interpretability analyses")
    analyze.set_defaults(func=_cmd_analyze)
    names = analyze.add_subparsers(dest="analysis_name", metavar="NAME")
    for entry in plugins.analyses:
        sub = names.add_parser(
            entry.name, parents=[common], help=entry.description, conflict_handler="resolve"
        )
        problem = declare(entry.obj, entry.plugin, sub)
        if problem is not None:  # a broken analysis must not take the CLI down
            plugins.problems.append(problem)
            continue
        sub.set_defaults(analysis=entry.obj)
    return parser


def _console() -> Console:
    """Results go to stdout; piped output gets wide tables rather than 80-column wrapping.

    Markup is off: model ids and paths are printed as they are, never read as rich markup.
    """
    wide = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    return Console(width=160 if wide else None, markup=False, highlight=False)


def _main(argv: Sequence[str]) -> int:
    from colorbench.plugin.pluginmanager import load_plugins, report_problems

    specs, rest = split_plugin_specs(argv)
    plugins = load_plugins(specs)
    parser = build_parser(plugins)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, warn once, not once per process
        report_problems(plugins)
    args = parser.parse_args(rest)
    return args.func(args, Session(plugins, specs, _console()))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``colorbench`` console script and ``python -m colorbench``."""
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except ColorbenchError as exc:
        print(f"colorbench: error: {printable(' '.join(str(exc).split()))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("colorbench: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
