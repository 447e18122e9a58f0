"""Experiments 3 to 5 of Arias et al. (2024): colour words written in another colour.

A Stroop stimulus names three colours at once: the written ``word``, the ``font``
colour and the ``background``. The paper asks which of them the model answers with:
under five prompts (Exp. 3), and under "The word is written in {c} font" on a white
card (Exp. 4) and on a coloured background (Exp. 5), where a model that reads
before it perceives answers with the word instead of the font colour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from colorbench.colors import contrast_ratio
from colorbench.figures import prompt_labels
from colorbench.palette import Palette
from colorbench.plugin.task import Prompt, Task, TaskSummary
from colorbench.tables import (
    GROUPS,
    breakdown,
    headline,
    hit_rates,
    image_clusters,
    outcome_rates,
    pairing_table,
    with_groups,
)
from colorbench.tasks import figures, questions

#: WCAG 2 luminance-contrast bands of the font on its background: below 1.5 barely
#: legible, 3 the minimum for large text, 4.5 for body text
CONTRAST_BANDS = (1.5, 3.0, 4.5)
CONTRAST_LABELS = ("< 1.5", "1.5-3", "3-4.5", ">= 4.5")


def legibility(predictions: pd.DataFrame, palette: Palette) -> pd.Series:
    """The WCAG luminance contrast ratio of each row's font colour on its background.

    A word's legibility, and with it how readily it is read (the Stroop effect), depends
    on it, and it varies a lot across the palette's pairs (docs/DESIGN.md)."""
    rgb = {c.name: c.rgb for c in palette}
    font = np.array([rgb[n] for n in predictions["font"]], dtype=float).reshape(-1, 3)
    ground = np.array([rgb[n] for n in predictions["background"]], dtype=float).reshape(-1, 3)
    return pd.Series(contrast_ratio(font, ground), index=predictions.index, name="contrast")


def contrast_band(contrast: pd.Series) -> pd.Series:
    """Each contrast ratio's :data:`CONTRAST_BANDS` label."""
    band = np.searchsorted(np.array(CONTRAST_BANDS), contrast.to_numpy(), side="right")
    return pd.Series(np.array(CONTRAST_LABELS)[band], index=contrast.index, name="contrast")


FONT_PROMPT = Prompt("font", "The word is written in {c} font", "font", questions.FONT)


