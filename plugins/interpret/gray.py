"""The grey version of an image that the Colour Selectivity Index compares a unit against.

Two conversions (``--csi-gray``):

- ``pca-opponent`` (default): the conversion of Rafegas & Vanrell's toolbox (CVC-CIC/nefesi,
  ``get_ivet_color_selectivity_index`` with ``util/image.py``'s ``rgb2opp`` and
  ``image2max_gray``). Only the unit's receptive field, clipped to the image, is replaced:
  its pixels go to the opponent space, are projected onto the first principal component of
  that crop (the grey that best keeps the crop's pattern, luminance or chromatic) and are
  stretched min-max to the full 0..255 range, unclipped, floored to 8 bits as keras's
  ``array_to_img(scale=True)`` does. A crop with zero range (one flat colour) comes out
  black, as in the toolbox.
- ``luma``: the whole image, every pixel replaced by its ITU-R BT.601 luma (PIL's
  ``convert("L")`` up to its fixed-point rounding, at most one level apart). One forward
  per image instead of one per receptive field.

Choices made where the toolbox leaves it open: the component is the eigenvector of the
*largest* eigenvalue (nefesi takes ``np.linalg.eig``'s first column, in no guaranteed
order), and its sign, arbitrary in any eigen-solver, is fixed so that the grey correlates
positively with the achromatic channel O1 (else with O2, then O3), so that a luminance
edge keeps its polarity and the result does not depend on the solver.
"""

from __future__ import annotations

import torch

#: the ``--csi-gray`` choices, with what each greys and how
GRAY_CONVERSIONS = {
    "pca-opponent": (
        "the receptive field at the peak, by its first principal component in opponent "
        "space, stretched to full range (Rafegas & Vanrell's toolbox)"
    ),
    "luma": "the whole image, by BT.601 luma",
}
#: the conversion of the paper's reference (Rafegas & Vanrell 2018); docs/DESIGN.md says why
DEFAULT_GRAY = "pca-opponent"

#: ITU-R BT.601 luma weights of the ``luma`` conversion
LUMA = (0.299, 0.587, 0.114)

#: a principal component's entry below this counts as zero when fixing its sign
_SIGN_TOLERANCE = 1e-9


def luma_gray(images: torch.Tensor) -> torch.Tensor:
    """``[B,3,H,W]`` uint8 -> the same images with every pixel replaced by its luma grey."""
    weights = torch.tensor(LUMA, device=images.device).view(1, 3, 1, 1)
    luma = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255)
    return luma.to(torch.uint8).expand(-1, 3, -1, -1).contiguous()


def opponent(rgb: torch.Tensor) -> torch.Tensor:
    """nefesi's ``rgb2opp`` on ``[..., 3, H, W]`` RGB in [0, 1]: O1 = (R+G+B-1.5)/1.5,
    O2 = R-G, O3 = (R+G-2B)/2, each in [-1, 1]."""
    r, g, b = rgb.unbind(-3)
    return torch.stack([(r + g + b - 1.5) / 1.5, r - g, (r + g - 2 * b) / 2], dim=-3)


def inside_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``[M, H, W]`` bool: the pixels of each inclusive box ``(x0, y0, x1, y1)``."""
    rows = torch.arange(height, device=boxes.device)
    cols = torch.arange(width, device=boxes.device)
    x0, y0, x1, y1 = boxes.unbind(1)
    in_rows = (rows >= y0[:, None]) & (rows <= y1[:, None])
    in_cols = (cols >= x0[:, None]) & (cols <= x1[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def _oriented(components: torch.Tensor) -> torch.Tensor:
    """``[M, 3]`` unit vectors flipped so their first non-zero entry is positive."""
    nonzero = components.abs() > _SIGN_TOLERANCE
    first = nonzero.to(torch.uint8).argmax(1, keepdim=True)  # all zero: entry 0
    sign = torch.where(components.gather(1, first) < 0, -1.0, 1.0).to(components)
    return components * sign


def pca_opponent_gray(images: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """``images [M,3,H,W]`` uint8, ``boxes [M,4]`` -> the images with each box greyed.

    Box ``m`` (inclusive ``(x0, y0, x1, y1)`` pixel corners, already clipped to the image)
    of image ``m`` is replaced by the min-max stretched projection of its opponent-space
    pixels onto their first principal component; the rest of the image is unchanged.
    All boxes are converted at once (float64 statistics, one batched 3x3 eigh).
    """
    m, _, height, width = images.shape
    inside = inside_boxes(boxes, height, width)  # [M,H,W]
    weight = inside[:, None].to(torch.float64)
    opp = opponent(images.to(torch.float64) / 255)
    count = inside.sum((1, 2)).clamp(min=1)  # pixels per box
    mean = (opp * weight).sum((2, 3)) / count[:, None]
    centred = (opp - mean[:, :, None, None]) * weight  # zero outside the box
    scatter = torch.einsum("mihw,mjhw->mij", centred, centred)
    _, vectors = torch.linalg.eigh(scatter)  # ascending eigenvalues: the last is the first PC
    component = _oriented(vectors[..., -1])
    projection = torch.einsum("mihw,mi->mhw", centred, component)
    low = projection.masked_fill(~inside, torch.inf).amin((1, 2))
    high = projection.masked_fill(~inside, -torch.inf).amax((1, 2))
    span = (high - low)[:, None, None]
    scaled = torch.where(span > 0, (projection - low[:, None, None]) / span.clamp(min=1e-300), 0)
    gray = (scaled * 255).floor().clamp(0, 255).to(torch.uint8)
    return torch.where(inside[:, None], gray[:, None], images)


def clip_boxes(boxes: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Inclusive boxes cut to the image, as nefesi slices the receptive field from it."""
    x0, y0, x1, y1 = boxes.unbind(-1)
    return torch.stack(
        [x0.clamp(min=0), y0.clamp(min=0), x1.clamp(max=width - 1), y1.clamp(max=height - 1)],
        dim=-1,
    )
