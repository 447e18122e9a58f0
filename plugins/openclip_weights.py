"""Where an open_clip model's files come from: ``--weights``, the Hugging Face cache, the hub.

open_clip fetches pretrained weights from the Hugging Face hub and keeps them in the
hub cache (``~/.cache/huggingface/hub``, or ``$HF_HOME/hub``). colorbench looks there
first and never waits on the network: without a cached file it checks in a few seconds
whether the hub endpoint answers at all (one TCP connect), because ``hf_hub_download``
on a machine without network retries for about half a minute before it gives up. When
the file is neither cached nor reachable the user gets one line naming the file, the
cache folder it belongs in and ``--weights PATH``.
"""

from __future__ import annotations

import os
import posixpath
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from colorbench.errors import WeightsError

#: open_clip's weight file names in a hub repository, preferred first (safetensors: no pickle)
HUB_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
HUB_CONFIG_FILE = "open_clip_config.json"
#: seconds to wait for the hub endpoint before calling it unreachable
CONNECT_TIMEOUT_S = 3.0


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache open_clip downloads into (read now, so tests can move it)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_reachable(timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether a download could work: not offline, and the endpoint accepts a connection.

    Behind a proxy a direct connect says nothing, so a configured proxy counts as reachable.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    endpoint = urlsplit(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def hub_file(repo_id: str, filenames: Sequence[str], model_id: str) -> Path:
    """The first of ``filenames`` in ``repo_id``: from the cache, else downloaded.

    Raises :class:`WeightsError` within seconds when none is cached and the hub cannot
    be reached.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cache = hub_cache_dir()
    for filename in filenames:
        cached = try_to_load_from_cache(repo_id, filename, cache_dir=cache)
        if isinstance(cached, str):
            return Path(cached)
    if hub_reachable():
        errors = []
        for filename in filenames:
            try:
                return Path(hf_hub_download(repo_id, filename, cache_dir=cache))
            except Exception as exc:  # the next candidate may exist; report all below
                errors.append(f"{filename}: {type(exc).__name__}")
        reason = f"the hub did not serve it ({'; '.join(errors)})"
    else:
        reason = "it is not in the cache and the Hugging Face hub cannot be reached"
    raise WeightsError(
        f"{model_id}: missing {filenames[0]} of hf-hub:{repo_id} - {reason}; pass --weights PATH "
        f"(a .safetensors or .bin state dict), or put the file in the Hugging Face cache "
        f"({cache}) e.g. with `huggingface-cli download {repo_id} {filenames[0]}` "
        f"on a machine with internet"
    )


def pretrained_weights(pretrained_cfg: dict, model_id: str) -> Path:
    """The weight file of an open_clip pretrained tag (its ``hf_hub`` entry)."""
    hub = pretrained_cfg.get("hf_hub", "")
    if not hub:
        raise WeightsError(
            f"{model_id}: open_clip lists no Hugging Face hub file for these weights "
            f"(only {pretrained_cfg.get('url') or 'nothing'}); download them yourself and "
            "pass --weights PATH"
        )
    repo_id, filename = posixpath.split(hub)  # "org/repo/" means open_clip's default names
    return hub_file(repo_id, _with_safe_alternative(filename), model_id)


def _with_safe_alternative(filename: str) -> tuple[str, ...]:
    """open_clip's rule: prefer ``.safetensors`` next to a named ``.bin``/``.pth`` file."""
    if not filename:
        return HUB_WEIGHT_FILES
    stem, dot, ext = filename.rpartition(".")
    if dot and ext in ("bin", "pth"):
        return (f"{stem}.safetensors", filename)
    return (filename,)


def require_hub_repos(repos: Sequence[str], model_id: str) -> None:
    """Fail in seconds when a model needs Hugging Face repositories (an HF text tower or
    tokenizer, fetched by transformers at build time) that are neither cached nor reachable.

    Without this check transformers retries the network for half a minute and then raises
    a multi-line OSError.
    """
    cache = hub_cache_dir()
    missing = [r for r in repos if not any(_repo_cache(cache, r).glob("snapshots/*"))]
    if missing and not hub_reachable():
        raise WeightsError(
            f"{model_id} needs the Hugging Face repositories {', '.join(missing)} (its text "
            f"tower or tokenizer), which are not in the cache ({cache}) and the hub cannot be "
            "reached; fetch them with `huggingface-cli download REPO` on a machine with "
            "internet, copy the cache here and set HF_HUB_OFFLINE=1"
        )


def _repo_cache(cache: Path, repo_id: str) -> Path:
    return cache / f"models--{repo_id.replace('/', '--')}"
