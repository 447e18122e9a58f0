"""Contact sheets: a grid of examples spread over a set's combinations, for people to look at."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from colorbench.errors import ColorbenchError
from colorbench.stimuli.base import StimulusSet
from colorbench.stimuli.fonts import load_font

GAP = 6
LABEL = 18
TITLE = 30


def sheet_samples(stimulus_set: StimulusSet, count: int, samples_per_combination: int) -> list:
    """``count`` samples at evenly spaced combinations, cycling through the sample indices."""
    total = stimulus_set.num_combinations()
    picks = np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))
    return [stimulus_set.sample(int(c), i % samples_per_combination) for i, c in enumerate(picks)]


def contact_sheet(
    stimulus_set: StimulusSet, samples_per_combination: int = 1, columns: int = 8, rows: int = 6
) -> Image.Image:
    """A ``columns x rows`` grid of rendered samples, each labelled with its factor values."""
    samples = sheet_samples(stimulus_set, columns * rows, samples_per_combination)
    batch = stimulus_set.render(samples, backend="pil")
    size = stimulus_set.image_size
    factors = list(stimulus_set.combination(0))
    rows = -(-len(samples) // columns)
    width = columns * (size + GAP) + GAP
    height = TITLE + rows * (size + LABEL + GAP) + GAP
    sheet = Image.new("RGB", (width, height), (236, 236, 236))
    draw = ImageDraw.Draw(sheet)
    title = f"{stimulus_set.name}: {' / '.join(factors)}"
    draw.text((GAP, 6), title, font=load_font("DejaVu Sans Bold", 16), fill=(0, 0, 0))
    label_font = load_font("DejaVu Sans", 12)
    for i, sample in enumerate(samples):
        x = GAP + (i % columns) * (size + GAP)
        y = TITLE + (i // columns) * (size + LABEL + GAP)
        tile = batch.images[i].permute(1, 2, 0).numpy()
        sheet.paste(Image.fromarray(tile), (x, y))
        label = " / ".join(str(sample.attrs[f]) for f in factors)
        draw.text((x, y + size + 2), label, font=label_font, fill=(0, 0, 0))
    return sheet


def save_contact_sheet(
    stimulus_set: StimulusSet, path: Path, samples_per_combination: int = 1
) -> Path:
    """Write :func:`contact_sheet` as a PNG, creating the parent folder."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        contact_sheet(stimulus_set, samples_per_combination).save(path)
    except OSError as exc:
        raise ColorbenchError(
            f"cannot write contact sheet {path}: {exc.strerror or exc}; choose a writable --sheet"
        ) from None
    return path
