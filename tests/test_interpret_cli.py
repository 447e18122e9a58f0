"""The analyses end to end through the plugin registry, on random-init open_clip models."""

import argparse
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from colorbench.errors import ColorbenchError
from colorbench.plugin.pluginmanager import load_plugins

torch.set_num_threads(2)
SKIMAGE = Path(__import__("skimage").__file__).parent / "data"


@pytest.fixture(scope="module")
def installed():
    return load_plugins()


def _parse(installed, name: str, argv: list[str]) -> argparse.Namespace:
    analysis = installed.analyses.get(name)
    parser = argparse.ArgumentParser()
    analysis.add_arguments(parser)
    args = parser.parse_args(argv)
    args.device, args.quiet = "cpu", True
    return args


@pytest.fixture()
def image_folder(tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(SKIMAGE / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return folder


def test_neurons_on_random_rn50_writes_table_figures_and_report(installed, image_folder, tmp_path):
    out = tmp_path / "neurons"
    argv = ["--model", "random-RN50", "--images", str(image_folder), "--layers", "stem", "layer1"]
    argv += ["--top-k", "2", "--stroop-top", "4", "--max-images", "8", "--out", str(out)]
    args = _parse(installed, "neurons", argv)
    assert installed.analyses.get("neurons").run(args, installed) == 0
    table = pd.read_parquet(out / "neurons.parquet")
    assert len(table) == 64 + 256  # every channel of the stem and layer1
    csi = table.csi.dropna()  # NaN: a random unit silent on both corpus images
    assert len(csi) > len(table) // 2 and csi.between(0, 1).all()
    assert {"f_word_red", "f_font_grey", "f_background_white", "class"} <= set(table.columns)
    assert pd.read_csv(out / "neurons.csv").shape == table.shape
    report = (out / "report.md").read_text()
    assert "2 from" in report and "2 skipped" in report  # two images, txt and broken png
    assert "- CSI grey conversion: pca-opponent: the receptive field at the peak" in report
    for figure in ("csi_by_layer", "hue_histograms", "classes_by_layer", "class_examples"):
        assert (out / f"{figure}.png").stat().st_size > 1000
        assert f"({figure}.png)" in report


def test_csi_gray_choices_and_an_unknown_one(installed, capsys):
    base = ["--model", "random-RN50"]
    assert _parse(installed, "neurons", base).csi_gray == "pca-opponent"
    assert _parse(installed, "neurons", [*base, "--csi-gray", "luma"]).csi_gray == "luma"
    with pytest.raises(SystemExit):
        _parse(installed, "neurons", [*base, "--csi-gray", "lab"])
    assert "invalid choice: 'lab'" in capsys.readouterr().err


def test_itsm_on_random_rn50(installed, tmp_path):
    out = tmp_path / "itsm"
    args = _parse(
        installed, "itsm", ["--model", "random-RN50", "--max-images", "8", "--out", str(out)]
    )
    assert installed.analyses.get("itsm").run(args, installed) == 0
    table = pd.read_csv(out / "itsm.csv")
    assert len(table) == 8
    assert table.part_area.between(0, 0.5).all()  # shapes cover less than half the image
    assert (out / "itsm_overlays.png").exists() and "itsm_overlays.png" in (
        out / "report.md"
    ).read_text()


def test_unreadable_image_folder_is_one_line_error(installed, tmp_path):
    args = _parse(installed, "neurons", ["--model", "random-RN50", "--images", str(tmp_path / "x")])
    with pytest.raises(ColorbenchError, match="not a readable folder"):
        installed.analyses.get("neurons").run(args, installed)


def test_impossible_multimodal_threshold_is_refused(installed):
    args = _parse(installed, "neurons", ["--model", "random-RN50", "--multimodal-threshold", "0.5"])
    with pytest.raises(ColorbenchError, match="<= 0.33"):
        installed.analyses.get("neurons").run(args, installed)


@pytest.mark.slow
def test_neurons_on_random_rn50_all_layers_default_corpus(installed, tmp_path):
    out = tmp_path / "neurons"
    args = _parse(
        installed,
        "neurons",
        [
            "--model",
            "random-RN50",
            "--top-k",
            "10",
            "--stroop-top",
            "20",
            "--max-images",
            "99",
            "--csi-gray",  # the README's CPU smoke run (pca-opponent: up to 121 forwards an image)
            "luma",
            "--out",
            str(out),
        ],
    )
    assert installed.analyses.get("neurons").run(args, installed) == 0
    table = pd.read_parquet(out / "neurons.parquet")
    assert list(table.groupby("layer", sort=False).size()) == [64, 256, 512, 1024, 2048]


@pytest.mark.slow
def test_the_analyses_pass_check_plugin_with_their_check_args(installed):
    from colorbench.plugincheck import check_plugin

    seen: list[str] = []
    assert check_plugin(installed, "interpret", say=seen.append) == []
    assert seen == ["analysis itsm", "analysis neurons"]
