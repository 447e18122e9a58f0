"""Safe checkpoint loading that any adapter can reuse.

Researchers share checkpoints they did not write, and a PyTorch pickle can run any
code when it is unpickled. colorbench therefore reads weights in exactly two ways:

- safetensors files (by extension or by content), through the ``safetensors`` library
  (a JSON header plus raw tensor bytes: nothing in it can execute);
- any other file (``.pt``, ``.pth``, ``.bin``) through ``torch.load(weights_only=True)``,
  whose restricted unpickler builds only tensors and plain containers and refuses every
  other global. A pickle that would call code is refused with one line before any of its
  code runs.

Accepted layouts are open_clip's: a state dict, or a dict whose ``"state_dict"`` holds
one (a training checkpoint), with keys optionally prefixed by ``module.`` (saved from
DistributedDataParallel).

**OpenAI's original TorchScript archives** (the ``RN50.pt`` files open_clip once fetched
from ``openaipublic.azureedge.net`` into ``~/.cache/clip``) are refused. Loading one
means ``torch.jit.load``, which compiles and runs the TorchScript in the archive's
``code/`` folder (including any ``__setstate__`` it defines) - that is code from the
file, so it cannot be called safe for a file of unknown origin. They are not needed:
open_clip (>= 2.23) fetches the same OpenAI weights as plain state dicts from the
Hugging Face hub (e.g. ``timm/resnet50_clip.openai``), and the refusal message says how
to get that file or convert a trusted archive once with ``torch.jit.load`` yourself.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from colorbench.errors import WeightsError

#: how many mismatching keys an error message lists before "..."
_SHOWN = 3

_CONVERT_TORCHSCRIPT = (
    'python -c "import torch, safetensors.torch as st; '
    "sd = torch.jit.load('IN.pt', map_location='cpu').state_dict(); "
    "st.save_file({k: v.contiguous() for k, v in sd.items()}, 'OUT.safetensors')\""
)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks: the weights' identity in every result."""
    return _sha256_files([Path(path)], chunk_size)


def sha256_folder(folder: str | Path) -> str:
    """Hex sha256 over a saved model folder's weight files (``*.safetensors``, ``*.bin``)
    read in name order, as one stream: for a one-file folder it is that file's sha256."""
    folder = Path(folder)
    files = sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")])
    if not files:
        raise WeightsError(f"no *.safetensors or *.bin weights in {folder}")
    return _sha256_files(files)


def _sha256_files(paths: list[Path], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while block := handle.read(chunk_size):
                digest.update(block)
    return digest.hexdigest()


def is_torchscript_archive(path: str | Path) -> bool:
    """True for a ``torch.jit.save`` zip (it carries compiled code in ``code/``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            "/code/" in name or name.endswith("/constants.pkl") for name in archive.namelist()
        )


def require_file(path: str | Path) -> Path:
    """``path`` if it is a file, else the one-line error every weights check gives."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist; check the path given to --weights")
    return path


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a checkpoint without executing anything in it and return a flat state dict.

    Raises :class:`WeightsError` (one line naming the file) when the file is missing,
    truncated, a TorchScript archive, a pickle that carries code, or not a state dict.
    """
    path = require_file(path)
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        checkpoint = _load_safetensors(path)
    else:
        checkpoint = _load_torch(path)
    return _unwrap(checkpoint, path)


def _looks_like_safetensors(path: Path) -> bool:
    """safetensors content under another name: a little-endian u64 header size, then JSON."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise WeightsError(
            f"cannot read weights file {path}: it is truncated or not a safetensors file "
            f"({_one_line(exc)}); download it again"
        ) from None


def _load_torch(path: Path) -> object:
    if is_torchscript_archive(path):
        raise WeightsError(
            f"refused to load {path}: it is a TorchScript archive, and loading one runs the "
            "code inside it; use the state-dict weights from the Hugging Face hub "
            "(e.g. timm/resnet50_clip.openai, open_clip_model.safetensors) or, if you trust "
            f"the file, convert it once: {_CONVERT_TORCHSCRIPT}"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found or "Weights only load failed" in str(exc):
            what = f" ({found.group(1)})" if found else ""
            raise WeightsError(
                f"refused to load {path}: it is a pickle that would run code{what}; colorbench "
                "loads only tensors - re-save the state dict with safetensors.torch.save_file "
                "or torch.save(model.state_dict())"
            ) from None
        raise _unreadable(path, exc) from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: BaseException) -> WeightsError:
    return WeightsError(
        f"cannot read weights file {path}: it is truncated or not a PyTorch checkpoint "
        f"({_one_line(exc)[:160]}); download it again"
    )


def _unwrap(checkpoint: object, path: Path) -> dict[str, torch.Tensor]:
    """open_clip's layouts: a state dict, ``{"state_dict": ...}``, optional ``module.``."""
    if isinstance(checkpoint, Mapping) and "state_dict" in checkpoint:
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping) or not checkpoint:
        raise WeightsError(
            f"weights file {path} holds a {type(checkpoint).__name__}, not a state dict "
            "(a mapping of parameter names to tensors); save model.state_dict()"
        )
    not_tensors = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise WeightsError(
            f"weights file {path} is not a state dict: {_listed(not_tensors)} "
            "are not tensors; save model.state_dict()"
        )
    if all(str(k).startswith("module.") for k in checkpoint):
        return {str(k)[len("module.") :]: v for k, v in checkpoint.items()}
    return {str(k): v for k, v in checkpoint.items()}


def check_state_dict(
    expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor], path: str | Path
) -> None:
    """Raise one :class:`WeightsError` line naming the file and the first mismatches.

    ``expected`` is the target module's ``state_dict()``; ``found`` the loaded one.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    wrong = [
        f"{k} {tuple(found[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in found and found[k].shape != v.shape
    ]
    problems = [
        f"{label} {_listed(keys)}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("wrong shapes (file != model)", wrong),
        )
        if keys
    ]
    if problems:
        raise WeightsError(
            f"weights file {path} does not fit the model: {'; '.join(problems)}; "
            "pass weights saved from this architecture"
        )


def load_into(module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], path: str | Path):
    """Check ``state_dict`` against ``module`` (one-line error) and copy it in, strictly."""
    check_state_dict(module.state_dict(), state_dict, path)
    module.load_state_dict(state_dict, strict=True)


def _listed(items: list[str]) -> str:
    shown = ", ".join(str(i) for i in items[:_SHOWN])
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"({len(items)}: {shown}{more})"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
