"""Figures of the paper tasks, drawn from the summary tables alone.

Figures are built from ``TaskSummary`` tables (never from predictions), so they can be
redrawn from a stored ``summary.json``. They use matplotlib's object API with the Agg
canvas, never ``pyplot``: no global backend state, safe in worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd

from colorbench.figures import CI_LABEL, ci_whiskers, new_figure, save
from colorbench.plugin.task import TaskSummary
from colorbench.tables import GROUPS

#: one colour per outcome, the same in every figure
OUTCOME_COLORS = {
    "background": "#4c72b0",
    "object": "#dd8452",
    "font": "#55a868",
    "word": "#c44e52",
    "none": "#b0b0b0",
}


def group_heatmaps(
    panels: Sequence[tuple[str, pd.DataFrame]],
    outcomes: Sequence[str],
    summary: TaskSummary,
    path: Path,
    note: str = "",
) -> Path:
    """The 2x2 colour-group tables as annotated heatmaps: one row per ``(label, table)``
    (a prompt, labelled as :func:`colorbench.figures.prompt_labels` does, ``note`` its
    caption line), one column per outcome; each cell shows %, its 95% CI and n."""
    fig = new_figure(figsize=(4.2 * len(outcomes), 3.6 * len(panels)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(panels), len(outcomes), squeeze=False))
    for row, (title, table) in enumerate(panels):
        cells = table.set_index([table.columns[0], table.columns[1]])
        for col, outcome in enumerate(outcomes):
            ax = axes[row, col]
            grid = cells[f"{outcome}_pct"].unstack().reindex(index=GROUPS, columns=GROUPS)
            image = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=100, cmap="viridis")
            for (i, bg), (j, ob) in product(enumerate(GROUPS), repeat=2):
                cell = cells.loc[(bg, ob)]
                text = (
                    f"{cell[f'{outcome}_pct']:.1f}%\n"
                    f"[{cell[f'{outcome}_ci_low']:.1f}, {cell[f'{outcome}_ci_high']:.1f}]\n"
                    f"n={int(cell['n'])}"
                )
                shade = "black" if cell[f"{outcome}_pct"] > 60 else "white"
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=shade)
            ax.set_xticks([0, 1], [f"{g} object" for g in GROUPS])
            ax.set_yticks([0, 1], [f"{g}\nbackground" for g in GROUPS])
            ax.set_title(f"{outcome} % [95% CI], n\n{title}", fontsize=9)
            fig.colorbar(image, ax=ax, shrink=0.8)
    return save(fig, path, summary, note)


def outcome_bars(
    tables: Sequence[pd.DataFrame], outcomes: Sequence[str], summary: TaskSummary, path: Path
) -> Path:
    """Grouped bars, one panel per table: % of each outcome per row (e.g. per font
    colour, per background colour), with 95% CI whiskers."""
    width_rows = max(len(t) for t in tables)
    fig = new_figure(
        figsize=(max(6.0, 0.9 * width_rows), 3.6 * len(tables) + 0.4), layout="constrained"
    )
    axes = np.atleast_1d(fig.subplots(len(tables), 1, squeeze=False)[:, 0])
    width = 0.8 / len(outcomes)
    for ax, table in zip(axes, tables, strict=True):
        x = np.arange(len(table))
        for i, outcome in enumerate(outcomes):
            pct = table[f"{outcome}_pct"].to_numpy(dtype=float)
            err = ci_whiskers(table, outcome, pct)
            ax.bar(
                x + (i - (len(outcomes) - 1) / 2) * width,
                pct,
                width,
                yerr=err,
                capsize=2,
                error_kw={"elinewidth": 0.8, "ecolor": "0.3"},
                label=outcome,
                color=OUTCOME_COLORS.get(outcome),
            )
        labels = [f"{v}\nn={int(n)}" for v, n in zip(table.index, table["n"], strict=True)]
        ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, 105)
        ax.set_ylabel(f"% of answers\n({CI_LABEL})", fontsize=9)
        ax.set_xlabel(table.index.name or "")
    axes[0].legend(ncols=len(outcomes), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    return save(fig, path, summary)


def stacked_bars(
    panels: Sequence[tuple[str, pd.DataFrame, Sequence[str]]],
    outcomes: Sequence[str],
    summary: TaskSummary,
    path: Path,
    note: str = "",
) -> Path:
    """Horizontal stacked bars, one panel per ``(title, table, row labels)``: the outcome
    shares of each row (e.g. per prompt, per prompt and background group). Each share's 95%
    CI is a whisker at the share's right edge, so a reader can tell which shares differ.
    Labels may span lines (a question asked); ``note`` is a caption line."""
    heights = [
        max(0.45, 0.2 + 0.16 * max(str(lab).count("\n") + 1 for lab in labels)) * len(table) + 0.9
        for _, table, labels in panels
    ]
    fig = new_figure(figsize=(8.0, sum(heights) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, (title, table, labels) in zip(axes, panels, strict=True):
        y = np.arange(len(table))
        left = np.zeros(len(table))
        for outcome in outcomes:
            pct = np.nan_to_num(table[f"{outcome}_pct"].to_numpy(dtype=float))
            ax.barh(y, pct, left=left, label=outcome, color=OUTCOME_COLORS.get(outcome))
            err = np.nan_to_num(ci_whiskers(table, outcome, pct))  # an empty row: no bounds
            shown = pct > 0  # an empty share has no edge to hang a whisker on
            ax.errorbar(
                (left + pct)[shown],
                y[shown],
                xerr=err[:, shown],
                fmt="none",
                ecolor="0.2",
                elinewidth=0.8,
                capsize=2,
            )
            for yi, (start, share) in enumerate(zip(left, pct, strict=True)):
                if share >= 6:
                    ax.text(
                        start + share / 2, yi, f"{share:.0f}", ha="center", va="center", fontsize=8
                    )
            left += pct
        ax.set_yticks(y, [f"{lab} (n={int(n)})" for lab, n in zip(labels, table["n"], strict=True)])
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_title(title, fontsize=9)
    axes[-1].set_xlabel(f"% of answers ({CI_LABEL} of each share, at its right edge)")
    axes[0].legend(ncols=len(outcomes), fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.1))
    return save(fig, path, summary, note)
