"""The leaderboard picture: a models x tasks heatmap of headline figures.

Each cell of a score is coloured by the task's headline (0-100 %; a task whose headline is
not a score, ``higher_is_better`` None, is left uncoloured and its column says so) and
shows the value with its 95% confidence interval and n (an n = 18 cell must not look as
solid as one of n = 2,785); each column names the task, its headline metric and the
``chance`` model's figure when that model has one (the level a model that sees nothing
reaches); each row names the model and its kind (contrastive, generative, reference), so a
reader sees at a glance where a new VLM sits between CLIP and the reference bounds. The
PNG is drawn with matplotlib's Agg canvas (no pyplot state), a fixed size, dpi and font,
and without the metadata matplotlib would otherwise stamp (software version), so the same
results draw the same bytes and the file can be committed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Protocol

import numpy as np

from colorbench.atomic import atomic_path
from colorbench.names import printable


class Cell(Protocol):
    """What the heatmap reads of one (model, task) headline."""

    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float


class Board(Protocol):
    """What the heatmap reads of a leaderboard (:class:`colorbench.report.leaderboard.
    Leaderboard`); a protocol, so that the picture does not import the table it sits in."""

    @property
    def models(self) -> list[str]: ...

    @property
    def tasks(self) -> list[str]: ...

    @property
    def scores(self) -> list: ...

    def score(self, model: str, task: str) -> Cell | None: ...

    def kind(self, model: str) -> str: ...

    def direction(self, task: str) -> bool | None: ...


FILENAME = "heatmap.png"
#: longest model id shown in full; longer ones are cut with an ellipsis
MAX_LABEL = 36
#: marker and colour of each model kind in the row labels
KIND_STYLE = {
    "reference": ("◆", "#7f7f7f"),
    "contrastive": ("●", "#1f4e9c"),
    "generative": ("▲", "#b2441b"),
}
UNKNOWN_KIND = ("?", "#000000")
#: characters per line of a column's metric
LABEL_WIDTH = 22
#: the model whose figure marks each column's chance level
CHANCE = "chance"


def grid(board: Board) -> np.ndarray:
    """``[models, tasks]`` headline values in the leaderboard's order, NaN where missing."""
    values = np.full((len(board.models), len(board.tasks)), np.nan)
    for i, model in enumerate(board.models):
        for j, task in enumerate(board.tasks):
            score = board.score(model, task)
            if score is not None:
                values[i, j] = score.value
    return values


def _label(model: str, kind: str) -> str:
    model, kind = printable(model), printable(kind)  # results folders are shared: untrusted
    name = model if len(model) <= MAX_LABEL else model[: MAX_LABEL - 1] + "…"
    marker = KIND_STYLE.get(kind, UNKNOWN_KIND)[0]
    return f"{name} {marker} {kind}"


def column_label(board: Board, task: str) -> str:
    """``task``, its headline metric(s) and the chance model's figure, one per line."""
    metrics = sorted({s.metric for m in board.models if (s := board.score(m, task)) is not None})
    lines = [printable(task), textwrap.fill(printable(", ".join(metrics)), LABEL_WIDTH)]
    chance = board.score(CHANCE, task)
    if chance is not None:
        lines.append(f"chance {chance.value:.1f}")
    if board.direction(task) is None:
        lines.append("(not a score: uncoloured)")
    return "\n".join(lines)


def draw(board: Board, path: Path) -> Path | None:
    """Draw the heatmap to ``path`` (atomically); None, and no file, when there are no scores."""
    if not board.scores:
        Path(path).unlink(missing_ok=True)
        return None
    from matplotlib.figure import Figure

    values = grid(board)
    rows, cols = values.shape
    scored = np.array([board.direction(t) is not None for t in board.tasks], dtype=bool)
    coloured = np.where(scored[None, :], values, np.nan)
    size = (2.0 + 1.6 * cols + 0.07 * MAX_LABEL, 2.0 + 0.7 * rows)
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(coloured), cmap="viridis", vmin=0, vmax=100, aspect="auto"
    )
    for i, model in enumerate(board.models):
        for j, task in enumerate(board.tasks):
            s = board.score(model, task)
            if s is None:
                ax.text(j, i, "—", ha="center", va="center", color="#808080")
                continue
            ink = "black" if s.value > 60 or not scored[j] else "white"
            text = f"{s.value:.1f}\n{s.ci_low:.1f}–{s.ci_high:.1f}\nn={s.n:,}"
            ax.text(j, i, text, ha="center", va="center", color=ink, fontsize=8, parse_math=False)
    kinds = [board.kind(m) for m in board.models]
    ax.set_xticks(
        range(cols), [column_label(board, t) for t in board.tasks], fontsize=8, parse_math=False
    )
    ax.xaxis.tick_top()
    ax.set_yticks(
        range(rows),
        [_label(m, k) for m, k in zip(board.models, kinds, strict=True)],
        parse_math=False,
    )
    for tick, kind in zip(ax.get_yticklabels(), kinds, strict=True):
        tick.set_color(KIND_STYLE.get(kind, UNKNOWN_KIND)[1])
    ax.set_title(
        "headline % per task: value, 95% CI, n (columns: task, metric, chance level)",
        fontsize=10,
    )
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02, label="headline %")
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    return Path(path)
