"""Scoring: a model's ``[B, K]`` scores for every prompt of a set's tasks, turned into answers.

Two steps with one owner each. :class:`Scorer` gets the score matrices from the adapter (a
:class:`~colorbench.adapter.ContrastiveAdapter` encodes each image once and each text once
per model, and every prompt is one slice of a single matrix product; any other adapter is
asked ``score(images, texts)`` once per prompt). :func:`answers_from_scores` is the one place
where a score matrix becomes :class:`Answers` (the argmax, its score, and the margin to the
runner-up; all K scores on request), so a check of what an adapter returned or another
per-row figure derived from the scores belongs there.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from colorbench.adapter import ContrastiveAdapter, ModelAdapter


@dataclass
class Answers:
    """One prompt's answers for a batch of images: per image, the chosen candidate, its score
    and its margin over the runner-up; optionally every candidate's score.

    Each field is one predictions column (``answer`` holds the candidate's index here; the rows
    name it by its palette colour), except ``scores``, which becomes one ``score_<colour>``
    column per candidate when kept. Answers that come without scores (free text) leave
    ``margin`` NaN.
    """

    answer: np.ndarray  # [B] int64: index of the chosen candidate text
    score: np.ndarray  # [B] float32: the chosen candidate's score
    #: [B] float32: best minus second-best score (NaN with one candidate or no scores); small
    #: margins are answers another precision or device could flip (:mod:`colorbench.margins`)
    margin: np.ndarray | None = None
    #: [B, K] float32: every candidate's score, kept only with ``keep_scores``
    scores: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.margin is None:
            self.margin = np.full(len(self.answer), np.nan, dtype=np.float32)

    @classmethod
    def concat(cls, parts: Sequence[Answers]) -> Answers:
        """Consecutive batches' answers to the same prompt, in order."""
        joined = {}
        for f in fields(cls):
            values = [getattr(p, f.name) for p in parts]
            joined[f.name] = None if any(v is None for v in values) else np.concatenate(values)
        return cls(**joined)


def answers_from_scores(scores: torch.Tensor, keep_scores: bool = False) -> Answers:
    """``[B, K]`` scores -> per image the highest-scoring candidate, its score, its margin
    over the second best, and (``keep_scores``) all K scores."""
    scores = scores.float()
    value, index = scores.max(dim=1)
    margin = None
    if scores.shape[1] > 1:  # an exact tie has margin 0, whichever candidate max() picked
        runner_up = scores.topk(2, dim=1).values[:, 1]
        margin = (value - runner_up).cpu().numpy().astype(np.float32)
    return Answers(
        answer=index.cpu().numpy(),
        score=value.cpu().numpy().astype(np.float32),
        margin=margin,
        scores=scores.cpu().numpy().astype(np.float32) if keep_scores else None,
    )


def join_answers(parts: Sequence[list[Answers]]) -> list[Answers]:
    """Concatenate consecutive batches' per-prompt answers (``parts[batch][prompt]``)."""
    return [Answers.concat([p[i] for p in parts]) for i in range(len(parts[0]))]


class Scorer:
    """Answers every prompt of a set's tasks for a batch of images.

    ``prompts`` holds, per prompt, its K candidate texts. ``text_cache`` maps a text to its
    embedding and lives as long as the model, so a text shared by prompts, tasks or sets is
    encoded once.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        prompts: Sequence[Sequence[str]],
        text_cache: dict[str, torch.Tensor],
        keep_scores: bool = False,
    ) -> None:
        self.adapter = adapter
        self.keep_scores = keep_scores
        self.prompts = [list(texts) for texts in prompts]
        self.max_batch = sys.maxsize
        self.text_matrix: torch.Tensor | None = None
        if isinstance(adapter, ContrastiveAdapter):
            missing = list(dict.fromkeys(t for texts in self.prompts for t in texts))
            missing = [t for t in missing if t not in text_cache]
            if missing:
                with torch.inference_mode():
                    encoded = adapter.encode_texts(missing).float()
                text_cache.update(zip(missing, encoded, strict=True))
            self.text_matrix = torch.stack([text_cache[t] for texts in self.prompts for t in texts])

    def __call__(self, images: torch.Tensor) -> list[Answers]:
        """Per prompt, the answers for ``images``; halves the batch on CUDA out-of-memory."""
        pieces = []
        for piece in images.split(min(self.max_batch, len(images))):
            try:
                pieces.append(
                    [answers_from_scores(b, self.keep_scores) for b in self.scores(piece)]
                )
            except torch.cuda.OutOfMemoryError:
                if len(piece) == 1:
                    raise
                torch.cuda.empty_cache()
                self.max_batch = len(piece) // 2
                return self(images)
        return join_answers(pieces)

    def scores(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per prompt, the adapter's ``[B, K]`` scores of its candidate texts."""
        with torch.inference_mode():
            if self.text_matrix is None:
                return [self.adapter.score(images, texts) for texts in self.prompts]
            embeddings = self.adapter.encode_images(images).float()
            sims = embeddings @ self.text_matrix.to(embeddings.device).T
            return list(sims.split([len(t) for t in self.prompts], dim=1))
