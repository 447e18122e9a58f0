"""Markdown reports that link the tables and figures of an analysis run."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd

from colorbench.atomic import write_text
from colorbench.plugins.interpret.indices import CLASSES, Thresholds
from colorbench.plugins.interpret.itsm import ItsmResults
from colorbench.plugins.interpret.neurons import NeuronResults
from colorbench.report.markdown import escape, table


def layer_summary(results: NeuronResults, thresholds: Thresholds) -> pd.DataFrame:
    """Per layer: units, mean CSI, % colour selective, hue r and the % of each class."""
    t = results.table
    layers = list(dict.fromkeys(t.layer))
    grouped = t.groupby("layer", sort=False)
    summary = pd.DataFrame(
        {
            "units": grouped.size(),
            "mean CSI": grouped.csi.mean(),
            "% CSI >= threshold": grouped.csi.apply(
                lambda s: 100 * (s >= thresholds.colour_selective).mean()
            ),
            "hue r": pd.Series({name: results.pearson.get(name) for name in layers}),
        }
    ).reindex(layers)
    classes = pd.crosstab(t.layer, t["class"], normalize="index").reindex(layers) * 100
    columns = [c for c in CLASSES if c in classes]
    return pd.concat([summary, classes[columns].add_prefix("% ")], axis=1).rename_axis("layer")


def _settings(meta: dict) -> str:
    return "\n".join(f"- {escape(k)}: {escape(v)}" for k, v in meta.items()) + "\n"


def _figures(figures: dict[str, Path], out: Path) -> str:
    return "\n".join(
        f"![{escape(title)}]({path.relative_to(out).as_posix()})\n"
        for title, path in figures.items()
    )


def neurons_report(
    results: NeuronResults,
    out: Path,
    meta: dict,
    figures: dict[str, Path],
    thresholds: Thresholds,
) -> Path:
    """``report.md``: settings, the per-layer summary, thresholds, figures, table files."""
    lines = [
        "# Neuron analyses\n",
        "Section 4 of Arias, Baldrich & Vanrell (CIC 2024): colour selectivity (CSI), "
        "neuron features and their hues, colour-label selectivity (f_c) over the Stroop set "
        "and neuron classes. Per-unit values: [neurons.csv](neurons.csv), "
        "[neurons.parquet](neurons.parquet).\n",
        "## Settings\n",
        _settings(meta),
        "## Per layer\n",
        table(layer_summary(results, thresholds), floatfmt="{:.2f}"),
        f"Hue r (all colour-selective units): {results.pearson.get('all', float('nan')):.2f}\n",
        "## Thresholds\n",
        _settings(asdict(thresholds)),
        "## Figures\n",
        _figures(figures, out),
    ]
    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path


def itsm_report(results: ItsmResults, out: Path, meta: dict, figures: dict[str, Path]) -> Path:
    """``report.md`` of the similarity maps: settings, colour-group table, overlays."""
    lines = [
        "# Image-text similarity maps\n",
        "ECLIP (Li et al. 2022): cosine similarity of the answered colour's text with each "
        "position of the final feature map in the joint space. `part_share` is the share of "
        "positive similarity on the object, `part_area` the object's share of the image; "
        "`ratio` > 1 means the map favours the object beyond its size. Per image: "
        "[itsm.csv](itsm.csv).\n",
        "These shares are descriptive: ECLIP shows that raw CLIP similarity maps favour the "
        "background in general (a pooling artefact), so they do not show where an answer "
        "came from. The overlays are normalised as ECLIP displays maps (upsampled, min-max "
        "per map): colour shows where similarity is highest within one image, not its "
        "level.\n",
        "## Settings\n",
        _settings(meta),
        "## By colour group\n",
        table(results.groups, floatfmt="{:.3f}"),
        "## Figures\n",
        _figures(figures, out),
    ]
    path = out / "report.md"
    write_text(path, "\n".join(lines))
    return path
