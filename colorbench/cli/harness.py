"""``colorbench export HARNESS`` and ``colorbench import HARNESS FILE``: parsers and handlers.

The harness modules are imported when a command runs, so ``colorbench list`` does not pay
for pyarrow writers or spreadsheet readers.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from colorbench.cli.argtypes import (
    add_results_option,
    add_stimulus_options,
    add_target_option,
    add_task_option,
)
from colorbench.errors import ColorbenchError
from colorbench.palette import palette_option

if TYPE_CHECKING:
    from colorbench.cli.session import Session

#: command-line harness name -> module implementing export / read
HARNESSES = {
    "lmms-eval": ("colorbench.harness.lmms_eval", "read_samples"),
    "vlmevalkit": ("colorbench.harness.vlmevalkit", "read_predictions"),
}


def _cmd_export(args: argparse.Namespace, session: Session) -> int:
    from colorbench.runner.plan import select_tasks

    module = importlib.import_module(HARNESSES[args.harness][0])
    tasks = select_tasks(session.plugins, args.task or ["all"])
    samples = args.samples
    if args.target_ci is not None:
        samples = target_samples(session, tasks, args.target_ci, args.seed, args.palette)
    count = module.export(
        session.plugins,
        tasks,
        samples,
        args.out,
        seed=args.seed,
        palette=palette_option(args.palette),
        quiet=args.quiet,
    )
    names = ", ".join(t.name for t in tasks)
    session.console.print(f"{count} {module.HARNESS} rows of {names} written to {args.out}")
    return 0


def target_samples(
    session: Session, tasks: list, target_ci: float, seed: int, palette: Path | None
) -> int:
    """``export --target-ci``: the largest samples per combination the tasks need (one
    export has one sample count), each task's need stated in one line."""
    from colorbench.runner.plan import stimulus_set
    from colorbench.runner.sizing import check_target, size_task

    check_target(target_ci)
    sizes = []
    for task in tasks:
        stim = stimulus_set(session.plugins, task, palette_option(palette), seed)
        sizing = size_task(task, stim, target_ci)
        session.console.print(sizing.line(stim), markup=False)
        sizes.append(sizing.samples)
    return max(sizes)


def _cmd_import(args: argparse.Namespace, session: Session) -> int:
    from colorbench.harness import join

    module_name, reader = HARNESSES[args.harness]
    module = importlib.import_module(module_name)
    if not args.file.is_file():
        raise ColorbenchError(f"{args.file} is not a file; pass the {module.HARNESS} output file")
    task = session.plugins.tasks.get(session.plugins.tasks.resolve(args.task).name)
    palette = palette_option(args.palette)
    rows = getattr(module, reader)(args.file)
    what = f"{args.file}"
    spec = join.one_spec(rows[list(join.ExportSpec.FIELDS)], task.name, what)
    frame = join.join(rows, task, spec, palette, session.plugins, what)
    source = join.Source.of(module.HARNESS, args.file)
    prompts = join.asked(rows, task, palette)
    directory, doc = join.store(args.out, args.model, task, palette, frame, spec, source, prompts)
    h = doc["summary"]["headline"]
    session.console.print(
        f"{args.model} {task.name}: {h['value']:.1f} ({h['metric']}, n={h['n']}) from "
        f"{module.HARNESS} -> {directory}"
    )
    return 0


def add_parsers(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``export`` and ``import`` to the ``colorbench`` sub-commands."""
    export = commands.add_parser(
        "export", parents=[common], help="write tasks in lmms-eval's or VLMEvalKit's format"
    )
    export.add_argument("harness", choices=tuple(HARNESSES))
    add_task_option(export)
    add_stimulus_options(export)
    add_target_option(export)
    export.add_argument("--out", type=Path, required=True, metavar="DIR", help="new folder")
    export.set_defaults(func=_cmd_export)

    imp = commands.add_parser(
        "import", parents=[common], help="store a harness's answers as a colorbench result"
    )
    imp.add_argument("harness", choices=tuple(HARNESSES))
    imp.add_argument(
        "file",
        type=Path,
        metavar="FILE",
        help="lmms-eval --log_samples JSONL, or VLMEvalKit prediction .xlsx/.tsv",
    )
    imp.add_argument("--model", required=True, metavar="ID", help="model id for the result")
    imp.add_argument("--task", required=True, metavar="NAME", help="the task the file answers")
    add_results_option(imp)
    imp.add_argument("--palette", type=Path, metavar="FILE", help="palette of the export")
    imp.set_defaults(func=_cmd_import)
