"""Figures in the layout of the paper's neuron analyses (Figs. 2, 3, 5) and ECLIP overlays."""

from __future__ import annotations

import colorsys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from colorbench.plugins.interpret.indices import CLASSES
from colorbench.plugins.interpret.itsm import display_map
from colorbench.plugins.interpret.neurons import NeuronResults
from colorbench.plugins.interpret.receptive_field import crop_patches
from colorbench.stimuli.base import StimulusSet

_SWATCHES = ["#d62728", "#7f7f7f", "#1f77b4", "#9467bd", "#2ca02c", "#e0e0e0", "#bcbd22"]
CLASS_COLOURS = dict(zip(CLASSES, _SWATCHES, strict=True))


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def csi_by_layer(table: pd.DataFrame, path: Path, threshold: float) -> Path:
    """Distribution of CSI per layer, with the share of colour-selective units (Fig. 2)."""
    layers = list(dict.fromkeys(table.layer))
    fig, axes = plt.subplots(1, len(layers), figsize=(2.6 * len(layers), 2.6), sharey=True)
    for ax, layer in zip(np.atleast_1d(axes), layers, strict=True):
        csi = table.csi[table.layer == layer].dropna()
        weights = np.full(len(csi), 100 / max(len(csi), 1))
        ax.hist(csi, bins=20, range=(0, 1), weights=weights, color="#4c72b0")
        ax.axvline(threshold, color="k", lw=0.8, ls="--")
        ax.set_title(f"{layer}\n{100 * (csi >= threshold).mean():.0f}% CSI >= {threshold:g}")
        ax.set_xlabel("CSI")
    np.atleast_1d(axes)[0].set_ylabel("% of units")
    return _save(fig, path)


def hue_histograms(results: NeuronResults, path: Path) -> Path:
    """Hues of colour-selective units' features vs. the corpus hue histogram, with r (Fig. 3)."""
    names = list(results.unit_hue)
    fig, axes = plt.subplots(1, len(names), figsize=(2.8 * len(names), 2.6), sharey=True)
    bins = len(results.corpus_hue)
    centres = (np.arange(bins) + 0.5) * 360 / bins
    colours = [colorsys.hsv_to_rgb(h / 360, 0.8, 0.9) for h in centres]
    for ax, name in zip(np.atleast_1d(axes), names, strict=True):
        ax.bar(centres, results.unit_hue[name], width=360 / bins, color=colours, label="units")
        ax.plot(centres, results.corpus_hue, "k-", lw=1, label="corpus")
        ax.set_title(f"{name}: r = {results.pearson[name]:.2f}")
        ax.set_xlabel("hue (degrees)")
        ax.set_xlim(0, 360)
    np.atleast_1d(axes)[0].set_ylabel("fraction")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    return _save(fig, path)


def class_distribution(table: pd.DataFrame, path: Path) -> Path:
    """Share of each neuron class per layer, stacked (Fig. 5)."""
    layers = list(dict.fromkeys(table.layer))
    share = pd.crosstab(table.layer, table["class"], normalize="index").reindex(layers) * 100
    fig, ax = plt.subplots(figsize=(1.2 * len(layers) + 3, 3))
    bottom = np.zeros(len(layers))
    for name in CLASSES:
        if name in share:
            ax.bar(layers, share[name], bottom=bottom, label=name, color=CLASS_COLOURS[name])
            bottom += share[name].to_numpy()
    ax.set_ylabel("% of units")
    ax.legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    return _save(fig, path)


def _example_units(table: pd.DataFrame) -> list[tuple[str, str, int]]:
    """For each class present, the unit that responds most to the Stroop set."""
    picks = []
    for name in CLASSES:
        rows = table[table["class"] == name]
        if len(rows):
            best = rows.loc[rows.max_stroop.idxmax()]
            picks.append((name, best.layer, int(best.unit)))
    return picks


def class_examples(
    results: NeuronResults, stroop: StimulusSet, path: Path, crops: int = 9, size: int = 64
) -> Path:
    """Neuron feature and top Stroop crops of an example unit of each class (Fig. 4/5)."""
    picks = _example_units(results.table)
    fig, axes = plt.subplots(
        len(picks), crops + 1, figsize=(1.1 * (crops + 1), 1.2 * len(picks)), squeeze=False
    )
    for row, (name, layer, unit) in zip(axes, picks, strict=True):
        result = results.layers[layer]
        feature = result.features[unit].permute(1, 2, 0).nan_to_num(1.0).clamp(0, 1)  # NaN: white
        row[0].imshow(feature.numpy())
        row[0].set_title(f"{name}\n{layer}:{unit}", fontsize=6)
        top = result.stroop
        chosen = [s for s in range(min(crops, top.k)) if top.ids[unit, s] >= 0]
        samples = [results.stroop_samples[int(top.ids[unit, s])] for s in chosen]
        if samples:
            images = stroop.render(samples).images.float() / 255
            y, x = top.payload[unit, chosen, :2].long().unbind(1)
            boxes = result.field.boxes(y, x)
            patches = crop_patches(images, torch.arange(len(samples)), boxes, size)
            shown = patches[:, :3] + (1 - patches[:, 3:])  # outside the image: white
            for ax, patch in zip(row[1:], shown, strict=False):
                ax.imshow(patch.permute(1, 2, 0).clamp(0, 1).numpy())
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, path)


def itsm_overlays(examples: list, path: Path) -> Path:
    """Each example image above its similarity map with the answered colour's text.

    The map is normalised as the ECLIP line of work displays ITSMs (upsampled, min-max per
    map, :func:`~colorbench.plugins.interpret.itsm.display_map`; red: most similar within
    the image, blue: least), with the object's outline.
    """
    fig, axes = plt.subplots(
        2, max(len(examples), 1), figsize=(1.8 * max(len(examples), 1), 3.8), squeeze=False
    )
    for (image, sim, mask, caption), top, bottom in zip(examples, axes[0], axes[1], strict=False):
        top.imshow(image)
        top.set_title(caption, fontsize=6)
        h, w = image.shape[:2]
        bottom.imshow(display_map(sim, (h, w)), cmap="jet", vmin=0.0, vmax=1.0)
        bottom.contour(mask.astype(float), levels=[0.5], colors="k", linewidths=0.8)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    return _save(fig, path)
