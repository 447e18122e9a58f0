"""The Pillow and the batched torch renderers draw the same stimuli."""

import pytest
import torch

from colorbench.stimuli import ShapesSet, StroopSet, StroopWhiteSet, flat
from colorbench.stimuli.shapes import SHAPES

SETS = (ShapesSet, StroopSet, StroopWhiteSet)


def spread(stimulus_set, count):
    step = max(1, stimulus_set.num_combinations() // count)
    return [
        stimulus_set.sample(c, c % 500) for c in range(0, stimulus_set.num_combinations(), step)
    ]


def agreement(stimulus_set, samples, device):
    cpu = stimulus_set.render(samples, backend="pil")
    gpu = stimulus_set.render(samples, backend="torch", device=device)
    assert gpu.images.device.type == torch.device(device).type
    assert gpu.images.shape == cpu.images.shape and gpu.images.dtype == torch.uint8
    same = (gpu.masks.cpu() == cpu.masks).float().mean(dim=(1, 2))
    identical_pixels = (gpu.images.cpu() == cpu.images).all(dim=1).float().mean(dim=(1, 2))
    return same, identical_pixels


@pytest.mark.parametrize("cls", SETS, ids=lambda c: c.name)
def test_torch_renderer_matches_pillow_on_cpu(cls):
    torch.set_num_threads(2)
    stimulus_set = cls()
    samples = spread(stimulus_set, 96)
    same, identical = agreement(stimulus_set, samples, "cpu")
    assert identical.min() >= 0.99 and same.min() >= 0.99
    if cls is not ShapesSet:  # glyph masks come from the same Pillow rendering: exact
        assert identical.min() == 1.0


def test_polygons_match_pillow_pixel_for_pixel_on_almost_every_image():
    stimulus_set = ShapesSet()
    samples = spread(stimulus_set, 100)
    assert {s.name for s in SHAPES} == {s.attrs["shape"] for s in samples}
    same, _ = agreement(stimulus_set, samples, "cpu")
    for shape in ("triangle", "square", "star", "pentagon", "hexagon", "cross", "diamond"):
        picked = [i for i, s in enumerate(samples) if s.attrs["shape"] == shape]
        assert (same[picked] == 1.0).float().mean() >= 0.5, shape
        assert same[picked].min() >= 1 - 4 / 224**2, shape  # at most a few rounding ties


def test_torch_renderer_chunks_large_cpu_batches_without_changing_them(monkeypatch):
    stimulus_set = StroopWhiteSet()
    samples = [stimulus_set.sample(c % 100, c) for c in range(20)]
    whole = stimulus_set.render(samples, backend="torch")
    monkeypatch.setattr(flat, "CPU_CHUNK", 3)
    assert torch.equal(whole.images, stimulus_set.render(samples, backend="torch").images)


def test_empty_request_gives_an_empty_batch():
    for backend in ("pil", "torch"):
        batch = ShapesSet().render([], backend=backend)
        assert batch.images.shape == (0, 3, 224, 224) and batch.masks.shape == (0, 224, 224)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", SETS, ids=lambda c: c.name)
def test_torch_renderer_matches_pillow_on_cuda(cls):
    stimulus_set = cls()
    same, identical = agreement(stimulus_set, spread(stimulus_set, 256), "cuda")
    assert identical.min() >= 0.99 and same.min() >= 0.99
