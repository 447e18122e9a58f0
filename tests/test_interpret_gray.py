"""CSI's grey conversions on images where the answer is known by construction."""

import numpy as np
import torch

from colorbench.plugins.interpret.gray import (
    clip_boxes,
    luma_gray,
    opponent,
    pca_opponent_gray,
)

# two colours of the same BT.601 luma (76) but different chromaticity
RED, ISO_GREEN = (255, 0, 0), (0, 130, 0)


def _image(pixels) -> torch.Tensor:
    """``[H][W]`` RGB triples -> ``[1,3,H,W]`` uint8."""
    return torch.tensor(pixels, dtype=torch.uint8).permute(2, 0, 1)[None]


def _whole(image: torch.Tensor) -> torch.Tensor:
    h, w = image.shape[-2:]
    return torch.tensor([[0, 0, w - 1, h - 1]])


def test_opponent_is_nefesis_rgb2opp():
    rgb = torch.tensor([[1.0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 1]])[:, :, None, None]
    expected = [[1, 0, 0], [-1, 0, 0], [-1 / 3, 1, 0.5], [-1 / 3, 0, -1]]
    torch.testing.assert_close(opponent(rgb)[:, :, 0, 0], torch.tensor(expected))


def test_isoluminant_red_green_is_flat_under_luma_but_full_range_under_pca():
    image = _image([[RED, ISO_GREEN] * 2, [ISO_GREEN, RED] * 2])  # a checkerboard
    luma = luma_gray(image)
    assert luma.unique().tolist() == [76]  # the pattern is gone
    pca = pca_opponent_gray(image, _whole(image))
    assert (pca[:, 0] == pca[:, 1]).all() and (pca[:, 1] == pca[:, 2]).all()
    # red has the larger O1 (R+G+B), so it is the bright end; full range, unclipped
    is_red = (image[0] == torch.tensor(RED)[:, None, None]).all(0)
    assert pca[0, 0][is_red].unique().tolist() == [255]
    assert pca[0, 0][~is_red].unique().tolist() == [0]


def test_one_flat_colour_comes_out_black_under_pca_as_in_the_toolbox():
    image = _image([[(200, 120, 30)] * 3] * 3)
    assert pca_opponent_gray(image, _whole(image)).unique().tolist() == [0]
    assert luma_gray(image).unique().tolist() == [round(0.299 * 200 + 0.587 * 120 + 0.114 * 30)]


def test_a_grey_ramp_is_stretched_to_full_range_with_its_polarity_kept():
    image = _image([[(v, v, v) for v in (100, 110, 140, 150)]])
    assert luma_gray(image)[0, 0, 0].tolist() == [100, 110, 140, 150]
    # (v - 100) / 50 * 255, floored: the brighter end stays bright
    assert pca_opponent_gray(image, _whole(image))[0, 0, 0].tolist() == [0, 51, 204, 255]


def test_only_the_box_is_greyed_and_its_statistics_ignore_the_rest():
    rng = np.random.default_rng(1)
    image = torch.from_numpy(rng.integers(0, 256, (1, 3, 12, 10), dtype=np.uint8))
    box = torch.tensor([[2, 3, 5, 8]])  # x0, y0, x1, y1 inclusive
    out = pca_opponent_gray(image, box)
    inside = torch.zeros(12, 10, dtype=torch.bool)
    inside[3:9, 2:6] = True
    assert torch.equal(out[0][:, ~inside], image[0][:, ~inside])
    crop = pca_opponent_gray(image[..., 3:9, 2:6].contiguous(), torch.tensor([[0, 0, 3, 5]]))
    assert torch.equal(out[0][:, 3:9, 2:6], crop[0])  # the same as greying the crop alone
    assert out[0, 0][inside].min() == 0 and out[0, 0][inside].max() == 255


def _nefesi_image2max_gray(crop: np.ndarray) -> np.ndarray:
    """nefesi ``rgb2opp`` + ``image2max_gray`` + keras ``array_to_img(scale=True)``,
    transcribed; ``crop [H,W,3]`` uint8. The component is the largest eigenvalue's."""
    x = crop / 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    opp = np.stack([(r + g + b - 1.5) / 1.5, r - g, (r + g - 2 * b) / 2], -1).reshape(-1, 3)
    centred = opp - opp.mean(0)
    latent, coeff = np.linalg.eig(np.cov(centred.T))
    res = centred @ coeff[:, np.argmax(latent)]
    res = res - res.min()
    if res.max() != 0:
        res = res / res.max()
    return (res * 255).astype(np.uint8).reshape(crop.shape[:2])


def test_batched_conversion_matches_the_toolbox_per_crop_up_to_the_sign():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (16, 3, 9, 11), dtype=np.uint8)
    images[3] = images[3, :1]  # a grey crop: all of its variance is luminance
    starts = rng.integers(-4, 5, (16, 2))
    boxes = clip_boxes(torch.tensor(np.concatenate([starts, starts + 6], 1)), 9, 11)
    out = pca_opponent_gray(torch.from_numpy(images), boxes)
    for image, box, gray in zip(images, boxes.tolist(), out, strict=True):
        x0, y0, x1, y1 = box
        crop = image[:, y0 : y1 + 1, x0 : x1 + 1].transpose(1, 2, 0)
        ours = gray[0, y0 : y1 + 1, x0 : x1 + 1].numpy().astype(int)
        theirs = _nefesi_image2max_gray(crop).astype(int)
        # the toolbox's sign is the eigen-solver's; ours correlates with O1 (brightness)
        o1 = crop.astype(int).sum(-1)
        assert np.corrcoef(ours.ravel(), o1.ravel())[0, 1] >= 0
        assert min(np.abs(ours - theirs).max(), np.abs(ours - (255 - theirs)).max()) <= 1
