"""The open_clip model family: ``<pretrained>-<arch>``, ``random-<arch>`` and ``hf-hub:<repo>``.

- ``openai-RN50``, ``laion2b_s34b_b79k-ViT-B-32``, ...: every (arch, pretrained tag) pair
  open_clip lists, weights from the Hugging Face cache or ``--weights PATH``;
- ``random-<arch>``: any ``open_clip.list_models()`` architecture, randomly initialised
  from the ``seed`` option (a legitimate "untrained" baseline, and what tests run);
- ``hf-hub:org/repo``: an open_clip model published on the Hugging Face hub.

Registration reads a snapshot of open_clip's model list (see ``openclip_catalog``) so
that ``colorbench list`` does not pay for ``import open_clip``; the factory imports it.
Weights are read only through :mod:`colorbench.runner.weights` (safetensors or
``torch.load(weights_only=True)``), never through open_clip's own loader.

Preprocessing happens on the adapter's device with tensor ops: the uint8 batch is
resized (bicubic, antialiased) and centre-cropped as open_clip's eval transform does,
normalised with the model's mean/std and handed over channels-last. Pixel values that
bicubic interpolation pushes outside [0, 1] are clamped, as the uint8 PIL path would.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import torch

import colorbench
from colorbench.errors import ColorbenchError
from colorbench.plugin.adapter import ContrastiveAdapter
from colorbench.plugins import openclip_catalog
from colorbench.plugins.openclip_catalog import HUB_PREFIX, RANDOM_PREFIX
from colorbench.runner.device import torch_dtype


@colorbench.hookimpl
def colorbench_register_models(register) -> None:
    """Register every pretrained pair plus the ``random-*`` and ``hf-hub:*`` families."""
    for model_id, (arch, tag) in openclip_catalog.model_ids().items():
        register(model_id, OpenClipAdapter.from_id, description=f"open_clip {arch}, {tag} weights")
    register(
        f"{RANDOM_PREFIX}*",
        OpenClipAdapter.from_id,
        description="open_clip architecture, randomly initialised from --seed (untrained baseline)",
    )
    register(
        f"{HUB_PREFIX}*",
        OpenClipAdapter.from_id,
        description="open_clip model from the Hugging Face hub (hf-hub:org/repo)",
    )


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; ``None`` means plain fp32.

    ``auto`` follows colorbench's one rule (:func:`colorbench.runner.device.resolve_precision`).
    Weights stay fp32; autocast casts per operation.
    """
    dtype = torch_dtype(precision, device)
    return None if dtype == torch.float32 else dtype


class OpenClipAdapter(ContrastiveAdapter):
    """An open_clip CLIP model behind colorbench's contrastive adapter protocol.

    Public attributes for plugins that open the encoder (the interpretability plugin):
    ``model`` (the open_clip model, eval mode), ``arch`` (open_clip model name) and
    :meth:`preprocess` (uint8 batch -> the normalised tensor ``model.visual`` takes).
    """

    def __init__(
        self,
        model_id: str,
        model: torch.nn.Module,
        tokenizer,
        *,
        arch: str,
        pretrained: str,
        weights: Path | None,
        device: torch.device,
        precision: str = "auto",
    ) -> None:
        self.model_id = model_id
        self.arch = arch
        self.pretrained = pretrained
        self.weights = weights
        self.device = device
        self.precision = precision
        self.compute_dtype = autocast_dtype(precision, device)
        self.model = model.to(device).eval().requires_grad_(False)
        self.model.visual.to(memory_format=torch.channels_last)
        self.tokenizer = tokenizer
        cfg = model.visual.preprocess_cfg
        size = cfg["size"]
        self.image_size = (size, size) if isinstance(size, int) else tuple(size)
        self.resize_mode = cfg.get("resize_mode", "shortest")
        self.interpolation = cfg.get("interpolation", "bicubic")
        self.mean = torch.tensor(cfg["mean"], device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg["std"], device=device).view(1, 3, 1, 1)
        self._weights_sha256: str | None = None

    @classmethod
    def from_id(cls, model_id: str, **options) -> OpenClipAdapter:
        """Factory for every id this plugin registers (see the module docstring)."""
        from colorbench.plugins.openclip_load import build

        device = torch.device(options.get("device") or "cpu")
        precision = options.get("precision") or "auto"
        autocast_dtype(precision, device)  # reject a bad precision before building anything
        built = build(model_id, weights=options.get("weights"), seed=int(options.get("seed", 0)))
        return cls(
            model_id,
            built.model,
            built.tokenizer,
            arch=built.arch,
            pretrained=built.pretrained,
            weights=built.weights,
            device=device,
            precision=precision,
        )

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.compute_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.compute_dtype)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B,3,H,W]`` (any device) -> normalised float ``[B,3,h,w]`` on ``self.device``.

        Mirrors open_clip's eval transform (resize, centre crop, normalise) with tensor
        ops, so a batch never leaves the device.
        """
        from torchvision.transforms.v2 import InterpolationMode
        from torchvision.transforms.v2 import functional as tvf

        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ColorbenchError(
                f"{self.model_id} takes uint8 images [B,3,H,W], got {images.dtype} "
                f"{tuple(images.shape)}; render stimuli as uint8 RGB"
            )
        x = images.to(self.device, non_blocking=True).float().div_(255)
        target = _resized_size(tuple(x.shape[-2:]), self.image_size, self.resize_mode)
        if target != tuple(x.shape[-2:]):
            mode = InterpolationMode(
                self.interpolation if self.interpolation != "random" else "bicubic"
            )
            x = tvf.resize(x, list(target), interpolation=mode, antialias=True).clamp_(0, 1)
        if tuple(x.shape[-2:]) != self.image_size:
            x = tvf.center_crop(
                x, list(self.image_size)
            )  # pads with 0 where it must, like open_clip
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last)

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``[B,3,H,W]`` -> L2-normalised float32 ``[B,D]``."""
        pixels = self.preprocess(images)
        with self._autocast():
            features = self.model.encode_image(pixels)
        return torch.nn.functional.normalize(features.float(), dim=-1)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """K texts -> L2-normalised float32 ``[K,D]``, tokenised with open_clip's tokenizer."""
        tokens = self.tokenizer(list(texts)).to(self.device)
        with self._autocast():
            features = self.model.encode_text(tokens)
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def provenance(self) -> dict:
        """Arch, pretrained tag, weights file and sha256 (or ``random``), versions, dtype."""
        import open_clip

        from colorbench.runner.weights import sha256_file

        if self.weights is not None and self._weights_sha256 is None:
            self._weights_sha256 = sha256_file(self.weights)
        return {
            "arch": self.arch,
            "pretrained": self.pretrained,
            "weights": str(self.weights) if self.weights is not None else None,
            "weights_sha256": self._weights_sha256 or "random",
            "open_clip": open_clip.__version__,
            "dtype": str(self.compute_dtype or torch.float32).removeprefix("torch."),
            "precision": self.precision,
        }


def _resized_size(
    size: tuple[int, int], target: tuple[int, int], resize_mode: str
) -> tuple[int, int]:
    """Size after open_clip's eval resize: ``shortest`` side fits (then crop), ``longest``
    side fits (then pad), or ``squash`` to the target exactly."""
    if resize_mode == "squash":
        return target
    h, w = size
    fit = max if resize_mode == "shortest" else min
    scale = fit(target[0] / h, target[1] / w)
    return (max(1, round(h * scale)), max(1, round(w * scale)))
