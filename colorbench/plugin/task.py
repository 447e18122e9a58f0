"""The task protocol: stimulus set, prompts, outcome classification, tables.

A task names the stimulus set it runs on, its prompt templates (``{c}`` is replaced
by each palette colour name, in palette order, to make the K candidate texts), how
an answer maps to an outcome (which part of the stimulus the answer names), and how
the per-sample predictions aggregate into the paper's tables.

The predictions table a task receives has one row per image x prompt with columns
``sample_id, set, combination, sample, task, prompt, answer`` plus every stimulus
attribute (``background``, ``object``, ``shape``, ``font``, ``word``, ...);
:meth:`Task.grade` adds ``outcome`` (from :meth:`Task.classify`) and ``correct`` (from
:meth:`Task.correct`) before :meth:`Task.summarize` is called.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from colorbench.palette import DEFAULT_PALETTE, Palette
from colorbench.runner.answers import TRUNCATED, UNPARSED


def ask(question: str, terms: Sequence[str], form: str) -> str:
    """The text a generative model is given: ``question``, then how to answer it.

    ``choices`` names the allowed terms ("Answer with one of: black, white, ..."), the
    K-way forced choice a contrastive model makes; ``open`` asks for one word, so that a
    model may also say ``navy`` or ``beige`` (then unparsed). Every question mode and every
    harness builds its questions here, so the same prompt reads the same everywhere.
    """
    if form == "open":
        return f"{question} Answer with one word."
    if form == "choices":
        return f"{question} Answer with one of: {', '.join(terms)}."
    raise ValueError(f"question form must be 'choices' or 'open', got {form!r}")


#: the predictions column :meth:`Task.grade` fills with each row's combination-level cluster
COMBINATION_UNIT = "combination_unit"
#: the columns :meth:`Task.grade` adds (a stored chunk holds the rows before grading),
#: besides one ``<part>`` + :data:`CHROMATIC_SUFFIX` per outcome part
GRADED_COLUMNS = ("outcome", "correct", "headline_hit", COMBINATION_UNIT)
CHROMATIC_SUFFIX = "_chromatic"


@dataclass(frozen=True)
class Prompt:
    """One prompt in two forms. ``asks`` is the part whose colour is the right answer, if any.

    ``template`` is the statement with ``{c}`` for the colour (contrastive models);
    ``question`` asks the same for generative models, answered with a colour term; it is
    the question alone, and :func:`ask` adds how to answer.
    """

    id: str
    template: str
    asks: str | None = None
    question: str = ""

    def texts(self, palette: Palette) -> list[str]:
        """The K candidate texts, one per palette colour, in palette order."""
        return [self.template.format(c=name) for name in palette.names]

    def asked(self, palette: Palette, form: str) -> str:
        """The question exactly as a generative model gets it (:func:`ask`)."""
        return ask(self.question, palette.names, form)


@dataclass(frozen=True)
class Headline:
    """The one figure the leaderboard shows for a task, with its sample count and 95% CI."""

    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float


@dataclass
class TaskSummary:
    """A task's aggregated results: named tables (paper layout) and a headline."""

    task: str
    headline: Headline
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: the model whose answers these are; set by the engine before ``Task.figure`` is called
    #: (figures name it, :func:`colorbench.figures.caption`), not part of ``to_dict``
    model: str = ""
    #: per prompt id, the text the model was given: the statement template for a
    #: contrastive model, the question as asked (:meth:`Prompt.asked`) for a generative one.
    #: Set by the engine like ``model`` and read back from the result's provenance
    #: (``prompts``), so tables and figures label a row with what was really put to the model
    prompts: dict[str, str] = field(default_factory=dict)

    def prompt_text(self, prompt: Prompt) -> str:
        """The text ``prompt`` put to the model; its statement template when not recorded
        (a summary built outside a run, e.g. by hand in a test)."""
        return self.prompts.get(prompt.id, prompt.template)

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "headline": vars(self.headline),
            "tables": {name: _frame_to_json(df) for name, df in self.tables.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> TaskSummary:
        return cls(
            task=data["task"],
            headline=Headline(**data["headline"]),
            tables={name: pd.DataFrame(**table) for name, table in data.get("tables", {}).items()},
        )


def _frame_to_json(df: pd.DataFrame) -> dict:
    """``DataFrame`` -> JSON-safe ``{"index", "columns", "data"}`` (numpy scalars unwrapped)."""
    split = df.to_dict(orient="split")
    split["data"] = [
        [v.item() if isinstance(v, np.generic) else v for v in row] for row in split["data"]
    ]
    split["index"] = [v.item() if isinstance(v, np.generic) else v for v in split["index"]]
    return split


#: the columns :meth:`Task.grade` adds to the predictions table
GRADE_COLUMNS = ("outcome", "correct", "headline_hit")


class Task(ABC):
    """A benchmark task. Subclasses set the class attributes and implement ``summarize``."""

    name: str = ""
    #: the task's own version: change it whenever prompts, outcomes or tables change, so that
    #: results of the old version are recomputed instead of kept (it is in the resume key)
    version: str = "1"
    #: name of the registered stimulus set this task runs on
    stimulus_set: str = ""
    prompts: tuple[Prompt, ...] = ()
    #: stimulus attributes compared with the answer, in order; the first equal one is the outcome
    outcome_parts: tuple[str, ...] = ()
    description: str = ""
    #: where the task comes from, e.g. "Arias et al. 2024, Exp. 1, Table 2"
    reference: str = ""
    #: combination factors whose every level is a reported figure that ``--target-ci`` sizes
    #: as it sizes the headline (``background_group``: achromatic / chromatic background)
    reported: tuple[str, ...] = ()
    #: the combination factor whose values are the headline's independent items when its
    #: interval is clustered on a fixed pool of them (more samples cannot narrow it further)
    item_factor: str | None = None
    #: the headline's direction: True when a higher figure is a better model, False when a
    #: lower one is, None when it is not a score at all (a description such as global-color's
    #: "% background", which has no correct answer): the leaderboard and the heatmap then
    #: neither colour it as good or bad nor export it as a metric to maximise
    higher_is_better: bool | None = True
    #: the predictions column whose equal values form one cluster under ``--cluster
    #: combination`` (rows drawn from one factor combination share its fixed effects)
    combination_unit: str = "combination"
    #: the unit (:data:`colorbench.config.CLUSTER_UNITS`) the task's own headline interval
    #: clusters by, and so ``colorbench compare``'s default for it: ``image`` (rows asking
    #: about one image)
    cluster: str = "image"

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Every outcome a row can have; each table shows them all, ``unparsed`` and
        ``truncated`` included."""
        return (*self.outcome_parts, "none", UNPARSED, TRUNCATED)

    def classify(self, predictions: pd.DataFrame) -> pd.Series:
        """Outcome per row: the first ``outcome_parts`` colour equal to the answer, else none;
        a free answer naming no single colour term is ``unparsed``, one cut by the token
        limit ``truncated`` (never a colour)."""
        outcome = pd.Series("none", index=predictions.index, dtype=object)
        for part in reversed(self.outcome_parts):
            outcome = outcome.mask(predictions["answer"] == predictions[part], part)
        for special in (UNPARSED, TRUNCATED):
            outcome = outcome.mask(predictions["answer"] == special, special)
        return outcome

    def correct(self, predictions: pd.DataFrame) -> pd.Series:
        """Whether each row's outcome is the part its prompt asks for (NA where it asks none)."""
        asks = predictions["prompt"].map({p.id: p.asks for p in self.prompts})
        result = (predictions["outcome"] == asks).astype("boolean")
        return result.mask(asks.isna())

    def grade(self, predictions: pd.DataFrame, palette: Palette = DEFAULT_PALETTE) -> pd.DataFrame:
        """Add the ``outcome``, ``correct``, ``headline_hit`` and ``combination_unit`` columns
        (in place), with ``<part>_chromatic`` for each outcome part (whether its colour is a
        chromatic one of ``palette``; NA for a value outside it), and return ``predictions``.

        The engine and the tests grade through this one method, so they cannot disagree.
        ``headline_hit`` (:meth:`headline_hits`) and ``combination_unit`` (the
        :attr:`combination_unit` column as text) are stored so that ``colorbench compare``
        pairs and clusters two models' results without needing the task's code.
        """
        predictions["outcome"] = self.classify(predictions)
        predictions["correct"] = self.correct(predictions)
        chromatic = {c.name: c.chromatic for c in palette}
        for part in self.outcome_parts:  # dropped first: re-graded rows keep one column order
            column = f"{part}{CHROMATIC_SUFFIX}"
            predictions.drop(columns=column, errors="ignore", inplace=True)
            predictions[column] = predictions[part].map(chromatic).astype("boolean")
        predictions["headline_hit"] = self.headline_hits(predictions).astype("boolean")
        if self.combination_unit in predictions:  # hand-made tables may lack it
            predictions[COMBINATION_UNIT] = predictions[self.combination_unit].astype(str)
        return predictions

    def headline_hits(self, predictions: pd.DataFrame) -> pd.Series:
        """Per row, whether it counts for the headline; NA for rows the headline leaves out.

        The headline is the % of true values among the others. ``colorbench compare``
        pairs two models row by row on these, so a task whose headline is not such a
        percentage overrides this to say so (compare then refuses it). Default: ``correct``.
        """
        return predictions["correct"]

    @abstractmethod
    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        """Aggregate classified predictions into the paper's tables and a headline."""

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        """Draw the task's figure to ``path`` (PNG); return it, or None if the task has none."""
        return None
