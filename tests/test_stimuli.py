"""The stimulus sets, checked by counting pixels against the ground truth each sample carries."""

import hashlib
import subprocess
import sys
from functools import cache
from itertools import product

import numpy as np
import pytest
import torch

from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE, Color, Palette
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.stimuli import ShapesSet, StroopSet, StroopWhiteSet
from colorbench.stimuli.flat import MARGIN

PAPER_SAMPLES = 500
SETS = {"shapes": ShapesSet, "stroop": StroopSet, "stroop-white": StroopWhiteSet}


def spread(stimulus_set, step):
    """Samples at every ``step``-th combination, with sample indices across 0..499."""
    return [
        stimulus_set.sample(c, (c * 37) % PAPER_SAMPLES)
        for c in range(0, stimulus_set.num_combinations(), step)
    ]


@cache
def render_spread(name):
    torch.set_num_threads(2)
    stimulus_set = SETS[name]()
    step = {"shapes": 5, "stroop": 7, "stroop-white": 1}[name]
    return stimulus_set, stimulus_set.render(spread(stimulus_set, step))


@pytest.fixture(params=list(SETS))
def rendered(request):
    return render_spread(request.param)


@pytest.fixture(params=["stroop", "stroop-white"])
def rendered_text(request):
    return render_spread(request.param)


def part_rgbs(stimulus_set, sample):
    return [DEFAULT_PALETTE[c].rgb for c in stimulus_set.part_colors(sample)]


def test_hook_registers_the_three_sets_with_swappable_palette_and_seed():
    plugins = load_plugins(entrypoints=False)
    assert {"shapes", "stroop", "stroop-white"} <= set(plugins.stimulus_sets.names())
    factory = plugins.stimulus_sets.get("shapes")
    a, b = factory(palette=DEFAULT_PALETTE, seed=0), factory(palette=DEFAULT_PALETTE, seed=1)
    assert a.sample(5, 0).attrs != b.sample(5, 0).attrs
    assert a.name == "shapes" and a.backends == ("pil", "torch")


@pytest.mark.parametrize(
    ("name", "combinations", "paper_size"),
    [("shapes", 880, 440_000), ("stroop", 990, 495_000), ("stroop-white", 90, 45_000)],
)
def test_index_space_has_the_science_page_counts(name, combinations, paper_size):
    stimulus_set = SETS[name]()
    assert stimulus_set.num_combinations() == combinations
    assert stimulus_set.size(PAPER_SAMPLES) == paper_size
    last = stimulus_set.sample_at(paper_size - 1, PAPER_SAMPLES)
    assert (last.combination, last.sample) == (combinations - 1, PAPER_SAMPLES - 1)
    with pytest.raises(ColorbenchError):
        stimulus_set.sample_at(paper_size, PAPER_SAMPLES)


def test_shapes_combinations_nest_shape_background_object_without_repeats():
    stimulus_set = ShapesSet()
    combos = [stimulus_set.combination(i) for i in range(stimulus_set.num_combinations())]
    keys = [(c["shape"], c["background"], c["object"]) for c in combos]
    assert len(set(keys)) == 880 and all(bg != obj for _, bg, obj in keys)
    assert len({k[0] for k in keys}) == 8
    names = DEFAULT_PALETTE.names
    # shape outermost, then background, then object, each in palette order
    assert keys[:10] == [("triangle", "black", o) for o in names if o != "black"]
    assert keys[110][0] != keys[109][0] and keys[10][1] == names[1]


def test_stroop_combinations_follow_the_design():
    coloured = [StroopSet().combination(i) for i in range(990)]
    keys = [(c["word"], c["font"], c["background"]) for c in coloured]
    assert len(set(keys)) == 990
    assert all(f != w and b not in (w, f) for w, f, b in keys)
    assert keys[0] == ("black", "white", "grey") and keys[9][1] == "grey"
    white = [StroopWhiteSet().combination(i) for i in range(90)]
    pairs = {(c["word"], c["font"]) for c in white}
    assert len(pairs) == 90 and all(c["background"] == "white" for c in white)
    assert all(f not in (w, "white") for w, f in pairs)
    # the word never names the background: no "white" on white (the paper's rule)
    assert not any(w == "white" for w, _ in pairs)
    assert {w for w, _ in pairs} == set(DEFAULT_PALETTE.names) - {"white"}


