"""Font faces for the Stroop sets, taken from the TTFs matplotlib ships.

Fonts must come with the Python dependencies, never from the network or the system
font directory, so that the same index gives the same image on any machine. Glyphs
are rendered without anti-aliasing (Pillow's ``fontmode = "1"``): every text pixel is
exactly the font colour and the part mask is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from colorbench.errors import ColorbenchError

#: face name -> file in matplotlib's ``fonts/ttf`` directory; order is part of the index space
FACES: dict[str, str] = {
    "DejaVu Sans": "DejaVuSans.ttf",
    "DejaVu Sans Bold": "DejaVuSans-Bold.ttf",
    "DejaVu Serif": "DejaVuSerif.ttf",
    "DejaVu Serif Bold": "DejaVuSerif-Bold.ttf",
    "DejaVu Serif Italic": "DejaVuSerif-Italic.ttf",
    "DejaVu Sans Mono": "DejaVuSansMono.ttf",
    "DejaVu Sans Mono Bold": "DejaVuSansMono-Bold.ttf",
    "STIX General": "STIXGeneral.ttf",
    "STIX General Bold": "STIXGeneralBol.ttf",
    "STIX General Italic": "STIXGeneralItalic.ttf",
}


def font_dir() -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@cache
def load_font(face: str, size: int) -> ImageFont.FreeTypeFont:
    """The Pillow font for ``face`` at ``size`` pixels (cached: loading parses the TTF)."""
    try:
        path = font_dir() / FACES[face]
    except KeyError:
        raise ColorbenchError(f"unknown font face {face!r}; use one of {list(FACES)}") from None
    try:
        return ImageFont.truetype(str(path), size)
    except OSError as exc:
        raise ColorbenchError(
            f"cannot load font {path}: {exc}; reinstall matplotlib, which ships it"
        ) from None


@dataclass(frozen=True)
class Glyph:
    """The inked pixels of a text: a bool ``mask`` and its offset from Pillow's text origin."""

    mask: np.ndarray
    left: int
    top: int


@lru_cache(maxsize=8192)
def glyph(text: str, face: str, size: int) -> Glyph:
    """``text`` rendered aliased and cropped to its ink.

    Pillow's ``getbbox`` can be a pixel short of the aliased ink, so the box comes
    from the rendered pixels themselves. Pillow renders integer translations
    identically, so pasting ``mask`` at ``(x, y)`` reproduces :func:`draw_text`.
    """
    font = load_font(face, size)
    _, _, right, bottom = font.getbbox(text)
    pad = size  # generous room on every side for ink outside the reported box
    canvas = Image.new("1", (right + 2 * pad, bottom + 2 * pad), 0)
    draw = ImageDraw.Draw(canvas)
    draw.fontmode = "1"
    draw.text((pad, pad), text, font=font, fill=1)
    ink = np.asarray(canvas, dtype=bool)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        raise ColorbenchError(f"{face} renders {text!r} with no ink; choose another font face")
    mask = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Glyph(mask, int(cols[0]) - pad, int(rows[0]) - pad)


def draw_text(draw: ImageDraw.ImageDraw, x: int, y: int, text: str, face: str, size: int, fill):
    """Draw ``text`` aliased so that its ink's top-left corner lands on pixel ``(x, y)``."""
    g = glyph(text, face, size)
    draw.fontmode = "1"
    draw.text((x - g.left, y - g.top), text, font=load_font(face, size), fill=fill)
