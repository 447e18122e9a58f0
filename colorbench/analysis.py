"""The analysis protocol behind ``colorbench analyze NAME``."""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod


class Analysis(ABC):
    """A named analysis with its own command-line options (e.g. ``neurons``, ``itsm``)."""

    name: str = ""
    description: str = ""

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the options of ``colorbench analyze NAME``."""

    @abstractmethod
    def run(self, args: argparse.Namespace) -> int:
        """Run with the parsed options; return the process exit code."""
