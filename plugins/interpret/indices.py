"""The paper's neuron indices: CSI, neuron features, hue statistics, f_c and neuron classes.

Every index is a function of tensors the streaming passes produce, so each can be
checked on units whose answer is known by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

#: the three roles a colour label plays in a Stroop image
LABEL_TYPES = ("word", "font", "background")

CLASSES = (
    "Colour chromatic",
    "Colour achromatic",
    "Colour Word",
    "Colour Multimodal",
    "Any Word",
    "Not activated",
    "Other",
)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den`` with NaN where the denominator is zero (no evidence, not zero)."""
    return torch.where(den > 0, num / den.clamp(min=1e-12), torch.full_like(num, float("nan")))


def colour_selectivity(
    colour: torch.Tensor, gray: torch.Tensor, valid: torch.Tensor
) -> torch.Tensor:
    """Colour Selectivity Index (Rafegas & Vanrell 2018) of each unit: ``[C, K] -> [C]``.

    ``CSI = 1 - sum(activation on the grey patches) / sum(activation on the colour
    patches)`` over the unit's top-k patches, clipped to [0, 1]: 1 for a unit blind to
    luminance (colour-opponent), 0 for one that ignores colour. Activations are
    rectified first, as the responses of a ReLU layer are.
    """
    mask = valid.float()
    num = (gray.clamp(min=0) * mask).sum(1)
    den = (colour.clamp(min=0) * mask).sum(1)
    return (1 - _ratio(num, den)).clamp(0, 1)


def label_selectivity(
    values: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor, num_labels: int
) -> torch.Tensor:
    """Colour-Label Selectivity Index ``f_c(n)`` for every unit n and label c: ``[C, L]``.

    ``values, ids [C, N]`` are each unit's top-N Stroop activations and image ids,
    ``labels [M]`` the label (palette index) of every image for one role (word, font
    or background). ``f_c(n) = sum of n's top-N activations on images labelled c /
    sum of all its top-N activations``; the row sums to 1.
    """
    weights = values.clamp(min=0) * (ids >= 0)
    per_label = torch.zeros(values.shape[0], num_labels, device=values.device)
    per_label.scatter_add_(1, labels.to(values.device)[ids.clamp(min=0)], weights)
    return _ratio(per_label, weights.sum(1, keepdim=True))


def neuron_features(weighted_sum: torch.Tensor) -> torch.Tensor:
    """Neuron features from ``[C, 4, S, S]`` activation-weighted sums of (RGB, validity).

    Dividing by the summed weight of the pixels that were inside their images gives
    the activation-weighted mean patch (Rafegas et al. 2020); pixels no patch covers
    are NaN.
    """
    return _ratio(weighted_sum[:, :3], weighted_sum[:, 3:4].expand_as(weighted_sum[:, :3]))


