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
    parser.add_argument(
        "--palette",
        type=Path,
        metavar="NAME|FILE",
        help=(
            "built-in palette (berlin-kay-11, the default; xkcd-11; wcs-focal) or a palette "
            "JSON file"
        ),
    )


def add_samples_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=1,
        metavar="N",
        help="samples per stimulus combination (the paper uses 500); default 1",
    )


def add_target_option(parser: argparse.ArgumentParser) -> None:
    """``--target-ci PP``: samples per combination chosen from the interval to reach."""
    parser.add_argument(
        "--target-ci",
        type=positive_float,
        metavar="PP",
        help="target 95%% half-width in percentage points for every headline and reported "
        "table; sets the samples per combination instead of --samples (1 = the paper's precision "
        "at a few %% of its images)",
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


def positive_float(text: str) -> float:
    """A number > 0 (seconds), with a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


#: ``colorbench run`` options of served models (``served:NAME@URL``), by factory keyword
SERVED_OPTIONS = ("endpoints", "max_in_flight", "api_key_env", "request_timeout", "token_budget")


def add_served_options(parser: argparse.ArgumentParser) -> None:
    """Options of models behind an OpenAI-compatible endpoint (``served:NAME@URL``); they reach
    the model factory as keyword options (:data:`SERVED_OPTIONS`), other models ignore them."""
    group = parser.add_argument_group("served models (served:NAME@URL)")
    group.add_argument(
        "--endpoint",
        action="append",
        dest="endpoints",
        metavar="URL",
        help="another base URL serving the same model (repeatable); all share one work queue",
    )
    group.add_argument(
        "--max-in-flight",
        type=positive_int,
        metavar="N",
        help="requests in flight per endpoint; default 8",
    )
    group.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key (the key itself is never recorded)",
    )
    group.add_argument(
        "--request-timeout",
        type=positive_float,
        metavar="S",
        help="seconds before a request is given up and retried; default 120",
    )
    group.add_argument(
        "--token-budget",
        type=positive_int,
        metavar="N",
        help="stop cleanly (resumable) once this run has used N tokens",
    )
    group.add_argument(
        "--allow-missing",
        action="store_true",
        help="store results although some answers are still missing (recorded; excluded from n)",
    )
