"""Shared machinery of flat-colour stimulus sets: combinations, backends, colouring.

A flat-colour set renders a *part mask* (which part every pixel belongs to) and then
paints each part with its palette colour. Colouring from the mask makes every pixel
exactly one of the part colours and the mask exact by construction, whichever
renderer drew the mask.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Palette
from colorbench.stimuli.base import Batch, Sample, StimulusSet

#: pixels kept free along every border so that no part touches the canvas edge
MARGIN = 2
#: samples per tensor pass of the torch renderer: bounds the ``[B,H,W]`` temporaries
#: (about 0.4 GB per 1024 images) on the CPU; accelerators take the batch whole
CPU_CHUNK = 256


class FlatColorSet(StimulusSet):
    """A stimulus set whose combinations are tuples of factor values, painted flat.

    Subclasses list their ``factors`` (names of the combination tuple's fields), build
    ``self._combinations`` in index order, and draw masks with each backend.
    """

    factors: tuple[str, ...] = ()
    backends = ("pil", "torch")

    def __init__(self, palette: Palette = DEFAULT_PALETTE, seed: int = 0) -> None:
        super().__init__(palette=palette, seed=seed)
        self._combinations: list[tuple] = list(self._enumerate())
        self._lut = palette.rgb_array()

    @abstractmethod
    def _enumerate(self) -> Sequence[tuple]:
        """All factor tuples in index order."""

    @abstractmethod
    def part_colors(self, sample: Sample) -> tuple[str, ...]:
        """Colour name of every part of ``sample``, in ``parts`` order."""

    @abstractmethod
    def _masks_pil(self, samples: Sequence[Sample]) -> np.ndarray:
        """``[B, H, W]`` uint8 part masks drawn with Pillow."""

    @abstractmethod
    def _masks_torch(self, samples: Sequence[Sample], device: torch.device) -> torch.Tensor:
        """``[B, H, W]`` uint8 part masks computed with tensor ops on ``device``."""

    def num_combinations(self) -> int:
        return len(self._combinations)

    def combination(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self._combinations):
            raise ColorbenchError(
                f"combination {index} is outside {self.name!r}'s range "
                f"0..{len(self._combinations) - 1}"
            )
        return dict(zip(self.factors, self._combinations[index], strict=True))

    def _check_sample_index(self, sample: int) -> None:
        if sample < 0:
            raise ColorbenchError(f"sample index must be >= 0, got {sample}")

    def render(self, samples: Sequence[Sample], backend: str = "pil", device: Any = None) -> Batch:
        if backend not in self.backends:
            raise ColorbenchError(
                f"unknown renderer {backend!r} for {self.name!r}; use one of {self.backends}"
            )
        samples = list(samples)
        target = torch.device(device) if device is not None else torch.device("cpu")
        if not samples:
            size = self.image_size
            empty = torch.zeros((0, size, size), dtype=torch.uint8, device=target)
            return Batch([], empty.unsqueeze(1).expand(0, 3, size, size).contiguous(), empty)
        if backend == "pil":
            masks = torch.from_numpy(self._masks_pil(samples)).to(target)
        else:
            step = CPU_CHUNK if target.type == "cpu" else len(samples)
            chunks = [samples[i : i + step] for i in range(0, len(samples), step)]
            masks = torch.cat([self._masks_torch(chunk, target) for chunk in chunks])
        return Batch(samples, paint(masks, self.colors_of(samples).to(target)), masks)

    def colors_of(self, samples: Sequence[Sample]) -> torch.Tensor:
        """``[B, parts, 3]`` uint8 RGB of every part of every sample."""
        index = np.array(
            [[self.palette.index(c) for c in self.part_colors(s)] for s in samples], dtype=np.int64
        )
        return torch.from_numpy(self._lut[index])


def paint(masks: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    """Images ``[B,3,H,W]`` uint8 with pixel colour ``colors[b, masks[b,y,x]]``."""
    images = colors[:, 0, :, None, None].expand(-1, -1, *masks.shape[1:])
    for part in range(1, colors.shape[1]):
        images = torch.where((masks == part)[:, None], colors[:, part, :, None, None], images)
    return images.contiguous()


def pixel_grid(size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``ys [1,H,1]``, ``xs [1,1,W]``: integers, as in Pillow."""
    coords = torch.arange(size, device=device, dtype=torch.float32)
    return coords.view(1, size, 1), coords.view(1, 1, size)
