"""Experiments 1 and 2 of Arias et al. (2024): one flat shape on a flat background.

Both tasks run on the ``shapes`` set (8 shapes x 11 background x 10 object colours) and
classify an answer by the part whose colour it names (background / object / none).
Their summaries reproduce the paper's 2x2 table (background achromatic|chromatic x
object achromatic|chromatic, background% and object% per cell), one per prompt,
plus per-colour breakdowns and the confusion of the answer against the asked part.
"""

from __future__ import annotations

from abc import abstractmethod
from pathlib import Path

import pandas as pd

from colorbench.figures import prompt_labels
from colorbench.palette import Palette
from colorbench.plugin.task import Headline, Prompt, Task, TaskSummary
from colorbench.tables import (
    GROUPS,
    confusion,
    group_table,
    headline,
    hit_rates,
    image_clusters,
    outcome_rates,
    pairing_table,
)
from colorbench.tasks import figures, questions


class ShapesTask(Task):
    """Shared layout of the shapes tasks; subclasses choose prompts and the headline."""

    stimulus_set = "shapes"
    outcome_parts = ("background", "object")
    reported = ("background_group",)

    @abstractmethod
    def headline(self, predictions: pd.DataFrame) -> Headline:
        """The task's leaderboard figure."""

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        tables: dict[str, pd.DataFrame] = {}
        for prompt in self.prompts:
            rows = predictions[predictions["prompt"] == prompt.id]
            if rows.empty:
                continue
            names = list(palette.names)
            tables[f"groups_{prompt.id}"] = group_table(rows, palette, self.outcomes)
            for part in self.outcome_parts:
                tables[f"by_{part}_{prompt.id}"] = outcome_rates(rows, part, self.outcomes, names)
            tables[f"confusion_{prompt.id}"] = confusion(rows, prompt.asks or "background", palette)
        return TaskSummary(self.name, self.headline(predictions), tables)

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        prompts = [p for p in self.prompts if f"groups_{p.id}" in summary.tables]
        labels, note = prompt_labels(summary, prompts, width=60)
        tables = [summary.tables[f"groups_{p.id}"] for p in prompts]
        panels = list(zip(labels, tables, strict=True))
        return figures.group_heatmaps(panels, self.outcome_parts, summary, path, note)


class GlobalColor(ShapesTask):
    """Exp. 1: which colour does the model give with no part named (the bare ``{c}``)?

    The bare prompt asks for no part, so no answer is right: the task describes where
    answers go and declares ``higher_is_better = None`` (the leaderboard shows it, never
    ranks or colours it). Its headline is the paper's finding, the **achromatic asymmetry**:
    in the two mixed groups (one part achromatic, the other chromatic) the % of answers
    naming the chromatic part, whichever part it is. A model that names the larger area
    (pixel majority) gets 50%, a model that never names an achromatic part when a
    chromatic one is present gets 100%, CLIP in the paper 95.4% (Table 1: 91.08% object
    on achromatic backgrounds, 99.74% background behind achromatic objects). The
    ``asymmetry`` table gives both mixed groups; ``groups_bare`` the full 2x2 table.
    """

    name = "global-color"
    prompts = (Prompt("bare", "{c}", question=questions.BARE),)
    description = (
        "Shapes, bare colour name: achromatic asymmetry (is the chromatic part named when "
        "the other is achromatic?)"
    )
    reference = "Arias et al. 2024, Exp. 1 (2x2 table of background% / object%)"
    #: the bare prompt asks for no part: the headline describes, it does not score
    higher_is_better = None

    def headline_hits(self, predictions: pd.DataFrame) -> pd.Series:
        """Whether the answer names the chromatic part; NA unless exactly one part is
        chromatic (needs the ``*_chromatic`` columns :meth:`Task.grade` adds)."""
        background = predictions["background_chromatic"]
        mixed = background != predictions["object_chromatic"]
        chromatic_part = background.map({True: "background", False: "object"})
        hits = (predictions["outcome"] == chromatic_part).astype("boolean")
        return hits.mask(~mixed.fillna(False).astype(bool))

    def headline(self, predictions: pd.DataFrame) -> Headline:
        return headline(ASYMMETRY, self.headline_hits(predictions))

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        summary = super().summarize(predictions, palette)
        cells = [f"{g} background / {h} object" for g, h in (GROUPS, GROUPS[::-1])]
        hits = self.headline_hits(predictions)
        group = predictions["background_chromatic"].map({False: cells[0], True: cells[1]})
        mixed = predictions.assign(group=group)[hits.notna()]
        table = outcome_rates(mixed, "group", self.outcomes, cells)
        chromatic = hit_rates(hits, group.rename("group"), "chromatic part", cells)
        summary.tables["asymmetry"] = chromatic.drop(columns="n").join(table)
        return summary


#: global-color's headline metric
ASYMMETRY = "chromatic part named % (one part achromatic)"


class PartAttribution(ShapesTask):
    """Exp. 2: can a prompt direct the answer to the object or to the background?

    Headline: % correct (the answer names the asked part) pooled over both prompts;
    the ``correct`` table gives it per prompt. Both prompts ask about the same images,
    so the pooled rows are paired: the interval is clustered by image
    (:func:`colorbench.report.stats.design_effect`); each per-prompt row of ``correct`` has
    one answer per image and keeps the plain Wilson interval.
    """

    name = "part-attribution"
    prompts = (
        Prompt("object", "The color of the object is {c}", "object", questions.OBJECT),
        Prompt(
            "background", "The color of the background is {c}", "background", questions.BACKGROUND
        ),
    )
    description = "Shapes, object / background prompts: does the answer name the asked part?"
    reference = "Arias et al. 2024, Exp. 2 (2x2 table per prompt)"

    def headline(self, predictions: pd.DataFrame) -> Headline:
        return headline("correct %", self.headline_hits(predictions), image_clusters(predictions))

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> TaskSummary:
        summary = super().summarize(predictions, palette)
        order = [p.id for p in self.prompts]
        summary.tables["correct"] = hit_rates(
            predictions["correct"], predictions["prompt"], "correct", order
        )
        clusters = image_clusters(predictions)
        if clusters is not None:
            summary.tables["pairing"] = pairing_table(self.headline_hits(predictions), clusters)
        return summary
