"""A colorbench ContrastiveAdapter around a Hugging Face transformers CLIP or SigLIP model.

colorbench hands over uint8 ``[B,3,H,W]`` batches; the adapter owns its preprocessing and
does it with tensor ops on the model's device (resize, centre crop, normalise), so nothing
round-trips through PIL and the same code serves the CPU and the GPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torchvision.transforms.v2.functional as TF
from torchvision.transforms import InterpolationMode

from colorbench.plugin.adapter import ContrastiveAdapter

#: PIL resample codes used in Hugging Face ``preprocessor_config.json`` files
_RESAMPLE = {
    0: InterpolationMode.NEAREST,
    2: InterpolationMode.BILINEAR,
    3: InterpolationMode.BICUBIC,
}


@dataclass(frozen=True)
class Preprocess:
    """uint8 images -> normalised float pixels, as the model's image processor would do.

    ``size`` is the shortest edge (an int, aspect kept, as CLIP does) or an exact
    ``(height, width)`` (as SigLIP does); ``crop`` an optional centre crop ``(h, w)``.
    """

    size: int | tuple[int, int]
    crop: tuple[int, int] | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: InterpolationMode = InterpolationMode.BICUBIC

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        size = [self.size] if isinstance(self.size, int) else list(self.size)
        x = TF.resize(images.float(), size, interpolation=self.interpolation, antialias=True)
        x = x.clamp(0, 255)  # bicubic overshoots; the reference processors work on uint8
        if self.crop is not None:
            x = TF.center_crop(x, list(self.crop))
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1)
        return (x / 255.0 - mean) / std

    @classmethod
    def from_processor(cls, processor: Any) -> Preprocess:
        """Read the settings of a transformers image processor (CLIP- or SigLIP-style)."""
        size = dict(processor.size)
        resize = (
            int(size["shortest_edge"])
            if "shortest_edge" in size
            else (int(size["height"]), int(size["width"]))
        )
        crop = None
        if getattr(processor, "do_center_crop", False) and processor.crop_size:
            crop = (int(processor.crop_size["height"]), int(processor.crop_size["width"]))
        resample = getattr(processor, "resample", 3)
        resample = int(getattr(resample, "value", resample))
        return cls(
            size=resize,
            crop=crop,
            mean=tuple(float(v) for v in processor.image_mean),
            std=tuple(float(v) for v in processor.image_std),
            interpolation=_RESAMPLE.get(resample, InterpolationMode.BICUBIC),
        )


@dataclass(frozen=True)
class TextInput:
    """How a family's text tower wants its tokens.

    CLIP pools the first end-of-text token, so padding to the longest text with an attention
    mask is exact. SigLIP pools the last position and was trained on texts padded to a fixed
    length without a mask, so it must get exactly that.
    """

    padding: str
    max_length: int
    attention_mask: bool


def _features(output: Any) -> torch.Tensor:
    """transformers 4 returns the projected features, 5 an output object carrying them."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


class HFContrastiveAdapter(ContrastiveAdapter):
    """Any transformers model with ``get_image_features`` / ``get_text_features``."""

    def __init__(
        self,
        model_id: str,
        model: torch.nn.Module,
        tokenizer: Any,
        preprocess: Preprocess,
        text_input: TextInput,
        device: torch.device,
        dtype: torch.dtype,
        provenance: dict[str, Any],
    ) -> None:
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        self.model = model.eval().to(device=device, dtype=dtype)
        self.tokenizer = tokenizer
        self.preprocess = preprocess
        self.text_input = text_input
        self._provenance = provenance

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        pixels = self.preprocess(images.to(self.device)).to(self.dtype)
        features = _features(self.model.get_image_features(pixel_values=pixels))
        return torch.nn.functional.normalize(features.float(), dim=-1)

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        tokens = self.tokenizer(
            list(texts),
            padding=self.text_input.padding,
            max_length=self.text_input.max_length,
            truncation=True,
            return_tensors="pt",
        )
        inputs = {"input_ids": tokens["input_ids"].to(self.device)}
        if self.text_input.attention_mask:
            inputs["attention_mask"] = tokens["attention_mask"].to(self.device)
        features = _features(self.model.get_text_features(**inputs))
        return torch.nn.functional.normalize(features.float(), dim=-1)

    def provenance(self) -> dict[str, Any]:
        return {**self._provenance, "dtype": str(self.dtype).removeprefix("torch.")}
