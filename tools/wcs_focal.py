"""Build ``colorbench/palette_wcs_focal.json``: the Berlin & Kay (1969) English focal chips of
the 11 basic terms as Munsell specifications, converted to sRGB with colour-science.

Source: the World Color Survey archive (https://linguistics.berkeley.edu/wcs/data.html,
release WCS-Data-20110316), which digitises Appendix 1 of Berlin & Kay (1969):

- ``BK-foci.txt`` / ``BK-dict.txt``: language 6, English (American), one focus per term as
  WCS grid cells (``G3H3`` = rows G and H of column 3; ``F27..29G27..29`` = a 2 x 3 block);
- ``cnum-vhcm-lab-new.txt``: each grid cell's Munsell chip (after Hardin & Maffi 1997) and
  the archive's CIELAB of it (GretagMacbeth's conversion, Illuminant C).

The Munsell specifications, grid cells and archive L*a*b* are the palette's data; only the
sRGB triple is computed. Each chip goes Munsell -> xyY (colour-science's interpolation of
the 1943 renotation, Illuminant C) -> CIELAB (Illuminant C). A focus of several chips is
their CIELAB centroid (a choice of this palette: the mean in a near-uniform space). It goes to
sRGB with a Bradford adaptation from C to D65. A centroid outside the sRGB gamut keeps its
L* and hue angle, and its C*ab is lowered to the largest value inside the gamut (bisection).
The JSON records this as ``gamut``, with the C*ab before and after.

Usage::

    python tools/wcs_focal.py --wcs DIR   # rebuild from the archive's text files in DIR
    python tools/wcs_focal.py             # recompute rgb / gamut from the JSON's Munsell specs

tests/test_wcs_focal.py checks that the JSON holds exactly what :func:`focal_rgb` gives.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

JSON = Path(__file__).resolve().parents[1] / "colorbench" / "palette_wcs_focal.json"
#: the English (American) language number in BK-foci.txt / BK-dict.txt (Appendix 1 order)
ENGLISH = 6
#: the palette's colour order: that of the default palette, so tables line up
ORDER = ("black", "white", "grey", "red", "orange", "yellow", "green", "blue", "purple",
         "pink", "brown")  # fmt: skip
ACHROMATIC = {"black", "white", "grey"}
SOURCE = {
    "focal_chips": (
        "Berlin, B. & Kay, P. (1969). Basic Color Terms: Their Universality and Evolution. "
        "University of California Press, Appendix 1, English (American) foci"
    ),
    "digitised_by": (
        "World Color Survey data archive, https://linguistics.berkeley.edu/wcs/data.html "
        "(WCS-Data-20110316: BK-foci.txt and BK-dict.txt language 6; chip Munsell specs "
        "and L*a*b* from cnum-vhcm-lab-new.txt, after Hardin & Maffi 1997)"
    ),
    "conversion": (
        "colour-science: Munsell renotation -> xyY (Illuminant C) -> CIELAB (C); a focus "
        "of several chips is its CIELAB centroid; "
        "-> sRGB with Bradford adaptation C -> D65, rounded; a centroid outside sRGB keeps L* "
        "and hue, C*ab lowered to the gamut boundary (see gamut)"
    ),
}


def _colour():
    """colour-science (a tool and test dependency, not a runtime one), imported without its
    side effect: it switches numpy to legacy printing, which would change every float
    colorbench writes through ``str`` afterwards (the leaderboard CSV)."""
    options = np.get_printoptions()
    import colour

    np.set_printoptions(**options)
    return colour


def _illuminant_c() -> np.ndarray:
    return _colour().CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["C"]


def munsell_lab(spec: str) -> np.ndarray:
    """CIELAB (Illuminant C) of one Munsell chip, e.g. ``"7.5R 4/14"`` or ``"N5/"``."""
    colour = _colour()
    xyz = colour.xyY_to_XYZ(colour.notation.munsell_colour_to_xyY(spec))
    return colour.XYZ_to_Lab(xyz, _illuminant_c())


def lab_to_srgb(lab: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] (unclipped) of a CIELAB (Illuminant C) colour, adapted to D65."""
    colour = _colour()
    xyz = colour.Lab_to_XYZ(lab, _illuminant_c())
    return colour.XYZ_to_sRGB(
        xyz, illuminant=_illuminant_c(), chromatic_adaptation_transform="Bradford"
    )


