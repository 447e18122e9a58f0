"""Small fakes for the interpretability tests: a Stroop set, an image corpus, encoders.

They stand in for the real stimulus sets and adapters so these tests check the
analyses alone, on inputs whose answers are known by construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

from colorbench.palette import DEFAULT_PALETTE
from colorbench.stimuli.base import Batch, Sample, StimulusSet


class FakeStroop(StimulusSet):
    """Coloured-background Stroop images: word != font != background, flat colours."""

    name = "stroop"
    parts = ("background", "text")

    def __init__(self, palette=DEFAULT_PALETTE, seed=0, size=48):
        super().__init__(palette, seed)
        self.image_size = size
        names = palette.names
        self._combos = [
            (w, f, b) for w, f, b in itertools.product(names, names, names) if len({w, f, b}) == 3
        ]

    def num_combinations(self) -> int:
        return len(self._combos)

    def combination(self, index: int) -> dict:
        word, font, background = self._combos[index]
        return {"word": word, "font": font, "background": background}

    def sample(self, combination: int, sample: int) -> Sample:
        rng = self.rng(combination, sample)
        xy = tuple(int(v) for v in rng.integers(0, self.image_size // 4, 2))
        return Sample(self.name, combination, sample, {**self.combination(combination), "xy": xy})

    def render(self, samples: Sequence[Sample], backend="pil", device=None) -> Batch:
        images, masks = [], []
        font = ImageFont.load_default(size=self.image_size // 4)
        for s in samples:
            mask = Image.new("L", (self.image_size, self.image_size), 0)
            ImageDraw.Draw(mask).text(s.attrs["xy"], s.attrs["word"], fill=255, font=font)
            text = np.asarray(mask) > 127
            image = np.empty((self.image_size, self.image_size, 3), np.uint8)
            image[:] = self.palette[s.attrs["background"]].rgb
            image[text] = self.palette[s.attrs["font"]].rgb
            images.append(torch.from_numpy(image).permute(2, 0, 1))
            masks.append(torch.from_numpy(text.astype(np.uint8)))
        return Batch(list(samples), torch.stack(images), torch.stack(masks))


class TensorCorpus:
    """A corpus held in memory: ``load`` indexes a ``[N,3,H,W]`` uint8 tensor."""

    def __init__(self, images: torch.Tensor, text_items: list[int] | None = None) -> None:
        self.images = images
        #: indices of the images that count as natural text (Any Word's check)
        self.text_items = list(text_items or [])

    def __len__(self) -> int:
        return len(self.images)

    def load(self, indices) -> torch.Tensor:
        return self.images[torch.as_tensor(list(indices), dtype=torch.long)]


def blob_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Random images of flat coloured rectangles on random colours: varied hue and luminance."""
    rng = np.random.default_rng(seed)
    images = np.empty((n, size, size, 3), np.uint8)
    for image in images:
        image[:] = rng.integers(0, 256, 3)
        for _ in range(4):
            y, x = rng.integers(0, size - 4, 2)
            h, w = rng.integers(3, size // 2, 2)
            image[y : y + h, x : x + w] = rng.integers(0, 256, 3)
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def scale01(images: torch.Tensor) -> torch.Tensor:
    """The hand-built encoders' preprocessing: uint8 -> [0, 1]."""
    return images.float() / 255


def pointwise_encoder(weights: Sequence[Sequence[float]], bias: Sequence[float]) -> nn.Module:
    """``ReLU(W @ rgb + b)`` per pixel: one unit per row of ``weights``, a colour detector each."""
    conv = nn.Conv2d(3, len(weights), 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights, dtype=torch.float32)[:, :, None, None])
        conv.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return nn.Sequential(conv, nn.ReLU())


class FakeShapes(StimulusSet):
    """A square object on a background: every (background, object) colour pair."""

    name = "shapes"
    parts = ("background", "object")

    def __init__(self, palette=DEFAULT_PALETTE, seed=0, size=32):
        super().__init__(palette, seed)
        self.image_size = size
        names = palette.names
        self._combos = [(b, o) for b, o in itertools.product(names, names) if b != o]

    def num_combinations(self) -> int:
        return len(self._combos)

    def combination(self, index: int) -> dict:
        background, obj = self._combos[index]
        return {"background": background, "object": obj, "shape": "square"}

    def sample(self, combination: int, sample: int) -> Sample:
        side = int(self.rng(combination, sample).integers(4, self.image_size // 2))
        return Sample(
            self.name, combination, sample, {**self.combination(combination), "side": side}
        )

    def render(self, samples: Sequence[Sample], backend="pil", device=None) -> Batch:
        n = self.image_size
        images = torch.empty(len(samples), 3, n, n, dtype=torch.uint8)
        masks = torch.zeros(len(samples), n, n, dtype=torch.uint8)
        for i, s in enumerate(samples):
            side = s.attrs["side"]
            masks[i, :side, :side] = 1
            images[i] = torch.tensor(self.palette[s.attrs["background"]].rgb)[:, None, None]
            images[i, :, :side, :side] = torch.tensor(self.palette[s.attrs["object"]].rgb)[
                :, None, None
            ]
        return Batch(list(samples), images, masks)
