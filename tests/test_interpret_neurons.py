"""Neuron indices on hand-built encoders whose answers are known by construction."""

import colorsys

import numpy as np
import pytest
import torch
from interpret_support import FakeStroop, TensorCorpus, blob_images, pointwise_encoder, scale01
from torch import nn

from colorbench.plugins.interpret.gray import LUMA, clip_boxes, pca_opponent_gray
from colorbench.plugins.interpret.indices import (
    Thresholds,
    classify_units,
    dominant_hue,
    hue_chroma,
    pearson,
)
from colorbench.plugins.interpret.neurons import NeuronSettings, analyze_neurons

torch.set_num_threads(2)


def _opponent_and_edge() -> nn.Module:
    """Unit 0: red minus green (blind to grey); unit 1: horizontal luminance edge."""
    # replicate padding: no false edges at the image border
    conv = nn.Conv2d(3, 2, 3, padding=1, bias=False, padding_mode="replicate")
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1], conv.weight[0, 1, 1, 1] = 1.0, -1.0
        conv.weight[1] = torch.tensor(LUMA)[:, None, None] * sobel
    return nn.Sequential(conv, nn.ReLU())


@pytest.fixture(scope="module")
def stroop():
    return FakeStroop(size=48)


def _run(encoder, corpus_images, stroop, text_items=None, **settings):
    samples = [stroop.sample(c, 0) for c in range(0, stroop.num_combinations(), 5)]
    return analyze_neurons(
        encoder,
        scale01,
        ["1"],
        TensorCorpus(corpus_images, text_items),
        stroop,
        samples,
        NeuronSettings(**{"top_k": 10, "stroop_top": 20, "batch_size": 16, **settings}),
    )


def test_csi_of_opponent_unit_is_one_and_of_edge_unit_zero(stroop):
    results = _run(_opponent_and_edge(), blob_images(40), stroop)
    csi = results.table.csi.to_numpy()
    assert csi[0] == pytest.approx(1.0)
    assert csi[1] < 0.02
    # the edge unit fires on glyph edges only: its Stroop response lies on the word
    assert results.table.text_share[1] > 0.9


def _edge_beside_stripes() -> torch.Tensor:
    """16x16: a vertical edge from a reddish to a brighter teal in rows 0-7 (luma 88 -> 108,
    R+G+B 280 -> 300), blue/yellow horizontal stripes in rows 8-15 (no vertical edge)."""
    image = torch.empty(3, 16, 16, dtype=torch.uint8)
    image[:, :8, :8] = torch.tensor([200, 40, 40])[:, None, None]
    image[:, :8, 8:] = torch.tensor([40, 140, 120])[:, None, None]
    image[:, 8::2] = torch.tensor([0, 0, 255])[:, None, None]
    image[:, 9::2] = torch.tensor([255, 255, 0])[:, None, None]
    return image[None].repeat(4, 1, 1, 1)


@pytest.mark.parametrize(
    ("csi_gray", "expected"),
    # pca-opponent: the 3x3 field at the peak holds both sides of the edge only, so its
    # grey is 0 | 255 and the Sobel gives 4 x 1; whole-image PCA would be ruled by the
    # stripes' blue-yellow axis (and turn the edge dark-to-light the other way round)
    [("pca-opponent", 4.0), ("luma", 4 * (108 - 88) / 255)],
)
def test_csi_greys_the_receptive_field_at_the_peak_only(stroop, csi_gray, expected):
    results = _run(_opponent_and_edge(), _edge_beside_stripes(), stroop, top_k=4, csi_gray=csi_gray)
    edge = results.layers["1"]
    assert edge.natural.payload[1].tolist() == [[0.0, 7.0]] * 4  # every peak on the edge
    assert edge.gray[1].tolist() == pytest.approx([expected] * 4, abs=1e-5)


class _MinusImageMean(nn.Module):
    """A global operation: every position depends on the whole image."""

    def forward(self, x):
        return x - x.mean((2, 3), keepdim=True)


