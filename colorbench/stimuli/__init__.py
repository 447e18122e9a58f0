"""Synthetic stimulus sets (shapes, Stroop), generated on demand from an index.

This module is a core plugin (see ``colorbench.plugin.pluginmanager.CORE_PLUGINS``): it
registers the three sets of the paper through the same hook a third-party plugin
would use.
"""

from collections.abc import Callable

from colorbench.plugin.hookspecs import hookimpl
from colorbench.stimuli.base import Batch, Sample, StimulusSet
from colorbench.stimuli.shapes import ShapesSet
from colorbench.stimuli.stroop import StroopSet, StroopWhiteSet

__all__ = ["Batch", "Sample", "ShapesSet", "StimulusSet", "StroopSet", "StroopWhiteSet"]


@hookimpl
def colorbench_register_stimulus_sets(register: Callable[..., None]) -> None:
    register(
        "shapes",
        ShapesSet,
        description="a flat shape on a flat background: 8 shapes x 11 x 10 colours (Exp. 1-2)",
    )
    register(
        "stroop",
        StroopSet,
        description="a colour word in a font colour on a coloured background: 990 (Exp. 3, 5)",
    )
    register(
        "stroop-white",
        StroopWhiteSet,
        description="a colour word (not white) in a font colour on white: 90 combinations (Exp. 4)",
    )
