"""Where and how a run computes: device, precision, renderer and batch size.

Each choice is validated up front so a typo or a missing GPU fails in one line before
any model is loaded, and each ``auto`` resolves to what is fastest on the machine.
"""

from __future__ import annotations

import torch

from colorbench.config import PRECISIONS, RENDERERS
from colorbench.errors import ColorbenchError

#: the torch dtype of each precision
TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
#: torch dtype name recorded in provenance for each precision
DTYPES = {name: str(dtype).removeprefix("torch.") for name, dtype in TORCH_DTYPES.items()}

#: batch size on CPU: larger batches do not help a CPU and delay the first progress tick
CPU_BATCH_SIZE = 64
#: rough upper bound of GPU memory one 224x224 image needs through a CLIP-sized encoder
#: at reduced precision (activations of ViT-L/14 in fp16 stay below this)
GPU_BYTES_PER_IMAGE = 24 * 2**20
GPU_MIN_BATCH = 16


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto|cpu|cuda|cuda:N`` -> a usable device; ``local_rank`` picks the GPU under torchrun."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.partition(":")[2]
        if ":" in name and not index_text.isdigit():
            raise ColorbenchError(
                f"--device {name}: the GPU index must be a whole number, e.g. --device cuda:0"
            )
        if not torch.cuda.is_available():
            raise ColorbenchError(
                f"--device {name} was asked for but no CUDA GPU is available to torch "
                f"{torch.__version__}; use --device cpu (or auto)"
            )
        index = int(index_text) if ":" in name else local_rank
        if index >= torch.cuda.device_count():
            raise ColorbenchError(
                f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible; "
                "pick one of them or use --device cuda"
            )
        return torch.device("cuda", index)
    raise ColorbenchError(f"unknown device {name!r}; use --device auto, cpu or cuda")


def resolve_precision(name: str, device: torch.device) -> str:
    """``auto`` -> fp16 on CUDA (more mantissa than bf16 for close cosine scores), fp32 on CPU."""
    if name not in PRECISIONS:
        raise ColorbenchError(f"unknown precision {name!r}; use --precision {'|'.join(PRECISIONS)}")
    if name == "auto":
        return "fp16" if device.type == "cuda" else "fp32"
    return name


def torch_dtype(precision: str, device: torch.device) -> torch.dtype:
    """The dtype an adapter computes in for ``precision`` (``auto`` resolved) on ``device``."""
    return TORCH_DTYPES[resolve_precision(precision, device)]


def check_renderer(name: str) -> None:
    if name not in RENDERERS:
        raise ColorbenchError(f"unknown renderer {name!r}; use --renderer {'|'.join(RENDERERS)}")


def resolve_renderer(
    name: str, backends: tuple[str, ...], device: torch.device, set_name: str
) -> str:
    """``auto`` renders on the GPU when the set can (the GPU never waits on the CPU), else PIL."""
    check_renderer(name)
    if name == "auto":
        return "torch" if device.type == "cuda" and "torch" in backends else "pil"
    if name not in backends:
        raise ColorbenchError(
            f"stimulus set {set_name!r} has no {name!r} renderer (it has {', '.join(backends)}); "
            "use --renderer auto"
        )
    return name


def auto_batch_size(device: torch.device, limit: int) -> int:
    """A first batch size: fixed on CPU, sized to free memory on CUDA, at most ``limit``.

    On CUDA the engine halves it again if a batch still runs out of memory.
    """
    if device.type != "cuda":
        return min(CPU_BATCH_SIZE, limit)
    free, _total = torch.cuda.mem_get_info(device)
    fits = max(GPU_MIN_BATCH, free // GPU_BYTES_PER_IMAGE)
    return int(min(limit, 1 << (int(fits).bit_length() - 1)))
