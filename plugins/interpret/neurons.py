"""The neuron analyses of paper section 4, as streaming passes over an image encoder.

Three passes, each holding one batch of activations at a time:

1. natural corpus: each unit's top-k images (strongest response, one per image)
   and where on the feature grid it peaked; its strongest response to the corpus's
   text images (Any Word's natural-text check); the corpus hue histogram;
2. the grey versions of just those images (``--csi-gray``: each peak's receptive
   field greyed by the toolbox's PCA-opponent conversion, one forward per distinct
   field; or the whole image by luma, one forward per image), for CSI, and the colour
   crops of the units' receptive fields at their peaks, for the neuron features;
3. the Stroop set: each unit's top-N Stroop images, with the share of the
   response that lies on the written word, for f_c and the neuron classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from rich.progress import Progress
from torch import nn

from colorbench.palette import Palette
from colorbench.plugins.interpret.corpus import Corpus
from colorbench.plugins.interpret.gray import (
    DEFAULT_GRAY,
    GRAY_CONVERSIONS,
    clip_boxes,
    luma_gray,
    pca_opponent_gray,
)
from colorbench.plugins.interpret.indices import (
    LABEL_TYPES,
    Thresholds,
    classify_units,
    colour_selectivity,
    dominant_hue,
    hue_chroma,
    hue_histogram,
    label_selectivity,
    neuron_features,
    pearson,
)
from colorbench.plugins.interpret.layers import recording, resolve_layer, token_grid
from colorbench.plugins.interpret.receptive_field import (
    ReceptiveField,
    crop_patches,
    receptive_field,
)
from colorbench.plugins.interpret.topk import TopK, spatial_max
from colorbench.stimuli.base import Sample, StimulusSet

Preprocess = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class NeuronSettings:
    """Sizes of the analysis. ``top_k``: patches per unit for CSI and neuron features
    (the paper: 100); ``stroop_top``: Stroop images per unit for f_c (N); ``csi_gray``:
    the grey conversion of CSI, one of ``gray.GRAY_CONVERSIONS``."""

    top_k: int = 100
    stroop_top: int = 100
    batch_size: int = 32
    feature_size: int = 32
    hue_bins: int = 36
    #: receptive-field crops resampled per chunk in pass 2 (bounds memory)
    crop_chunk: int = 4096
    csi_gray: str = DEFAULT_GRAY
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if self.csi_gray not in GRAY_CONVERSIONS:
            raise ValueError(f"csi_gray must be one of {', '.join(GRAY_CONVERSIONS)}")


@dataclass
class LayerResult:
    """Everything measured for one layer's units (tensors on the CPU)."""

    name: str
    field: ReceptiveField
    natural: TopK
    gray: torch.Tensor  # [C, k] activation on the grey version of each top patch
    features: torch.Tensor  # [C, 3, S, S] neuron features (NaN outside every patch)
    stroop: TopK  # payload: y, x, text share
    #: [C] strongest response to a corpus text image (NaN: the corpus has none)
    natural_text: torch.Tensor | None = None


@dataclass
class NeuronResults:
    layers: dict[str, LayerResult]
    table: pd.DataFrame
    corpus_hue: np.ndarray
    unit_hue: dict[str, np.ndarray]  # per layer (and "all"): hue histogram of colour units
    pearson: dict[str, float]
    stroop_samples: list[Sample]


def _batches(n: int, size: int) -> Iterable[range]:
    return (range(start, min(start + size, n)) for start in range(0, n, size))


def _tracked(progress: Progress | None, iterable: Iterable, total: int, description: str):
    if progress is None:
        return iterable
    return progress.track(iterable, total=total, description=description)


