"""The ``color-naming`` task: does the model name colours as people do? (XKCD survey)

The paper asks about 11 fixed RGBs; human colour naming is a continuum. This task asks
the same 11-way question about the 558 XKCD survey colours whose name is headed by a
basic term (see :mod:`colorbench.tasks.xkcd`) and scores the answer against that human
term.

**Scoring.** ``correct`` is defined where the right answer is the human term:

- a flat patch, with either prompt: the whole image is the colour;
- a shape with ``The color of the object is {c}``: the object is the colour.

A shape with the bare ``{c}`` is *not* scored (``correct`` is NA): the image holds two
colours, the achromatic background is the larger area, and the paper shows a bare prompt
names the larger area, which is not an error. Its outcomes (human term / background /
none) are still reported per background, which repeats the global-colour experiment with
continuous object colours.

The headline is the agreement over all scored rows; one colour gives up to five
correlated scored rows, so its Wilson interval is clustered by XKCD colour (the
effective sample size of :func:`colorbench.report.stats.design_effect`). The per-term table of
the bare prompt on patches rests on one row per colour. ``docs/color_naming.md`` has the
reference rows.

The plugin registers the stimulus set and the task through the same hooks as every
other plugin; the core does not know it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import colorbench
from colorbench.colors import lab
from colorbench.figures import new_figure, save
from colorbench.palette import Palette
from colorbench.plugin.task import Headline, Prompt, Task, TaskSummary
from colorbench.tables import (
    GROUPS,
    color_group,
    confusion,
    headline,
    hit_rates,
    outcome_rates,
)
from colorbench.tasks import questions
from colorbench.tasks.xkcd import BASIC_TERMS, XkcdColorsSet

#: chroma C*ab below which a colour is drawn in the neutral strip of the figure: its hue
#: angle is numerically unstable and means nothing to a viewer
NEUTRAL_CHROMA = 8.0


class ColorNamingSummary(TaskSummary):
    """A :class:`TaskSummary` that also keeps one row per XKCD colour for the figure.

    The per-colour frame is too long to print as a table, so it is not in ``tables``; it
    is stored in ``summary.json`` under ``"colors"`` so the figure can be redrawn.
    """

    def __init__(self, task: str, headline: Headline, tables: dict, colors: pd.DataFrame) -> None:
        super().__init__(task=task, headline=headline, tables=tables)
        self.colors = colors

    def to_dict(self) -> dict:
        colors = self.colors.astype(object).where(self.colors.notna(), None)
        return {**super().to_dict(), "colors": colors.to_dict(orient="list")}


class ColorNamingTask(Task):
    """Name XKCD colours (patches and shapes on black/white/grey) against human head terms."""

    name = "color-naming"
    stimulus_set = "xkcd-colors"
    prompts = (
        Prompt("bare", "{c}", question=questions.BARE),
        Prompt("object", "The color of the object is {c}", "human_term", questions.OBJECT),
    )
    outcome_parts = ("human_term", "background")
    item_factor = "xkcd_name"
    description = "XKCD survey colours named against the human basic term (beyond the paper)"
    reference = "Munroe 2010, XKCD colour survey (matplotlib.colors.XKCD_COLORS)"
    #: a colour's rows (patch, shapes on each background) share it: one cluster per colour,
    #: in the headline and in ``colorbench compare`` alike
    combination_unit = "xkcd_name"
    cluster = "combination"

    def correct(self, predictions: pd.DataFrame) -> pd.Series:
        """Answer == human term on patches and for the object prompt; NA for bare on shapes."""
        scored = (predictions["variant"] == "patch") | (predictions["prompt"] == "object")
        agrees = (predictions["outcome"] == "human_term").astype("boolean")
        return agrees.mask(~scored)

    def summarize(self, predictions: pd.DataFrame, palette: Palette) -> ColorNamingSummary:
        frame = predictions.assign(condition=condition_labels(predictions))
        scored = frame[frame["correct"].notna()]
        terms = [t for t in palette.names if t in BASIC_TERMS]
        conditions = sorted(frame["condition"].unique())

        shape_cell = " on " + frame["background"].astype(str)
        cells = frame["condition"] + shape_cell.where(frame["variant"] != "patch", "")
        tables = {
            "conditions": outcome_rates(
                frame.assign(cell=cells), "cell", self.outcomes, sorted(cells.unique())
            )
        }
        for cond in conditions:
            group = scored[scored["condition"] == cond]
            if len(group):
                by_term = hit_rates(group["correct"], group["human_term"], "agree", terms)
                every_term = by_term.reindex(pd.Index(terms, name=by_term.index.name))
                tables[f"per term: {cond}"] = every_term.fillna({"n": 0}).astype({"n": int})
        kind = scored["condition"] + " / " + color_group(scored["human_term"], palette)
        order = [f"{c} / {g}" for c in conditions for g in GROUPS]
        tables["recall"] = hit_rates(scored["correct"], kind.rename("condition / human term"),
                                     "recall", order)  # fmt: skip
        for cond, group in scored.groupby("condition"):
            tables[f"confusion: {cond}"] = confusion(group, "human_term", palette).reindex(terms)
        metric = "agreement with human colour names (%)"
        return ColorNamingSummary(
            self.name,
            headline(metric, frame["correct"], frame[self.combination_unit]),
            tables,
            _per_color(scored),
        )

    def figure(self, summary: TaskSummary, path: Path) -> Path | None:
        """Every XKCD colour on the hue x lightness plane, ringed where the model disagrees."""
        colors = getattr(summary, "colors", None)
        if colors is None or colors.empty:
            return None
        return draw_hue_lightness(colors, summary, path)


def condition_labels(predictions: pd.DataFrame) -> pd.Series:
    """``"bare, patch"``, ``"object, shape"``, ...: the prompt x variant cells of the tables."""
    return predictions["prompt"].astype(str) + ", " + predictions["variant"].astype(str)


def _per_color(scored: pd.DataFrame) -> pd.DataFrame:
    """One row per XKCD colour: name, RGB, human term, L*, hue, C* and agreement % per cell."""
    agree = 100 * scored.pivot_table(
        index="xkcd_name", columns="condition", values="correct", aggfunc="mean"
    )
    info = scored.drop_duplicates("xkcd_name").set_index("xkcd_name")[["rgb", "human_term"]]
    rgb = np.array([tuple(bytes.fromhex(h.removeprefix("#"))) for h in info["rgb"]])
    L, a, b = lab(rgb).reshape(-1, 3).T
    info = info.assign(L=L, hue=np.degrees(np.arctan2(b, a)) % 360, chroma=np.hypot(a, b))
    colors = info.join(agree.add_prefix("agree: ")).reset_index()
    return colors.round(3)


def draw_hue_lightness(colors: pd.DataFrame, summary: TaskSummary, path: Path) -> Path:
    """One panel per scored prompt x variant: hue angle vs L*, ringed where agreement < 50%.

    Near-neutral colours (C* < :data:`NEUTRAL_CHROMA`) sit in a strip left of hue 0,
    spread by chroma, because their hue angle is meaningless.
    """
    cells = [c for c in colors.columns if c.startswith("agree: ")]
    fig = new_figure(figsize=(6 * len(cells), 5.4))
    axes = fig.subplots(1, len(cells), squeeze=False, sharey=True)
    neutral = colors["chroma"] < NEUTRAL_CHROMA
    x = np.where(neutral, -45 + 4 * colors["chroma"], colors["hue"])
    for ax, cell in zip(axes[0], cells, strict=True):
        shown = colors[cell].notna()
        wrong = shown & (colors[cell] < 50)
        ax.axvspan(-50, -5, color="0.93", zorder=0)
        ax.scatter(x[shown], colors["L"][shown], c=colors["rgb"][shown], s=36,
                   edgecolors="0.6", linewidths=0.3, zorder=2)  # fmt: skip
        ax.scatter(x[wrong], colors["L"][wrong], marker="o", facecolors="none", s=90,
                   edgecolors="black", linewidths=0.9, zorder=3,
                   label="model disagrees with the human name")  # fmt: skip
        share = colors[cell][shown].mean()
        title = f"{cell.removeprefix('agree: ')}: {share:.1f}% mean agreement, "
        ax.set_title(title + f"{int(wrong.sum())} of {int(shown.sum())} ringed", fontsize=10)
        ax.set_xlim(-50, 360)
        ax.set_xticks([-25, 0, 60, 120, 180, 240, 300, 360], ["neutral", 0, 60, 120, 180, 240,
                                                              300, 360])  # fmt: skip
        ax.set_xlabel("CIELAB hue angle atan2(b*, a*) (degrees)")
    axes[0][0].set_ylabel("CIELAB lightness L*")
    axes[0][0].legend(loc="lower right", fontsize=8)
    return save(fig, path, summary)


@colorbench.hookimpl
def colorbench_register_stimulus_sets(register) -> None:
    register(
        "xkcd-colors",
        XkcdColorsSet,
        description="XKCD survey colours with a basic head term: patches and shapes on "
        "black/white/grey",
    )


@colorbench.hookimpl
def colorbench_register_tasks(register) -> None:
    register(ColorNamingTask())
