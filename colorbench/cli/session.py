"""What every sub-command gets besides its parsed options.

Its own module so that sub-command modules (``colorbench.cli.harness``, analyses) can take a
``Session`` without importing the parser that dispatches to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from colorbench.plugin.pluginmanager import Plugins


@dataclass(frozen=True)
class Session:
    """The loaded plugins, the ``-p`` specs (passed on to ``RunConfig.plugins``) and the console."""

    plugins: Plugins
    specs: list[str]
    console: Console
