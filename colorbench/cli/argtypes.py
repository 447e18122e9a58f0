"""argparse types and options shared by the CLI and by plugins' ``add_arguments``."""

from __future__ import annotations

import argparse
from pathlib import Path


def positive_int(text: str) -> int:
    """A whole number >= 1 (sample counts, batch sizes, top-k), with a one-line error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def add_task_option(parser: argparse.ArgumentParser) -> None:
    """``--task NAME|all`` (repeatable; none given means all)."""
    parser.add_argument(
        "--task", action="append", metavar="NAME|all", help="task (repeatable); default: all"
    )


def add_stimulus_options(parser: argparse.ArgumentParser) -> None:
    """``--samples``, ``--seed`` and ``--palette``: which stimuli a command renders.

    Every command that renders stimuli declares them the same way, so an image is addressed
    alike everywhere (set, seed, combination, sample).
    """
    add_samples_option(parser)
    add_seed_option(parser)
    parser.add_argument("--palette", type=Path, metavar="FILE", help="palette JSON file")


def add_samples_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=1,
        metavar="N",
        help="samples per stimulus combination (the paper uses 500); default 1",
    )


def add_seed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="stimulus seed; default 0")


def add_results_option(parser: argparse.ArgumentParser) -> None:
    """``--out DIR``: the results store."""
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="results store; default results/",
    )
