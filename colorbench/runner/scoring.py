"""Scoring: a model's answers to every prompt of a set's tasks.

Two steps with one owner each. :class:`Scorer` asks the adapter, in the run's scoring mode
(:class:`ScoringMode`, chosen by :func:`scoring_mode`):

- ``similarity``: the statement form of each prompt. A
  :class:`~colorbench.plugin.adapter.ContrastiveAdapter` encodes each image once and each text once
  per model, and every prompt is one slice of a single matrix product; any other adapter is
  asked ``score(images, texts)`` once per prompt.
- ``likelihood``: the question form; a :class:`~colorbench.plugin.adapter.GenerativeAdapter` gives
  log p(answer | image, question) of every accepted spelling of each colour term
  (:meth:`~colorbench.palette.Palette.spellings`: ``Grey`` and ``Gray``), normalised by ``sum``
  or ``mean``; a term's score is the log-sum-exp over its spellings (:func:`term_scores`), so
  no term loses for being spelled another way. With ``score_end`` each spelling is scored
  followed by the adapter's end-of-answer token, so ``Red`` stops collecting ``Reddish``.
- ``generate``: the question form; the adapter's free answer is mapped to a colour term by
  :func:`colorbench.runner.answers.parse_answer`, or to ``unparsed`` / ``truncated``.

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

from colorbench.config import DEFAULT_QUESTION_FORMS, MAX_NEW_TOKENS, NORMALIZATIONS
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
#: ``answer`` index of a free answer cut by ``max_new_tokens`` (``truncated`` in the rows)
TRUNCATED_INDEX = -3


@dataclass(frozen=True)
class ScoringMode:
    """How this run obtains a model's answers; recorded in provenance and on the leaderboard."""

    #: ``similarity``, ``likelihood`` or ``generate`` (:data:`colorbench.plugin.adapter.SCORINGS`)
    scoring: str
    #: ``sum`` or ``mean`` of answer-token log-probabilities (likelihood only)
    normalization: str | None = None
    #: likelihood only: each answer is scored followed by the adapter's ``answer_end``
    score_end: bool = False
    #: ``choices`` or ``open`` (:func:`colorbench.plugin.task.ask`; question modes only)
    question_form: str | None = None
    #: generate only: the longest answer; one that reaches it is ``truncated``
    max_new_tokens: int | None = None

    def provenance(self) -> dict[str, object]:
        facts: dict[str, object] = {"scoring": self.scoring, "normalization": self.normalization}
        if self.scoring == "likelihood":
            facts["score_end"] = self.score_end
        if self.form == "question":
            facts["question_form"] = self.question_form
        if self.scoring == "generate":
            facts["max_new_tokens"] = self.max_new_tokens
        return facts

    def result_id(self, model_id: str, adapter: ModelAdapter) -> str:
        """The id the results are stored and ranked under: the model id, with ``@<mode>``
        when the run asks the model another way than its default (``@generate``,
        ``@generate-open``, ``@likelihood-mean-end``), so that the modes of one model sit
        side by side. The token limit is not part of it (it is in provenance)."""
        details = []
        if self.normalization not in (None, NORMALIZATIONS[0]):
            details.append(self.normalization)
        if self.score_end:
            details.append("end")
        if self.question_form not in (None, DEFAULT_QUESTION_FORMS.get(self.scoring)):
            details.append(self.question_form)
        default = scoring_mode(adapter, None, NORMALIZATIONS[0]).scoring
        if self.scoring == default and not details:
            return model_id
        return f"{model_id}@{'-'.join([self.scoring, *details])}"

    @property
    def form(self) -> str:
        """Which form of the prompts the model gets: ``statement`` or ``question``."""
        return "statement" if self.scoring == "similarity" else "question"


def scoring_mode(
    adapter: ModelAdapter,
    scoring: str | None,
    normalization: str,
    *,
    score_end: bool = False,
    question_form: str | None = None,
    max_new_tokens: int = MAX_NEW_TOKENS,
) -> ScoringMode:
    """The run's ``--scoring`` if the adapter supports it, else the adapter's own default,
    with the options that apply to the chosen mode (the others are ``None`` / False).

    A run may mix contrastive and generative models: ``--scoring generate`` applies to the
    models that can answer that way and leaves CLIP scored by similarity.
    """
    supported = getattr(adapter, "scorings", ModelAdapter.scorings)  # duck-typed adapters
    chosen = scoring if scoring in supported else supported[0]
    if chosen == "similarity":
        return ScoringMode(chosen)
    likelihood = chosen == "likelihood"
    return ScoringMode(
        chosen,
        normalization if likelihood else None,
        score_end=score_end and likelihood,
        question_form=question_form or DEFAULT_QUESTION_FORMS[chosen],
        max_new_tokens=None if likelihood else max_new_tokens,
    )


