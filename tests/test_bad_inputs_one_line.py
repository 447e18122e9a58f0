"""Issue 16, classes 8 and 10: bad input is one ``colorbench: error:`` line, never a traceback.

Each case runs the real command line (``colorbench.cli.app.main``) or the function behind it; none
loads a trained model. Disk-full cases make the write fail the way a full disk does (ENOSPC)
at the moment a chunk or the leaderboard is written.
"""

from __future__ import annotations

import errno
import json
import os
import re
import struct
import zlib
from pathlib import Path

import pytest
from fake_support import config
from PIL import Image

from colorbench import atomic
from colorbench.api import evaluate
from colorbench.cli.app import main
from colorbench.errors import ColorbenchError, Interrupted
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.report.leaderboard import build
from colorbench.runner.device import resolve_device
from colorbench.stimuli import ShapesSet
from colorbench.stimuli.export import generate

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys, *argv: str) -> str:
    """Run the CLI; assert exit 2 and exactly one ``colorbench: error:`` line; return it."""
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("colorbench: error: "), err
    return lines[0]


RUN = ["run", "--model", "ideal-observer", "--task", "stroop-white", "-q"]


# -- class 8 ----------------------------------------------------------------------------


def test_out_that_is_a_file(capsys, tmp_path):
    (tmp_path / "afile").write_text("x")
    line = one_line_error(capsys, *RUN, "--out", str(tmp_path / "afile"))
    assert "is a file, not a folder" in line
    assert (tmp_path / "afile").read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_in_a_read_only_folder(capsys, tmp_path):
    tmp_path.chmod(0o555)
    try:
        line = one_line_error(capsys, *RUN, "--out", str(tmp_path / "results"))
    finally:
        tmp_path.chmod(0o755)
    assert "not writable" in line


def test_a_write_refused_by_the_system_is_one_line(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)
    with pytest.raises(ColorbenchError, match="cannot write .*Read-only file system"):
        atomic.write_text(tmp_path / "x.json", "{}")


@pytest.mark.parametrize("seed", ["-1", str(2**63), str(2**64)])
def test_seed_out_of_range_leaves_nothing_behind(capsys, tmp_path, seed):
    line = one_line_error(capsys, *RUN, "--seed", seed, "--out", str(tmp_path / "r"))
    assert "--seed must be a whole number from 0 to 2**63-1" in line
    assert not (tmp_path / "r").exists()  # no manifest to block the next run
    assert main([*RUN, "--out", str(tmp_path / "r")]) == 0


def test_hub_id_with_a_revision(capsys, tmp_path):
    line = one_line_error(
        capsys, "run", "--model", "hf-hub:org/repo@main", "--task", "stroop-white",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert "@main is not supported" in line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"colors": [{"name": "white", "rgb": [300, 255, 255], "chromatic": false}]}', "0-255"),
        (b'{"colors": [{"name": "white", "rgb": [255, 255], "chromatic": false}]}', "0-255"),
        (b'\xff\xfe{"colors": []}', "UTF-8"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"colors": [{"name": "white", "rgb": [1, 2, 3]}]}', "missing 'chromatic'"),
    ],
)
def test_malformed_palettes(capsys, tmp_path, content, expected):
    (tmp_path / "p.json").write_bytes(content)
    line = one_line_error(capsys, *RUN, "--palette", str(tmp_path / "p.json"), "--out", "x")
    assert expected in line


def test_sheet_that_is_a_directory(capsys, tmp_path):
    (tmp_path / "sheet.png").mkdir()
    for sheet in (tmp_path / "sheet.png", tmp_path):
        line = one_line_error(capsys, "generate", "shapes", "--sheet", str(sheet))
        assert "is not a .png file name" in line


@pytest.mark.parametrize("device", ["cuda:abc", "cuda:-1", "cuda:"])
def test_cuda_index_that_is_not_a_number(device):
    with pytest.raises(ColorbenchError, match="GPU index must be a whole number"):
        resolve_device(device)


