"""Image-Text Similarity Maps (ECLIP, Li et al. 2022) on the synthetic stimuli.

The cosine similarity between a text embedding and each spatial position of the
image encoder's final feature map, projected into the joint space, shows where in
the image the model finds the text. On the shapes set, the share of positive
similarity on the object against the object's share of the area *describes* where the
similarity lies. It is not proof of where the answer came from: ECLIP shows that raw
CLIP similarity maps favour the background in general (the attention pooling shifts
semantics onto background positions), so a low object share is expected of any CLIP
and says little about one answer. Maps are shown as the ECLIP line of work shows
them (:func:`display_map`): upsampled to the image and min-max normalised per map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from rich.progress import Progress
from torch import nn

from colorbench.palette import Palette
from colorbench.stimuli.base import Sample, StimulusSet


@dataclass
class JointSpace:
    """What ITSM needs from a contrastive model, as plain callables.

    ``preprocess``: uint8 ``[B,3,H,W]`` -> encoder input; ``spatial``: encoder input ->
    ``[B,D,h,w]`` per-position embeddings; ``image``: encoder input -> ``[B,D]``;
    ``text``: K texts -> ``[K,D]``.
    """

    preprocess: Callable[[torch.Tensor], torch.Tensor]
    spatial: Callable[[torch.Tensor], torch.Tensor]
    image: Callable[[torch.Tensor], torch.Tensor]
    text: Callable[[Sequence[str]], torch.Tensor]


def resnet_spatial(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """open_clip ``ModifiedResNet``: every layer4 position through the attention pool's
    value and output projections (``v_proj`` then ``c_proj``), with its positional
    embedding, i.e. the term each position adds to the pooled embedding."""
    x = visual.stem(pixels)
    x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))
    b, c, h, w = x.shape
    pool = visual.attnpool
    tokens = x.flatten(2).transpose(1, 2) + pool.positional_embedding[1:].to(x.dtype)
    out = pool.c_proj(pool.v_proj(tokens))
    return out.transpose(1, 2).reshape(b, -1, h, w)


def vit_spatial(visual: nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """open_clip ``VisionTransformer``: patch tokens after ``ln_post``, through ``proj``."""
    previous = visual.output_tokens
    visual.output_tokens = True
    try:
        _, tokens = visual(pixels)
    finally:
        visual.output_tokens = previous
    if visual.proj is not None:
        tokens = tokens @ visual.proj
    h, w = visual.grid_size
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, h, w)


def open_clip_space(model: nn.Module, preprocess, encode_texts) -> JointSpace:
    """The joint space of an open_clip CLIP model (ResNet or ViT image tower)."""
    visual = model.visual
    spatial = resnet_spatial if hasattr(visual, "attnpool") else vit_spatial
    return JointSpace(
        preprocess=preprocess,
        spatial=lambda pixels: spatial(visual, pixels),
        image=model.encode_image,
        text=encode_texts,
    )


def similarity_maps(spatial: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of ``text [B,D]`` with each position of ``spatial [B,D,h,w]``."""
    return F.cosine_similarity(spatial.float(), text.float()[:, :, None, None], dim=1)