def _inside(lab: np.ndarray) -> bool:
    rgb = lab_to_srgb(lab)
    return bool(np.all(rgb >= 0) and np.all(rgb <= 1))


def focal_rgb(munsell: list[str]) -> tuple[tuple[int, int, int], dict | None]:
    """The 8-bit sRGB of a focus (one or more Munsell chips) and, when its CIELAB centroid
    lies outside the sRGB gamut, how much C*ab was given up to bring it inside."""
    lab = np.mean([munsell_lab(spec) for spec in munsell], axis=0)
    gamut = None
    if not _inside(lab):
        chroma = float(np.hypot(lab[1], lab[2]))
        low, high = 0.0, 1.0  # the largest scale of (a*, b*) still inside: bisection
        for _ in range(40):
            mid = (low + high) / 2
            low, high = (mid, high) if _inside(lab * [1, mid, mid]) else (low, mid)
        lab = lab * [1, low, low]
        gamut = {"chroma_ab": round(chroma, 1), "in_gamut_chroma_ab": round(chroma * low, 1)}
    rgb = np.clip(np.round(lab_to_srgb(lab) * 255), 0, 255).astype(int)
    return (int(rgb[0]), int(rgb[1]), int(rgb[2])), gamut


def _cells(focus: str) -> list[str]:
    """WCS grid cells of a focus: ``"F27..29G27..29"`` -> F27, F28, F29, G27, G28, G29."""
    cells = []
    for row, first, last in re.findall(r"([A-J])(\d+)(?:\.\.(\d+))?", focus):
        cells += [f"{row}{col}" for col in range(int(first), int(last or first) + 1)]
    return cells


def _spec(hue: str, value: str, chroma: str) -> str:
    """The archive's (MunH, MunV, C) in colour-science's Munsell notation: ``7.50R``, ``4``,
    ``14`` -> ``7.5R 4/14``; chroma 0 -> ``N4/``."""
    if chroma == "0":
        return f"N{value}/"
    number, letters = re.fullmatch(r"([\d.]+)([A-Z]+)", hue).groups()
    return f"{float(number):g}{letters} {value}/{chroma}"


def from_archive(folder: Path) -> list[dict]:
    """Each term's focus, chips and archive L*a*b*, read from the WCS archive files."""
    terms = {}
    for line in (folder / "BK-dict.txt").read_text(encoding="latin-1").splitlines()[1:]:
        lnum, _, tnum, term = line.split("\t")[:4]
        if int(lnum) == ENGLISH:
            terms[int(tnum)] = term.strip()
    chips = {}
    for line in (folder / "cnum-vhcm-lab-new.txt").read_text(encoding="latin-1").splitlines()[1:]:
        _, row, col, chroma, hue, value, *lab = line.split("\t")
        chips[f"{row}{col}"] = (_spec(hue, value, chroma), [float(v) for v in lab])
    foci = {}
    for line in (folder / "BK-foci.txt").read_text(encoding="latin-1").splitlines():
        lnum, _, tnum, focus = line.split("\t")[:4]
        if int(lnum) == ENGLISH:
            foci[terms[int(tnum)]] = focus.strip()
    colors = []
    for name in ORDER:
        cells = _cells(foci[name])
        colors.append(
            {
                "name": name,
                "chromatic": name not in ACHROMATIC,
                "focus": foci[name],
                "munsell": [chips[c][0] for c in cells],
                "wcs_lab": [chips[c][1] for c in cells],
            }
        )
    return colors


def build(colors: list[dict]) -> dict:
    """The palette JSON: source, then each colour with its computed rgb (and gamut note)."""
    out = []
    for entry in colors:
        rgb, gamut = focal_rgb(entry["munsell"])
        keep = {k: entry[k] for k in ("name", "chromatic", "focus", "munsell", "wcs_lab")}
        out.append({**keep, "rgb": list(rgb)} | ({"gamut": gamut} if gamut else {}))
    return {"name": "wcs-focal", "source": SOURCE, "colors": out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wcs", type=Path, help="folder with the WCS archive's text files")
    args = parser.parse_args()
    colors = from_archive(args.wcs) if args.wcs else json.loads(JSON.read_text())["colors"]
    JSON.write_text(json.dumps(build(colors), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {JSON}")


if __name__ == "__main__":
    main()
