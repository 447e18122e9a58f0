"""What a stored result records about how it was made, so numbers can be trusted and compared."""

from __future__ import annotations

import datetime as dt
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import torch

import colorbench
from colorbench.adapter import ModelAdapter
from colorbench.config import RunConfig
from colorbench.device import DTYPES


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def provenance(
    config: RunConfig,
    model_id: str,
    adapter: ModelAdapter,
    *,
    device: torch.device,
    precision: str,
    batch_size: int,
    world_size: int,
    started: str,
    plugin: str | None = None,
) -> dict[str, Any]:
    """The run's facts; the adapter adds its own (weights hash, architecture) but cannot
    overwrite what the harness itself decided (model id, seed, samples, device...).

    ``plugin`` is the plugin that provided the model id, so a result
    says whose adapter answered even when several plugins are installed."""
    core: dict[str, Any] = {
        "colorbench": colorbench.__version__,
        "model": model_id,
        "model_plugin": plugin,
        "torch": torch.__version__,
        "open_clip": package_version("open_clip_torch"),
        "device": str(device),
        "dtype": DTYPES[precision],
        "seed": config.seed,
        "samples": config.samples,
        "palette": config.palette.fingerprint(),
        "palette_name": config.palette.name,
        "batch_size": batch_size,
        "world_size": world_size,
        "started": started,
    }
    if config.keep_scores:  # recorded only when on: results from before the option still resume
        core["keep_scores"] = True
    extra = {"weights_sha256": "none", **adapter.provenance()}
    return {**extra, **core}
