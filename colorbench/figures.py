"""Figure helpers for task plugins: every figure names its model, task and headline.

A ``figure.png`` gets copied into slides and issues without its folder, so it must say
what it shows: :func:`save` writes a caption line under every figure (model id, task,
headline with its 95% CI and n). :func:`rate_bars` is the figure most tasks need: the
% of one outcome per row of a table built by :func:`colorbench.tables.hit_rates` or
:func:`colorbench.tables.outcome_rates`, with whiskers labelled as 95% CIs and each
bar's n written under it. Figures use matplotlib's object API on the Agg canvas, never
``pyplot``: no global state, safe in worker processes; matplotlib is imported only when
a figure is drawn, so loading plugins stays fast.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from colorbench.plugin.task import Prompt, TaskSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: what every figure calls its whiskers
CI_LABEL = "whiskers: 95% CI (Wilson)"


def new_figure(**kwargs) -> Figure:
    """A matplotlib ``Figure`` (constrained layout unless told otherwise)."""
    from matplotlib.figure import Figure

    kwargs.setdefault("layout", "constrained")
    return Figure(**kwargs)


def caption(summary: TaskSummary) -> str:
    """``model · task`` over ``headline metric = 61.2 (95% CI 58.0–64.3, n = 880)``."""
    h = summary.headline
    who = f"model {summary.model} · " if summary.model else ""
    return (
        f"{who}task {summary.task}\nheadline {h.metric} = {h.value:.1f} "
        f"(95% CI {h.ci_low:.1f}–{h.ci_high:.1f}, n = {h.n})"
    )


def prompt_labels(
    summary: TaskSummary, prompts: Sequence[Prompt], width: int = 48
) -> tuple[list[str], str]:
    """Labels for ``prompts`` in a figure: the text each put to the model
    (:meth:`TaskSummary.prompt_text`: a statement, or a generative model's question),
    quoted and wrapped at ``width``, and a note for the caption.

    Generative questions all end in one answer instruction ("Answer with one of: black,
    white, ..."); when they do, the labels keep the questions and the note says the ending
    once, instead of repeating eleven colour terms in every label. Otherwise the note is
    empty and each label is the whole text.
    """
    texts = [summary.prompt_text(p) for p in prompts]
    pairs = list(zip(prompts, texts, strict=True))
    questions = [p.question and t != p.template and t.startswith(p.question) for p, t in pairs]
    endings = {t[len(p.question) :].strip() for p, t in pairs if p.question}
    note = ""
    if texts and all(questions) and len(endings) == 1 and "" not in endings:
        note = f'each question ends "{endings.pop()}"'
        texts = [p.question for p in prompts]
    return [textwrap.fill(f'"{t}"', width) for t in texts], note


def save(fig: Figure, path: Path, summary: TaskSummary, note: str = "") -> Path:
    """Title the figure with its task, caption it (:func:`caption`, then ``note``, e.g.
    :func:`prompt_labels`' note) and write it as PNG."""
    fig.suptitle(summary.task, fontsize=11)
    text = caption(summary) + (f"\n{textwrap.fill(note, 110)}" if note else "")
    fig.supxlabel(text, fontsize=8, color="0.25")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return path


def ci_whiskers(frame: pd.DataFrame, column: str, pct: np.ndarray) -> np.ndarray:
    """``[2, rows]`` whisker lengths below and above ``pct`` from ``<column>_ci_low`` /
    ``_ci_high``, as matplotlib's ``yerr`` / ``xerr`` take them; never negative (the stored
    bounds are rounded, so at 0% / 100% they can sit a hair inside the percentage)."""
    low = frame[f"{column}_ci_low"].to_numpy(dtype=float)
    high = frame[f"{column}_ci_high"].to_numpy(dtype=float)
    return np.clip(np.vstack([pct - low, high - pct]), 0, None)


def rate_bars(summary: TaskSummary, table: str, column: str, path: Path) -> Path:
    """Bars of ``<column>_pct`` per row of ``summary.tables[table]``, with 95% CI whiskers
    (``<column>_ci_low`` / ``_ci_high``) and each row's n under its bar."""
    frame: pd.DataFrame = summary.tables[table]
    pct = frame[f"{column}_pct"].to_numpy(dtype=float)
    err = ci_whiskers(frame, column, pct)
    fig = new_figure(figsize=(max(4.5, 0.8 * len(frame) + 2.0), 3.8))
    ax = fig.add_subplot()
    x = np.arange(len(frame))
    ax.bar(x, pct, yerr=err, capsize=3, color="#4c72b0", error_kw={"ecolor": "0.3"})
    labels = [f"{index}\nn={int(n)}" for index, n in zip(frame.index, frame["n"], strict=True)]
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_xlabel(frame.index.name or "")
    ax.set_ylim(0, 105)
    ax.set_ylabel(f"{column} % of answers\n({CI_LABEL})", fontsize=9)
    return save(fig, path, summary)
