"""Scoring: a model's answers to every prompt of a set's tasks.

Two steps with one owner each. :class:`Scorer` asks the adapter, in the run's scoring mode
(:class:`ScoringMode`, chosen by :func:`scoring_mode`):

- ``similarity``: the statement form of each prompt. A
  :class:`~colorbench.plugin.adapter.ContrastiveAdapter` encodes each image once and each text once
  per model, and every prompt is one slice of a single matrix product; any other adapter is
  asked ``score(images, texts)`` once per prompt.
- ``likelihood``: the question form; a :class:`~colorbench.plugin.adapter.GenerativeAdapter` gives
  log p(answer | image, question) of each colour term, normalised by ``sum`` or ``mean``.
- ``generate``: the question form; the adapter's free answer is mapped to a colour term by
  :func:`colorbench.runner.answers.parse_answer`, or to ``unparsed``.

:func:`answers_from_scores` and :func:`answers_from_texts` are the places where a score
matrix or generated texts become :class:`Answers`, so a check of what an adapter returned
or another per-row figure derived from it belongs there (the argmax, its score, and the margin
to the runner-up; all K scores on request).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import torch

from colorbench.config import NORMALIZATIONS
from colorbench.errors import ColorbenchError, PluginError
from colorbench.palette import Palette
from colorbench.plugin.adapter import AnswerLogLikelihoods, ContrastiveAdapter, ModelAdapter
from colorbench.plugin.task import Prompt
from colorbench.runner.answers import parse_answer

#: ``answer`` index of a free answer naming no single colour term (``unparsed`` in the rows)
UNPARSED_INDEX = -1
#: ``answer`` index of a question no answer came back for (a served model's endpoint kept
#: failing after its retries): such rows are never stored as answers (see the engine)
MISSING_INDEX = -2
#: what a missing answer is called in a chunk's rows before the engine removes them
MISSING = "missing"
#: new tokens a generative model may write: enough for "The object is light blue."
MAX_NEW_TOKENS = 10


@dataclass(frozen=True)
class ScoringMode:
    """How this run obtains a model's answers; recorded in provenance and on the leaderboard."""

    #: ``similarity``, ``likelihood`` or ``generate`` (:data:`colorbench.plugin.adapter.SCORINGS`)
    scoring: str
    #: ``sum`` or ``mean`` of answer-token log-probabilities (likelihood only)
    normalization: str | None = None

    def provenance(self) -> dict[str, object]:
        facts: dict[str, object] = {"scoring": self.scoring, "normalization": self.normalization}
        if self.scoring == "generate":
            facts["max_new_tokens"] = MAX_NEW_TOKENS
        return facts

    def result_id(self, model_id: str, adapter: ModelAdapter) -> str:
        """The id the results are stored and ranked under: the model id, with ``@<mode>``
        when the run asks the model another way than its default (``@generate``,
        ``@likelihood-mean``), so that both modes of one model sit side by side."""
        if self == scoring_mode(adapter, None, NORMALIZATIONS[0]):
            return model_id
        suffix = self.scoring
        if self.normalization not in (None, NORMALIZATIONS[0]):
            suffix += f"-{self.normalization}"
        return f"{model_id}@{suffix}"

    @property
    def form(self) -> str:
        """Which form of the prompts the model gets: ``statement`` or ``question``."""
        return "statement" if self.scoring == "similarity" else "question"


def scoring_mode(adapter: ModelAdapter, scoring: str | None, normalization: str) -> ScoringMode:
    """The run's ``--scoring`` if the adapter supports it, else the adapter's own default.

    A run may mix contrastive and generative models: ``--scoring generate`` applies to the
    models that can answer that way and leaves CLIP scored by similarity.
    """
    supported = getattr(adapter, "scorings", ModelAdapter.scorings)  # duck-typed adapters
    chosen = scoring if scoring in supported else supported[0]
    return ScoringMode(chosen, normalization if chosen == "likelihood" else None)


