"""Streaming top-k and receptive fields against brute force."""

import open_clip
import pytest
import torch
from torch import nn

from colorbench.plugins.interpret.receptive_field import (
    ReceptiveField,
    crop_patches,
    receptive_field,
)
from colorbench.plugins.interpret.topk import TopK, spatial_max

torch.set_num_threads(2)


def test_topk_streaming_equals_brute_force():
    gen = torch.Generator().manual_seed(0)
    values = torch.randn(6, 53, generator=gen)
    payload = torch.randn(6, 53, 2, generator=gen)
    tracker = TopK(6, 7, payload=2)
    for start in range(0, 53, 8):
        stop = min(start + 8, 53)
        tracker.update(values[:, start:stop], torch.arange(start, stop), payload[:, start:stop])
    best, order = values.topk(7, dim=1)
    assert torch.equal(tracker.values, best)
    assert torch.equal(tracker.ids, order)
    assert torch.equal(tracker.payload, payload.gather(1, order[..., None].expand(-1, -1, 2)))
    assert tracker.filled().all()


def test_topk_ties_keep_the_first_seen_on_every_device():
    """A saturated unit ties on many images: the kept ones are the first seen, not whichever
    ``topk`` picks (CPU and CUDA pick differently; a GPU run then differed from the CPU's)."""
    tracker = TopK(1, 3)
    tracker.update(torch.tensor([[1.0, 0.5, 1.0]]), torch.tensor([0, 1, 2]))
    tracker.update(torch.tensor([[1.0, 1.0, 2.0]]), torch.tensor([3, 4, 5]))
    assert tracker.ids.tolist() == [[5, 0, 2]]
    tracker.update(torch.ones(1, 8), torch.arange(6, 14))
    assert tracker.ids.tolist() == [[5, 0, 2]]


def test_topk_marks_unfilled_slots():
    tracker = TopK(2, 5)
    tracker.update(torch.ones(2, 3), torch.arange(3))
    assert tracker.filled().sum(1).tolist() == [3, 3]


def test_spatial_max_finds_peak():
    act = torch.zeros(2, 3, 4, 5)
    act[1, 2, 3, 1] = 7.0
    values, positions = spatial_max(act)
    assert values.shape == (3, 2) and values[2, 1] == 7.0
    assert positions[2, 1].tolist() == [3.0, 1.0]


def _support(encoder: nn.Module, layer: nn.Module, size: int, y: int, x: int) -> list[int]:
    """Bounding box (x0, y0, x1, y1) of input pixels whose change changes unit (0, y, x)."""
    captured = {}
    handle = layer.register_forward_hook(lambda m, i, o: captured.setdefault("out", o))
    image = torch.rand(1, 3, size, size, requires_grad=True)
    encoder(image)
    handle.remove()
    (grad,) = torch.autograd.grad(captured["out"][0, 0, y, x], image)
    ys, xs = grad[0].abs().sum(0).nonzero(as_tuple=True)
    return [xs.min().item(), ys.min().item(), xs.max().item(), ys.max().item()]


def _clipped(field: ReceptiveField, y: int, x: int, size: int) -> list[int]:
    box = field.boxes(torch.tensor(y), torch.tensor(x)).clamp(0, size - 1)
    return box.tolist()


def _positive(module: nn.Module) -> nn.Module:
    """All weights positive: every path carries gradient, so support = receptive field."""
    with torch.no_grad():
        for p in module.parameters():
            p.abs_().add_(0.01)
    return module.eval()


def test_receptive_field_of_a_known_stack_matches_gradient_support():
    stack = _positive(
        nn.Sequential(
            nn.Conv2d(3, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(4, 4, 5, padding=2),
            nn.AvgPool2d(3, stride=2, padding=1),
            nn.Conv2d(4, 2, 3, dilation=2),
        )
    )
    field = receptive_field(stack, stack[5])
    # by hand: sizes 3, 5, 21, 29, 61; jumps 2, 4, 4, 8, 8; start -1, -1, -9, -13, -13
    assert field == ReceptiveField(size=61, jump=8, start=-13)
    for y, x in [(0, 0), (1, 2), (2, 2)]:
        assert _support(stack, stack[5], 64, y, x) == _clipped(field, y, x, 64)


@pytest.mark.parametrize("layer", ["avgpool", "layer1", "layer2"])
def test_receptive_field_of_open_clip_resnet_matches_gradient_support(layer):
    from open_clip.modified_resnet import ModifiedResNet

    net = _positive(ModifiedResNet([1, 1, 1, 1], output_dim=8, heads=1, image_size=64, width=8))
    module = getattr(net, layer)
    field = receptive_field(net, module)
    for y, x in [(0, 0), (3, 2), (7, 7)]:
        assert _support(net, module, 64, y, x) == _clipped(field, y, x, 64)


def test_rn50_fields_follow_the_architecture():
    visual = open_clip.create_model("RN50").visual
    stem = receptive_field(visual, visual.avgpool)
    layer4 = receptive_field(visual, visual.layer4)
    assert (stem.jump, layer4.jump) == (4, 32)  # 224 / 56 and 224 / 7
    assert stem.size == 13 and layer4.size > 224  # 3, 7, 11 (3x3 convs), +2 (pool)


def test_crops_match_pixels_and_mark_the_outside():
    image = torch.arange(2 * 3 * 10 * 10, dtype=torch.float32).reshape(2, 3, 10, 10)
    boxes = torch.tensor([[2, 3, 5, 6], [-2, -2, 1, 1]])
    crops = crop_patches(image, torch.tensor([1, 0]), boxes, size=4)
    assert torch.allclose(crops[0, :3], image[1, :, 3:7, 2:6])
    assert torch.equal(crops[0, 3], torch.ones(4, 4))
    inside = torch.zeros(4, 4)
    inside[2:, 2:] = 1
    assert torch.allclose(crops[1, 3], inside)
    assert torch.allclose(crops[1, :3, 2:, 2:], image[0, :, :2, :2])


@pytest.mark.parametrize("layer", ["avgpool", "layer1", "layer2"])
def test_a_unit_on_its_window_responds_as_on_the_whole_image(layer):
    from open_clip.modified_resnet import ModifiedResNet

    from colorbench.plugins.interpret.layers import recording

    net = ModifiedResNet([1, 1, 1, 1], output_dim=8, heads=1, image_size=64, width=8).eval()
    module = getattr(net, layer)
    field = receptive_field(net, module)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode(), recording({"l": module}) as whole:
        net(image)
    last = whole["l"].shape[-1] - 1
    positions = torch.tensor([(0, 0), (0, last), (last, 1), (3, 2), (last // 2, last)])
    y, x = positions.unbind(1)
    boxes = field.boxes(y, x).clamp(0, 63)
    origins, size = field.windows(boxes, 64, 64)
    assert size[0] < 64 and size == (size[1], size[1])  # a real shortcut, one size
    for (ox, oy), (py, px) in zip(origins.tolist(), positions.tolist(), strict=True):
        assert ox % field.jump == 0 and oy % field.jump == 0
        window = image[..., oy : oy + size[0], ox : ox + size[1]]
        with torch.inference_mode(), recording({"l": module}) as part:
            net(window)
        local = part["l"][0, :, py - oy // field.jump, px - ox // field.jump]
        torch.testing.assert_close(local, whole["l"][0, :, py, px], rtol=1e-4, atol=1e-5)