class _Encoder:
    """An encoder with hooks on the analysed layers: images in, activations out."""

    def __init__(
        self, encoder: nn.Module, preprocess: Preprocess, names: Sequence[str], device
    ) -> None:
        self.encoder = encoder.eval()
        self.preprocess = preprocess
        self.device = torch.device(device)
        self.modules = {name: resolve_layer(encoder, name) for name in names}
        self.grid = token_grid(encoder)
        self.fields = {name: receptive_field(encoder, m) for name, m in self.modules.items()}

    def __call__(
        self, images: torch.Tensor, names: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Activations of the layers ``names`` (default all) on uint8 images."""
        return self.run(self.preprocess(images.to(self.device)), names)

    @torch.inference_mode()
    def run(self, inputs: torch.Tensor, names: Sequence[str] | None = None):
        """Activations on already preprocessed ``inputs``; the pass stops at the last layer."""
        modules = self.modules if names is None else {n: self.modules[n] for n in names}
        with recording(modules, self.grid) as store:
            self.encoder(inputs)
        return store


def _entries(ids: torch.Tensor, batch_ids: torch.Tensor):
    """(unit, slot, position in batch) of every top-k entry whose image is in the batch."""
    units, slots = torch.isin(ids, batch_ids).nonzero(as_tuple=True)
    return units, slots, torch.searchsorted(batch_ids, ids[units, slots])


def _natural_pass(net: _Encoder, corpus: Corpus, settings: NeuronSettings, progress):
    trackers: dict[str, TopK] = {}
    text_max: dict[str, torch.Tensor] = {}
    is_text = torch.zeros(len(corpus), dtype=torch.bool)
    is_text[corpus.text_items] = True
    hue_counts = torch.zeros(settings.hue_bins, device=net.device)
    n = len(corpus)
    for batch in _tracked(
        progress,
        _batches(n, settings.batch_size),
        -(-n // settings.batch_size),
        "natural images: top-k",
    ):
        images = corpus.load(batch).to(net.device)
        hue, chroma = hue_chroma(images.float() / 255)
        bins = (hue / 360 * settings.hue_bins).long().clamp(max=settings.hue_bins - 1)
        hue_counts += torch.bincount(bins.ravel(), chroma.ravel(), settings.hue_bins)
        ids = torch.tensor(list(batch), device=net.device)
        for name, act in net(images).items():
            if name not in trackers:
                trackers[name] = TopK(act.shape[1], settings.top_k, payload=2, device=net.device)
                text_max[name] = torch.full((act.shape[1],), float("nan"), device=net.device)
            values, positions = spatial_max(act)
            trackers[name].update(values, ids, positions)
            text = is_text[list(batch)].to(net.device)
            if text.any():
                best = values[:, text].float().max(dim=1).values
                text_max[name] = torch.fmax(text_max[name], best)
    counts = hue_counts.cpu().numpy()
    return trackers, text_max, counts / max(counts.sum(), 1e-12)


@dataclass(frozen=True)
class _Peaks:
    """One layer's top-k entries whose image is in the current batch."""

    units: torch.Tensor
    slots: torch.Tensor
    local: torch.Tensor  # position of the image in the batch
    y: torch.Tensor
    x: torch.Tensor
    boxes: torch.Tensor  # receptive field at the peak, unclipped


def _window_index(origins: torch.Tensor, size: tuple[int, int], images: torch.Tensor):
    """Advanced index of ``[M,h,w]`` windows at ``origins [M,2]`` (x, y) of the
    ``images [M]`` of a ``[N,C,H,W]`` tensor (channels last in the result)."""
    rows = origins[:, 1, None] + torch.arange(size[0], device=origins.device)
    cols = origins[:, 0, None] + torch.arange(size[1], device=origins.device)
    return images[:, None, None], slice(None), rows[:, :, None], cols[:, None, :]


class _PcaGrey:
    """One layer's responses at its peaks with the peak's field greyed (pca-opponent).

    Peaks are grouped by (image, field cut to the image): units peaking at the same
    place, and deep units whose field covers the whole image, share a forward, which
    stops at the layer. A CNN unit sees only its field, so each forward runs on the
    smallest grid-aligned window that holds the field (``ReceptiveField.windows``: 16x16
    for an RN50 stem unit instead of 224x224); the windows are preprocessed tiled on
    image-sized canvases, as the preprocessing expects whole images. The shortcut is
    checked once per layer against the whole image and dropped if the two differ (an
    encoder with a global operation, a preprocessing that is not per pixel).
    """

    def __init__(self, net: _Encoder, batch_size: int) -> None:
        self.net, self.batch_size = net, batch_size
        self.windowed: dict[str, bool] = {}

    def _inputs(self, windows: torch.Tensor, canvas: tuple[int, int]) -> torch.Tensor:
        """``windows [M,3,h,w]`` uint8, preprocessed as parts of ``canvas``-sized images."""
        m, _, h, w = windows.shape
        across, down = canvas[1] // w, canvas[0] // h
        tile = torch.arange(m, device=windows.device)
        origins = torch.stack([tile % across * w, tile // across % down * h], dim=1)
        where = _window_index(origins, (h, w), tile // (across * down))
        sheets = windows.new_zeros(-(-m // (across * down)), 3, *canvas)
        sheets[where] = windows.permute(0, 2, 3, 1)
        inputs = self.net.preprocess(sheets.to(self.net.device))
        return inputs[where].permute(0, 3, 1, 2)

    def _maps(self, name, images, keys, origins, size) -> tuple[torch.Tensor, torch.Tensor]:
        """The layer on each key's image with its box greyed, and each map's grid offset."""
        windows = images[_window_index(origins, size, keys[:, 0])].permute(0, 3, 1, 2)
        grey = pca_opponent_gray(windows, keys[:, 1:] - origins.repeat(1, 2))
        act = self.net.run(self._inputs(grey, images.shape[-2:]), [name])[name]
        return act, torch.div(origins, self.net.fields[name].jump, rounding_mode="floor")

    def _windows(self, name, images, keys, peak) -> tuple[torch.Tensor, tuple[int, int]]:
        """Window origins and size for ``keys``; the whole image where not exact."""
        height, width = images.shape[-2:]
        whole = (keys.new_zeros(len(keys), 2), (height, width))
        if self.net.grid is not None:  # a ViT: attention makes every field global
            return whole
        origins, size = self.net.fields[name].windows(keys[:, 1:], height, width)
        if size == (height, width):
            return whole
        if name not in self.windowed:
            y, x = peak
            responses = []
            for start, side in ((origins[:1], size), (whole[0][:1], whole[1])):
                act, offset = self._maps(name, images, keys[:1], start, side)
                responses.append(act[0, :, y - offset[0, 1], x - offset[0, 0]])
            scale = responses[1].abs().max().clamp(min=1e-6)
            # loose enough for TF32 convolutions on a GPU; a global operation differs by far more
            self.windowed[name] = torch.allclose(*responses, rtol=1e-2, atol=1e-2 * scale)
        return (origins, size) if self.windowed[name] else whole

    def __call__(self, name: str, images: torch.Tensor, p: _Peaks) -> torch.Tensor:
        height, width = images.shape[-2:]
        keys = torch.cat([p.local[:, None], clip_boxes(p.boxes, height, width)], dim=1)
        out = torch.empty(len(keys), device=self.net.device)
        if not len(keys):
            return out
        distinct, which = torch.unique(keys, dim=0, return_inverse=True)
        first = int((which == 0).nonzero()[0, 0])
        origins, size = self._windows(name, images, distinct, (p.y[first], p.x[first]))
        # as many windows per forward as fit on batch_size image-sized canvases
        per_forward = self.batch_size * (height // size[0]) * (width // size[1])
        for chunk in _batches(len(distinct), per_forward):
            rows = slice(chunk.start, chunk.stop)
            act, offset = self._maps(name, images, distinct[rows], origins[rows], size)
            hit = ((which >= chunk.start) & (which < chunk.stop)).nonzero(as_tuple=True)[0]
            k = which[hit] - chunk.start
            y, x = p.y[hit] - offset[k, 1], p.x[hit] - offset[k, 0]
            out[hit] = act[k, p.units[hit], y, x]
        return out


def _grey_and_features_pass(
    net: _Encoder, corpus: Corpus, trackers: dict[str, TopK], settings: NeuronSettings, progress
):
    gray = {name: torch.zeros_like(t.values) for name, t in trackers.items()}
    # features no larger than the field: a small field is not blurred by upsampling
    sizes = {name: min(settings.feature_size, net.fields[name].size) for name in trackers}
    sums = {
        name: torch.zeros(t.values.shape[0], 4, sizes[name], sizes[name], device=net.device)
        for name, t in trackers.items()
    }
    pca = _PcaGrey(net, settings.batch_size)
    needed = torch.unique(torch.cat([t.ids[t.filled()] for t in trackers.values()]))
    steps = -(-len(needed) // settings.batch_size)
    for batch in _tracked(
        progress,
        _batches(len(needed), settings.batch_size),
        steps,
        f"grey patches ({settings.csi_gray}) and neuron features",
    ):
        batch_ids = needed[batch.start : batch.stop]
        images = corpus.load(batch_ids.tolist()).to(net.device)
        colour = images.float() / 255
        peaks = {}
        for name, tracker in trackers.items():
            units, slots, local = _entries(tracker.ids, batch_ids)
            y, x = tracker.payload[units, slots].long().unbind(1)
            peaks[name] = _Peaks(units, slots, local, y, x, net.fields[name].boxes(y, x))
            weights = tracker.values[units, slots].clamp(min=0)
            for chunk in _batches(len(units), settings.crop_chunk):
                part = slice(chunk.start, chunk.stop)
                crops = crop_patches(colour, local[part], peaks[name].boxes[part], sizes[name])
                sums[name].index_add_(0, units[part], crops * weights[part, None, None, None])
        # luma greys whole images: one forward serves every layer
        luma = net(luma_gray(images)) if settings.csi_gray == "luma" else None
        for name, p in peaks.items():
            gray[name][p.units, p.slots] = (
                pca(name, images, p) if luma is None else luma[name][p.local, p.units, p.y, p.x]
            )
    return gray, {name: neuron_features(s) for name, s in sums.items()}


def _text_share(act: torch.Tensor, text: torch.Tensor, field: ReceptiveField) -> torch.Tensor:
    """``[C, B]`` share of each unit's rectified response that lies on the written word.

    The text mask is dilated by half the unit's grid step plus two pixels (units fire
    on glyph edges, just outside the glyph) and averaged onto the feature grid.
    """
    radius = field.jump // 2 + 2
    size = 2 * radius + 1  # a square max filter, as two 1-D passes
    mask = F.max_pool2d(text[:, None].float(), (size, 1), stride=1, padding=(radius, 0))
    mask = F.max_pool2d(mask, (1, size), stride=1, padding=(0, radius))
    on_grid = F.adaptive_avg_pool2d(mask, act.shape[-2:])
    act = act.clamp(min=0)
    total = act.sum((2, 3))
    share = (act * on_grid).sum((2, 3)) / total.clamp(min=1e-12)
    return torch.where(total > 0, share, torch.zeros_like(share)).T


def _stroop_pass(
    net: _Encoder,
    stroop: StimulusSet,
    samples: Sequence[Sample],
    settings: NeuronSettings,
    progress,
) -> dict[str, TopK]:
    text_part = stroop.parts.index("text") if "text" in stroop.parts else None
    backend = "torch" if net.device.type == "cuda" and "torch" in stroop.backends else "pil"
    trackers: dict[str, TopK] = {}
    steps = -(-len(samples) // settings.batch_size)
    for batch in _tracked(
        progress, _batches(len(samples), settings.batch_size), steps, "Stroop images: top-N"
    ):
        rendered = stroop.render(
            samples[batch.start : batch.stop], backend=backend, device=net.device
        )
        masks = rendered.masks.to(net.device)
        text = masks == text_part if text_part is not None else masks > 0
        ids = torch.tensor(list(batch), device=net.device)
        for name, act in net(rendered.images).items():
            if name not in trackers:
                trackers[name] = TopK(act.shape[1], settings.stroop_top, 3, device=net.device)
            values, positions = spatial_max(act)
            share = _text_share(act, text, net.fields[name])
            trackers[name].update(values, ids, torch.cat([positions, share[..., None]], 2))
    return trackers


def stroop_labels(samples: Sequence[Sample], palette: Palette) -> dict[str, torch.Tensor]:
    """Palette index of the word, font and background colour of every Stroop sample."""
    return {
        role: torch.tensor([palette.index(s.attrs[role]) for s in samples]) for role in LABEL_TYPES
    }


def _cpu(tracker: TopK) -> TopK:
    for attr in ("values", "ids", "payload"):
        setattr(tracker, attr, getattr(tracker, attr).cpu())
    return tracker


def analyze_neurons(
    encoder: nn.Module,
    preprocess: Preprocess,
    layers: Sequence[str],
    corpus: Corpus,
    stroop: StimulusSet,
    stroop_samples: Sequence[Sample],
    settings: NeuronSettings = NeuronSettings(),
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> NeuronResults:
    """Run the three passes and compute every index of every unit of ``layers``.

    ``encoder`` is the image encoder (e.g. ``clip.visual``), already on ``device``;
    ``preprocess`` maps ``[B,3,H,W]`` uint8 images to its input tensor.
    """
    net = _Encoder(encoder, preprocess, layers, device)
    natural, natural_text, corpus_hue = _natural_pass(net, corpus, settings, progress)
    gray, features = _grey_and_features_pass(net, corpus, natural, settings, progress)
    stroop_top = _stroop_pass(net, stroop, stroop_samples, settings, progress)
    results = {
        name: LayerResult(
            name,
            net.fields[name],
            _cpu(natural[name]),
            gray[name].cpu(),
            features[name].cpu(),
            _cpu(stroop_top[name]),
            natural_text[name].cpu(),
        )
        for name in layers
    }
    labels = stroop_labels(stroop_samples, stroop.palette)
    table = _table(results, labels, stroop.palette, settings.thresholds)
    unit_hue, r = {}, {}
    selective = table[table.csi >= settings.thresholds.colour_selective]
    for name, rows in [*selective.groupby("layer", sort=False), ("all", selective)]:
        unit_hue[name] = hue_histogram(rows.hue.to_numpy(), None, settings.hue_bins)
        r[name] = pearson(unit_hue[name], corpus_hue)
    return NeuronResults(results, table, corpus_hue, unit_hue, r, list(stroop_samples))


def _table(
    layers: dict[str, LayerResult],
    labels: dict[str, torch.Tensor],
    palette: Palette,
    thresholds: Thresholds,
) -> pd.DataFrame:
    """One row per unit: layer, unit, CSI, hue, f_c per role and colour, class."""
    frames = []
    chromatic = np.array([c.chromatic for c in palette])
    for name, result in layers.items():
        natural, stroop = result.natural, result.stroop
        units = natural.values.shape[0]
        hue, chroma = dominant_hue(result.features)
        row = {
            "layer": name,
            "unit": np.arange(units),
            "csi": colour_selectivity(natural.values, result.gray, natural.filled()).numpy(),
            "hue": hue.numpy(),
            "chroma": chroma.numpy(),
            "max_natural": natural.values[:, 0].numpy(),
            "max_stroop": stroop.values[:, 0].numpy(),
            "max_natural_text": (
                result.natural_text.numpy()
                if result.natural_text is not None
                else np.full(units, np.nan)
            ),
        }
        weights = stroop.values.clamp(min=0) * stroop.filled()
        share = (weights * stroop.payload[..., 2]).sum(1) / weights.sum(1).clamp(min=1e-12)
        row["text_share"] = share.numpy()
        f = {
            role: label_selectivity(stroop.values, stroop.ids, labels[role], len(palette)).numpy()
            for role in LABEL_TYPES
        }
        for role in LABEL_TYPES:
            for i, colour in enumerate(palette.names):
                row[f"f_{role}_{colour}"] = f[role][:, i]
        classes, colour = classify_units(
            f,
            row["text_share"],
            row["max_stroop"],
            row["max_natural"],
            chromatic,
            thresholds,
            row["max_natural_text"],
        )
        row["class"] = classes.astype(str)
        row["class_colour"] = [palette.names[c] if c >= 0 else "" for c in colour]
        frames.append(pd.DataFrame(row))
    return pd.concat(frames, ignore_index=True)
