"""Human colour names from the XKCD colour survey, and the ``xkcd-colors`` stimulus set.

``matplotlib.colors.XKCD_COLORS`` ships the 949 most common colour names of the XKCD
survey (Munroe 2010) with their sRGB, so a human ground truth for the 11-way naming
question is available offline.

**Head-word rule.** English colour compounds are right-headed ("dark blue" is a kind
of blue, "greenish blue" a kind of blue, "burnt orange" a kind of orange), so a
name's human basic term is its *last whitespace-separated word* when that word is one
of the 11 basic terms (``gray`` spelled ``grey``). Names whose last word is not a basic
term ("teal", "bluish") are left out, and so are the 11
slash names ("blue/green", "grey/blue"): they name two terms at once, respondents were
split between them, and there is no single right answer. With matplotlib's list this
keeps 558 colours (the survey list spells grey only as "grey").

**Stimuli.** For every kept colour: a flat 224x224 patch (variant ``patch``, background
``none``; the whole image is the colour and its mask is all ``object``), and the colour as
a shape (reusing :mod:`colorbench.stimuli.shapes`) on each achromatic palette colour
(variant ``shape``). A shape combination is skipped when the colour is nearly its
background, CIEDE2000 below :data:`MIN_DELTA_E`: such an object is barely visible and
naming it says nothing about colour categories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from matplotlib.colors import XKCD_COLORS, to_rgb
from skimage.color import deltaE_ciede2000

from colorbench.colors import lab
from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Palette
from colorbench.stimuli.base import Sample
from colorbench.stimuli.shapes import SHAPES, ShapesSet

#: the Berlin-Kay basic terms, spelled as in the default palette
BASIC_TERMS = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple",
               "pink", "brown")  # fmt: skip
#: other spellings of a basic term
SPELLINGS = {"gray": "grey"}
#: CIEDE2000 below which a shape is too close to its background to be shown (about twice
#: the just-noticeable difference); with the default palette it skips 5 of 1,674 shapes
MIN_DELTA_E = 5.0


def head_term(name: str) -> str | None:
    """The basic term heading a colour name (``"dark blue" -> "blue"``), or None.

    ``name`` may carry matplotlib's ``xkcd:`` prefix. See the module docstring for the rule.
    """
    words = name.removeprefix("xkcd:").lower().split()
    if not words:
        return None
    head = SPELLINGS.get(words[-1], words[-1])
    return head if head in BASIC_TERMS else None


@dataclass(frozen=True)
class XkcdColor:
    """One surveyed colour: its name (without ``xkcd:``), human basic term and sRGB."""

    name: str
    term: str
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


@cache
def load_xkcd_colors() -> tuple[XkcdColor, ...]:
    """Every XKCD colour whose head word is a basic term, sorted by name for stable indices."""
    colors = []
    for key in sorted(XKCD_COLORS):
        term = head_term(key)
        if term is not None:
            rgb = tuple(int(round(255 * v)) for v in to_rgb(XKCD_COLORS[key]))
            colors.append(XkcdColor(key.removeprefix("xkcd:"), term, rgb))
    return tuple(colors)


class XkcdColorsSet(ShapesSet):
    """XKCD colours as flat patches and as shapes on achromatic backgrounds.

    Built on :class:`ShapesSet`: shape samples take its geometry (rotation, position,
    scale; the object covers 4-25% of the image) and its Pillow and torch mask
    renderers; only the colours come from the survey instead of the palette. Each colour
    keeps one shape (cycling through the shapes by colour index) on all backgrounds, so
    backgrounds are compared on the same shape.
    """

    name = "xkcd-colors"
    parts = ("background", "object")
    factors = ("xkcd_name", "human_term", "rgb", "variant", "background", "shape")

    def __init__(self, palette: Palette = DEFAULT_PALETTE, seed: int = 0) -> None:
        missing = [t for t in BASIC_TERMS if t not in palette]
        if missing:
            raise ColorbenchError(
                f"the xkcd-colors set scores answers against the 11 basic terms, but palette "
                f"{palette.name!r} lacks {', '.join(missing)}; use a palette that names them all"
            )
        super().__init__(palette=palette, seed=seed)

    def _enumerate(self) -> list[tuple[str, str, str, str, str, str]]:
        colors = load_xkcd_colors()
        backgrounds = self.palette.achromatic_names
        rgb = np.array([c.rgb for c in colors])
        bg_rgb = np.array([self.palette[b].rgb for b in backgrounds])
        delta = deltaE_ciede2000(lab(rgb)[:, None, :], lab(bg_rgb)[None, :, :])
        combos = []
        for i, color in enumerate(colors):
            combos.append((color.name, color.term, color.hex, "patch", "none", "none"))
            shape = SHAPES[i % len(SHAPES)].name
            for j, background in enumerate(backgrounds):
                if delta[i, j] >= MIN_DELTA_E:
                    combos.append((color.name, color.term, color.hex, "shape", background, shape))
        return combos

    def sample(self, combination: int, sample: int) -> Sample:
        factors = self.combination(combination)
        if factors["variant"] == "shape":
            return super().sample(combination, sample)
        self._check_sample_index(sample)
        geometry = dict.fromkeys(("angle", "scale", "cx", "cy"))
        return Sample(self.name, combination, sample, {**factors, **geometry})

    def part_colors(self, sample: Sample) -> tuple[str, str]:
        """``(background, object)`` names; a patch is all object, so both are its XKCD name."""
        a = sample.attrs
        return (a["xkcd_name"] if a["variant"] == "patch" else a["background"], a["xkcd_name"])

    def colors_of(self, samples: Sequence[Sample]) -> torch.Tensor:
        """``[B, 2, 3]`` uint8: background RGB (a patch: its own colour) and the XKCD RGB."""
        rows = []
        for s in samples:
            obj = tuple(bytes.fromhex(s.attrs["rgb"].removeprefix("#")))
            patch = s.attrs["variant"] == "patch"
            rows.append((obj if patch else self.palette[s.attrs["background"]].rgb, obj))
        return torch.tensor(rows, dtype=torch.uint8)

    def _masks_pil(self, samples: Sequence[Sample]) -> np.ndarray:
        masks = np.ones((len(samples), self.image_size, self.image_size), dtype=np.uint8)
        shaped = _shaped(samples)
        if shaped:
            masks[shaped] = super()._masks_pil([samples[i] for i in shaped])
        return masks

    def _masks_torch(self, samples: Sequence[Sample], device: torch.device) -> torch.Tensor:
        size = self.image_size
        masks = torch.ones((len(samples), size, size), dtype=torch.uint8, device=device)
        shaped = _shaped(samples)
        if shaped:
            masks[shaped] = super()._masks_torch([samples[i] for i in shaped], device)
        return masks


def _shaped(samples: Sequence[Sample]) -> list[int]:
    return [i for i, s in enumerate(samples) if s.attrs["variant"] == "shape"]