def test_no_two_parts_share_a_colour_in_any_combination():
    for stimulus_set in (ShapesSet(), StroopSet(), StroopWhiteSet()):
        for c in range(stimulus_set.num_combinations()):
            colours = stimulus_set.part_colors(stimulus_set.sample(c, 0))
            assert len(set(colours)) == len(colours) == len(stimulus_set.parts)


def rgb_codes(pixels: np.ndarray) -> np.ndarray:
    """``r << 16 | g << 8 | b`` of uint8 RGB along the last axis."""
    pixels = pixels.astype(np.int32)
    return pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2]


def test_pixels_are_exactly_the_named_colours_and_follow_the_mask(rendered):
    stimulus_set, batch = rendered
    assert batch.images.shape == (len(batch.samples), 3, 224, 224)
    assert batch.images.dtype == torch.uint8 and batch.masks.dtype == torch.uint8
    codes = rgb_codes(batch.images.permute(0, 2, 3, 1).numpy())
    expected = rgb_codes(np.array([part_rgbs(stimulus_set, s) for s in batch.samples]))
    for b, sample in enumerate(batch.samples):
        assert set(np.unique(codes[b]).tolist()) == set(expected[b].tolist()), sample
    painted = np.take_along_axis(expected, batch.masks.numpy().reshape(len(codes), -1), axis=1)
    assert np.array_equal(painted.reshape(codes.shape), codes)


def test_foreground_is_visible_and_the_background_is_the_majority(rendered):
    stimulus_set, batch = rendered
    share = batch.masks.float().mean(dim=(1, 2))
    assert share.min() > 0.002  # a short word in a small face: ~100 pixels
    limit = 0.5 if stimulus_set.name == "shapes" else 0.2  # text: well under half
    assert share.max() < limit


def test_foreground_stays_inside_the_canvas_clear_of_the_border(rendered):
    _, batch = rendered
    border = torch.ones(224, 224, dtype=torch.bool)
    border[MARGIN:-MARGIN, MARGIN:-MARGIN] = False
    assert not (batch.masks.bool() & border).any()


def test_stroop_text_sits_at_its_stated_position_in_its_font_colour(rendered_text):
    _, batch = rendered_text
    codes = rgb_codes(batch.images.permute(0, 2, 3, 1).numpy())
    for sample, code, mask in zip(batch.samples, codes, batch.masks.numpy(), strict=True):
        rows, cols = np.nonzero(mask)
        assert (rows.min(), cols.min()) == (sample.attrs["y"], sample.attrs["x"])
        font = rgb_codes(np.array(DEFAULT_PALETTE[sample.attrs["font"]].rgb))
        assert (code[mask == 1] == font).all()
        # legible: the word spans a readable height and several strokes across
        assert rows.max() - rows.min() >= 12 and cols.max() - cols.min() >= 20


def test_shape_attrs_vary_rotation_position_scale():
    stimulus_set = ShapesSet()
    attrs = [stimulus_set.sample(3, s).attrs for s in range(50)]
    for key in ("angle", "scale", "cx", "cy"):
        assert len({a[key] for a in attrs}) > 25, key
    faces = {StroopSet().sample(3, s).attrs["font_face"] for s in range(200)}
    assert len(faces) >= 8


def test_an_image_depends_only_on_set_seed_combination_and_sample():
    stimulus_set = StroopSet()
    a = stimulus_set.render([stimulus_set.sample_at(1234, 500)]).images
    b = stimulus_set.render([stimulus_set.sample_at(2 * 3 + 1, 3)]).images  # (2, 1)
    again = StroopSet().render([stimulus_set.sample(2, 234)]).images
    assert torch.equal(a, again)
    assert torch.equal(b, stimulus_set.render([stimulus_set.sample(2, 1)]).images)
    assert not torch.equal(a, b)


