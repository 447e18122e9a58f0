"""Build an open_clip model and tokenizer for a colorbench model id, loading weights safely.

Kept apart from the adapter so that ``import colorbench.plugins.openclip`` (done by
every ``colorbench`` command) stays free of ``import open_clip``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch

from colorbench.errors import ColorbenchError, suggest
from colorbench.plugins import openclip_catalog
from colorbench.plugins.openclip_catalog import HUB_PREFIX, RANDOM_PREFIX
from colorbench.plugins.openclip_weights import (
    HUB_CONFIG_FILE,
    HUB_WEIGHT_FILES,
    hub_file,
    pretrained_weights,
    require_hub_repos,
)
from colorbench.runner.weights import load_into, load_state_dict

#: preprocessing keys a pretrained tag may override (as open_clip merges them)
#: a Hugging Face repository id as the hub accepts it: ORG/NAME, letters, digits, ``-_.``
HUB_REPO = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
)
_TAG_PREPROCESS_KEYS = ("mean", "std", "interpolation", "resize_mode", "fill_color")


@dataclass
class Built:
    """A ready model (CPU, fp32, eval) and what it was built from."""

    model: torch.nn.Module
    tokenizer: object
    arch: str
    pretrained: str
    weights: Path | None


def build(model_id: str, weights: Path | str | None = None, seed: int = 0) -> Built:
    """Create the model ``model_id`` names; ``weights`` overrides where its weights come from.

    ``random-<arch>`` is initialised from ``seed`` (deterministic) and loads ``weights``
    only when given. Weights never come from open_clip's own loader (see colorbench.runner.weights).
    """
    weights = Path(weights) if weights is not None else None
    if model_id.startswith(HUB_PREFIX):
        return _build_hub(model_id, weights, seed)
    if model_id.startswith(RANDOM_PREFIX):
        arch, tag, create = model_id[len(RANDOM_PREFIX) :], "random", {}
        _check_arch(arch, model_id)
    else:
        try:
            arch, tag = openclip_catalog.model_ids()[model_id]
        except KeyError:
            raise ColorbenchError(
                f"unknown open_clip model {model_id!r}"
                f"{suggest(model_id, openclip_catalog.model_ids())}; "
                "`colorbench list` shows them all"
            ) from None
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        create = {
            "force_quick_gelu": bool(cfg.get("quick_gelu", False)),
            "force_preprocess_cfg": {k: cfg[k] for k in _TAG_PREPROCESS_KEYS if k in cfg},
        }
        weights = weights or pretrained_weights(cfg, model_id)
    require_hub_repos(_hf_repos(open_clip.get_model_config(arch)), model_id)
    model = _create(arch, seed, **create)
    return Built(load_weights(model, weights), open_clip.get_tokenizer(arch), arch, tag, weights)


def _build_hub(model_id: str, weights: Path | None, seed: int) -> Built:
    repo_id = model_id[len(HUB_PREFIX) :]
    if not HUB_REPO.fullmatch(repo_id):
        hint = " (a revision such as @main is not supported)" if "@" in repo_id else ""
        raise ColorbenchError(
            f"{model_id!r} is not hf-hub:ORG/REPO{hint}; name a hub repository, e.g. "
            "hf-hub:timm/ViT-B-16-SigLIP"
        )
    config = hub_file(repo_id, (HUB_CONFIG_FILE,), model_id)
    local = f"local-dir:{config.parent}"
    weights = weights or hub_file(repo_id, HUB_WEIGHT_FILES, model_id)
    require_hub_repos(_hf_repos(json.loads(config.read_text()).get("model_cfg", {})), model_id)
    model = _create(local, seed, load_weights=False)
    try:
        tokenizer = open_clip.get_tokenizer(local)
    except Exception as exc:  # e.g. a HF tokenizer that is not cached either
        raise ColorbenchError(
            f"{model_id}: cannot build its tokenizer ({type(exc).__name__}: "
            f"{' '.join(str(exc).split())[:200]}); "
            "download the tokenizer into the Hugging Face cache on a machine with internet"
        ) from None
    return Built(load_weights(model, weights), tokenizer, repo_id, model_id, weights)


def _hf_repos(model_cfg: dict) -> list[str]:
    """Hugging Face repositories transformers fetches to build this config's text side."""
    text_cfg = model_cfg.get("text_cfg", {})
    return sorted({text_cfg.get(k) for k in ("hf_model_name", "hf_tokenizer_name")} - {None, ""})


def _check_arch(arch: str, model_id: str) -> None:
    if arch not in open_clip.list_models():
        raise ColorbenchError(
            f"unknown open_clip architecture {arch!r} in {model_id!r}"
            f"{suggest(arch, open_clip.list_models())}; "
            "random-ARCH takes any name in open_clip.list_models()"
        )


def _create(name: str, seed: int, **create) -> torch.nn.Module:
    """open_clip model with seeded random init; the global RNG state is left untouched."""
    with torch.random.fork_rng(devices=[]), _quiet_open_clip_logging():
        torch.manual_seed(seed)
        return open_clip.create_model(name, pretrained=None, pretrained_text=False, **create)


def load_weights(model: torch.nn.Module, weights: Path | None) -> torch.nn.Module:
    """Load a checkpoint file into an open_clip model through colorbench.runner.weights (safe)."""
    if weights is not None:
        load_into(model, _to_open_clip_layout(model, load_state_dict(weights)), weights)
    return model.eval()


def _to_open_clip_layout(model: torch.nn.Module, state_dict: dict) -> dict:
    """The renamings open_clip's own loader applies to checkpoints of its models."""
    from open_clip.convert import convert_state_dict
    from open_clip.model import convert_to_custom_text_state_dict

    state_dict = convert_state_dict(model, state_dict)
    if "positional_embedding" in state_dict and not hasattr(model, "positional_embedding"):
        state_dict = convert_to_custom_text_state_dict(state_dict)
    for name in ("logit_scale", "logit_bias"):
        target = getattr(model, name, None)
        if name in state_dict and target is not None and state_dict[name].numel() == target.numel():
            state_dict[name] = state_dict[name].reshape(target.shape)
    state_dict.pop("text.transformer.embeddings.position_ids", None)
    return state_dict


@contextlib.contextmanager
def _quiet_open_clip_logging():
    """open_clip logs a root-logger warning on every random init; colorbench says it itself."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)
