"""The colour-naming task against human names (XKCD survey): loader, stimuli, scoring."""

from __future__ import annotations

import importlib.util
import json
from importlib.metadata import entry_points

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.colors import XKCD_COLORS
from skimage.color import deltaE_cie76, deltaE_ciede2000, rgb2lab

from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Color, Palette
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.tasks.color_naming import ColorNamingTask
from colorbench.tasks.xkcd import MIN_DELTA_E, XkcdColorsSet, head_term, load_xkcd_colors

BASIC = set(DEFAULT_PALETTE.names)


def rgb_of(hex_: str) -> tuple[int, int, int]:
    return tuple(int(hex_[i : i + 2], 16) for i in (1, 3, 5))


def nearest_prototype(rgbs: np.ndarray, palette: Palette = DEFAULT_PALETTE) -> np.ndarray:
    """The palette-prototype rule, written here independently: argmin CIE76 Delta E in CIELAB."""
    lab = rgb2lab(np.asarray(rgbs, dtype=float)[:, None, :] / 255.0)
    prototypes = rgb2lab(palette.rgb_array()[None].astype(float) / 255.0)
    return np.array(palette.names)[deltaE_cie76(lab, prototypes).argmin(axis=1)]


@pytest.fixture(scope="module")
def xkcd_set() -> XkcdColorsSet:
    return XkcdColorsSet()


@pytest.mark.parametrize(
    ("name", "term"),
    [
        ("dark blue", "blue"),
        ("light grey", "grey"),
        ("burnt orange", "orange"),
        ("xkcd:greenish blue", "blue"),  # right-headed: a kind of blue
        ("off white", "white"),
        ("pinkish grey", "grey"),
        ("Light Gray", "grey"),  # spelling and case
        ("blue/green", None),  # two heads: no single human answer
        ("teal", None),
        ("bluish", None),
        ("", None),
    ],
)
def test_head_term_rule(name: str, term: str | None) -> None:
    assert head_term(name) == term


def test_loader_keeps_exactly_the_colours_with_a_basic_head_word() -> None:
    colors = load_xkcd_colors()
    # every name, head word checked here by hand: last word, gray spelled grey
    expected = {
        key[5:]
        for key in XKCD_COLORS
        if key.split()[-1].removeprefix("xkcd:").replace("gray", "grey") in BASIC
    }
    assert {c.name for c in colors} == expected
    assert len(colors) == 558  # the documented rule; 11 slash names ("blue/green") are out
    assert [c.name for c in colors] == sorted(c.name for c in colors)
    for c in colors:
        assert c.hex == XKCD_COLORS[f"xkcd:{c.name}"]
        assert c.term == c.name.split()[-1]


def test_combinations_skip_only_near_background_shapes(xkcd_set: XkcdColorsSet) -> None:
    combos = [xkcd_set.combination(i) for i in range(xkcd_set.num_combinations())]
    patches = [c for c in combos if c["variant"] == "patch"]
    shapes = [c for c in combos if c["variant"] == "shape"]
    assert len(patches) == 558 and {c["background"] for c in patches} == {"none"}
    shown = {(c["xkcd_name"], c["background"]) for c in shapes}
    lab = {c.name: rgb2lab(np.array(c.rgb) / 255.0) for c in load_xkcd_colors()}
    for name, lab_color in lab.items():
        for bg in ("black", "white", "grey"):
            bg_lab = rgb2lab(np.array(DEFAULT_PALETTE[bg].rgb) / 255.0)
            far = deltaE_ciede2000(lab_color, bg_lab) >= MIN_DELTA_E
            assert ((name, bg) in shown) == far, (name, bg)
    assert ("black", "black") not in shown and ("white", "white") not in shown
    assert len(combos) == 558 * 4 - 5  # 5 shapes nearer than Delta E 5 to their background


