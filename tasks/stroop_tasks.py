"""Experiments 3 to 5 of Arias et al. (2024): colour words written in another colour.

A Stroop stimulus names three colours at once: the written ``word``, the ``font``
colour and the ``background``. The paper asks which of them the model answers with:
under five prompts (Exp. 3), and under "The word is written in {c} font" on a white
card (Exp. 4) and on a coloured background (Exp. 5), where a model that reads
before it perceives answers with the word instead of the font colour.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from colorbench.tasks import figures, questions
from colorbench.tasks.tables import headline, outcome_rates

from colorbench.palette import Palette
from colorbench.task import Prompt, Task, TaskSummary

FONT_PROMPT = Prompt("font", "The word is written in {c} font", "font", questions.FONT)


class PromptChoice(Task):
    """Exp. 3: which part of a Stroop image does each prompt make the model name?

    Prompts (id: template): ``font`` "The word is written in {c} font", ``text`` "The
    text says {c}" (asks the word), ``background`` "The color of the background is
    {c}", ``bare`` "{c}" (asks nothing), ``favorite`` "My favorite word, written in the
    color {c}" (asks the font). Generative models get each prompt's question form
    (:mod:`colorbench.tasks.questions`), which keeps these differences. The summary has
    one row per prompt with background / font / word / none / unparsed %. Headline: %
    font under the ``font`` prompt, the prompt the Stroop experiments then use.
    """

    name = "prompt-choice"
    stimulus_set = "stroop"
    prompts = (
        FONT_PROMPT,
        Prompt("text", "The text says {c}", "word", questions.TEXT),
        Prompt(
            "background", "The color of the background is {c}", "background", questions.BACKGROUND
        ),
        Prompt("bare", "{c}", question=questions.BARE),
        Prompt(
            "favorite", "My favorite word, written in the color {c}", "font", questions.FAVORITE
        ),
    )
    outcome_parts = ("background", "font", "word")
    description = "Stroop on colour, five prompts: which part does each prompt make it name?"
    reference = "Arias et al. 2024, Exp. 3 (one row per prompt)"

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        order = [p.id for p in self.prompts]
        table = outcome_rates(predictions, "prompt", self.outcomes, order)
        table.insert(0, "template", table.index.map({p.id: p.template for p in self.prompts}))
        font_rows = predictions[predictions["prompt"] == FONT_PROMPT.id]
        top = headline("font % (font prompt)", font_rows["outcome"] == "font")
        return TaskSummary(self.name, top, {"by_prompt": table})

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        table = summary.tables["by_prompt"]
        return figures.stacked_bars(table, self.outcomes, table["template"], summary.task, path)


class StroopTask(Task):
    """Exp. 4 and 5: "The word is written in {c} font"; the font colour is correct.

    The summary has one row per font colour (and an ``overall`` row) with correct
    (``font``) %, ``word`` %, ``background`` % (coloured background only) and ``none``
    %. Headline: % correct (font) over all images.
    """

    prompts = (FONT_PROMPT,)

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        table = outcome_rates(predictions, "font", self.outcomes, palette.names, overall=True)
        top = headline("correct (font) %", predictions["correct"])
        return TaskSummary(self.name, top, {"by_font": table})

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        table = summary.tables["by_font"]
        return figures.outcome_bars(table, self.outcomes, summary.task, path)


class StroopWhite(StroopTask):
    __doc__ = StroopTask.__doc__
    name = "stroop-white"
    stimulus_set = "stroop-white"
    outcome_parts = ("font", "word")
    description = "Stroop on white: does the answer name the font colour or the written word?"
    reference = "Arias et al. 2024, Exp. 4 (per font colour)"


class StroopColored(StroopTask):
    __doc__ = StroopTask.__doc__
    name = "stroop-colored"
    stimulus_set = "stroop"
    outcome_parts = ("font", "word", "background")
    description = "Stroop on colour: font colour, written word or background?"
    reference = "Arias et al. 2024, Exp. 5 (per font colour)"
