"""CLIP RN50 as Arias et al. (2024) reported it: the paper's own figures, kept as data.

No trained weights run here, yet users come to compare their model with CLIP. The
paper's figures, converted to each colorbench task's headline where the paper gives
enough to do so, live in ``reported_arias2024.csv`` beside this module (one row per
task: experiment, metric, value, the table it comes from and how it was derived). They
were measured on the paper's own stimuli (its RGBs, fonts and renderer), so the
leaderboard shows them in a section of their own, never ranked with measured rows. The
tasks listed there are the paper's; any other task is beyond the paper.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from colorbench.report.markdown import escape

FILE = Path(__file__).with_name("reported_arias2024.csv")
SOURCE = "Arias, Baldrich & Vanrell 2024 (CIC; arXiv 2502.04470)"
MODEL = "CLIP RN50 (OpenAI weights)"
TITLE = "Reported in Arias et al. 2024, on the paper's own stimuli"


@dataclass(frozen=True)
class Reported:
    """One task's headline as the paper reported it, with where it comes from."""

    task: str
    experiment: str
    metric: str
    value: float
    source: str
    derivation: str


@lru_cache(maxsize=1)
def load() -> tuple[Reported, ...]:
    """The rows of the data file, in the paper's order."""
    with FILE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(Reported(**{**row, "value": float(row["value"])}) for row in rows)


def experiment(task: str) -> str | None:
    """The paper's experiment a task reproduces (``"Exp. 3"``), None if beyond the paper."""
    return next((r.experiment for r in load() if r.task == task), None)


def section() -> list[str]:
    """The leaderboard's section of reported figures (markdown lines)."""
    lines = [
        "",
        f"## {TITLE}",
        "",
        f"{MODEL} as {SOURCE} report it: the paper's figures converted to each task's",
        "headline, not measured here and **not ranked** with the rows above. They come from the",
        "paper's own stimuli (its RGBs, fonts and renderer), which colorbench re-creates from",
        "the design but not pixel for pixel, and the paper gives no intervals. Source data:",
        "`colorbench/report/reported_arias2024.csv`.",
        "",
        "| task | experiment | headline metric | reported | from | how it was derived |",
        "|---|---|---|---|---|---|",
    ]
    for r in load():
        cells = [r.task, r.experiment, r.metric, f"{r.value:g}", r.source, r.derivation]
        lines.append("| " + " | ".join(escape(c) for c in cells) + " |")
    return lines
