"""Interpretability plugin: the paper's neuron analyses and ECLIP similarity maps.

Registers ``colorbench analyze neurons`` and ``colorbench analyze itsm``. The heavy
modules (figures, the passes over the encoder) load only when an analysis runs.
"""

import colorbench
from colorbench.plugins.interpret.analyses import ItsmAnalysis, NeuronsAnalysis


@colorbench.hookimpl
def colorbench_register_analyses(register) -> None:
    register(NeuronsAnalysis())
    register(ItsmAnalysis())
