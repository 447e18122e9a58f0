"""The model adapter protocol: how the harness talks to a vision-language model.

The harness hands an adapter a batch of images as a uint8 tensor ``[B, 3, H, W]``
(RGB, 0..255, on any device) and a list of K candidate texts, and gets back scores
``[B, K]``; the answer is the argmax. Adapters own their preprocessing (resize,
normalise), so one harness serves models with different input conventions.

Contrastive models (CLIP, SigLIP) should subclass :class:`ContrastiveAdapter`
and implement ``encode_images`` / ``encode_texts``: the harness then encodes each
image once and each text once and reuses them across prompts and tasks that share a
stimulus set. Any other model that scores statements needs only ``score``.

Generative VLMs (LLaVA, Qwen2.5-VL, SmolVLM...) read an image and a question and write
an answer; they subclass :class:`GenerativeAdapter`. The harness gives them each
prompt's question form (``Prompt.question``) instead of the statement, and scores them
in one of two modes (:data:`SCORINGS`): ``likelihood`` asks
:meth:`GenerativeAdapter.loglikelihood` for log p(answer | image, question) of each of
the K colour terms and takes the argmax; ``generate`` asks
:meth:`GenerativeAdapter.generate` for a free answer and maps it to a term with
:func:`colorbench.runner.answers.parse_answer`.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from colorbench.config import NORMALIZATIONS, SCORINGS
from colorbench.errors import PluginError

__all__ = [
    "NORMALIZATIONS",
    "SCORINGS",
    "AnswerLogLikelihoods",
    "ContrastiveAdapter",
    "GeneratedText",
    "GenerativeAdapter",
    "ModelAdapter",
]


class ModelAdapter(ABC):
    """Anything that can score candidate texts against images."""

    #: the id the adapter was created for (``openai-RN50``, ``ideal-observer``)
    model_id: str = ""
    #: where the adapter wants its input batches (the harness renders there)
    device: torch.device = torch.device("cpu")
    #: the leaderboard's model kind: ``contrastive``, ``generative`` or ``reference``
    kind: str = "contrastive"
    #: the scoring modes (:data:`SCORINGS`) the adapter supports; the first is its default
    scorings: tuple[str, ...] = ("similarity",)

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


@dataclass(frozen=True)
class AnswerLogLikelihoods:
    """Log-likelihoods of K candidate answers for B images.

    ``total[b, k]`` is log p(answer k | image b, question), summed over the answer's
    tokens; ``tokens[k]`` is the number of tokens of answer k (the same for every image,
    since the prompt around the image is the same). The harness, not the adapter, owns
    the normalisation, so that every generative family is normalised alike.

    ``missing[b]`` (optional, ``[B]`` bool) marks an image no log-likelihoods came back for
    (a served model's endpoint kept failing): its row of ``total`` is ignored and its answer
    is *missing* (excluded from n, asked again by the next run), never a wrong answer.
    """

    total: torch.Tensor
    tokens: torch.Tensor
    missing: torch.Tensor | None = None

    def normalized(self, normalization: str) -> torch.Tensor:
        """``[B,K]`` scores: the summed log-probability, or its mean per answer token."""
        if normalization == "sum":
            return self.total
        if normalization == "mean":
            return self.total / self.tokens.to(self.total).clamp(min=1)
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


class GeneratedText(str):
    """A free answer that says whether ``max_new_tokens`` cut it off.

    ``generate`` may return these instead of plain strings; a cut answer (``The word "RED"
    is written in``) is classified as ``truncated`` instead of being read for a colour, since
    the colour it was about to name is unknown. A plain ``str`` counts as finished.
    """

    truncated: bool

    def __new__(cls, text: str, truncated: bool = False) -> GeneratedText:
        made = super().__new__(cls, text)
        made.truncated = truncated
        return made


class GenerativeAdapter(ModelAdapter):
    """A model that reads an image and a question and writes an answer (a generative VLM).

    The harness calls :meth:`loglikelihood` (scoring ``likelihood``, the default) or
    :meth:`generate` (scoring ``generate``) with the question form of each prompt;
    ``answers`` are the palette's colour terms in palette order. Adapters own their
    preprocessing and chat template, as contrastive adapters own theirs.
    """

    kind = "generative"
    scorings = ("likelihood", "generate")
    #: the text that ends a reply (the chat template's end-of-turn token); with
    #: ``--score-end`` each answer is scored followed by it, so that ``Red`` no longer
    #: collects the mass of ``Reddish`` or ``Redwood``. ``None``: the adapter cannot say
    #: (``--score-end`` is then refused for it)
    answer_end: str | None = None

    @abstractmethod
    def loglikelihood(
        self, images: torch.Tensor, question: str, answers: Sequence[str]
    ) -> AnswerLogLikelihoods:
        """log p(answer | image, question) of each of the K ``answers`` for each image."""

    @abstractmethod
    def generate(self, images: torch.Tensor, question: str, max_new_tokens: int) -> list[str]:
        """The model's greedy free answer to ``question`` for each image (decoded text);
        :class:`GeneratedText` where the adapter knows whether ``max_new_tokens`` cut it."""

    def loglikelihood_prompts(
        self, images: torch.Tensor, questions: Sequence[str], answers: Sequence[str]
    ) -> list[AnswerLogLikelihoods]:
        """:meth:`loglikelihood` of every question the harness asks of these images.

        The harness asks all of a batch's questions at once (prompt-choice asks five of
        each Stroop card), so that an adapter can compute what the questions share once
        per image (the image's vision features and KV cache); by default one call each.
        """
        return [self.loglikelihood(images, q, answers) for q in questions]

    def score(self, images: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        """Not part of a generative model's protocol: it answers questions, not statements."""
        raise TypeError(
            f"{type(self).__name__} is generative: the harness asks it questions "
            "(loglikelihood / generate), not statements"
        )


def check_factory(factory: Callable, model_id: str, plugin: str, options: dict) -> None:
    """One line naming the plugin when ``factory`` cannot be called as
    ``factory(model_id, **options)`` with these options (a factory without ``**options``)."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin or C callable: let the call tell
        return
    try:
        signature.bind(model_id, **options)
    except TypeError as exc:
        raise PluginError(
            f"plugin {plugin!r}: the factory of model {model_id!r} cannot be called as "
            f"factory(model_id, **options) ({exc}); declare it as "
            "def create(model_id, **options) and ignore the options it does not use"
        ) from None


def check_adapter(adapter: object, model_id: str, plugin: str) -> ModelAdapter:
    """``adapter`` if it meets the adapter protocol, else one line naming the plugin and the gap.

    Called on whatever a model factory returned, before the harness touches it.
    """
    gaps = _protocol_gaps(adapter)
    if gaps:
        raise PluginError(
            f"plugin {plugin!r} created model {model_id!r} as a {type(adapter).__name__} "
            f"without {' or '.join(gaps)}; its factory must return a "
            "colorbench.plugin.adapter.ModelAdapter (docs/PLUGINS.md)"
        )
    return adapter  # type: ignore[return-value]


def _protocol_gaps(adapter: object) -> list[str]:
    """What ``adapter`` lacks of the adapter protocol (empty when it can be run).

    Plugins may duck-type instead of subclassing :class:`ModelAdapter`; the harness needs
    a ``device`` that ``torch.device`` accepts and a callable ``score``. A
    :class:`ContrastiveAdapter` has both by construction.
    """
    gaps = []
    device = getattr(adapter, "device", None)
    if device is None:
        gaps.append("a `device` attribute")
    else:
        try:
            torch.device(device)
        except (TypeError, RuntimeError, ValueError):
            gaps.append(f"a `device` torch accepts (it has {device!r})")
    if not callable(getattr(adapter, "score", None)):
        gaps.append("a `score(images, texts)` method")
    provenance = getattr(adapter, "provenance", None)
    if provenance is not None and not callable(provenance):
        gaps.append("a callable `provenance()` (or none at all)")
    return gaps
