"""``--target-ci``: samples per combination chosen from the interval a run must reach.

**The rule.** A reported figure (the headline, or one level of a table a task marks as
reported, e.g. the achromatic-background rows) pools ``K`` combinations with ``n`` images
each. Its estimand is the mean of the ``K`` cell means; every image contributes one value
in [0, 1] (its share of headline hits over the prompts asked about it: several prompts on
one image are one cluster, so images, not answers, are what count), and cells are sampled
independently with equal ``n``, so the estimate's variance is
``sum_c var_c / (K^2 n) <= 1 / (4 K n)`` whatever the cell accuracies are. The 95%
half-width is therefore at most ``z / (2 sqrt(K n))`` with ``z = 1.96``, and the
smallest ``n`` reaching a target half-width ``h`` is::

    n = ceil( (z / (2 h))^2 / K_min )

where ``K_min`` is the number of combinations of the smallest reported figure. At
``h = 1 pp`` that is 9,604 images per figure, against 500 x K at paper scale.

A task whose headline is clustered on a fixed pool of items (color-naming's XKCD
colours, :attr:`Task.item_factor`) cannot get below ``z / (2 sqrt(items))`` by adding
samples; it says so and runs every item once.

The run uses the first ``n`` sample indices of every combination, so it is a prefix of
the paper-scale run (:func:`colorbench.runner.checkpoint.work_samples`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from colorbench.errors import ColorbenchError
from colorbench.plugin.task import Task
from colorbench.report.sequential import ConfidenceSequence
from colorbench.report.stats import clustered_wilson_interval
from colorbench.stimuli.base import StimulusSet

#: the normal quantile of a two-sided 95% interval
Z95 = 1.959963984540054
#: how provenance names the rule
RULE = "worst-case: half-width <= z/(2*sqrt(images)), images = K_min * n; n = ceil((z/2h)^2/K_min)"
#: ``--target-ci`` range in percentage points: below 0.05 pp needs ~1.5 M images per figure
MIN_TARGET, MAX_TARGET = 0.05, 50.0
#: how provenance names the ``--stop-early`` interval
CS_METHOD = (
    "empirical-Bernstein confidence sequence (Waudby-Smith & Ramdas 2024, Thm 2; Howard et "
    "al. 2021), one observation per image, alpha 0.05 split over the task's sized figures"
)
#: suffix of a reported factor that groups colour names into achromatic / chromatic
GROUP_SUFFIX = "_group"


def check_target(target: object) -> float:
    """``--target-ci``: a number of percentage points from 0.05 to 50."""
    if isinstance(target, bool) or not isinstance(target, int | float):
        raise ColorbenchError(f"--target-ci must be a number of percentage points, got {target!r}")
    if not MIN_TARGET <= target <= MAX_TARGET:
        raise ColorbenchError(
            f"--target-ci must be from {MIN_TARGET} to {MAX_TARGET} percentage points "
            f"(1 is the paper's precision), got {target!r}"
        )
    return float(target)


def bound_pp(images: int, z: float = Z95) -> float:
    """The worst-case 95% half-width, in percentage points, of a mean over ``images``."""
    return 100 * z / (2 * math.sqrt(images))


def samples_for(target_pp: float, combinations: int, z: float = Z95) -> int:
    """The smallest ``n`` with ``bound_pp(combinations * n) <= target_pp``."""
    images = (z / (2 * target_pp / 100)) ** 2
    n = math.ceil(images / combinations - 1e-9)
    while bound_pp(combinations * n, z) > target_pp:  # guard against float rounding
        n += 1
    return max(1, n)


def factor_levels(stimuli: StimulusSet, factor: str) -> pd.Series:
    """The level of ``factor`` for every combination of ``stimuli`` (index: combination).

    ``<part>_group`` is the achromatic / chromatic group of the colour of ``<part>``, the
    paper's grouping.
    """
    base = factor.removesuffix(GROUP_SUFFIX)
    values = [stimuli.combination(c).get(base) for c in range(stimuli.num_combinations())]
    levels = pd.Series(values, dtype=object)
    if levels.isna().any():
        raise ColorbenchError(
            f"a task reports per {factor!r}, which stimulus set {stimuli.name!r} does not have"
        )
    if factor != base:
        groups = {c.name: "chromatic" if c.chromatic else "achromatic" for c in stimuli.palette}
        levels = levels.map(groups)
    return levels


@dataclass(frozen=True)
class Aggregate:
    """One reported figure: its name and the combinations it pools."""

    name: str
    combinations: np.ndarray


def scored_combinations(task: Task, stimuli: StimulusSet) -> np.ndarray:
    """The combinations with at least one headline row (global-color's asymmetry counts only
    the mixed achromatic / chromatic ones). Whether a row counts depends on the stimulus and
    the prompt, not on the answer, so grading one made-up answer per combination and prompt
    finds them; a task whose grading needs more, or whose headline is not a share of
    headline hits (none counts), counts every combination."""
    k = stimuli.num_combinations()
    samples = [stimuli.sample(c, 0) for c in range(k)]
    rows = pd.DataFrame([s.attrs for s in samples])
    rows["sample_id"] = [s.sample_id for s in samples]
    rows["combination"], rows["sample"] = np.arange(k), 0
    frame = rows.loc[rows.index.repeat(len(task.prompts))].reset_index(drop=True)
    frame["prompt"] = [p.id for p in task.prompts] * k
    frame["answer"] = stimuli.palette.names[0]
    try:
        graded = task.grade(frame, stimuli.palette)
    except Exception:  # a plugin task's grading may need columns a real run has
        return np.arange(k)
    scored = np.unique(graded.loc[graded["headline_hit"].notna(), "combination"].to_numpy())
    return scored if scored.size else np.arange(k)


def aggregates(task: Task, stimuli: StimulusSet) -> list[Aggregate]:
    """The headline and each level of each reported factor, over the combinations with
    headline rows (:func:`scored_combinations`)."""
    scored = scored_combinations(task, stimuli)
    found = [Aggregate("headline", scored)]
    for factor in task.reported:
        levels = factor_levels(stimuli, factor)
        for level, members in levels.groupby(levels, sort=True):
            inside = np.intersect1d(members.index.to_numpy(), scored)
            if inside.size:
                found.append(Aggregate(f"{factor}={level}", inside))
    return found


@dataclass(frozen=True)
class Sizing:
    """How many samples per combination one task needs for a target half-width."""

    task: str
    target_pp: float
    samples: int
    #: the reported figure that set the size and its number of combinations
    smallest: str
    combinations: int
    #: None when reachable; else the best half-width the task's fixed item pool allows
    floor_pp: float | None = None

    def line(self, stimuli: StimulusSet) -> str:
        """One line for the run's output."""
        images = stimuli.size(self.samples)
        if self.floor_pp is not None:
            return (
                f"{self.task}: +-{self.target_pp:g} pp cannot be reached (its interval is "
                f"clustered on a fixed pool of items, at best +-{self.floor_pp:.1f} pp); "
                f"using every item once ({images} images)"
            )
        return (
            f"{self.task}: +-{self.target_pp:g} pp needs n={self.samples} per combination "
            f"({images} images; smallest reported figure {self.smallest}, "
            f"{self.combinations} combinations)"
        )

    def provenance(self) -> dict:
        return {
            "target_ci": self.target_pp,
            "rule": RULE,
            "n": self.samples,
            "smallest": self.smallest,
            "combinations": self.combinations,
            "reachable": self.floor_pp is None,
        }


