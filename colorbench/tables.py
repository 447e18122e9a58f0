"""Table builders shared by the paper tasks: outcome rates, the 2x2 colour-group table,
confusions and headlines.

All of them aggregate with pandas ``groupby`` / ``crosstab`` (never a Python loop over
rows): a paper-scale run has about three million prediction rows. Every percentage
comes with its count ``n`` and a 95% Wilson interval (:mod:`colorbench.report.stats`).
Tables keep a string index (a colour, a prompt id, a group label) so they survive the
round trip through ``summary.json`` and render as readable markdown.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from colorbench.palette import Palette
from colorbench.plugin.task import Headline
from colorbench.report.stats import (
    clustered_wilson_interval,
    design_effect,
    proportion_table,
    wilson_interval,
)
from colorbench.runner.answers import TRUNCATED, UNPARSED

#: the row that pools every group of a per-colour table
OVERALL = "overall"
GROUPS = ("achromatic", "chromatic")


def outcome_counts(
    predictions: pd.DataFrame, by: str | list[str], outcomes: Sequence[str]
) -> pd.DataFrame:
    """Number of rows per group (rows) and outcome (columns, in ``outcomes`` order)."""
    counts = predictions.groupby(by, observed=True, sort=False)["outcome"].value_counts()
    return counts.unstack(fill_value=0).reindex(columns=list(outcomes), fill_value=0)


def outcome_rates(
    predictions: pd.DataFrame,
    by: str,
    outcomes: Sequence[str],
    order: Sequence[str] | None = None,
    overall: bool = False,
) -> pd.DataFrame:
    """One row per value of ``by`` (in ``order``, absent values dropped): n, % and CI per outcome.

    ``overall=True`` appends a row pooling all groups.
    """
    counts = outcome_counts(predictions, by, outcomes)
    if order is not None:
        counts = counts.reindex([v for v in order if v in counts.index])
    if overall:
        counts.loc[OVERALL] = counts.sum()
    counts.index = counts.index.astype(str)
    counts.index.name = by
    return proportion_table(counts, outcomes)


def color_group(values: pd.Series, palette: Palette) -> pd.Series:
    """``"achromatic"`` / ``"chromatic"`` for each colour name (the paper's grouping)."""
    return values.map({c.name: GROUPS[c.chromatic] for c in palette})


def group_table(
    predictions: pd.DataFrame,
    palette: Palette,
    outcomes: Sequence[str],
    rows: str = "background",
    columns: str = "object",
) -> pd.DataFrame:
    """The paper's 2x2 table in long form: one row per (``rows`` group, ``columns`` group).

    The index reads ``"<rows group> / <columns group>"`` (e.g. ``"chromatic / achromatic"``
    = chromatic background, achromatic object); ``<rows>_group`` and ``<columns>_group``
    hold the two groups, then n, % and CI per outcome. Empty cells have n = 0.
    """
    keyed = pd.DataFrame(
        {
            f"{rows}_group": color_group(predictions[rows], palette),
            f"{columns}_group": color_group(predictions[columns], palette),
            "outcome": predictions["outcome"],
        }
    )
    counts = outcome_counts(keyed, [f"{rows}_group", f"{columns}_group"], outcomes)
    cells = pd.MultiIndex.from_product([GROUPS, GROUPS], names=list(counts.index.names))
    counts = counts.reindex(cells, fill_value=0)
    table = proportion_table(counts, outcomes).reset_index()
    table.index = pd.Index(
        table[f"{rows}_group"] + " / " + table[f"{columns}_group"], name=f"{rows} / {columns}"
    )
    return table


def confusion(predictions: pd.DataFrame, truth: str, palette: Palette) -> pd.DataFrame:
    """K x (K + 2) counts: the colour of part ``truth`` (rows) against the answer (columns),
    the last columns counting free answers that named no single colour (``unparsed``) and
    those the token limit cut (``truncated``)."""
    table = pd.crosstab(predictions[truth], predictions["answer"])
    names = list(palette.names)
    table = table.reindex(index=names, columns=[*names, UNPARSED, TRUNCATED], fill_value=0)
    table.index.name = f"{truth} \\ answer"
    table.columns.name = None
    return table


def hit_rates(hits: pd.Series, by: pd.Series, name: str, order: Sequence[str]) -> pd.DataFrame:
    """Per value of ``by``: n and the % of true ``hits`` (NA rows ignored), with CI."""
    frame = pd.DataFrame({"by": by, "hit": hits}).dropna(subset=["hit"])
    grouped = frame.groupby("by", sort=False)["hit"]
    k = grouped.sum().astype(int)
    counts = pd.DataFrame({name: k, "miss": grouped.size() - k})
    counts = counts.reindex([v for v in order if v in counts.index])
    counts.index.name = by.name
    table = proportion_table(counts, [name, "miss"])
    return table.drop(columns=[c for c in table.columns if c.startswith("miss_")])


def breakdown(
    predictions: pd.DataFrame,
    by: str,
    outcomes: Sequence[str],
    order: Sequence[str],
    prompts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Outcome rates per value of ``by`` (in ``order``), per prompt when ``prompts`` is given.

    With ``prompts`` the index reads ``"<prompt> / <value>"`` (prompt-major, both in the
    given order) and a ``prompt`` column leads, so one table holds every prompt.
    """
    if prompts is None:
        return outcome_rates(predictions, by, outcomes, order)
    keyed = pd.DataFrame(
        {
            by: predictions["prompt"].astype(str) + " / " + predictions[by].astype(str),
            "outcome": predictions["outcome"],
        }
    )
    table = outcome_rates(keyed, by, outcomes, [f"{p} / {v}" for p in prompts for v in order])
    table.index.name = f"prompt / {by}"
    table.insert(0, "prompt", table.index.str.split(" / ").str[0])
    return table


def with_groups(predictions: pd.DataFrame, part: str, palette: Palette) -> pd.DataFrame:
    """``predictions`` plus ``<part>_group``: achromatic / chromatic, the paper's grouping."""
    return predictions.assign(**{f"{part}_group": color_group(predictions[part], palette)})


def image_clusters(predictions: pd.DataFrame) -> pd.Series | None:
    """The image each row asks about (rows of one image are paired), when the table has it."""
    return predictions["sample_id"] if "sample_id" in predictions.columns else None


def headline(metric: str, hits: pd.Series, clusters: pd.Series | None = None) -> Headline:
    """The leaderboard figure: % of true ``hits`` (NA rows ignored) with n and 95% CI.

    ``clusters`` (one label per row, e.g. the image) makes the interval account for rows
    that are paired, as when several prompts are asked about one image: the Wilson
    interval at the effective sample size (:func:`colorbench.report.stats.design_effect`).
    Without it the rows count as independent.
    """
    hits = hits.dropna().astype(bool)
    k, n = int(hits.sum()), int(hits.size)
    if clusters is None:
        low, high = wilson_interval(k, n)
    else:
        low, high, _ = clustered_wilson_interval(hits, clusters.loc[hits.index])
    value = 100 * k / n if n else float("nan")
    return Headline(metric, value, n, float(100 * low), float(100 * high))


def pairing_table(hits: pd.Series, clusters: pd.Series) -> pd.DataFrame:
    """How much the pairing of a pooled headline's rows costs: one row with the answers,
    the images they ask about, the design effect and the effective sample size its
    interval uses (:func:`headline` with ``clusters``)."""
    hits = hits.dropna().astype(bool)
    deff = design_effect(hits, clusters.loc[hits.index])
    frame = pd.DataFrame(
        {
            "answers": [int(hits.size)],
            "images": [int(clusters.loc[hits.index].nunique())],
            "design_effect": [float(deff)],
            "effective_n": [float(hits.size / deff)],
        },
        index=pd.Index(["headline"], name="pooled prompts"),
    )
    return frame
