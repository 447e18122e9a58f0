"""Receptive fields of convolutional units, computed from the network's own layers.

A unit at feature-grid position (y, x) sees an input window whose size, step and
offset follow from the kernels, strides and paddings of the convolutions and pools
before it (Araujo et al., "Computing receptive fields of CNNs", Distill 2019). In a
residual block the main path (1x1, 3x3, pool, 1x1) contains the shortcut's window,
so the shortcut (``downsample``) branches are left out of the chain.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import roi_align

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pair(v: int | tuple[int, ...]) -> int:
    """Square kernels/strides/paddings only: what CNN image encoders use."""
    if isinstance(v, tuple):
        if len(set(v)) != 1:
            raise ValueError(f"non-square kernel, stride or padding {v} is not supported")
        return int(v[0])
    return int(v)


@dataclass(frozen=True)
class ReceptiveField:
    """Unit ``i`` of the grid sees input pixels ``[start + i*jump, start + i*jump + size - 1]``."""

    size: int = 1
    jump: int = 1
    start: int = 0

    def then(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> ReceptiveField:
        """The field after one more conv/pool layer."""
        return ReceptiveField(
            size=self.size + (kernel - 1) * dilation * self.jump,
            jump=self.jump * stride,
            start=self.start - padding * self.jump,
        )

    def boxes(self, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
        """``[..., 4]`` boxes ``(x0, y0, x1, y1)``, inclusive pixel corners, unclipped."""
        y0 = self.start + ys * self.jump
        x0 = self.start + xs * self.jump
        return torch.stack([x0, y0, x0 + self.size - 1, y0 + self.size - 1], dim=-1)

    def windows(
        self, boxes: torch.Tensor, height: int, width: int
    ) -> tuple[torch.Tensor, tuple[int, int]]:
        """Input windows on which a CNN computes these units exactly as on the whole image.

        ``boxes [M,4]`` are this layer's fields cut to the image. A unit depends only on
        the pixels of its field and, where the field crosses the image border, on the
        padding there; a window that holds the field, starts on the unit grid (a multiple
        of ``jump``, so every layer's grid stays aligned) and ends at the image's edge or
        beyond the field gives the unit the same inputs and the same padding. Returns the
        windows' ``(x, y)`` origins ``[M,2]`` and their common ``(height, width)``, one
        size for the whole layer so the windows batch (the whole image when the field is
        as large). Only for networks without global operations before the layer.
        """
        origin, size = [], []
        for axis, length in ((0, width), (1, height)):  # x from (x0, x1), y from (y0, y1)
            need = self.size + self.start % self.jump  # the field plus its grid offset
            side = length if need >= length else length - (length - need) // self.jump * self.jump
            start = torch.div(boxes[:, axis], self.jump, rounding_mode="floor") * self.jump
            origin.append(start.clamp(max=length - side))
            size.append(side)
        return torch.stack(origin, dim=1), (size[1], size[0])


def spatial_chain(modules: Iterable[tuple[str, nn.Module]]) -> list[tuple[int, int, int, int]]:
    """``(kernel, stride, padding, dilation)`` of every conv/pool layer, shortcuts excluded."""
    chain = []
    for name, module in modules:
        if "downsample" in name.split(".") or not isinstance(module, _SPATIAL):
            continue
        dilation = _pair(getattr(module, "dilation", 1))
        chain.append(
            (_pair(module.kernel_size), _pair(module.stride), _pair(module.padding), dilation)
        )
    return chain


def receptive_field(encoder: nn.Module, layer: nn.Module) -> ReceptiveField:
    """Receptive field of the units output by ``layer``, a submodule of ``encoder``.

    Layers are taken in registration order, which is forward order for ResNets
    (torchvision's and open_clip's ``ModifiedResNet``) and ``nn.Sequential`` stacks.
    """
    inside = {id(m) for m in layer.modules()}
    modules, reached = [], False
    for name, module in encoder.named_modules():  # pre-order: the layer's subtree is contiguous
        if id(module) in inside:
            reached = True
        elif reached:
            break
        modules.append((name, module))
    if not reached:
        raise ValueError("layer is not a submodule of the encoder")
    field = ReceptiveField()
    for kernel, stride, padding, dilation in spatial_chain(modules):
        field = field.then(kernel, stride, padding, dilation)
    return field


def crop_patches(
    images: torch.Tensor, image_index: torch.Tensor, boxes: torch.Tensor, size: int
) -> torch.Tensor:
    """Crop ``boxes`` from ``images`` and resample each to ``size x size``.

    ``images [N,3,H,W]`` float, ``image_index [M]`` which image each box is in,
    ``boxes [M,4]`` inclusive pixel corners, all of one size (one layer's fields, which
    may reach outside the image). Returns ``[M,4,size,size]``: RGB plus a validity
    channel (the fraction of each output pixel that lies inside the image), so averages
    over patches can ignore the outside instead of treating it as black.

    Images are first area-averaged by the integer factor that brings a box near
    ``size``, so a deep unit's 400-pixel field costs a few samples per output pixel.
    """
    n, _, h, w = images.shape
    box_side = int(boxes[0, 2] - boxes[0, 0] + 1) if len(boxes) else size
    factor = max(1, box_side // size)
    with_valid = torch.cat([images, images.new_ones((n, 1, h, w))], dim=1)
    if factor > 1:
        pad_h, pad_w = -h % factor, -w % factor  # zero-pad to a multiple: outside = invalid
        with_valid = F.avg_pool2d(F.pad(with_valid, (0, pad_w, 0, pad_h)), factor)
    # a one-pixel zero border: roi_align clamps samples less than a pixel outside the
    # image to the edge pixel, which would count them as inside
    padded = F.pad(with_valid, (1, 1, 1, 1))
    rois = torch.cat([image_index[:, None].to(images), boxes.to(images) + factor], dim=1)
    rois[:, 3:5] += 1  # inclusive corners -> pixel edges (pixel i spans [i, i + 1])
    return roi_align(
        padded, rois, output_size=size, spatial_scale=1 / factor, aligned=True, sampling_ratio=0
    )
