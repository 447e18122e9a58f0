"""Palette colorimetry: contrast and CIEDE2000 against known values, the second built-in
palette against its source table, docs/DESIGN.md against the generating script, and the
legibility column of the Stroop tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import XKCD_COLORS

from colorbench.colors import contrast_ratio, delta_e00, relative_luminance
from colorbench.palette import DEFAULT_PALETTE, PALETTES, XKCD_PALETTE, palette_option
from colorbench.tasks.stroop_tasks import StroopColored, StroopWhite

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("colorimetry", ROOT / "tools" / "colorimetry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_contrast_and_colour_difference_match_known_values():
    assert contrast_ratio(np.array([0, 0, 0]), np.array([255, 255, 255])) == pytest.approx(21.0)
    assert relative_luminance(np.array([255, 0, 0])) == pytest.approx(0.2126)
    rgb = {c.name: np.array(c.rgb) for c in DEFAULT_PALETTE}
    # the figures for the CSS palette: yellow on white 1.07, pink 22 dE00 from white,
    # grey and red near isoluminant
    assert contrast_ratio(rgb["yellow"], rgb["white"]) == pytest.approx(1.07, abs=0.005)
    assert contrast_ratio(rgb["grey"], rgb["red"]) == pytest.approx(1.01, abs=0.005)
    assert delta_e00(rgb["pink"], rgb["white"]) == pytest.approx(22, abs=0.5)


def test_xkcd_palette_is_the_survey_colour_of_each_basic_term():
    for color in XKCD_PALETTE:
        assert color.hex == XKCD_COLORS[f"xkcd:{color.name}"]
    assert XKCD_PALETTE.names == DEFAULT_PALETTE.names
    assert [c.chromatic for c in XKCD_PALETTE] == [c.chromatic for c in DEFAULT_PALETTE]
    assert palette_option("xkcd-11") is XKCD_PALETTE
    assert palette_option(Path("berlin-kay-11")) is DEFAULT_PALETTE
    assert set(PALETTES) == {"berlin-kay-11", "xkcd-11", "wcs-focal"}


def test_design_doc_holds_the_generated_colorimetry_of_every_palette():
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    tool = _tool()
    for palette in PALETTES.values():
        assert "\n".join(tool.palette_section(palette)) in design, palette.name


def stroop(font_background_answer):
    return pd.DataFrame(
        [{"prompt": "font", "word": "red", "font": f, "background": b, "answer": a}
         for f, b, a in font_background_answer]
    )  # fmt: skip


def test_stroop_tables_report_the_legibility_of_each_font():
    task = StroopWhite()
    rows = stroop([("yellow", "white", "red"), ("black", "white", "black"),
                   ("black", "white", "black"), ("blue", "white", "blue")])  # fmt: skip
    summary = task.summarize(task.grade(rows), DEFAULT_PALETTE)
    by_font = summary.tables["by_font"]
    assert by_font.loc["yellow", "contrast"] == pytest.approx(1.07, abs=0.005)
    assert by_font.loc["black", "contrast"] == pytest.approx(21.0)
    by_contrast = summary.tables["by_contrast"]
    # yellow on white is barely legible (< 1.5) and read as the word; black and blue >= 4.5
    assert by_contrast.loc["< 1.5", ["n", "word_pct"]].tolist() == [1, 100.0]
    assert by_contrast.loc[">= 4.5", ["n", "font_pct"]].tolist() == [3, 100.0]
    colored = StroopColored()
    rows = stroop([("grey", "red", "grey"), ("white", "black", "red")])
    summary = colored.summarize(colored.grade(rows), DEFAULT_PALETTE)
    assert summary.tables["by_contrast"]["n"].to_dict() == {"< 1.5": 1, ">= 4.5": 1}
