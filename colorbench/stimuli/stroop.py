"""The Stroop sets: a colour word written in another colour (paper Exp. 3-5).

``stroop``: word x font colour (!= word) x background (!= word, != font), palette
order: 11 x 10 x 9 = 990 combinations. ``stroop-white``: the classical card, word
(!= white) x font colour (!= word, != white) on white: 10 x 9 = 90 combinations. In
both sets no part shares a colour with another and the word never names the
background, so every answer names at most one part. Each
sample varies font face, size and position; the text stays ``MARGIN`` pixels clear
of the border and covers a few percent of the image, so the background is always
the majority colour.

``x, y`` in a sample's attributes are the top-left pixel of the text's ink box. The
Pillow renderer draws the text aliased; the torch renderer pastes glyph masks that
Pillow rendered once (an atlas per device) with one scatter, so both give identical
masks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from itertools import product

import numpy as np
import torch
from PIL import Image, ImageDraw

from colorbench.errors import ColorbenchError
from colorbench.stimuli.base import Sample
from colorbench.stimuli.flat import MARGIN, FlatColorSet
from colorbench.stimuli.fonts import FACES, draw_text, glyph

_FACES = tuple(FACES)
#: font sizes in pixels, inclusive; long words shrink until they fit the canvas
FONT_SIZES = (24, 48)


class StroopSet(FlatColorSet):
    """Colour words in a font colour on a coloured background."""

    name = "stroop"
    parts = ("background", "text")
    factors = ("word", "font", "background")

    def _enumerate(self) -> list[tuple[str, str, str]]:
        names = self.palette.names
        return [
            (word, font, bg)
            for word, font, bg in product(names, names, names)
            if font != word and bg not in (word, font)
        ]

    def part_colors(self, sample: Sample) -> tuple[str, str]:
        return sample.attrs["background"], sample.attrs["font"]

    def sample(self, combination: int, sample: int) -> Sample:
        factors = self.combination(combination)
        self._check_sample_index(sample)
        u = self.rng(combination, sample).random(4).tolist()
        face = _FACES[int(u[0] * len(_FACES))]
        size = FONT_SIZES[0] + int(u[1] * (FONT_SIZES[1] - FONT_SIZES[0] + 1))
        size, width, height = _fit(factors["word"], face, size, self.image_size - 2 * MARGIN)
        x = MARGIN + math.floor(u[2] * (self.image_size - 2 * MARGIN - width + 1))
        y = MARGIN + math.floor(u[3] * (self.image_size - 2 * MARGIN - height + 1))
        attrs = dict(factors, font_face=face, font_size=size, x=x, y=y)
        return Sample(self.name, combination, sample, attrs)

    def _masks_pil(self, samples: Sequence[Sample]) -> np.ndarray:
        size = self.image_size
        masks = np.empty((len(samples), size, size), dtype=np.uint8)
        for i, s in enumerate(samples):
            a = s.attrs
            canvas = Image.new("L", (size, size), 0)
            draw_text(ImageDraw.Draw(canvas), a["x"], a["y"], a["word"], a["font_face"],
                      a["font_size"], fill=1)  # fmt: skip
            masks[i] = np.asarray(canvas)
        return masks

    def _masks_torch(self, samples: Sequence[Sample], device: torch.device) -> torch.Tensor:
        atlas = _atlas(self.palette.names, device)
        attrs = [s.attrs for s in samples]
        keys = [atlas.key(a["word"], a["font_face"], a["font_size"]) for a in attrs]
        index = torch.tensor(keys).to(device)
        origin = torch.tensor([[a["y"], a["x"]] for a in attrs]).to(device)
        windows = atlas.masks[index]  # [B, rows, cols]: each glyph, top-left aligned
        height, width = atlas.shapes[index].unbind(-1)
        batch, rows, cols = windows.shape
        size = self.image_size
        r = torch.arange(rows, device=device)[None, :, None]
        c = torch.arange(cols, device=device)[None, None, :]
        b = torch.arange(batch, device=device)[:, None, None]
        target = (b * size + origin[:, 0, None, None] + r) * size + origin[:, 1, None, None] + c
        # the glyph itself fits the canvas (sample() placed it); its padding may not:
        # send padding to one spare slot past the end
        inside = (r < height[:, None, None]) & (c < width[:, None, None])
        spare = batch * size * size
        target = torch.where(inside, target, spare)
        masks = torch.zeros(spare + 1, dtype=torch.uint8, device=device)
        masks.index_put_((target.view(-1),), windows.view(-1).to(torch.uint8))
        return masks[:spare].view(batch, size, size)


class StroopWhiteSet(StroopSet):
    """The classical Stroop card: colour words in a font colour on white.

    The rule is the coloured set's with the background fixed to white: the font colour
    differs from the word and from white, and the word is never "white". The paper's
    Stroop design never writes the background's colour name (its backgrounds exclude
    the word's colour); with "white" written on white the answer "white" would name the
    word and the background at once, and count as reading although it also describes
    the card. 10 words x 9 font colours = 90 combinations (45,000 images at 500
    samples, the paper's count per combination).
    """

    name = "stroop-white"

    def _enumerate(self) -> list[tuple[str, str, str]]:
        if "white" not in self.palette:
            raise ColorbenchError(
                f"stroop-white needs a colour named 'white' in palette {self.palette.name!r}; "
                "add one or use the stroop set"
            )
        names = self.palette.names
        return [
            (word, font, "white")
            for word, font in product(names, names)
            if word != "white" and font not in (word, "white")
        ]


def _fit(word: str, face: str, size: int, room: int) -> tuple[int, int, int]:
    """The largest size <= ``size`` at which ``word`` fits in ``room`` pixels, and its ink box."""
    while size > 0:
        height, width = glyph(word, face, size).mask.shape
        if width <= room and height <= room:
            return size, width, height
        size -= 1
    raise ColorbenchError(f"the word {word!r} does not fit the canvas; use shorter colour names")


class GlyphAtlas:
    """Every (word, face, size) glyph mask, padded into one ``[G, rows, cols]`` bool tensor."""

    def __init__(self, words: Sequence[str], device: torch.device) -> None:
        self.words = {w: i for i, w in enumerate(words)}
        self.faces = {f: i for i, f in enumerate(_FACES)}
        self.sizes = range(FONT_SIZES[0], FONT_SIZES[1] + 1)
        glyphs = [glyph(w, f, s).mask for w, f, s in product(words, _FACES, self.sizes)]
        rows, cols = (max(g.shape[k] for g in glyphs) for k in (0, 1))
        masks = np.zeros((len(glyphs), rows, cols), dtype=bool)
        for i, g in enumerate(glyphs):
            masks[i, : g.shape[0], : g.shape[1]] = g
        self.masks = torch.from_numpy(masks).to(device)
        self.shapes = torch.tensor([g.shape for g in glyphs]).to(device)

    def key(self, word: str, face: str, size: int) -> int:
        return (self.words[word] * len(self.faces) + self.faces[face]) * len(self.sizes) + (
            size - self.sizes.start
        )


@lru_cache(maxsize=8)
def _atlas(words: tuple[str, ...], device: torch.device) -> GlyphAtlas:
    return GlyphAtlas(words, device)
