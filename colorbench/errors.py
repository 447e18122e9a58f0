"""Errors that reach the user as one line, never as a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ColorbenchError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits non-zero.

    The message must say what is wrong and name the fix.
    """

    exit_code = 2


class PluginError(ColorbenchError):
    """A plugin failed to import, or its hook raised, or it conflicts with another."""


class WeightsError(ColorbenchError):
    """Model weights are missing, unsafe, truncated or do not fit the architecture."""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """``" (did you mean: a, b?)"`` for the nearest valid names, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.4)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


class Interrupted(ColorbenchError):
    """Ctrl-C or SIGTERM: finished chunks are kept and the same command resumes."""

    exit_code = 130
