"""What a stored result records about how it was made, so numbers can be trusted and compared."""

from __future__ import annotations

import datetime as dt
from typing import Any

import torch

import colorbench
from colorbench.config import RunConfig
from colorbench.plugin.adapter import ModelAdapter
from colorbench.runner.device import DTYPES


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
    scoring: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's facts; the adapter adds its own (weights hash, architecture) but cannot
    overwrite what the harness itself decided (model id, seed, samples, device...).

    ``plugin`` is the plugin that provided the model id, so a result
    says whose adapter answered even when several plugins are installed. ``scoring`` is how
    the answers were obtained (scoring mode, normalisation), next to the adapter's ``kind``
    (contrastive / generative / reference) that the leaderboard shows."""
    core: dict[str, Any] = {
        "colorbench": colorbench.__version__,
        "model": model_id,
        "model_plugin": plugin,
        "kind": getattr(adapter, "kind", ModelAdapter.kind),  # duck-typed adapters
        **(scoring or {}),
        "torch": torch.__version__,
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
    own = getattr(adapter, "provenance", None)  # optional for duck-typed adapters
    extra = {"weights_sha256": "none", **(own() if own is not None else {})}
    return {**extra, **core}