DIGEST = """
import hashlib, sys
from colorbench.stimuli import ShapesSet, StroopSet
for cls in (ShapesSet, StroopSet):
    s = cls(seed=7)
    batch = s.render([s.sample(c, c % 500) for c in (0, 101, 877)])
    sys.stdout.write(hashlib.sha256(batch.images.numpy().tobytes()).hexdigest() + "\\n")
"""


def test_same_index_gives_the_same_bytes_twice_and_in_another_process():
    digests = []
    for cls in (ShapesSet, StroopSet):
        s = cls(seed=7)
        samples = [s.sample(c, c % 500) for c in (0, 101, 877)]
        first, second = s.render(samples).images, s.render(samples).images
        assert torch.equal(first, second)
        digests.append(hashlib.sha256(first.numpy().tobytes()).hexdigest())
    other = subprocess.run(
        [sys.executable, "-c", DIGEST], capture_output=True, text=True, check=True
    )
    assert other.stdout.split() == digests


def test_bad_requests_raise_one_line_errors():
    stimulus_set = ShapesSet()
    with pytest.raises(ColorbenchError, match="renderer"):
        stimulus_set.render([stimulus_set.sample(0, 0)], backend="opengl")
    with pytest.raises(ColorbenchError, match="combination"):
        stimulus_set.combination(880)
    with pytest.raises(ColorbenchError, match="sample"):
        stimulus_set.sample(0, -1)
    no_white = Palette(tuple(c for c in DEFAULT_PALETTE if c.name != "white"), name="nw")
    with pytest.raises(ColorbenchError, match="white"):
        StroopWhiteSet(palette=no_white)


def test_a_swapped_palette_changes_the_grid_and_the_pixels():
    palette = Palette(
        (Color("ink", (10, 20, 30), False), Color("paper", (250, 240, 230), False),
         Color("teal", (0, 128, 128), True)),
        name="tiny",
    )  # fmt: skip
    shapes = ShapesSet(palette=palette)
    assert shapes.num_combinations() == 8 * 3 * 2
    sample = shapes.sample(1, 0)
    assert (sample.attrs["background"], sample.attrs["object"]) == ("ink", "teal")
    pixels = shapes.render([sample]).images[0].permute(1, 2, 0).reshape(-1, 3)
    assert {tuple(p) for p in torch.unique(pixels, dim=0).tolist()} == {
        (10, 20, 30), (0, 128, 128)
    }  # fmt: skip
    stroop = StroopSet(palette=palette)
    assert [tuple(stroop.combination(i).values()) for i in range(6)] == [
        (w, f, b) for w, f, b in product(palette.names, repeat=3) if len({w, f, b}) == 3
    ]
    assert not torch.equal(shapes.render([sample]).images, ShapesSet().render([
        ShapesSet().sample(1, 0)]).images)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETS))
def test_every_combination_at_both_ends_of_the_sample_range(name):
    """Exhaustive over combinations (slow): colours, majority background, clear border."""
    stimulus_set = SETS[name]()
    samples = [
        stimulus_set.sample(c, s)
        for c in range(stimulus_set.num_combinations())
        for s in (0, PAPER_SAMPLES - 1)
    ]
    for start in range(0, len(samples), 256):
        batch = stimulus_set.render(samples[start : start + 256], backend="torch")
        codes = rgb_codes(batch.images.permute(0, 2, 3, 1).numpy())
        expected = rgb_codes(np.array([part_rgbs(stimulus_set, s) for s in batch.samples]))
        painted = np.take_along_axis(expected, batch.masks.numpy().reshape(len(codes), -1), 1)
        assert np.array_equal(painted.reshape(codes.shape), codes)
        share = batch.masks.float().mean(dim=(1, 2))
        assert share.min() > 0.002 and share.max() < 0.5
        assert not batch.masks[:, :MARGIN].any() and not batch.masks[:, -MARGIN:].any()
        assert not batch.masks[:, :, :MARGIN].any() and not batch.masks[:, :, -MARGIN:].any()
