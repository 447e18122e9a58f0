"""Shared helpers for the open_clip and weights tests: flat images and test checkpoints."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors.torch import save_file


def flat_images(rgbs: Sequence[Sequence[int]], size: tuple[int, int] = (224, 224)) -> torch.Tensor:
    """uint8 ``[N,3,H,W]`` images, each one flat colour."""
    colours = torch.tensor([list(c) for c in rgbs], dtype=torch.uint8).view(-1, 3, 1, 1)
    return colours.expand(-1, 3, *size).contiguous()


@torch.inference_mode()
def centre_rn50_image_features(model: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """Subtract the mean image feature over ``pixels`` from the attention-pool output bias.

    Returns the centred (unnormalised) features of ``pixels``, what the changed model
    now computes for them.

    A random-init RN50 maps every image to nearly the same direction (a shared offset
    dominates), so it names the same colour for almost every image; once centred, the
    image-dependent part decides the answer.
    """
    features = model.encode_image(pixels)
    model.visual.attnpool.c_proj.bias -= features.mean(0)
    return features - features.mean(0)


def save_open_clip_checkpoint(model: torch.nn.Module, path: Path, *, wrapped: bool) -> Path:
    """Save ``model``'s state dict the ways open_clip checkpoints come.

    ``.safetensors``: a flat state dict. Otherwise ``torch.save``: flat, or, with
    ``wrapped``, a training checkpoint ``{"epoch", "state_dict": {"module.<key>": ...}}``.
    """
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    elif wrapped:
        torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    else:
        torch.save(state, path)
    return path


def put_in_hub_cache(cache: Path, repo_id: str, filename: str, content: bytes) -> Path:
    """Lay a file out as ``huggingface_hub`` caches it (refs/main -> snapshots/<sha>/file)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    sha = "0" * 40
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(sha)
    target = repo / "snapshots" / sha / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target