def size_task(task: Task, stimuli: StimulusSet, target_pp: float) -> Sizing:
    """The samples ``task`` needs so that every reported figure's half-width <= target."""
    if task.item_factor is not None:
        items = factor_levels(stimuli, task.item_factor).nunique()
        floor = bound_pp(items)
        if floor > target_pp:
            return Sizing(task.name, target_pp, 1, "headline", items, floor)
    smallest = min(aggregates(task, stimuli), key=lambda a: a.combinations.size)
    n = samples_for(target_pp, smallest.combinations.size)
    return Sizing(task.name, target_pp, n, smallest.name, int(smallest.combinations.size))


def size_set(tasks: list[Task], stimuli: StimulusSet, target_pp: float) -> list[Sizing]:
    """Each task's sizing; the set runs at the largest ``n`` (its tasks share images)."""
    return [size_task(task, stimuli, target_pp) for task in tasks]


def achieved(task: Task, frame: pd.DataFrame, stimuli: StimulusSet) -> dict[str, float]:
    """The 95% half-width (pp) of every reported figure of a graded ``frame``: the
    headline hits, clustered by image, over the rows of each aggregate."""
    hits = frame["headline_hit"]
    widths: dict[str, float] = {}
    for aggregate in aggregates(task, stimuli):
        rows = frame["combination"].isin(aggregate.combinations) & hits.notna()
        if not rows.any():
            continue
        low, high, _ = clustered_wilson_interval(
            hits[rows].astype(bool), frame.loc[rows, "sample_id"]
        )
        widths[aggregate.name] = round(100 * (high - low) / 2, 3)
    return widths


def sequences(
    task: Task, frame: pd.DataFrame, stimuli: StimulusSet, alpha: float = 0.05
) -> dict[str, tuple[float, float]]:
    """``--stop-early``: the confidence sequence ``(centre, half-width)`` in pp of every
    sized figure of a graded ``frame`` holding whole rounds, alpha split evenly (Bonferroni)
    over the figures so that all of them cover at once.

    One observation per image: its share of headline hits (several prompts on one image
    are one observation); rounds are the sample indices (:mod:`colorbench.report.sequential`).
    """
    figures = aggregates(task, stimuli)
    hits = frame["headline_hit"]
    rows = frame.loc[hits.notna(), ["sample", "combination"]].assign(
        hit=hits.dropna().astype(float)
    )
    images = rows.groupby(["sample", "combination"], sort=True)["hit"].mean().reset_index()
    found: dict[str, tuple[float, float]] = {}
    for figure in figures:
        mine = images[images["combination"].isin(figure.combinations)]
        if mine.empty:
            continue
        cs = ConfidenceSequence(alpha / len(figures))
        for _, round_ in mine.groupby("sample", sort=True):
            cs.update(round_["hit"].to_numpy())
        centre, half = cs.interval()
        found[figure.name] = (100 * centre, 100 * half)
    return found
