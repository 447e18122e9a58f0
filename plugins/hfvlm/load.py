"""Loading ``hf-vlm`` models: a folder or the Hugging Face cache, never the network.

Every way this can fail is one line naming the fix: transformers missing (the ``vlm``
extra), weights neither cached nor given (the cache folder and how to pass a folder), an
architecture outside the supported families (the list), a processor without a chat
template (in :class:`~colorbench.plugins.hfvlm.adapter.HFVLMAdapter`).
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch

from colorbench.errors import ColorbenchError
from colorbench.plugins.hfvlm.families import FAMILIES, Family, generic, supported
from colorbench.runner.device import DTYPES
from colorbench.runner.weights import sha256_folder

EXTRA_HINT = "pip install 'colorbench[vlm]'"


def require_transformers(model_id: str) -> Any:
    """The transformers module, or one line naming the extra that installs it."""
    try:
        import transformers
    except ImportError:
        raise ColorbenchError(
            f"{model_id} needs Hugging Face transformers, which is not installed; "
            f"install the extra: {EXTRA_HINT}"
        ) from None
    return transformers


def create_adapter(model_id: str, **options: Any):
    """Build the adapter for ``hf-vlm:<repo or folder>`` or ``hf-vlm-tiny-<family>``."""
    from colorbench.plugins.hfvlm import PREFIX, TINY_PREFIX

    require_transformers(model_id)
    # no download, no retries: weights come from a folder or the local cache only
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from colorbench.plugins.hfvlm.adapter import HFVLMAdapter, quiet_transformers

    quiet_transformers()
    if options.get("weights") is not None:
        raise ColorbenchError(
            f"{model_id}: --weights is not used by hf-vlm models; name the folder in the id: "
            "--model hf-vlm:/path/to/folder"
        )
    device = torch.device(options.get("device") or "cpu")
    dtype = getattr(torch, DTYPES[options.get("precision") or "fp32"])
    if model_id.startswith(TINY_PREFIX):
        from colorbench.plugins.hfvlm.tiny import tiny_model

        model_type = model_id.removeprefix(TINY_PREFIX)
        family = FAMILIES.get(model_type) or generic(model_type)
        model, processor = tiny_model(family.model_type, int(options.get("seed") or 0))
        provenance = {"weights_sha256": "random", "source": "random init (seeded)"}
    else:
        folder = locate(model_id.removeprefix(PREFIX), model_id)
        family = family_of(folder, model_id)
        model, processor = pretrained(folder, model_id, dtype)
        provenance = {"weights_sha256": sha256_folder(folder), "source": str(folder)}
    transformers = require_transformers(model_id)
    provenance["transformers"] = transformers.__version__
    if family.generic:
        warn(
            f"{model_id}: architecture {family.model_type!r} has no hf-vlm table entry; it runs "
            "the generic path (generate; likelihood with one full forward pass per answer, "
            "about K times slower than the shared-prefix path of the supported families)"
        )
    return HFVLMAdapter(model_id, model, processor, family, device, dtype, provenance)


def cache_folder() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def locate(reference: str, model_id: str) -> Path:
    """A local folder, or the cached snapshot of a hub repo id; never a download."""
    folder = Path(reference).expanduser()
    if folder.is_dir():
        return folder
    if reference.startswith((".", "/", "~")) or folder.is_absolute():
        raise ColorbenchError(
            f"{model_id}: folder {folder} does not exist; pass a folder saved with "
            "save_pretrained (or a hub snapshot): --model hf-vlm:/path/to/folder"
        )
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(reference, local_files_only=True))
    except Exception as exc:  # not cached, malformed id, broken cache entry
        raise ColorbenchError(
            f"{model_id}: {reference!r} is neither a folder nor in the Hugging Face cache "
            f"({cache_folder()}; {type(exc).__name__}); download it where there is internet "
            f"(`huggingface-cli download {reference}`, or set HF_HOME to a copied cache) or "
            "pass a local folder: --model hf-vlm:/path/to/folder"
        ) from None


def family_of(folder: Path, model_id: str) -> Family:
    """The supported family of the checkpoint in ``folder`` (its ``config.json``)."""
    try:
        config = json.loads((folder / "config.json").read_text())
        model_type = config.get("model_type")
    except (OSError, ValueError, AttributeError) as exc:
        raise ColorbenchError(
            f"{model_id}: {folder} has no readable config.json ({type(exc).__name__}); "
            "pass a folder saved with save_pretrained or a hub snapshot"
        ) from None
    if model_type in FAMILIES:
        return FAMILIES[model_type]
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES as IMAGE_TEXT_TO_TEXT,
    )

    remote = config.get("auto_map")
    if model_type not in IMAGE_TEXT_TO_TEXT and remote:
        code = ", ".join(sorted(set(map(str, remote.values()))))[:120]
        raise ColorbenchError(
            f"{model_id}: {folder} asks for remote code ({code}); colorbench never runs code "
            "shipped with a checkpoint (trust_remote_code): use a transformers-native "
            "conversion of the model (often a '-hf' repo)"
        )
    if model_type not in IMAGE_TEXT_TO_TEXT:
        raise ColorbenchError(
            f"{model_id}: architecture {model_type!r} is not supported by hf-vlm: not an "
            "image-text-to-text model transformers can load (AutoModelForImageTextToText); "
            f"fastest are the families {supported()}"
        )
    return generic(model_type)


def warn(line: str) -> None:
    """One warning line on stderr, as the harness writes its own."""
    from rich.console import Console

    Console(stderr=True).print(
        f"colorbench: warning: {line}", markup=False, highlight=False, soft_wrap=True
    )


def pretrained(folder: Path, model_id: str, dtype: torch.dtype) -> tuple[Any, Any]:
    """Model and processor from ``folder``, as a user of the checkpoint loads them."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        model = AutoModelForImageTextToText.from_pretrained(
            folder, local_files_only=True, dtype=dtype
        )
    except pickle.UnpicklingError:
        raise ColorbenchError(
            f"{model_id}: {folder} holds pickled weights that torch.load(weights_only=True) "
            "refuses (loading them could run code); use the checkpoint's .safetensors files, "
            "or convert the weights where you trust them"
        ) from None
    except (OSError, ValueError, ImportError, KeyError, TypeError) as exc:
        message = " ".join(str(exc).split())[:300]
        raise ColorbenchError(f"{model_id}: cannot load {folder}: {message}") from None
    return model, processor
