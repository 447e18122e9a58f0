"""colorbench: how well do vision-language models understand colour?"""

from typing import Any

from colorbench.plugin.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl", "run"]


def __getattr__(name: str) -> Any:
    """``colorbench.run`` loads the API (pandas, the plugin manager) only when first used."""
    if name == "run":
        from colorbench.api import run

        return run
    raise AttributeError(f"module 'colorbench' has no attribute {name!r}")
