"""Synthetic stimulus sets (shapes, Stroop), generated on demand from an index."""

from colorbench.stimuli.base import Batch, Sample, StimulusSet

__all__ = ["Batch", "Sample", "StimulusSet"]
