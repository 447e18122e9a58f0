"""The analysis protocol behind ``colorbench analyze NAME``."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from colorbench.plugin.pluginmanager import Plugins


class Analysis(ABC):
    """A named analysis with its own command-line options (e.g. ``neurons``, ``itsm``)."""

    name: str = ""
    description: str = ""
    #: the options of a tiny run (a few images on the CPU): ``colorbench check-plugin`` runs
    #: the analysis with them in a temporary working folder, the way it runs a task with the
    #: reference models, so a broken analysis is found before a user's long run
    check_args: tuple[str, ...] = ()

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the options of ``colorbench analyze NAME``."""

    @abstractmethod
    def run(self, args: argparse.Namespace, plugins: Plugins) -> int:
        """Run with the parsed options (``device`` and ``quiet`` always among them) and the
        loaded plugins (models, tasks, stimulus sets); return the process exit code."""


def declare(analysis: Analysis, plugin: str, parser: argparse.ArgumentParser) -> str | None:
    """Give ``parser`` (made with ``conflict_handler="resolve"``) the options of ``analysis``;
    None, or the one line saying that its ``add_arguments`` raised and what to do.

    Every analysis has ``--device``; one it declares itself replaces this one. The command
    line and ``check-plugin`` both declare through here, so they parse the same options and
    report a broken ``add_arguments`` in the same words.
    """
    parser.add_argument("--device", default="auto", metavar="auto|cpu|cuda[:N]")
    try:
        analysis.add_arguments(parser)
    except Exception as exc:
        text = " ".join(str(exc).split())
        return (
            f"plugin {plugin!r} analysis {analysis.name!r}: add_arguments(parser) raised "
            f"{type(exc).__name__}: {text}; declare its options with parser.add_argument "
            "(until then `colorbench analyze` leaves it out)"
        )
    return None