def display_map(sim: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An ITSM as ECLIP displays it: ``norm(resize(S))``, the ``[h,w]`` similarity map
    upsampled bilinearly to ``size`` (H, W) and min-max normalised to [0, 1] per map.

    Normalising per map shows where the similarity is highest within this image; it
    discards the level, so maps are compared by shape, never by colour across images. A
    constant map has no such ordering and becomes all zeros.
    """
    sim = torch.as_tensor(np.asarray(sim), dtype=torch.float32)
    up = F.interpolate(sim[None, None], size=size, mode="bilinear", align_corners=False)[0, 0]
    low, high = up.min(), up.max()
    if high <= low:
        return torch.zeros_like(up).numpy()
    return ((up - low) / (high - low)).numpy()


def positive_share(maps: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
    """Share of positive similarity mass on ``part [B,H,W]`` (bool), per image.

    Maps are upsampled bilinearly to the mask's resolution, as ECLIP displays them;
    NaN where a map has no positive similarity at all.
    """
    up = F.interpolate(maps[:, None].float(), size=part.shape[-2:], mode="bilinear")[:, 0]
    positive = up.clamp(min=0)
    total = positive.sum((1, 2))
    on_part = (positive * part).sum((1, 2))
    return torch.where(total > 0, on_part / total.clamp(min=1e-12), torch.nan)


@dataclass
class ItsmResults:
    """One row per image, the colour-group summary and a few images with their maps."""

    per_image: pd.DataFrame
    groups: pd.DataFrame
    #: (image [H,W,3], similarity map [h,w], part mask [H,W], caption)
    examples: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = field(default_factory=list)


def analyze_itsm(
    space: JointSpace,
    stimuli: StimulusSet,
    samples: Sequence[Sample],
    template: str,
    part: str = "object",
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    examples_per_group: int = 2,
    progress: Progress | None = None,
) -> ItsmResults:
    """Similarity maps of each image with the text of the model's own answer.

    The answer is the palette colour whose ``template`` text is closest to the image
    embedding (the zero-shot answer of the task); its map is split into ``part``
    (mask label, the shape's ``object``) and the rest.
    """
    palette = stimuli.palette
    texts = [template.format(c=name) for name in palette.names]
    part_index = stimuli.parts.index(part)
    rows, examples, shown = [], [], {}
    with torch.inference_mode():
        text = F.normalize(space.text(texts).float(), dim=-1).to(device)
        steps = range(0, len(samples), batch_size)
        if progress is not None:
            steps = progress.track(steps, description="similarity maps")
        for start in steps:
            batch = stimuli.render(samples[start : start + batch_size])
            pixels = space.preprocess(batch.images.to(device))
            answers = (F.normalize(space.image(pixels).float(), dim=-1) @ text.T).argmax(1)
            maps = similarity_maps(space.spatial(pixels), text[answers])
            mask = batch.masks.to(device) == part_index
            share = positive_share(maps, mask)
            for i, sample in enumerate(batch.samples):
                row = _row(sample, palette, palette.names[int(answers[i])], part)
                row.update(part_share=float(share[i]), part_area=float(mask[i].float().mean()))
                rows.append(row)
                group = (row["background_kind"], row[f"{part}_kind"])
                if shown.get(group, 0) < examples_per_group:
                    shown[group] = shown.get(group, 0) + 1
                    caption = f"{sample.attrs.get(part)} on {sample.attrs.get('background')}"
                    image = batch.images[i].permute(1, 2, 0).cpu().numpy()
                    examples.append(
                        (
                            image,
                            maps[i].cpu().numpy(),
                            mask[i].cpu().numpy(),
                            f"{caption}: '{row['answer']}'",
                        )
                    )
    per_image = pd.DataFrame(rows)
    return ItsmResults(per_image, summarize_groups(per_image, part), examples)


def _row(sample: Sample, palette: Palette, answer: str, part: str) -> dict:
    background, target = sample.attrs["background"], sample.attrs[part]
    outcome = "background" if answer == background else part if answer == target else "none"
    kind = {True: "chromatic", False: "achromatic"}
    return {
        "sample_id": sample.sample_id,
        "background": background,
        part: target,
        "background_kind": kind[palette.is_chromatic(background)],
        f"{part}_kind": kind[palette.is_chromatic(target)],
        "answer": answer,
        "outcome": outcome,
    }


def summarize_groups(per_image: pd.DataFrame, part: str = "object") -> pd.DataFrame:
    """Mean share of positive similarity on ``part`` vs. its mean area, per colour group.

    ``ratio`` > 1: the map concentrates on the part more than its size alone explains.
    """
    grouped = per_image.groupby(["background_kind", f"{part}_kind"])
    table = grouped.agg(
        n=("part_share", "size"),
        part_share=("part_share", "mean"),
        part_area=("part_area", "mean"),
        answers_background=("outcome", lambda s: 100 * (s == "background").mean()),
        **{f"answers_{part}": ("outcome", lambda s: 100 * (s == part).mean())},
    )
    table["ratio"] = table.part_share / table.part_area
    return table