def term_scores(scores: torch.Tensor, groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """``[B, S]`` scores of S spellings -> ``[B, K]``: per term, the log-sum-exp of its
    spellings' scores (``groups[k]`` are term k's columns). With summed log-probabilities
    this is log p(any spelling of the term), so ``Grey`` and ``Gray`` pool their mass."""
    return torch.stack([scores[:, list(g)].logsumexp(dim=1) for g in groups], dim=1)


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


def answers_from_texts(
    texts: Sequence[str | None],
    terms: Sequence[str],
    spellings: Sequence[Sequence[str]] | None = None,
) -> Answers:
    """Generated texts -> the colour term each names (:data:`UNPARSED_INDEX` if none or
    several, :data:`TRUNCATED_INDEX` if the token limit cut it); the text itself is kept.
    ``spellings[k]`` are the words accepted for term k (default: the built-in ones).
    ``None`` is an answer that never came (:data:`MISSING_INDEX`): not a text naming no
    colour, so never ``unparsed``."""
    index = {term: i for i, term in enumerate(terms)}
    words = None if spellings is None else dict(zip(terms, spellings, strict=True))

    def answer(text: str | None) -> int:
        if text is None:
            return MISSING_INDEX
        if getattr(text, "truncated", False):
            return TRUNCATED_INDEX
        term = parse_answer(text, terms, words)
        return UNPARSED_INDEX if term is None else index[term]

    return Answers(
        answer=np.array([answer(t) for t in texts], np.int64),
        score=np.full(len(texts), np.nan, dtype=np.float32),
        response=np.array([None if t is None else str(t) for t in texts], dtype=object),
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
        self.spellings = [palette.spellings(t) for t in self.terms]
        self.prompts = [p.texts(palette) for p in prompts]
        self.max_batch = sys.maxsize
        self.text_matrix: torch.Tensor | None = None
        if mode.form == "question":
            missing = [p.id for p in prompts if not p.question]
            if missing:
                raise ColorbenchError(
                    f"{adapter.model_id} answers questions, but prompt(s) {', '.join(missing)} "
                    "have no question form; the task must give each Prompt a question="
                )
            self.questions = [p.asked(palette, mode.question_form or "open") for p in prompts]
            self.answer_texts, self.groups = self._likelihood_answers(mode.score_end)
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

    def _likelihood_answers(self, score_end: bool) -> tuple[list[str], list[list[int]]]:
        """The answers the adapter scores (every spelling of every term, each followed by
        the end-of-answer token with ``score_end``) and, per term, its answers' columns."""
        end = ""
        if score_end:
            end = getattr(self.adapter, "answer_end", None)
            if not end:
                raise ColorbenchError(
                    f"{self.source} does not say how its answers end (answer_end), so "
                    "--score-end cannot score it; run it without --score-end"
                )
        texts, groups = [], []
        for words in self.spellings:
            groups.append(list(range(len(texts), len(texts) + len(words))))
            texts += [word + end for word in words]
        return texts, groups

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
        if self.mode.scoring == "likelihood":
            with torch.inference_mode():
                scored = self._likelihoods(images)
            return [self._likelihood_answers_of(s, len(images)) for s in scored]
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
            return [
                answers_from_texts(self._texts(images, q), self.terms, self.spellings)
                for q in self.questions
            ]

    def _texts(self, images: torch.Tensor, question: str) -> list[str | None]:
        """The adapter's free answers, one string per image (``None`` where no answer came,
        see :data:`MISSING_INDEX`), or one line saying what is wrong."""
        texts = self.adapter.generate(images, question, self.mode.max_new_tokens or MAX_NEW_TOKENS)
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
        """Per prompt, log p of every accepted spelling of each colour term: every distinct
        question of the batch in one adapter call, so the adapter can share each image's
        prefix among them (:meth:`GenerativeAdapter.loglikelihood_prompts`; duck-typed
        adapters one by one)."""
        distinct = list(dict.fromkeys(self.questions))
        ask = getattr(self.adapter, "loglikelihood_prompts", None)
        answers = self.answer_texts
        if ask is None:
            scored = [self.adapter.loglikelihood(images, q, answers) for q in distinct]
        else:
            scored = ask(images, distinct, answers)
        by_question = dict(zip(distinct, scored, strict=True))
        return [by_question[q] for q in self.questions]

    def _likelihood_answers_of(self, scored: AnswerLogLikelihoods, batch: int) -> Answers:
        """One prompt's answers from the adapter's log-likelihoods; an image marked
        ``missing`` gets :data:`MISSING_INDEX` (no score), whatever its row of ``total``."""
        missing = self._missing_rows(scored, batch)
        spelled = scored.normalized(self.mode.normalization or "sum")
        if missing.any() and isinstance(spelled, torch.Tensor) and spelled.shape[:1] == (batch,):
            spelled = spelled.masked_fill(missing.to(spelled.device)[:, None], 0.0)
        spelled = check_output(
            spelled, (batch, len(self.answer_texts)), self.source, "loglikelihood"
        ).float()
        answers = answers_from_scores(
            term_scores(spelled, self.groups),
            self.keep_scores,
            shape=(batch, len(self.terms)),
            source=self.source,
        )
        rows = missing.cpu().numpy()
        if rows.any():
            answers.answer[rows] = MISSING_INDEX
            answers.score[rows] = np.nan
            answers.margin[rows] = np.nan
            if answers.scores is not None:
                answers.scores[rows] = np.nan
        return answers

    def _missing_rows(self, scored: AnswerLogLikelihoods, batch: int) -> torch.Tensor:
        """``[B]`` bool: the images ``scored`` says no log-likelihoods came for."""
        missing = getattr(scored, "missing", None)
        if missing is None:
            return torch.zeros(batch, dtype=torch.bool)
        if not isinstance(missing, torch.Tensor) or tuple(missing.shape) != (batch,):
            raise PluginError(
                f"{self.source} returned loglikelihood missing={type(missing).__name__} "
                f"{list(getattr(missing, 'shape', []))}; expected a bool torch.Tensor of shape "
                f"[{batch}] (or None) - fix or update the adapter (finished chunks are kept)"
            )
        return missing.to(torch.bool)

    def scores(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Per prompt, the adapter's ``[B, K]`` similarity scores of its candidates."""
        with torch.inference_mode():
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