class PromptChoice(Task):
    """Exp. 3: which part of a Stroop image does each prompt make the model name?

    Prompts (id: template): ``font`` "The word is written in {c} font", ``text`` "The
    text says {c}" (asks the word), ``background`` "The color of the background is
    {c}", ``bare`` "{c}" (asks nothing), ``favorite`` "My favorite word, written in the
    color {c}" (asks the font). Generative models get each prompt's question form
    (:mod:`colorbench.tasks.questions`), which keeps these differences. The summary has
    one row per prompt with background / font / word / none / unparsed %, % correct per
    prompt, and the Exp. 5 breakdowns per prompt.

    Headline: % of answers naming the part the prompt asks for, pooled over the four
    prompts that ask one (each prompt sees every image, so they weigh equally). Exp. 3's
    finding is that the question barely steers the answer (CLIP reads whatever it is
    asked); this measures exactly that, where "font % under the font prompt" would
    repeat stroop-colored's headline on the same images. The four answers about one
    image are paired, so the interval is clustered by image.
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
    reported = ("background_group",)
    description = "Stroop on colour, five prompts: which part does each prompt make it name?"
    reference = "Arias et al. 2024, Exp. 3 (one row per prompt)"

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        order = [p.id for p in self.prompts]
        tables = {"by_prompt": outcome_rates(predictions, "prompt", self.outcomes, order)}
        asking = [p.id for p in self.prompts if p.asks]
        tables["correct"] = hit_rates(
            predictions["correct"], predictions["prompt"], "correct", asking
        )
        tables.update(stroop_breakdowns(predictions, palette, self.outcomes, order))
        hits, clusters = self.headline_hits(predictions), image_clusters(predictions)
        top = headline("asked part % (4 prompts)", hits, clusters)
        if clusters is not None:
            tables["pairing"] = pairing_table(hits, clusters)
        return TaskSummary(self.name, top, tables)

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        by_prompt = summary.tables["by_prompt"]
        asked = {p.id: p for p in self.prompts}
        labels, note = prompt_labels(summary, [asked[i] for i in by_prompt.index])
        panels = [("per prompt", by_prompt, labels)]
        groups = summary.tables.get("by_background_group")
        if groups is not None:
            panels.append(("per prompt and background", groups, list(groups.index)))
        return figures.stacked_bars(panels, self.outcomes, summary, path, note)


def stroop_breakdowns(
    predictions: pd.DataFrame,
    palette: Palette,
    outcomes: tuple[str, ...],
    prompts: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """The tables Exp. 5's conclusions rest on: outcome shares per background colour, per
    achromatic / chromatic background and per written word (per prompt if ``prompts``)."""
    frame = with_groups(predictions, "background", palette)
    names = list(palette.names)
    return {
        "by_background": breakdown(frame, "background", outcomes, names, prompts),
        "by_background_group": breakdown(frame, "background_group", outcomes, GROUPS, prompts),
        "by_word": breakdown(frame, "word", outcomes, names, prompts),
    }


class StroopTask(Task):
    """Exp. 4 and 5: "The word is written in {c} font"; the font colour is correct.

    The summary has one row per font colour (and an ``overall`` row) with correct
    (``font``) %, ``word`` %, ``background`` % and ``none`` % (the paper's "neither" column
    is ``background`` + ``none``), and the same shares per written word and per legibility
    band (``by_contrast``: the WCAG contrast ratio of the font on its background; on the
    white card ``by_font`` also gives each font's ratio); on coloured backgrounds also per
    background colour and per achromatic / chromatic background, which the paper's
    conclusions about the background rest on. Headline: % correct (font) over all images.
    """

    prompts = (FONT_PROMPT,)

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        table = outcome_rates(predictions, "font", self.outcomes, palette.names, overall=True)
        contrast = legibility(predictions, palette)
        if predictions["background"].nunique() == 1:  # one card: each font has one ratio
            per_font = contrast.groupby(predictions["font"]).first()
            table.insert(1, "contrast", table.index.map(per_font))
        tables = {"by_font": table}
        banded = predictions.assign(contrast=contrast_band(contrast))
        tables["by_contrast"] = outcome_rates(banded, "contrast", self.outcomes, CONTRAST_LABELS)
        breakdowns = stroop_breakdowns(predictions, palette, self.outcomes)
        if self.stimulus_set != "stroop-white":
            tables.update(breakdowns)
        else:  # one background: only the per-word table says something new
            tables["by_word"] = breakdowns["by_word"]
        top = headline("correct (font) %", self.headline_hits(predictions))
        return TaskSummary(self.name, top, tables)

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        names = ["by_font", "by_background", "by_background_group"]
        panels = [summary.tables[name] for name in names if name in summary.tables]
        return figures.outcome_bars(panels, self.outcomes, summary, path)


class StroopWhite(StroopTask):
    __doc__ = StroopTask.__doc__
    name = "stroop-white"
    stimulus_set = "stroop-white"
    #: a "white" answer names the card, not the font or the word: counted as ``background``
    #: for every model kind (a VLM may describe the page), not hidden in ``none``
    outcome_parts = ("font", "word", "background")
    description = "Stroop on white: does the answer name the font colour or the written word?"
    reference = "Arias et al. 2024, Exp. 4 (per font colour)"


class StroopColored(StroopTask):
    __doc__ = StroopTask.__doc__
    name = "stroop-colored"
    stimulus_set = "stroop"
    outcome_parts = ("font", "word", "background")
    reported = ("background_group",)
    description = "Stroop on colour: font colour, written word or background?"
    reference = "Arias et al. 2024, Exp. 5 (per font, background and word colour)"
