"""Image-text similarity maps on hand-built joint spaces with known answers."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from interpret_support import FakeShapes, scale01
from open_clip.modified_resnet import ModifiedResNet

from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugins.interpret.itsm import (
    JointSpace,
    analyze_itsm,
    positive_share,
    resnet_spatial,
    similarity_maps,
)

torch.set_num_threads(2)
PALETTE = torch.tensor(DEFAULT_PALETTE.rgb_array(), dtype=torch.float32) / 255


def colour_features(pixels: torch.Tensor) -> torch.Tensor:
    """One dimension per palette colour: each pixel is the one-hot of its colour."""
    distance = torch.cdist(pixels.permute(0, 2, 3, 1), PALETTE[None, None].expand(1, 1, -1, -1))
    return F.one_hot(distance.argmin(-1), len(PALETTE)).permute(0, 3, 1, 2).float()


def one_hot_texts(texts):
    return torch.eye(len(texts))  # text i names palette colour i


def test_positive_share_of_a_map_that_follows_the_mask():
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2:5, 1:7] = True
    assert positive_share(mask.float() - 0.5, mask).item() == pytest.approx(1.0)
    area = mask.float().mean().item()
    assert positive_share(torch.ones(1, 8, 8), mask).item() == pytest.approx(area)
    weighted = 3 * mask.float() + 1
    expected = 4 * area / (4 * area + (1 - area))
    assert positive_share(weighted, mask).item() == pytest.approx(expected)
    assert torch.isnan(positive_share(-torch.ones(1, 8, 8), mask)).all()


def test_similarity_maps_are_cosines():
    spatial = torch.zeros(1, 2, 1, 2)
    spatial[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    spatial[0, :, 0, 1] = torch.tensor([1.0, 1.0])
    maps = similarity_maps(spatial, torch.tensor([[2.0, 0.0]]))
    assert maps[0, 0].tolist() == pytest.approx([1.0, 2**-0.5])


def _space(spatial) -> JointSpace:
    return JointSpace(
        preprocess=scale01,
        spatial=spatial,
        image=lambda p: spatial(p).mean((2, 3)),
        text=one_hot_texts,
    )


def test_majority_model_answers_background_and_its_map_avoids_the_object():
    shapes = FakeShapes()
    samples = [shapes.sample(c, 0) for c in range(0, shapes.num_combinations(), 7)]
    result = analyze_itsm(_space(colour_features), shapes, samples, "{c}", batch_size=8)
    table = result.per_image
    assert (table.outcome == "background").all()
    # the map is 1 on background pixels, 0 on the object: bilinear upsampling of a
    # full-resolution map changes nothing, so no positive mass is on the object
    assert table.part_share.max() == pytest.approx(0.0, abs=1e-6)
    groups = result.groups
    assert groups.n.sum() == len(samples) and (groups.answers_background == 100).all()
    assert len(result.examples) == 2 * len(groups)
    image, sim, mask, _ = result.examples[0]
    assert image.shape[:2] == mask.shape and sim.shape == mask.shape


def test_uniform_map_gives_the_object_its_share_of_the_area():
    shapes = FakeShapes()
    samples = [shapes.sample(c, 0) for c in range(0, shapes.num_combinations(), 11)]

    def uniform(pixels):
        return torch.ones(len(pixels), len(PALETTE), 4, 4)

    table = analyze_itsm(_space(uniform), shapes, samples, "{c}").per_image
    expected = [s.attrs["side"] ** 2 / 32**2 for s in samples]
    assert table.part_share.tolist() == pytest.approx(expected)
    assert table.part_area.tolist() == pytest.approx(expected)


def test_resnet_positions_sum_to_the_pooled_embedding_under_uniform_attention():
    visual = ModifiedResNet([1, 1, 1, 1], output_dim=16, heads=2, image_size=64, width=8).eval()
    with torch.no_grad():
        for proj in (visual.attnpool.q_proj, visual.attnpool.k_proj):
            proj.weight.zero_()
            proj.bias.zero_()
        pixels = torch.rand(2, 3, 64, 64)
        spatial = resnet_spatial(visual, pixels)  # [B, D, 2, 2]
        features = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(pixels)))))
        pool = visual.attnpool
        mean_token = features.mean((2, 3)) + pool.positional_embedding[0]
        mean_term = pool.c_proj(pool.v_proj(mean_token))
        # uniform attention averages the value terms of the mean token and every position
        expected = (mean_term + spatial.sum((2, 3))) / 5
        assert torch.allclose(visual(pixels), expected, atol=1e-5)


def test_display_map_is_upsampled_and_min_max_normalised():
    from colorbench.plugins.interpret.itsm import display_map

    sim = np.array([[-0.2, 0.1], [0.3, 0.05]], dtype=np.float32)
    shown = display_map(sim, (8, 8))
    assert shown.shape == (8, 8)
    assert shown.min() == pytest.approx(0.0) and shown.max() == pytest.approx(1.0)
    # normalising keeps the order: the most similar corner stays the brightest
    assert np.unravel_index(shown.argmax(), shown.shape)[0] >= 4
    assert np.allclose(display_map(sim * 3 + 1, (8, 8)), shown, atol=1e-6)  # level discarded
    assert not display_map(np.full((2, 2), 0.7), (4, 4)).any()