def test_render_paints_exact_colours_and_masks(xkcd_set: XkcdColorsSet) -> None:
    index = {(c["xkcd_name"], c["background"]): i
             for i in range(xkcd_set.num_combinations())
             for c in [xkcd_set.combination(i)]}  # fmt: skip
    wanted = [("dark blue", "none"), ("dark blue", "black"), ("light grey", "white"),
              ("burnt orange", "grey")]  # fmt: skip
    samples = [xkcd_set.sample(index[key], 3) for key in wanted]
    batch = xkcd_set.render(samples, backend="pil")
    size = xkcd_set.image_size
    assert (
        batch.images.shape == (4, 3, size, size) and batch.images.dtype.is_floating_point is False
    )
    for image, mask, sample in zip(batch.images.numpy(), batch.masks.numpy(), samples, strict=True):
        obj = rgb_of(sample.attrs["rgb"])
        pixels = image.reshape(3, -1).T
        on_object = mask.reshape(-1) == 1
        assert (pixels[on_object] == obj).all()
        if sample.attrs["variant"] == "patch":
            assert on_object.all()
        else:
            bg = DEFAULT_PALETTE[sample.attrs["background"]].rgb
            assert (pixels[~on_object] == bg).all()
            assert 0 < on_object.sum() < size * size / 2
            assert set(map(tuple, np.unique(pixels, axis=0))) == {obj, bg}
            assert mask[0].sum() == mask[-1].sum() == mask[:, 0].sum() == 0  # clear of the border
    again = XkcdColorsSet().render(samples, backend="pil")
    assert np.array_equal(again.images.numpy(), batch.images.numpy())
    torch_batch = xkcd_set.render(samples, backend="torch")
    assert (torch_batch.masks != batch.masks).float().mean() < 1e-3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_torch_renderer_on_cuda_matches_pil(xkcd_set: XkcdColorsSet) -> None:
    samples = [xkcd_set.sample(i, 0) for i in range(12)]
    cpu = xkcd_set.render(samples, backend="pil")
    gpu = xkcd_set.render(samples, backend="torch", device="cuda")
    assert gpu.images.device.type == "cuda"
    assert (gpu.masks.cpu() != cpu.masks).float().mean() < 1e-3


def test_palette_without_a_basic_term_is_refused() -> None:
    colors = tuple(c for c in DEFAULT_PALETTE if c.name != "grey") + (
        Color("gray", (128, 128, 128), False),
    )
    with pytest.raises(ColorbenchError, match="lacks grey"):
        XkcdColorsSet(Palette(colors, name="us"))