def bomb_png(path: Path, side: int = 100_000) -> None:
    """A valid 1x1 PNG whose header claims ``side`` x ``side`` pixels (10 gigapixels)."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then length + "IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", side, side)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))


def test_decompression_bomb_in_images_is_skipped(tmp_path):
    from colorbench.plugins.interpret.corpus import folder_corpus

    bomb_png(tmp_path / "bomb.png")
    with pytest.raises(Image.DecompressionBombError):  # what used to escape as a traceback
        Image.open(tmp_path / "bomb.png")
    Image.new("RGB", (300, 300), (200, 30, 30)).save(tmp_path / "red.png")
    corpus = folder_corpus(tmp_path)
    assert (len(corpus), corpus.skipped) == (1, 1)


def enospc_when(monkeypatch, needle: str) -> None:
    """Make the atomic write of the file whose temp name contains ``needle`` hit a full disk."""
    real = Path.write_bytes

    def write_bytes(self, data):
        if needle in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(atomic.Path, "write_bytes", write_bytes)


def test_disk_full_during_a_run_keeps_finished_chunks(tmp_path, monkeypatch):
    plugins = load_plugins(["fake_support"], entrypoints=False)
    enospc_when(monkeypatch, ".chunk-000001")
    with pytest.raises(ColorbenchError) as info:
        evaluate(config(tmp_path, samples=20, batch_size=256), plugins)
    message = str(info.value)
    assert "disk full writing" in message and "chunk-000001.parquet" in message
    assert re.search(r"\((\d+\.\d MiB|\d+ KiB) free\)", message) and "\n" not in message
    work = tmp_path / "fake-majority" / ".work" / "fake-squares"
    assert sorted(p.name for p in work.glob("chunk-*")) == ["chunk-000000.parquet"]
    assert not list(work.glob(".*tmp*"))


def test_disk_full_while_writing_the_leaderboard(tmp_path, monkeypatch):
    enospc_when(monkeypatch, ".README")
    with pytest.raises(ColorbenchError, match=r"disk full writing .*README.md \(.* free\)"):
        build(ROOT / "leaderboard" / "results", tmp_path / "README.md")
    assert not (tmp_path / "README.md").exists()


# -- class 10: generate -----------------------------------------------------------------


def test_generate_caps_samples_like_run(capsys, tmp_path):
    line = one_line_error(
        capsys, "generate", "shapes", "--samples", "10001", "--out", str(tmp_path)
    )
    assert "from 1 to 10000" in line and not any(tmp_path.iterdir())


def test_generate_refuses_a_non_empty_folder_unless_overwrite(capsys, tmp_path):
    stale = tmp_path / "images" / "999_9.png"
    stale.parent.mkdir()
    Image.new("RGB", (2, 2)).save(stale)
    (tmp_path / "notes.txt").write_text("mine")
    line = one_line_error(capsys, "generate", "stroop-white", "--out", str(tmp_path), "-q")
    assert "is not empty; pass --overwrite" in line and stale.exists()
    assert main(["generate", "stroop-white", "--out", str(tmp_path), "-q", "--overwrite"]) == 0
    assert not stale.exists() and (tmp_path / "notes.txt").read_text() == "mine"
    names = {p.name for p in (tmp_path / "images").iterdir()}
    metadata = (tmp_path / "metadata.csv").read_text().splitlines()
    assert len(names) == len(metadata) - 1 == 90


def test_interrupted_generate_still_writes_metadata(tmp_path, monkeypatch):
    shapes = ShapesSet()
    real, calls = ShapesSet.render, []

    def render(self, samples, *args, **kwargs):
        calls.append(len(samples))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, samples, *args, **kwargs)

    monkeypatch.setattr(ShapesSet, "render", render)
    with pytest.raises(Interrupted, match="128 of .* images and their metadata.csv"):
        generate(shapes, 1, tmp_path, quiet=True)
    rows = (tmp_path / "metadata.csv").read_text().splitlines()[1:]
    assert len(rows) == 128 == len(list((tmp_path / "images").glob("*.png")))
    assert all((tmp_path / row.split(",")[0]).is_file() for row in rows)


def test_the_largest_seed_round_trips_through_summary_json(tmp_path):
    """Guard for the seed check: an accepted seed round-trips through summary.json."""
    assert main([*RUN, "--seed", str(2**63 - 1), "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "ideal-observer" / "stroop-white" / "summary.json").read_text())
    assert doc["provenance"]["seed"] == 2**63 - 1
