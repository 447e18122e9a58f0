"""The neuron analyses of paper section 4, as streaming passes over an image encoder.

Three passes, each holding one batch of activations at a time:

1. natural corpus: each unit's top-k images (strongest response, one per image)
   and where on the feature grid it peaked; its strongest response to the corpus's
   text images (Any Word's natural-text check); the corpus hue histogram;
2. the grey versions of just those images, for CSI, and the colour crops of the
   units' receptive fields at their peaks, for the neuron features;
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
from colorbench.plugins.interpret.indices import (
    LABEL_TYPES,
    Thresholds,
    classify_units,
    colour_selectivity,
    dominant_hue,
    grayscale,
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
    (the paper: 100); ``stroop_top``: Stroop images per unit for f_c (N)."""

    top_k: int = 100
    stroop_top: int = 100
    batch_size: int = 32
    feature_size: int = 32
    hue_bins: int = 36
    #: receptive-field crops resampled per chunk in pass 2 (bounds memory)
    crop_chunk: int = 4096
    thresholds: Thresholds = field(default_factory=Thresholds)


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

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with recording(self.modules, self.grid) as store:
            self.encoder(self.preprocess(images.to(self.device)))
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
    needed = torch.unique(torch.cat([t.ids[t.filled()] for t in trackers.values()]))
    steps = -(-len(needed) // settings.batch_size)
    for batch in _tracked(
        progress,
        _batches(len(needed), settings.batch_size),
        steps,
        "grey patches and neuron features",
    ):
        batch_ids = needed[batch.start : batch.stop]
        images = corpus.load(batch_ids.tolist()).to(net.device)
        colour = images.float() / 255
        for name, act in net(grayscale(images)).items():
            tracker = trackers[name]
            units, slots, local = _entries(tracker.ids, batch_ids)
            y, x = tracker.payload[units, slots].long().unbind(1)
            gray[name][units, slots] = act[local, units, y, x]
            weights = tracker.values[units, slots].clamp(min=0)
            boxes = net.fields[name].boxes(y, x)
            for chunk in _batches(len(units), settings.crop_chunk):
                part = slice(chunk.start, chunk.stop)
                crops = crop_patches(colour, local[part], boxes[part], sizes[name])
                sums[name].index_add_(0, units[part], crops * weights[part, None, None, None])
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
