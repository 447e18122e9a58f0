"""The committed leaderboard is exactly what the committed results regenerate."""

import shutil
from pathlib import Path

from colorbench.cli.app import main

BOARD = Path(__file__).resolve().parents[1] / "leaderboard"


def test_committed_leaderboard_regenerates_byte_identically(tmp_path: Path) -> None:
    shutil.copytree(BOARD / "results", tmp_path / "results")
    shutil.copy(BOARD / "leaderboard.json", tmp_path)  # its baseline and footer
    out = tmp_path / "README.md"
    assert (
        main(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(out), "-q"]) == 0
    )
    assert out.read_bytes() == (BOARD / "README.md").read_bytes()
    assert (tmp_path / "leaderboard.csv").read_bytes() == (BOARD / "leaderboard.csv").read_bytes()
    assert (tmp_path / "heatmap.png").read_bytes() == (BOARD / "heatmap.png").read_bytes()


def test_regenerating_in_a_fresh_clone_keeps_every_committed_row(tmp_path: Path, monkeypatch):
    """`colorbench leaderboard` with no options, in a clone where a README-literal
    `colorbench run` left one model in ./results, rebuilds the committed board from the
    folder leaderboard.json names, not from ./results."""
    clone = tmp_path / "clone"
    shutil.copytree(BOARD, clone / "leaderboard")
    shutil.copytree(BOARD / "results" / "ideal-observer", clone / "results" / "ideal-observer")
    monkeypatch.chdir(clone)
    assert main(["leaderboard", "-q"]) == 0
    assert (clone / "leaderboard/README.md").read_bytes() == (BOARD / "README.md").read_bytes()
