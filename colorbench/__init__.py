"""colorbench: how well do vision-language models understand colour?"""

from colorbench.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
