"""The leaderboard picture: models x tasks headline heatmap at the top of the README."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from PIL import Image
from test_leaderboard import write_summary

from colorbench.report.heatmap import FILENAME, grid
from colorbench.report.leaderboard import build, collect


def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    write_summary(root, "model-a", "global-color", 0.0)
    write_summary(root, "model-a", "stroop-white", 100.0)
    write_summary(root, "$x^2$ | <b>", "global-color", 50.0)  # mathtext and markup as text
    path = write_summary(root, "vlm", "stroop-white", 25.0)
    doc = json.loads(path.read_text())
    doc["provenance"]["kind"] = "generative"
    path.write_text(json.dumps(doc))
    return root


def test_grid_holds_the_headlines_in_leaderboard_order(tmp_path: Path) -> None:
    board = collect(results(tmp_path))
    assert board.models == ["$x^2$ | <b>", "model-a", "vlm"]
    expected = np.array([[50.0, np.nan], [0.0, 100.0], [np.nan, 25.0]])
    np.testing.assert_array_equal(grid(board), expected)
    assert [board.kind(m) for m in board.models] == ["contrastive", "contrastive", "generative"]


def test_heatmap_is_drawn_at_the_top_and_regenerates_byte_identically(tmp_path: Path) -> None:
    root = results(tmp_path)
    first, second = tmp_path / "a" / "README.md", tmp_path / "b" / "README.md"
    build(root, first)
    build(root, second)
    png = (first.parent / FILENAME).read_bytes()
    assert png == (second.parent / FILENAME).read_bytes()
    assert b"Software" not in png  # no matplotlib version stamp
    lines = first.read_text().splitlines()
    assert lines[2] == f"![headline % of every model on every task, with 95% CI]({FILENAME})"


def test_cell_colours_follow_the_headline(tmp_path: Path) -> None:
    """The corner of the 0 % and the 100 % cell are the colour map's two ends."""
    root = tmp_path / "results"
    write_summary(root, "m", "global-color", 0.0)
    write_summary(root, "m", "stroop-white", 100.0)
    build(root, tmp_path / "lb" / "README.md")
    pixels = np.asarray(Image.open(tmp_path / "lb" / FILENAME).convert("RGB")).astype(int)
    ends = [np.round(np.array(colormaps["viridis"](v)[:3]) * 255) for v in (0.0, 1.0)]
    for end in ends:
        assert (np.abs(pixels - end).sum(axis=2) <= 3).sum() > 1000  # a cell's worth of pixels


def test_no_results_draw_no_picture(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    build(tmp_path / "results", tmp_path / "lb" / "README.md")
    assert not (tmp_path / "lb" / FILENAME).exists()


def test_a_task_that_is_no_score_is_left_uncoloured(tmp_path: Path) -> None:
    """global-color at 100 % must not glow as the best cell: it is drawn without colour,
    and the README says it is not a score."""
    root = tmp_path / "results"
    path = write_summary(root, "m", "global-color", 100.0)
    doc = json.loads(path.read_text())
    doc["higher_is_better"] = None
    path.write_text(json.dumps(doc))
    write_summary(root, "m", "stroop-white", 0.0)
    build(root, tmp_path / "lb" / "README.md")
    pixels = np.asarray(Image.open(tmp_path / "lb" / FILENAME).convert("RGB")).astype(int)
    ends = [np.round(np.array(colormaps["viridis"](v)[:3]) * 255) for v in (0.0, 1.0)]
    near = [(np.abs(pixels - end).sum(axis=2) <= 3).sum() for end in ends]
    assert near[0] > 1000 and near[1] < 50  # the 0 % cell coloured, the 100 % one not
    readme = (tmp_path / "lb" / "README.md").read_text()
    assert "| global-color | correct % | not a score |" in readme
    assert "| stroop-white | correct % | higher is better |" in readme
