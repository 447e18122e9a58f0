"""Colour helpers for plugin authors: CIELAB, Delta E to a palette, the nearest palette colour.

Tasks and model adapters that reason about colour perceptually (a reference observer, a
task that groups colours by lightness or asks about a colour "near" a palette term) share
these rather than each converting sRGB on its own. sRGB is 0..255 per channel, D65 white;
Delta E is CIE76, the Euclidean distance in CIELAB.
"""

from __future__ import annotations

import numpy as np
from skimage.color import deltaE_cie76, deltaE_ciede2000, rgb2lab

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


def relative_luminance(rgb: np.ndarray) -> np.ndarray:
    """WCAG 2 relative luminance Y (0 black .. 1 white) of sRGB triples ``[..., 3]`` (0..255).

    The channels are linearised with the sRGB transfer function and weighted by the
    Rec. 709 / sRGB luminance coefficients, as WCAG 2.x defines it."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def contrast_ratio(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """WCAG 2 luminance contrast ratio (1 .. 21) of two sRGB colours, elementwise.

    (Y_lighter + 0.05) / (Y_darker + 0.05): 1 for isoluminant colours, 21 for black on
    white; WCAG asks 4.5 for body text and 3 for large text. Legibility of a written
    word depends on it, so the Stroop tables report it per font / background pair."""
    ya, yb = relative_luminance(rgb_a), relative_luminance(rgb_b)
    return (np.maximum(ya, yb) + 0.05) / (np.minimum(ya, yb) + 0.05)


def delta_e00(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of two sRGB colours ``[..., 3]`` (0..255), elementwise."""
    return deltaE_ciede2000(lab(rgb_a), lab(rgb_b))
