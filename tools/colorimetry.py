"""Print the colorimetry tables of docs/DESIGN.md for every built-in palette (markdown).

For each palette: every colour's CIELAB L* and C*ab and WCAG relative luminance; the
CIEDE2000 difference of every pair; and the WCAG luminance contrast ratio of every
font / background pair (rows: font, columns: background), the legibility a Stroop
image's word has. Regenerate the section with::

    python tools/colorimetry.py > /tmp/colorimetry.md   # then paste into docs/DESIGN.md

tests/test_colorimetry.py checks that docs/DESIGN.md holds exactly this output.
"""

from __future__ import annotations

import numpy as np

from colorbench.colors import contrast_ratio, delta_e00, lab, relative_luminance
from colorbench.palette import PALETTES, Palette


def _matrix(title: str, palette: Palette, values: np.ndarray, fmt: str) -> list[str]:
    names = list(palette.names)
    lines = [f"| {title} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, row in zip(names, values, strict=True):
        lines.append(f"| {name} | " + " | ".join(format(v, fmt) for v in row) + " |")
    return lines


def palette_section(palette: Palette) -> list[str]:
    """The markdown of one palette: per-colour table, then the dE00 and contrast matrices."""
    rgb = palette.rgb_array().astype(np.float64)
    L, a, b = lab(rgb).T
    lines = [f"#### `{palette.name}`", "", "| colour | RGB | L* | C*ab | Y (WCAG) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for c, li, ci, yi in zip(palette, L, np.hypot(a, b), relative_luminance(rgb), strict=True):
        lines.append(
            f"| {c.name} | {', '.join(map(str, c.rgb))} | {li:.1f} | {ci:.1f} | {yi:.3f} |"
        )
    lines += ["", "CIEDE2000 between every pair:", ""]
    lines += _matrix("ΔE00", palette, delta_e00(rgb[:, None], rgb[None, :]), ".1f")
    lines += ["", "WCAG contrast ratio of every font (row) on every background (column):", ""]
    lines += _matrix(
        "font \\ background", palette, contrast_ratio(rgb[:, None], rgb[None, :]), ".2f"
    )
    return [*lines, ""]


def main() -> None:
    for palette in PALETTES.values():
        print("\n".join(palette_section(palette)))


if __name__ == "__main__":
    main()