@pytest.mark.parametrize("global_op", [False, True], ids=["local", "global"])
def test_pca_grey_responses_equal_greying_each_field_in_the_whole_image(stroop, global_op):
    """The windowed shortcut gives what the plain definition gives, and is dropped for
    an encoder that is not local (its field, 3x3, is not all a unit sees)."""
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    torch.nn.init.normal_(conv.weight, generator=torch.Generator().manual_seed(0))
    encoder = nn.Sequential(conv, _MinusImageMean() if global_op else nn.Identity(), nn.ReLU())
    images = blob_images(12, size=24)
    layer = _run(encoder, images, stroop, top_k=5).layers["1"]
    ids, (y, x) = layer.natural.ids, layer.natural.payload.long().unbind(2)
    boxes = clip_boxes(layer.field.boxes(y, x), 24, 24)  # [C, k, 4]
    with torch.inference_mode():
        grey = pca_opponent_gray(images[ids.ravel()], boxes.reshape(-1, 4))
        act = encoder[:2](scale01(grey)).reshape(4, 5, 4, 12, 12)  # layer 1, pre-ReLU
    units = torch.arange(4)[:, None].expand(4, 5)
    slots = torch.arange(5).expand(4, 5)
    expected = act[units, slots, units, y, x]
    torch.testing.assert_close(layer.gray, expected, rtol=1e-4, atol=1e-5)


def _colour_units() -> nn.Module:
    """Unit 0: red only; unit 1: white only; unit 2: cyan, a colour no Stroop image has."""
    return pointwise_encoder(
        [[1, -1, -1], [1, 1, 1], [-1, 1, 1]],
        [-0.5, -2.9, -1.5],
    )


def _corpus_with_cyan() -> torch.Tensor:
    """Random blobs plus cyan and white squares, so every unit fires on natural images."""
    images = blob_images(20)
    images[::4, :, 8:16, 8:16] = torch.tensor([0, 255, 255], dtype=torch.uint8)[:, None, None]
    images[1::4, :, 8:16, 8:16] = 255
    return images


def test_colour_label_selectivity_and_classes(stroop):
    results = _run(_colour_units(), _corpus_with_cyan(), stroop)
    table = results.table.set_index("unit")
    shown_red = table.f_font_red[0] + table.f_background_red[0]
    assert shown_red == pytest.approx(1.0)
    assert table.f_word_red[0] == pytest.approx(0.0)  # red is never the word when shown
    assert list(table["class"]) == ["Colour chromatic", "Colour achromatic", "Not activated"]
    assert list(table.class_colour) == ["red", "white", ""]
    for role in ("word", "font", "background"):  # each role's shares sum to 1
        assert table.filter(like=f"f_{role}_").loc[0].sum() == pytest.approx(1.0)


def test_neuron_feature_of_a_red_unit_is_red(stroop):
    results = _run(_colour_units(), _corpus_with_cyan(), stroop)
    red = results.layers["1"].features[0]
    assert red.shape == (3, 1, 1)  # a 1x1 receptive field gives a one-pixel feature
    r, g, b = red[:, 0, 0].tolist()
    assert r - g - b > 0.5  # every top patch passed the unit's threshold: so does their mean
    hue = results.table.hue[0]
    assert min(hue, 360 - hue) < 60


