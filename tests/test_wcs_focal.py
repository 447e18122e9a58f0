"""The wcs-focal palette: Berlin & Kay's English focal chips (World Color Survey archive) as
Munsell data, converted to sRGB with colour-science, checked against known truths."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from colorbench.palette import DEFAULT_PALETTE, FOCAL_PALETTE, PALETTES, palette_option

ROOT = Path(__file__).resolve().parents[1]
DATA = json.loads((ROOT / "colorbench" / "palette_wcs_focal.json").read_text())


def _tool():
    spec = importlib.util.spec_from_file_location("wcs_focal", ROOT / "tools" / "wcs_focal.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOOL = _tool()
colour = TOOL._colour()  # numpy's print options kept (colour-science changes them on import)
C = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["C"]


def srgb_lab(rgb) -> np.ndarray:
    """CIELAB (Illuminant C) of an 8-bit sRGB triple: the inverse of the palette's path."""
    xyz = colour.sRGB_to_XYZ(
        np.array(rgb) / 255, illuminant=C, chromatic_adaptation_transform="Bradford"
    )
    return colour.XYZ_to_Lab(xyz, C)


def test_a_neutral_munsell_chip_is_a_grey_with_equal_channels():
    for spec in ("N5/", "N1.5/", "N9.5/"):
        rgb = TOOL.lab_to_srgb(TOOL.munsell_lab(spec))
        assert np.ptp(rgb) < 1e-3 and 0 < rgb[0] < 1, spec  # R = G = B, inside the gamut
    grey = {c.name: c.rgb for c in FOCAL_PALETTE}
    for name in ("black", "white", "grey"):
        assert len(set(grey[name])) == 1, name
    # Munsell value orders the neutrals: N1.5 < N5 < N9.25 (the white focus spans N9-N9.5)
    assert grey["black"][0] < grey["grey"][0] < grey["white"][0]


def test_the_palette_file_holds_exactly_the_colour_science_conversion_of_its_munsell_data():
    assert TOOL.build(DATA["colors"]) == DATA
    assert FOCAL_PALETTE.names == DEFAULT_PALETTE.names
    assert [list(c.rgb) for c in FOCAL_PALETTE] == [c["rgb"] for c in DATA["colors"]]
    assert "Berlin" in DATA["source"]["focal_chips"] and "1969" in DATA["source"]["focal_chips"]
    assert "wcs" in DATA["source"]["digitised_by"]


def test_the_munsell_specs_agree_with_the_archives_own_cielab_of_each_chip():
    """colour-science's conversion of each transcribed Munsell spec against the L*a*b* the
    WCS archive lists for that chip (GretagMacbeth's software): an independent conversion,
    so a mistyped chip or a wrong illuminant shows as a large difference."""
    chips = [
        (s, lab) for c in DATA["colors"] for s, lab in zip(c["munsell"], c["wcs_lab"], strict=True)
    ]
    assert len(chips) == 23
    for spec, reference in chips:
        assert colour.delta_E(TOOL.munsell_lab(spec), reference, method="CIE 2000") < 1.0, spec


def test_srgb_round_trips_to_the_focus_keeping_lightness_and_hue_outside_the_gamut():
    for entry in DATA["colors"]:
        target = np.mean([TOOL.munsell_lab(s) for s in entry["munsell"]], axis=0)
        back = srgb_lab(entry["rgb"])
        if "gamut" not in entry:  # only 8-bit rounding separates them
            assert colour.delta_E(back, target, method="CIE 2000") < 1.0, entry["name"]
            continue
        hue = np.degrees(np.arctan2(target[2], target[1]))
        assert back[0] == pytest.approx(target[0], abs=1.0), entry["name"]
        assert np.degrees(np.arctan2(back[2], back[1])) == pytest.approx(hue, abs=2.0)
        assert np.hypot(back[1], back[2]) == pytest.approx(
            entry["gamut"]["in_gamut_chroma_ab"], abs=1.5
        )
        assert entry["gamut"]["in_gamut_chroma_ab"] < entry["gamut"]["chroma_ab"]
        assert min(entry["rgb"]) == 0 or max(entry["rgb"]) == 255  # on the gamut's boundary
    assert {e["name"] for e in DATA["colors"] if "gamut" in e} == {
        "orange", "yellow", "green", "blue"
    }  # fmt: skip


def test_chromatic_foci_go_round_the_hue_circle_in_munsell_order():
    """Munsell's hue order R < YR < Y < G < B < P < RP is CIELAB's hue-angle order."""
    order = ["red", "orange", "yellow", "green", "blue", "purple", "pink"]
    rgb = {c.name: c.rgb for c in FOCAL_PALETTE}
    angles = [colour.Lab_to_LCHab(srgb_lab(rgb[name]))[2] for name in order]
    assert angles == sorted(angles)
    assert srgb_lab(rgb["brown"])[0] < 25 < srgb_lab(rgb["orange"])[0]  # brown: a dark orange


def test_wcs_focal_is_a_built_in_palette():
    assert palette_option("wcs-focal") is FOCAL_PALETTE is PALETTES["wcs-focal"]
    assert FOCAL_PALETTE.achromatic_names == ("black", "white", "grey")
    assert FOCAL_PALETTE.fingerprint() != DEFAULT_PALETTE.fingerprint()


def test_importing_colour_science_leaves_numpys_float_printing_alone():
    """colour-science switches numpy to 1.13 printing on import (12 significant digits in
    ``str``), which changed the leaderboard CSV of every later test in the process."""
    assert str(np.float64(8.940754039497307)) == "8.940754039497307"
