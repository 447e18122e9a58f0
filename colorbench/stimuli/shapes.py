"""The shapes set: one flat-coloured shape on a flat-coloured background (paper Exp. 1-2).

Combinations are shape x background x object colour (object != background) in palette
order: 8 x 11 x 10 = 880 with the default palette. Each sample varies rotation,
position and scale; the shape covers 4-25% of the image, so the background is always
the majority colour, and stays ``MARGIN`` pixels clear of the border.

Shapes are polygons (and a circle) with vertices rounded to whole pixels. The Pillow
renderer fills the outline polygon. The torch renderer, batched on any device,
intersects every pixel row with the half-planes of the shape's convex pieces (a
star is five kites, a cross a square and four arms) or with the circle's distance bound, a hard
threshold, and fills the resulting spans. Both follow Pillow's convention that
integer coordinates are pixel centres; polygons come out pixel-identical but for
rare ties, the circle differs on a few edge pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import product

import numpy as np
import torch
from PIL import Image, ImageDraw

from colorbench.stimuli.base import Sample
from colorbench.stimuli.flat import MARGIN, FlatColorSet, pixel_coords

#: range of the shape's area as a fraction of the image
AREA_RANGE = (0.04, 0.25)


@dataclass(frozen=True)
class Shape:
    """A shape of circumradius about 1: its outline and a cover by convex pieces.

    ``pieces`` index ``outline`` vertices, with ``len(outline)`` meaning the centre.
    A shape with no outline is the unit circle.
    """

    name: str
    outline: tuple[tuple[float, float], ...] = ()
    pieces: tuple[tuple[int, ...], ...] = ()

    @cached_property
    def area(self) -> float:
        if not self.outline:
            return math.pi
        x, y = np.array(self.outline).T
        return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))

    def extent(self, angle: float, scale: float) -> tuple[float, float, float, float]:
        """``(left, top, right, bottom)`` offsets from the centre after :func:`place`.

        Plain Python on a dozen vertices: ``sample()`` runs for every index.
        """
        if not self.outline:
            return -scale, -scale, scale, scale
        a = math.radians(angle)
        cos, sin = math.cos(a), math.sin(a)
        xs = [scale * (ux * cos - uy * sin) for ux, uy in self.outline]
        ys = [-scale * (ux * sin + uy * cos) for ux, uy in self.outline]
        return min(xs), min(ys), max(xs), max(ys)


def _regular(name: str, sides: int, start_deg: float) -> Shape:
    angles = np.radians(start_deg + 360.0 * np.arange(sides) / sides)
    outline = tuple(zip(np.cos(angles).tolist(), np.sin(angles).tolist(), strict=True))
    return Shape(name, outline, (tuple(range(sides)),))


def _star(points: int = 5, inner: float = 0.45) -> Shape:
    angles = np.radians(90.0 + 180.0 * np.arange(2 * points) / points)
    radii = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    outline = tuple(
        zip((radii * np.cos(angles)).tolist(), (radii * np.sin(angles)).tolist(), strict=True)
    )
    centre, n = 2 * points, 2 * points
    kites = tuple((centre, (2 * k - 1) % n, 2 * k, 2 * k + 1) for k in range(points))
    return Shape("star", outline, kites)


def _cross(half_width: float = 0.35) -> Shape:
    w = half_width
    outline = ((w, 1), (-w, 1), (-w, w), (-1, w), (-1, -w), (-w, -w),
               (-w, -1), (w, -1), (w, -w), (1, -w), (1, w), (w, w))  # fmt: skip
    # the centre square and four arms: every outer edge is an outline edge, so rounding
    # the vertices to pixels bends the pieces exactly as it bends the outline
    pieces = ((2, 5, 8, 11), (0, 1, 2, 11), (2, 3, 4, 5), (5, 6, 7, 8), (8, 9, 10, 11))
    return Shape("cross", outline, pieces)


SHAPES: tuple[Shape, ...] = (
    _regular("triangle", 3, 90.0),
    _regular("square", 4, 45.0),
    Shape("circle"),
    _star(),
    _regular("pentagon", 5, 90.0),
    _regular("hexagon", 6, 90.0),
    _cross(),
    Shape("diamond", ((0, 1), (-0.6, 0), (0, -1), (0.6, 0)), ((0, 1, 2, 3),)),
)
_BY_NAME = {s.name: i for i, s in enumerate(SHAPES)}
_MAX_VERTS = max(len(s.outline) for s in SHAPES) + 1  # + centre
_MAX_PIECES = max(len(s.pieces) for s in SHAPES)
_MAX_PIECE_VERTS = max(len(p) for s in SHAPES for p in s.pieces)


def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Padded unit outlines ``[S, V, 2]`` (last slot: the centre) and piece indices ``[S, P, Q]``.

    Missing pieces repeat the first piece and short pieces repeat their last vertex
    (a zero-length edge), so padding never changes the union. Circles get one
    degenerate piece that the torch renderer ignores.
    """
    centre = _MAX_VERTS - 1
    outlines = np.zeros((len(SHAPES), _MAX_VERTS, 2))
    pieces = np.full((len(SHAPES), _MAX_PIECES, _MAX_PIECE_VERTS), centre, dtype=np.int64)
    for i, shape in enumerate(SHAPES):
        n = len(shape.outline)
        if n:
            outlines[i, :n] = shape.outline
        for p in range(_MAX_PIECES if shape.pieces else 0):
            piece = [centre if v == n else v for v in shape.pieces[p % len(shape.pieces)]]
            pieces[i, p] = piece + piece[-1:] * (_MAX_PIECE_VERTS - len(piece))
    return outlines, pieces


