"""The colour palette every part of colorbench shares.

The paper asks CLIP about the 11 Berlin-Kay basic colour terms, each with one fixed
RGB. The paper does not publish its RGBs, so the default palette is the one in
``docs/DESIGN.md``. A palette is data: users swap it with ``Palette.from_file``
and its fingerprint goes into every result's provenance.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np

from colorbench.errors import ColorbenchError

#: other spellings and the one common synonym of the basic terms, accepted wherever a model
#: names a colour: scored with the term by likelihood (log-sum-exp) and read as the term by
#: the answer parser, so that a model writing ``Gray`` is not charged with an achromatic error
SPELLINGS: dict[str, tuple[str, ...]] = {"grey": ("gray",), "purple": ("violet",)}


@dataclass(frozen=True)
class Color:
    """One named colour: its basic term, its sRGB triple and whether it is chromatic.

    ``spellings`` are further words that name it (synonyms a palette declares, beyond the
    built-in :data:`SPELLINGS`)."""

    name: str
    rgb: tuple[int, int, int]
    chromatic: bool
    spellings: tuple[str, ...] = ()

    @property
    def hex(self) -> str:
        return "#{:02x}{:02x}{:02x}".format(*self.rgb)


@dataclass(frozen=True)
class Palette:
    """An ordered set of named colours; the order fixes the candidate order of every prompt."""

    colors: tuple[Color, ...]
    name: str = "berlin-kay-11"

    def __post_init__(self) -> None:
        names = [c.name for c in self.colors]
        if len(set(names)) != len(names):
            raise ColorbenchError(f"palette {self.name!r} repeats a colour name: {names}")
        rgbs = [c.rgb for c in self.colors]
        if len(set(rgbs)) != len(rgbs):
            raise ColorbenchError(f"palette {self.name!r} gives two colours the same RGB")

    def __len__(self) -> int:
        return len(self.colors)

    def __iter__(self) -> Iterator[Color]:
        return iter(self.colors)

    def __getitem__(self, name: str) -> Color:
        for color in self.colors:
            if color.name == name:
                return color
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(c.name == name for c in self.colors)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.colors)

    @property
    def chromatic_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.colors if c.chromatic)

    @property
    def achromatic_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.colors if not c.chromatic)

    def spellings(self, name: str) -> tuple[str, ...]:
        """Every accepted word for colour ``name``: the name first, then the built-in
        :data:`SPELLINGS` and the palette's own, without repeats."""
        words = (name, *SPELLINGS.get(name, ()), *self[name].spellings)
        return tuple(dict.fromkeys(words))

    def index(self, name: str) -> int:
        return self.names.index(name)

    def is_chromatic(self, name: str) -> bool:
        return self[name].chromatic

    def rgb_array(self) -> np.ndarray:
        """``[K, 3]`` uint8 array of the colours in palette order."""
        return np.array([c.rgb for c in self.colors], dtype=np.uint8)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "colors": [
                {"name": c.name, "rgb": list(c.rgb), "chromatic": c.chromatic}
                | ({"spellings": list(c.spellings)} if c.spellings else {})
                for c in self.colors
            ],
        }

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON form; resuming a run with another palette is refused."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    @classmethod
    def from_dict(cls, data: dict) -> Palette:
        """A palette from its JSON form; every colour needs a name, three 0-255 whole-number
        channels and a chromatic flag (a palette is user input)."""
        shape = '{"name": ..., "colors": [{"name", "rgb": [r, g, b], "chromatic"}]}'
        try:
            colors = tuple(_color(c) for c in data["colors"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ColorbenchError(f"malformed palette: {detail}; expected {shape}") from None
        if not colors:
            raise ColorbenchError(f"palette has no colours; expected {shape}")
        return cls(colors=colors, name=str(data.get("name", "custom")))

    @classmethod
    def from_file(cls, path: str | Path) -> Palette:
        """Load a palette from a JSON file shaped like ``Palette.to_dict()``."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ColorbenchError(
                f"cannot read palette file {path}: {exc}; pass a UTF-8 JSON palette"
            ) from None
        if not isinstance(data, dict):
            raise ColorbenchError(f"palette file {path} is not a JSON object; see Palette.to_dict")
        return cls.from_dict(data)


def _color(entry: dict) -> Color:
    rgb = entry["rgb"]
    if (
        not isinstance(rgb, list)
        or len(rgb) != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in rgb)
    ):
        raise ValueError(f"colour {entry.get('name')!r}: rgb must be three whole numbers 0-255")
    if not isinstance(entry["chromatic"], bool):
        raise ValueError(f"colour {entry.get('name')!r}: chromatic must be true or false")
    spellings = entry.get("spellings", [])
    if not isinstance(spellings, list) or not all(isinstance(w, str) and w for w in spellings):
        raise ValueError(f"colour {entry.get('name')!r}: spellings must be a list of words")
    return Color(str(entry["name"]), (rgb[0], rgb[1], rgb[2]), entry["chromatic"], tuple(spellings))


DEFAULT_PALETTE = Palette(
    colors=(
        Color("black", (0, 0, 0), False),
        Color("white", (255, 255, 255), False),
        Color("grey", (128, 128, 128), False),
        Color("red", (255, 0, 0), True),
        Color("orange", (255, 165, 0), True),
        Color("yellow", (255, 255, 0), True),
        Color("green", (0, 128, 0), True),
        Color("blue", (0, 0, 255), True),
        Color("purple", (128, 0, 128), True),
        Color("pink", (255, 192, 203), True),
        Color("brown", (139, 69, 19), True),
    )
)


#: the XKCD colour survey's own colour for each basic term (Munroe 2010; the survey's
#: ``rgb.txt``, shipped as ``matplotlib.colors.XKCD_COLORS``): where some 140,000
#: respondents put the name, a centroid-type estimate of the term's focal colour; see
#: docs/DESIGN.md for what this palette changes (tests check these values against
#: matplotlib's table).
XKCD_PALETTE = Palette(
    colors=(
        Color("black", (0, 0, 0), False),
        Color("white", (255, 255, 255), False),
        Color("grey", (146, 149, 145), False),
        Color("red", (229, 0, 0), True),
        Color("orange", (249, 115, 6), True),
        Color("yellow", (255, 255, 20), True),
        Color("green", (21, 176, 26), True),
        Color("blue", (3, 67, 223), True),
        Color("purple", (126, 30, 156), True),
        Color("pink", (255, 129, 192), True),
        Color("brown", (101, 55, 0), True),
    ),
    name="xkcd-11",
)

#: Berlin & Kay's (1969) English focal chip of each basic term, as the World Color Survey
#: archive digitises it: Munsell specifications with their source in
#: ``palette_wcs_focal.json`` (data), converted to sRGB with colour-science by
#: ``tools/wcs_focal.py``; four chromatic foci lie outside sRGB and keep their L* and hue
#: at a lower chroma (the file records how much). docs/DESIGN.md has its colorimetry.
FOCAL_PALETTE = Palette.from_dict(
    json.loads(files("colorbench").joinpath("palette_wcs_focal.json").read_text("utf-8"))
)

#: the built-in palettes, selectable by name with ``--palette``
PALETTES = {p.name: p for p in (DEFAULT_PALETTE, XKCD_PALETTE, FOCAL_PALETTE)}


def palette_option(value: Palette | str | Path | None) -> Palette:
    """A ``--palette`` value: none means the default, a built-in name (:data:`PALETTES`)
    that palette, a path is read, a palette is itself."""
    if value is None:
        return DEFAULT_PALETTE
    if isinstance(value, Palette):
        return value
    return PALETTES.get(str(value)) or Palette.from_file(value)
