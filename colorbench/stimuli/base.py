"""The stimulus-set interface: image = f(set, index, seed).

A stimulus set is a grid of *combinations* (e.g. shape x background colour x object
colour) times any number of *samples* per combination (rotation, position, scale,
font...). Sample ``s`` of combination ``c`` is the same image whatever the sample
count of the run, on any machine and in any process, so the index space can be cut
into slices and rendered anywhere. With ``n`` samples per combination the flat
index ``i`` is sample ``i % n`` of combination ``i // n``.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from colorbench.palette import DEFAULT_PALETTE, Palette


@dataclass(frozen=True)
class Sample:
    """One stimulus: where it sits in the index space and its ground truth.

    ``attrs`` holds everything known by construction: the colour name of every part
    (``background``, ``object``, ``font``), the shape or written ``word``, and the
    render parameters (angle, scale, position, font face, size). These become columns
    of the predictions table.
    """

    set: str
    combination: int
    sample: int
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def sample_id(self) -> str:
        return f"{self.set}/{self.combination}/{self.sample}"


@dataclass
class Batch:
    """Rendered samples: images ``[B,3,H,W]`` uint8 RGB and part masks ``[B,H,W]`` uint8.

    ``masks[b, y, x] == k`` means pixel (y, x) belongs to part ``StimulusSet.parts[k]``.
    """

    samples: list[Sample]
    images: torch.Tensor
    masks: torch.Tensor


class StimulusSet(ABC):
    """A deterministic, index-addressed synthetic image set."""

    #: id used by tasks and ``colorbench generate``
    name: str = ""
    #: mask labels; ``parts[0]`` is always ``"background"``
    parts: tuple[str, ...] = ("background",)
    #: renderers this set offers; ``"pil"`` (CPU) always, ``"torch"`` (batched, GPU) optionally
    backends: tuple[str, ...] = ("pil",)
    image_size: int = 224

    def __init__(self, palette: Palette = DEFAULT_PALETTE, seed: int = 0) -> None:
        self.palette = palette
        self.seed = seed

    @abstractmethod
    def num_combinations(self) -> int:
        """Number of factor combinations (e.g. 8 x 11 x 10 = 880 for shapes)."""

    @abstractmethod
    def combination(self, index: int) -> dict[str, Any]:
        """Factor values of combination ``index`` (e.g. shape, background, object)."""

    @abstractmethod
    def sample(self, combination: int, sample: int) -> Sample:
        """Sample ``sample`` of ``combination``: ground truth and render parameters."""

    @abstractmethod
    def render(self, samples: Sequence[Sample], backend: str = "pil", device: Any = None) -> Batch:
        """Render samples into a :class:`Batch` (on ``device`` for the torch backend)."""

    def rng(self, combination: int, sample: int) -> np.random.Generator:
        """The random stream of one sample: a function of (set, seed, combination, sample) only."""
        return np.random.default_rng(
            [zlib.crc32(self.name.encode()), self.seed, combination, sample]
        )

    def size(self, samples_per_combination: int) -> int:
        return self.num_combinations() * samples_per_combination

    def sample_at(self, index: int, samples_per_combination: int) -> Sample:
        combination, sample = divmod(index, samples_per_combination)
        return self.sample(combination, sample)

    def samples(self, start: int, stop: int, samples_per_combination: int) -> list[Sample]:
        """Samples of the flat index range ``[start, stop)``."""
        return [self.sample_at(i, samples_per_combination) for i in range(start, stop)]