def _predictions(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """Hand-made predictions: (prompt, variant, background, human term, answer)."""
    frame = pd.DataFrame(rows, columns=["prompt", "variant", "background", "human_term", "answer"])
    frame["xkcd_name"] = [f"c{i // 2}" for i in range(len(frame))]
    frame["rgb"] = "#336699"
    task = ColorNamingTask()
    task.grade(frame)
    return frame


def test_scoring_on_hand_made_predictions() -> None:
    frame = _predictions([
        ("bare", "patch", "none", "blue", "blue"),  # agrees
        ("object", "patch", "none", "blue", "grey"),  # disagrees
        ("bare", "patch", "none", "grey", "grey"),  # agrees (achromatic)
        ("object", "patch", "none", "grey", "white"),  # disagrees (achromatic)
        ("bare", "shape", "black", "green", "black"),  # background: not scored
        ("object", "shape", "black", "green", "green"),  # agrees
        ("bare", "shape", "white", "green", "green"),  # names the object: not scored
        ("object", "shape", "white", "green", "white"),  # background: disagrees
        ("bare", "shape", "grey", "grey", "grey"),  # a grey on grey: the human term wins
        ("object", "shape", "grey", "grey", "grey"),  # agrees
    ])  # fmt: skip
    hit, bg = "human_term", "background"
    assert frame["outcome"].tolist() == [hit, "none", hit, "none", bg, hit, hit, bg, hit, hit]
    assert frame["correct"].tolist() == [True, False, True, False, pd.NA, True, pd.NA, False,
                                         pd.NA, True]  # fmt: skip

    summary = ColorNamingTask().summarize(frame, DEFAULT_PALETTE)
    h = summary.headline
    assert (h.n, h.value) == (7, pytest.approx(100 * 4 / 7))
    assert h.ci_low < h.value < h.ci_high
    per_term = summary.tables["per term: bare, patch"]
    assert per_term.loc["blue", "n"] == 1 and per_term.loc["blue", "agree_pct"] == 100
    assert per_term.loc["red", "n"] == 0
    recall = summary.tables["recall"]
    assert recall.loc["object, patch / achromatic", "recall_pct"] == 0
    assert recall.loc["object, shape / chromatic", ["n", "recall_pct"]].tolist() == [2, 50]
    assert recall.loc["object, shape / achromatic", ["n", "recall_pct"]].tolist() == [1, 100]
    conditions = summary.tables["conditions"]
    assert conditions.loc["bare, shape on black", "background_pct"] == 100
    assert conditions.loc["object, shape on white", "background_pct"] == 100
    confusion = summary.tables["confusion: object, patch"]
    assert confusion.loc["grey", "white"] == 1 and confusion.to_numpy().sum() == 2
    assert list(confusion.columns) == [*DEFAULT_PALETTE.names, "unparsed", "truncated"]
    stored = json.loads(json.dumps(summary.to_dict()))
    assert conditions.loc["bare, shape on grey", "human_term_pct"] == 100
    assert stored["headline"]["n"] == 7 and len(stored["colors"]["xkcd_name"]) == 5


def test_nearest_prototype_baseline_on_all_patches(tmp_path) -> None:
    """The reference adapters' rule agrees with people on the 11 basic names, and on most."""
    basic = np.array([rgb_of(XKCD_COLORS[f"xkcd:{n}"]) for n in DEFAULT_PALETTE.names])
    assert nearest_prototype(basic).tolist() == list(DEFAULT_PALETTE.names)

    xkcd_set, task = XkcdColorsSet(), ColorNamingTask()
    samples = [xkcd_set.sample(i, 0) for i in range(xkcd_set.num_combinations())]
    frame = pd.DataFrame([
        {"sample_id": s.sample_id, "prompt": p.id, **s.attrs}
        for s in samples for p in task.prompts
    ])  # fmt: skip
    # an ideal observer: the object's nearest prototype, but the majority (background) for bare
    answer = nearest_prototype(np.array([rgb_of(h) for h in frame["rgb"]]))
    bare_shape = (frame["variant"] == "shape") & (frame["prompt"] == "bare")
    frame["answer"] = np.where(bare_shape, frame["background"], answer)
    task.grade(frame)
    summary = task.summarize(frame, DEFAULT_PALETTE)

    patches = frame[(frame["variant"] == "patch") & (frame["prompt"] == "bare")]
    agreement = (patches["answer"] == patches["human_term"]).mean()
    assert agreement > 0.5  # 310 / 558 = 55.6% with the default palette
    assert summary.tables["per term: bare, patch"]["agree_pct"].mean() > 0
    scored = frame["correct"].dropna()
    assert summary.headline.value == pytest.approx(100 * scored.mean())
    assert summary.tables["conditions"].loc["bare, shape on black", "background_pct"] == 100
    assert task.figure(summary, tmp_path / "figure.png").stat().st_size > 10_000


def test_plugin_registers_task_and_stimulus_set() -> None:
    assert "color_naming" in {ep.name for ep in entry_points(group="colorbench")}
    plugins = load_plugins()
    entry = plugins.tasks.resolve("color-naming")
    assert entry.plugin == "color_naming"
    assert entry.obj.stimulus_set in plugins.stimulus_sets.names()
    assert isinstance(plugins.stimulus_sets.get("xkcd-colors")(palette=DEFAULT_PALETTE, seed=0),
                      XkcdColorsSet)  # fmt: skip


MISSING = [
    m
    for m in ("colorbench.runner.engine", "colorbench.cli.app")
    if importlib.util.find_spec(m) is None
]


@pytest.mark.slow  # the ideal observer takes ~40 s of CPU on the 2,227 x 2 images
@pytest.mark.skipif(bool(MISSING), reason=f"engine/CLI not written yet: {MISSING}")
def test_cli_runs_color_naming_with_the_ideal_observer(tmp_path) -> None:
    from colorbench.cli.app import main

    argv = ["run", "--model", "ideal-observer", "--task", "color-naming", "--samples", "1",
            "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    [path] = tmp_path.glob("*/color-naming/summary.json")
    doc = json.loads(path.read_text())
    assert doc["files"]["figure"] == "figure.png"
    predictions = pd.read_parquet(path.parent / "predictions.parquet")
    assert len(predictions) == 2 * (558 * 4 - 5)
    # the ideal observer names the object's nearest palette prototype (the rule above), and
    # the majority colour (the background) for the bare prompt on a shape
    nearest = nearest_prototype(np.array([rgb_of(h) for h in predictions["rgb"]]))
    bare_shape = (predictions["variant"] == "shape") & (predictions["prompt"] == "bare")
    expected = np.where(bare_shape, predictions["background"], nearest)
    assert (predictions["answer"] == expected).all()
    scored = ~bare_shape
    headline = doc["summary"]["headline"]
    assert headline["n"] == scored.sum() == 558 * 2 + 558 * 3 - 5
    agree = (nearest == predictions["human_term"])[scored].mean()
    assert headline["value"] == pytest.approx(100 * agree)