@dataclass
class Answers:
    """One prompt's answers for a batch of images: per image, the chosen candidate, its score
    and its margin over the runner-up; optionally every candidate's score.

    Each field is one predictions column (``answer`` holds the candidate's index here; the rows
    name it by its palette colour), except ``scores``, which becomes one ``score_<colour>``
    column per candidate when kept. Answers that come without scores (free text) leave
    ``margin`` NaN.
    """

    answer: np.ndarray  # [B] int64: index of the chosen candidate, or UNPARSED_INDEX
    score: np.ndarray  # [B] float32: the chosen candidate's score (NaN for a free answer)
    #: [B] float32: best minus second-best score (NaN with one candidate or no scores); small
    #: margins are answers another precision or device could flip (:mod:`colorbench.report.margins`)
    margin: np.ndarray | None = None
    #: [B, K] float32: every candidate's score, kept only with ``keep_scores``
    scores: np.ndarray | None = field(default=None, repr=False)
    #: [B] object: the generated text of a free answer (generate mode only)
    response: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.margin is None:
            self.margin = np.full(len(self.answer), np.nan, dtype=np.float32)

    def missing(self) -> int:
        """How many images got no answer at all (:data:`MISSING_INDEX`)."""
        return int((self.answer == MISSING_INDEX).sum())

    @classmethod
    def concat(cls, parts: Sequence[Answers]) -> Answers:
        """Consecutive batches' answers to the same prompt, in order."""
        joined = {}
        for f in fields(cls):
            values = [getattr(p, f.name) for p in parts]
            joined[f.name] = None if any(v is None for v in values) else np.concatenate(values)
        return cls(**joined)


def check_output(
    value: object, shape: tuple[int | None, int | None], source: str, method: str
) -> torch.Tensor:
    """What an adapter's ``method`` returned, if it is a real-valued, finite tensor of
    ``shape`` (``None`` = any size); else a :class:`PluginError` naming ``source`` and what
    was wrong. Adapters are third-party code: a NaN, a transposed matrix or a list must not
    become an answer (argmax of NaN is an answer too)."""

    def refuse(what: str) -> PluginError:
        return PluginError(
            f"{source} returned {what} from {method}; expected a finite floating-point "
            f"torch.Tensor of shape [{', '.join('*' if n is None else str(n) for n in shape)}]"
            " - fix or update the adapter (finished chunks are kept)"
        )

    if not isinstance(value, torch.Tensor):
        raise refuse(f"a {type(value).__module__}.{type(value).__qualname__}")
    if value.is_meta:
        raise refuse("a meta tensor (it holds no values)")
    if not value.is_floating_point():
        raise refuse(f"dtype {value.dtype}")
    if value.ndim != len(shape) or any(
        n is not None and got != n for got, n in zip(value.shape, shape, strict=True)
    ):
        raise refuse(f"shape {list(value.shape)}")
    bad = int((~torch.isfinite(value)).sum())
    if bad:
        raise refuse(f"{bad} NaN or infinite value(s)")
    return value


def answers_from_scores(
    scores: torch.Tensor,
    keep_scores: bool = False,
    *,
    shape: tuple[int | None, int | None] = (None, None),
    source: str = "the model",
) -> Answers:
    """``[B, K]`` scores -> per image the highest-scoring candidate, its score, its margin
    over the second best, and (``keep_scores``) all K scores.

    This is where scores become answers, so the scores are checked here
    (:func:`check_output`; ``shape`` is the expected ``(B, K)``)."""
    scores = check_output(scores, shape, source, "its scores").float()
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


def answers_from_texts(texts: Sequence[str | None], terms: Sequence[str]) -> Answers:
    """Generated texts -> the colour term each names (:data:`UNPARSED_INDEX` if none or
    several); the text itself is kept. ``None`` is an answer that never came
    (:data:`MISSING_INDEX`): not a text naming no colour, so never ``unparsed``."""
    index = {term: i for i, term in enumerate(terms)}
    parsed = [None if text is None else parse_answer(text, terms) for text in texts]
    codes = [
        MISSING_INDEX if text is None else UNPARSED_INDEX if p is None else index[p]
        for text, p in zip(texts, parsed, strict=True)
    ]
    return Answers(
        answer=np.array(codes, np.int64),
        score=np.full(len(texts), np.nan, dtype=np.float32),
        response=np.array(list(texts), dtype=object),
    )


def join_answers(parts: Sequence[list[Answers]]) -> list[Answers]:
    """Concatenate consecutive batches' per-prompt answers (``parts[batch][prompt]``)."""
    return [Answers.concat([p[i] for p in parts]) for i in range(len(parts[0]))]


