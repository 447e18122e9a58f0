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

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the options of ``colorbench analyze NAME``."""

    @abstractmethod
    def run(self, args: argparse.Namespace, plugins: Plugins) -> int:
        """Run with the parsed options (``device`` and ``quiet`` always among them) and the
        loaded plugins (models, tasks, stimulus sets); return the process exit code."""