_OUTLINES, _PIECES = _tables()


def place(outline: np.ndarray, angle: np.ndarray, scale: np.ndarray, cx, cy) -> np.ndarray:
    """Rotate (degrees, counter-clockwise), scale and move unit vertices ``[..., V, 2]``.

    Returns image coordinates (y down) as floats; the math y axis points up.
    """
    a = np.radians(angle)[..., None]
    cos, sin = np.cos(a), np.sin(a)
    ux, uy = outline[..., 0], outline[..., 1]
    x = np.asarray(cx)[..., None] + scale[..., None] * (ux * cos - uy * sin)
    y = np.asarray(cy)[..., None] - scale[..., None] * (ux * sin + uy * cos)
    return np.stack([x, y], axis=-1)


class ShapesSet(FlatColorSet):
    """Shapes x background colour x object colour x samples (rotation, position, scale)."""

    name = "shapes"
    parts = ("background", "object")
    factors = ("shape", "background", "object")

    def _enumerate(self) -> list[tuple[str, str, str]]:
        names = self.palette.names
        return [
            (shape.name, bg, obj) for shape, bg, obj in product(SHAPES, names, names) if obj != bg
        ]

    def part_colors(self, sample: Sample) -> tuple[str, str]:
        return sample.attrs["background"], sample.attrs["object"]

    def sample(self, combination: int, sample: int) -> Sample:
        factors = self.combination(combination)
        self._check_sample_index(sample)
        shape = SHAPES[_BY_NAME[factors["shape"]]]
        u = self.rng(combination, sample).random(4).tolist()
        angle = round(360.0 * u[0], 2)
        fraction = AREA_RANGE[0] + (AREA_RANGE[1] - AREA_RANGE[0]) * u[1]
        scale = round(math.sqrt(fraction * self.image_size**2 / shape.area), 2)
        left, top, right, bottom = shape.extent(angle, scale)
        # one extra pixel for rounding vertices to the pixel grid
        last = self.image_size - 1 - MARGIN - 1
        cx, cy = (
            low + math.floor(v * (high - low + 1))
            for v, low, high in (
                (u[2], math.ceil(MARGIN + 1 - left), math.floor(last - right)),
                (u[3], math.ceil(MARGIN + 1 - top), math.floor(last - bottom)),
            )
        )
        attrs = dict(factors, angle=angle, scale=scale, cx=cx, cy=cy)
        return Sample(self.name, combination, sample, attrs)

    def _masks_pil(self, samples: Sequence[Sample]) -> np.ndarray:
        size = self.image_size
        masks = np.empty((len(samples), size, size), dtype=np.uint8)
        for i, s in enumerate(samples):
            a = s.attrs
            canvas = Image.new("L", (size, size), 0)
            draw = ImageDraw.Draw(canvas)
            shape = SHAPES[_BY_NAME[a["shape"]]]
            if shape.outline:
                verts = place(np.array(shape.outline), np.array(a["angle"]),
                              np.array(a["scale"]), a["cx"], a["cy"])  # fmt: skip
                draw.polygon([tuple(v) for v in np.rint(verts).astype(int).tolist()], fill=1)
            else:
                r = round(a["scale"])
                draw.ellipse([a["cx"] - r, a["cy"] - r, a["cx"] + r, a["cy"] + r], fill=1)
            masks[i] = np.asarray(canvas)
        return masks

    def _masks_torch(self, samples: Sequence[Sample], device: torch.device) -> torch.Tensor:
        attrs = [s.attrs for s in samples]
        kind = np.array([_BY_NAME[a["shape"]] for a in attrs])
        angle, scale, cx, cy = (np.array([a[k] for a in attrs], dtype=np.float64)
                                for k in ("angle", "scale", "cx", "cy"))  # fmt: skip
        verts = np.rint(place(_OUTLINES[kind], angle, scale, cx, cy))
        verts[:, -1] = np.stack([cx, cy], axis=-1)  # last slot: the centre
        pieces = verts[np.arange(len(kind))[:, None, None], _PIECES[kind]]  # [B, P, Q, 2]

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(device=device, dtype=torch.float32)

        ys = pixel_coords(self.image_size, device)
        low, high = _polygon_spans(tensor(pieces), ys)
        # Pillow fills the integer-radius disc's pixels within about r + 0.45 of the centre
        disc_low, disc_high = _disc_spans(tensor(cx), tensor(cy), tensor(np.rint(scale) + 0.45), ys)
        circle = torch.from_numpy(np.array([not SHAPES[k].outline for k in kind])).to(device)
        low = torch.where(circle[:, None, None], disc_low[:, None], low)
        high = torch.where(circle[:, None, None], disc_high[:, None], high)
        return _fill_spans(low, high, self.image_size)


