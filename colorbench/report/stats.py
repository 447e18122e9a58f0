"""Proportions with honest uncertainty: Wilson score intervals and outcome-rate tables.

Every percentage colorbench reports carries its sample count and a 95% Wilson score
interval (Wilson 1927; recommended over the normal approximation by Brown, Cai &
DasGupta 2001), so two models can be compared without over-reading small
differences. The interval stays inside [0, 1] and behaves at 0% and 100%, which the
reference adapters hit by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def wilson_interval(
    k: np.ndarray | pd.Series | float, n: np.ndarray | pd.Series | float, z: float = 1.96
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(low, high)`` of the proportion ``k / n``, elementwise.

    ``k`` successes out of ``n`` trials, scalars or arrays of one shape; ``z`` is the
    normal quantile (1.96 for 95%). Where ``n == 0`` both bounds are NaN.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2n = z * z / n
        centre = (p + z2n / 2) / (1 + z2n)
        half = z / (1 + z2n) * np.sqrt(p * (1 - p) / n + z2n / (4 * n))
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    return low, high


def proportion_table(counts: pd.DataFrame, outcomes: Sequence[str] | None = None) -> pd.DataFrame:
    """Counts per outcome (one column each) -> ``n`` and, per outcome, ``%`` and 95% CI.

    Each row of ``counts`` is a group; its ``n`` is the row sum. The result has the
    columns ``n``, then ``<outcome>_pct``, ``<outcome>_ci_low``, ``<outcome>_ci_high``
    for each outcome, all in percent.
    """
    outcomes = list(counts.columns if outcomes is None else outcomes)
    counts = counts.reindex(columns=outcomes, fill_value=0)
    n = counts.sum(axis=1).astype(int)
    columns: dict[str, pd.Series] = {"n": n}
    for outcome in outcomes:
        k = counts[outcome].to_numpy()
        low, high = wilson_interval(k, n.to_numpy())
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"{outcome}_pct"] = pd.Series(100 * k / n.to_numpy(), index=counts.index)
        columns[f"{outcome}_ci_low"] = pd.Series(100 * low, index=counts.index)
        columns[f"{outcome}_ci_high"] = pd.Series(100 * high, index=counts.index)
    return pd.DataFrame(columns, index=counts.index)


def design_effect(hits: np.ndarray | pd.Series, clusters: np.ndarray | pd.Series) -> float:
    """Kish design effect of the proportion of true ``hits`` when rows come in ``clusters``.

    Several prompts asked about one image give answers that are not independent (a model
    that misreads an image tends to misread it under every prompt), so pooling them
    overstates the sample size. The design effect is the ratio of the proportion's
    variance estimated from cluster totals (the ratio estimator, rows of one cluster
    kept together) to its variance under independent rows, never below 1: the
    interval is never made narrower than the row count allows. Rows that repeat their
    cluster's answer exactly give ``m`` for clusters of ``m`` rows (so the interval is
    the one of the clusters alone); independent rows give about 1.
    """
    frame = pd.DataFrame({"hit": np.asarray(hits, dtype=float), "cluster": np.asarray(clusters)})
    n = len(frame)
    p = frame["hit"].mean() if n else float("nan")
    if n == 0 or not 0 < p < 1:
        return 1.0
    grouped = frame.groupby("cluster", sort=False)["hit"]
    totals, sizes = grouped.sum().to_numpy(), grouped.size().to_numpy()
    var_clustered = float(np.sum((totals - p * sizes) ** 2)) / n**2
    var_independent = p * (1 - p) / n
    return max(1.0, var_clustered / var_independent)


def clustered_wilson_interval(
    hits: np.ndarray | pd.Series, clusters: np.ndarray | pd.Series, z: float = 1.96
) -> tuple[float, float, float]:
    """Wilson interval of the proportion of ``hits`` at the effective sample size.

    Returns ``(low, high, design effect)``; the interval is
    :func:`wilson_interval` at ``n / deff`` rows with the same proportion
    (:func:`design_effect`).
    """
    hits = np.asarray(hits, dtype=float)
    deff = design_effect(hits, clusters)
    n_eff = hits.size / deff
    low, high = wilson_interval(hits.mean() * n_eff if hits.size else 0.0, n_eff, z)
    return float(low), float(high), deff