class Scorer:
    """Answers every prompt of a set's tasks for a batch of images.

    ``prompts`` are the tasks' prompts in order; the candidates are the ``palette``'s colours
    (statement texts in similarity mode, colour terms as answers to questions otherwise).
    ``text_cache`` maps a text to its embedding and lives as long as the model, so a text
    shared by prompts, tasks or sets is encoded once.
    """

    def __init__(
        self,
        adapter: ModelAdapter,
        prompts: Sequence[Prompt],
        palette: Palette,
        text_cache: dict[str, torch.Tensor],
        mode: ScoringMode = ScoringMode("similarity"),
        keep_scores: bool = False,
        source: str | None = None,
    ) -> None:
        self.adapter = adapter
        #: who answers, for error messages (the engine names the model and its plugin)
        self.source = source or f"model {getattr(adapter, 'model_id', type(adapter).__name__)!r}"
        self.mode = mode
        self.keep_scores = keep_scores
        self.terms = list(palette.names)
        self.prompts = [p.texts(palette) for p in prompts]
        self.questions = [p.question for p in prompts]
        self.max_batch = sys.maxsize
        self.text_matrix: torch.Tensor | None = None
        if mode.form == "question":
            missing = [p.id for p in prompts if not p.question]
            if missing:
                raise ColorbenchError(
                    f"{adapter.model_id} answers questions, but prompt(s) {', '.join(missing)} "
                    "have no question form; the task must give each Prompt a question="
                )
        elif isinstance(adapter, ContrastiveAdapter):
            missing = list(dict.fromkeys(t for texts in self.prompts for t in texts))
            missing = [t for t in missing if t not in text_cache]
            if missing:
                with torch.inference_mode():
                    encoded = adapter.encode_texts(missing)
                shape = (len(missing), None)
                encoded = check_output(encoded, shape, self.source, "encode_texts").float()
                text_cache.update(zip(missing, encoded, strict=True))
            self.text_matrix = torch.stack([text_cache[t] for texts in self.prompts for t in texts])

    def __call__(self, images: torch.Tensor) -> list[Answers]:
        """Per prompt, the answers for ``images``; halves the batch on CUDA out-of-memory."""
        pieces = []
        for piece in images.split(min(self.max_batch, len(images))):
            try:
                pieces.append(self.answers(piece))
            except torch.cuda.OutOfMemoryError:
                if len(piece) == 1:
                    raise
                torch.cuda.empty_cache()
                self.max_batch = len(piece) // 2
                return self(images)
        return join_answers(pieces)

    def answers(self, images: torch.Tensor) -> list[Answers]:
        """Per prompt, the answers for one batch that fits."""
        if self.mode.scoring != "generate":
            blocks = self.scores(images)
            return [
                answers_from_scores(
                    block,
                    self.keep_scores,
                    shape=(len(images), len(texts)),
                    source=self.source,
                )
                for block, texts in zip(blocks, self.prompts, strict=True)
            ]
        with torch.inference_mode():
            return [answers_from_texts(self._texts(images, q), self.terms) for q in self.questions]

    def _texts(self, images: torch.Tensor, question: str) -> list[str | None]:
        """The adapter's free answers, one string per image (``None`` where no answer came,
        see :data:`MISSING_INDEX`), or one line saying what is wrong."""
        texts = self.adapter.generate(images, question, MAX_NEW_TOKENS)
        if (
            isinstance(texts, str | bytes)
            or not isinstance(texts, Sequence)
            or len(texts) != len(images)
            or not all(t is None or isinstance(t, str) for t in texts)
        ):
            raise PluginError(
                f"{self.source} returned {type(texts).__name__} from generate; expected "
                f"{len(images)} strings (or None: no answer), one per image - fix or update "
                "the adapter "
                "(finished chunks are kept)"
            )
        return list(texts)

    def _likelihoods(self, images: torch.Tensor) -> list[AnswerLogLikelihoods]:
        """Per prompt, log p of each colour term: every distinct question of the batch in
        one adapter call, so the adapter can share each image's prefix among them
        (:meth:`GenerativeAdapter.loglikelihood_prompts`; duck-typed adapters one by one)."""
        distinct = list(dict.fromkeys(self.questions))
        ask = getattr(self.adapter, "loglikelihood_prompts", None)
        if ask is None:
            scored = [self.adapter.loglikelihood(images, q, self.terms) for q in distinct]
        else:
            scored = ask(images, distinct, self.terms)
        by_question = dict(zip(distinct, scored, strict=True))
        return [by_question[q] for q in self.questions]

    def scores(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per prompt, the adapter's ``[B, K]`` scores of its candidates."""
        with torch.inference_mode():
            if self.mode.scoring == "likelihood":
                return [
                    s.normalized(self.mode.normalization or "sum")
                    for s in self._likelihoods(images)
                ]
            if self.text_matrix is None:
                return [self.adapter.score(images, texts) for texts in self.prompts]
            embeddings = check_output(
                self.adapter.encode_images(images),
                (len(images), self.text_matrix.shape[1]),
                self.source,
                "encode_images",
            ).float()
            sims = embeddings @ self.text_matrix.to(embeddings.device).T
            return list(sims.split([len(t) for t in self.prompts], dim=1))