#: a span bound beyond any pixel
_FAR = 1e6


def _polygon_spans(pieces: torch.Tensor, ys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last pixel ``[B, P, H]`` of each row inside each convex piece ``[B,P,Q,2]``.

    A convex polygon covers one span per row, so the work is per row, not per pixel.
    Vertices run counter-clockwise in math coordinates, i.e. clockwise on the y-down
    grid: pixel ``(x, y)`` is inside when ``ex * (y - ay) - ey * (x - ax) < t`` for every
    edge ``a -> b = a + (ex, ey)``. Like Pillow's scanline fill, ``t`` lets a pixel
    centre less than half a pixel outside an edge (along its row) count as inside;
    since vertices and pixel centres are integers the left side is a whole number, and
    ``t >= 0.5`` keeps pixels exactly on horizontal and zero-length (padding) edges.
    """
    ax, ay = pieces[..., 0, None], pieces[..., 1, None]  # [B, P, Q, 1]
    ex = pieces[..., 0].roll(-1, dims=-1)[..., None] - ax
    ey = pieces[..., 1].roll(-1, dims=-1)[..., None] - ay
    slack = ex * (ys - ay) - (0.5 * ey.abs()).clamp(min=0.5)  # [B, P, Q, H]
    # ey > 0: x - ax > slack / ey; ey < 0: x - ax < slack / ey; ey == 0: slack < 0
    bound = slack / torch.where(ey == 0, torch.ones_like(ey), ey)
    flat_ok = slack < 0
    low = torch.where(ey > 0, ax + bound.floor() + 1, torch.where(flat_ok | (ey < 0), -_FAR, _FAR))
    high = torch.where(ey < 0, ax + bound.ceil() - 1, torch.where(flat_ok | (ey > 0), _FAR, -_FAR))
    return low.amax(dim=2), high.amin(dim=2)


def _fill_spans(low: torch.Tensor, high: torch.Tensor, width: int) -> torch.Tensor:
    """uint8 masks ``[B, H, W]``: the union over ``P`` of the row spans ``[low, high]``.

    A +1 at each span's first pixel and a -1 after its last, summed along the row,
    counts the spans covering every pixel: a few full-image operations whatever ``P``.
    """
    empty = low > high
    start = torch.where(empty, width, low.clamp(0, width)).long().transpose(1, 2)  # [B, H, P]
    stop = torch.where(empty, width, (high + 1).clamp(0, width)).long().transpose(1, 2)
    batch, rows, spans = start.shape
    ones = torch.ones((batch, rows, spans), dtype=torch.int32, device=low.device)
    edges = torch.zeros((batch, rows, width + 1), dtype=torch.int32, device=low.device)
    edges.scatter_add_(2, start, ones).scatter_add_(2, stop, -ones)
    return (edges[..., :width].cumsum(dim=2, dtype=torch.int32) > 0).to(torch.uint8)


def _disc_spans(cx, cy, radius, ys) -> tuple[torch.Tensor, torch.Tensor]:
    """First and last pixel ``[B, H]`` of each row within ``radius`` of ``(cx, cy)``."""
    half2 = radius[:, None] ** 2 - (ys - cy[:, None]) ** 2
    half = half2.clamp(min=0).sqrt()
    low = torch.where(half2 >= 0, (cx[:, None] - half).ceil(), _FAR)
    return low, torch.where(half2 >= 0, (cx[:, None] + half).floor(), -_FAR)
