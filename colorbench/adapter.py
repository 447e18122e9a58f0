"""The model adapter protocol: how the harness talks to a vision-language model.

The harness hands an adapter a batch of images as a uint8 tensor ``[B, 3, H, W]``
(RGB, 0..255, on any device) and a list of K candidate texts, and gets back scores
``[B, K]``; the answer is the argmax. Adapters own their preprocessing (resize,
normalise), so one harness serves models with different input conventions.

Contrastive models (CLIP, SigLIP) should subclass :class:`ContrastiveAdapter`
and implement ``encode_images`` / ``encode_texts``: the harness then encodes each
image once and each text once and reuses them across prompts and tasks that share a
stimulus set. A generative VLM only needs ``score``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch


class ModelAdapter(ABC):
    """Anything that can score candidate texts against images."""

    #: the id the adapter was created for (``openai-RN50``, ``ideal-observer``)
    model_id: str = ""
    #: where the adapter wants its input batches (the harness renders there)
    device: torch.device = torch.device("cpu")

    @abstractmethod
    def score(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Score each of the K ``texts`` against each image: ``[B,3,H,W] uint8 -> [B,K]``."""

    def provenance(self) -> dict:
        """Facts that identify the model in results (weights hash, dtype, versions)."""
        return {}


class ContrastiveAdapter(ModelAdapter):
    """A model with separate image and text towers in one embedding space."""

    @abstractmethod
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """``[B,3,H,W] uint8 -> [B,D]`` L2-normalised image embeddings."""

    @abstractmethod
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """``K texts -> [K,D]`` L2-normalised text embeddings."""

    def score(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Cosine similarity of every image with every text."""
        return self.encode_images(images).float() @ self.encode_texts(texts).float().T