def hue_chroma(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hue in degrees [0, 360) and chroma (max - min) of ``[..., 3, H, W]`` RGB in [0, 1]."""
    r, g, b = rgb.unbind(-3)
    high, argmax = rgb.max(-3)
    chroma = high - rgb.min(-3).values
    safe = chroma.clamp(min=1e-12)
    sector = torch.stack([((g - b) / safe) % 6, (b - r) / safe + 2, (r - g) / safe + 4], -3)
    hue = sector.gather(-3, argmax.unsqueeze(-3)).squeeze(-3) * 60
    return torch.where(chroma > 0, hue, torch.zeros_like(hue)), chroma


def dominant_hue(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Chroma-weighted circular mean hue (degrees) and mean chroma of each ``[C,3,S,S]`` feature.

    NaN pixels (outside every patch) are ignored; a feature with no chroma has NaN hue.
    """
    hue, chroma = hue_chroma(features.nan_to_num(0.0).clamp(0, 1))
    chroma = torch.where(features.isnan().any(1), torch.zeros_like(chroma), chroma)
    angle = torch.deg2rad(hue)
    x = (chroma * angle.cos()).sum((1, 2))
    y = (chroma * angle.sin()).sum((1, 2))
    total = chroma.sum((1, 2))
    mean_hue = torch.rad2deg(torch.atan2(y, x)) % 360
    pixels = (~features.isnan().any(1)).sum((1, 2)).clamp(min=1)
    return torch.where(total > 1e-6, mean_hue, torch.full_like(mean_hue, float("nan"))), (
        total / pixels
    )


def hue_histogram(hue: np.ndarray, weights: np.ndarray | None, bins: int) -> np.ndarray:
    """Normalised histogram of hues (degrees) over ``bins`` equal sectors; NaNs dropped."""
    hue = np.asarray(hue, dtype=float).ravel()
    w = np.ones_like(hue) if weights is None else np.asarray(weights, dtype=float).ravel()
    keep = ~np.isnan(hue)
    counts, _ = np.histogram(hue[keep], bins=bins, range=(0, 360), weights=w[keep])
    total = counts.sum()
    return counts / total if total > 0 else counts.astype(float)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two histograms; NaN when either is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class Thresholds:
    """Documented, parameterised thresholds of the neuron classes (paper Fig. 5).

    - ``colour_selective``: CSI at or above which a unit counts as colour selective
      in the hue statistics.
    - ``not_activated``: a unit whose maximum Stroop activation is below this
      fraction of its maximum over the natural corpus is *Not activated*.
    - ``colour``: *Colour* when, for one colour c, ``f_c(font) + f_c(background)``
      (the share of top-N activation on images that show c) reaches this; split
      chromatic / achromatic by c's kind in the palette.
    - ``word``: *Colour Word* when one written colour name has ``f_c(word)`` at or above.
    - ``multimodal``: *Colour Multimodal* when one colour c has ``f_c`` at or above this
      as word, as font and as background. A Stroop image uses three different
      colours, so the three shares of one c sum to at most 1 and this must be <= 1/3.
    - ``any_word``: *Any Word* when at least this share of the unit's activation mass
      on its top-N Stroop images lies on the written word (text mask, dilated by the
      unit's grid step) and no colour label dominates...
    - ``any_word_natural``: ...and the unit also fires on text in natural images: its
      maximum over the corpus's text images reaches this fraction of its maximum over
      the whole natural corpus. When the corpus has no text image the check cannot be
      made and Any Word rests on the Stroop share alone (``max_natural_text`` is NaN).
    """

    colour_selective: float = 0.25
    not_activated: float = 0.5
    colour: float = 0.5
    word: float = 0.5
    multimodal: float = 0.2
    any_word: float = 0.5
    any_word_natural: float = 0.5


def classify_units(
    f: dict[str, np.ndarray],
    text_share: np.ndarray,
    max_stroop: np.ndarray,
    max_natural: np.ndarray,
    chromatic: np.ndarray,
    thresholds: Thresholds = Thresholds(),
    max_natural_text: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class of each unit and the colour (palette index, -1 if none) it is selective to.

    ``f[label_type]`` is ``[C, L]``; rules are tried in this order, first match wins:
    Not activated, Colour Multimodal, Colour Word, Colour (chromatic/achromatic),
    Any Word, else Other.
    """
    word, font, background = (np.nan_to_num(f[t]) for t in LABEL_TYPES)
    units = word.shape[0]
    classes = np.full(units, "Other", dtype=object)
    colour = np.full(units, -1)
    undecided = np.ones(units, dtype=bool)

    def assign(rule: np.ndarray, name, best: np.ndarray | None = None) -> None:
        chosen = rule & undecided
        classes[chosen] = name if isinstance(name, str) else name[chosen]
        if best is not None:
            colour[chosen] = best[chosen]
        undecided[chosen] = False

    with np.errstate(invalid="ignore"):
        silent = ~(max_stroop > 0) | (max_stroop < thresholds.not_activated * max_natural)
    assign(silent, "Not activated")
    shared = np.minimum(np.minimum(word, font), background)
    assign(shared.max(1) >= thresholds.multimodal, "Colour Multimodal", shared.argmax(1))
    assign(word.max(1) >= thresholds.word, "Colour Word", word.argmax(1))
    shown = font + background
    best = shown.argmax(1)
    kind = np.where(chromatic[best], "Colour chromatic", "Colour achromatic")
    assign(shown.max(1) >= thresholds.colour, kind.astype(object), best)
    if max_natural_text is None:
        max_natural_text = np.full(units, np.nan)
    with np.errstate(invalid="ignore"):
        on_natural_text = np.where(
            np.isnan(max_natural_text),
            True,
            max_natural_text >= thresholds.any_word_natural * max_natural,
        )
    assign((np.nan_to_num(text_share) >= thresholds.any_word) & on_natural_text, "Any Word")
    return classes, colour