def test_classifier_rules_on_constructed_units():
    chromatic = np.array([False] * 3 + [True] * 8)
    chance = np.full((6, 11), 1 / 11)  # what a unit blind to colour and word gets
    word, font, background = chance.copy(), chance.copy(), chance.copy()
    word[0] = np.eye(11)[2]  # always the written name of colour 2, in any font: Colour Word
    word[1], font[1], background[1] = (np.eye(11)[5] * 0.3 + 0.7 / 11,) * 3  # 5 in all roles
    font[2] = np.eye(11)[0] * 0.5
    background[2] = np.eye(11)[0] * 0.4  # black shown, as font or background: Colour
    font[3] = np.eye(11)[7] * 0.6  # chromatic colour 7 as font: Colour
    text_share = np.array([0.9, 0.1, 0.1, 0.1, 0.8, 0.2])  # unit 4 fires on any word
    f = {"word": word, "font": font, "background": background}
    classes, colour = classify_units(f, text_share, np.ones(6), np.ones(6), chromatic)
    assert list(classes) == [
        "Colour Word",
        "Colour Multimodal",
        "Colour achromatic",
        "Colour chromatic",
        "Any Word",
        "Other",
    ]
    assert list(colour) == [2, 5, 0, 7, -1, -1]
    max_stroop = np.array([0.4, 0.6, 0.0, 1.0, 1.0, 1.0])
    silent, _ = classify_units(f, text_share, max_stroop, np.ones(6), chromatic, Thresholds())
    assert list(silent == "Not activated") == [True, False, True, False, False, False]


def test_hue_chroma_matches_colorsys():
    rgb = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(1))
    hue, chroma = hue_chroma(rgb)
    for y, x in [(0, 0), (2, 3), (4, 6)]:
        h, _, v = colorsys.rgb_to_hsv(*rgb[:, y, x].tolist())
        assert hue[y, x].item() == pytest.approx(h * 360, abs=1e-3)
        assert chroma[y, x].item() == pytest.approx(v - rgb[:, y, x].min().item(), abs=1e-6)


def test_dominant_hue_ignores_pixels_outside_patches():
    features = torch.full((2, 3, 4, 4), float("nan"))
    features[0, :, :2] = torch.tensor([0.0, 0.0, 1.0])[:, None, None]  # blue, half covered
    features[1] = 0.5  # grey: no hue
    hue, chroma = dominant_hue(features)
    assert hue[0].item() == pytest.approx(240.0)
    assert chroma[0].item() == pytest.approx(1.0)
    assert torch.isnan(hue[1])


def test_pearson():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_passes_match_cpu(stroop):
    cpu = _run(_opponent_and_edge(), blob_images(40), stroop).table
    samples = [stroop.sample(c, 0) for c in range(0, stroop.num_combinations(), 5)]
    gpu = analyze_neurons(
        _opponent_and_edge().cuda(),
        lambda images: scale01(images).cuda(),
        ["1"],
        TensorCorpus(blob_images(40)),
        stroop,
        samples,
        NeuronSettings(top_k=10, stroop_top=20, batch_size=16),
        device="cuda",
    ).table
    numeric = ["csi", "max_natural", "max_stroop", "text_share"]
    assert np.allclose(cpu[numeric], gpu[numeric], atol=1e-4, equal_nan=True)
    assert list(cpu["class"]) == list(gpu["class"])


def test_response_to_natural_text_images_is_each_units_max_over_them(stroop):
    encoder, images = _opponent_and_edge(), blob_images(40)
    results = _run(encoder, images, stroop, text_items=[3, 17])
    with torch.inference_mode():
        expected = encoder(scale01(images[[3, 17]])).amax(dim=(0, 2, 3))
    assert results.table.max_natural_text.to_numpy() == pytest.approx(expected.numpy())
    assert (results.table.max_natural_text <= results.table.max_natural + 1e-6).all()
    # a corpus without text images cannot check: NaN, and the report's line says so
    assert results_without_text(encoder, images, stroop).max_natural_text.isna().all()


def results_without_text(encoder, images, stroop):
    return _run(encoder, images, stroop).table


def test_any_word_needs_a_response_to_natural_text_when_the_corpus_has_some():
    f = {role: np.zeros((3, 11)) for role in ("word", "font", "background")}
    text_share = np.full(3, 0.9)  # all three fire on the written word of Stroop images
    natural_text = np.array([0.8, 0.2, np.nan])  # vs. a natural maximum of 1
    classes, _ = classify_units(
        f, text_share, np.ones(3), np.ones(3), np.zeros(11, bool), Thresholds(), natural_text
    )
    assert list(classes) == ["Any Word", "Other", "Any Word"]
