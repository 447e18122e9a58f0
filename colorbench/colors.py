"""Colour helpers for plugin authors: CIELAB, Delta E to a palette, the nearest palette colour.

Tasks and model adapters that reason about colour perceptually (a reference observer, a
task that groups colours by lightness or asks about a colour "near" a palette term) share
these rather than each converting sRGB on its own. sRGB is 0..255 per channel, D65 white;
Delta E is CIE76, the Euclidean distance in CIELAB.
"""

from __future__ import annotations

import numpy as np
from skimage.color import deltaE_cie76, rgb2lab

from colorbench.palette import Palette


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of sRGB triples ``[..., 3]`` (0..255); same leading shape, last axis L, a, b."""
    return rgb2lab(np.asarray(rgb, dtype=np.float64) / 255.0)


def delta_e_to_palette(rgb: np.ndarray, palette: Palette) -> np.ndarray:
    """CIE76 Delta E of each sRGB colour ``[M,3]`` (0..255) to each palette colour: ``[M,K]``.

    The nearest palette colour is the argmin along the last axis."""
    colors = lab(np.asarray(rgb).reshape(-1, 1, 3))[:, 0, :]
    prototypes = lab(palette.rgb_array().reshape(-1, 1, 3))[:, 0, :]
    return deltaE_cie76(colors[:, None, :], prototypes[None, :, :])


def nearest_palette_color(rgb: np.ndarray, palette: Palette) -> list[str]:
    """The name of the palette colour nearest (CIE76) to each sRGB colour ``[M,3]``."""
    return [palette.names[i] for i in delta_e_to_palette(rgb, palette).argmin(axis=1)]
