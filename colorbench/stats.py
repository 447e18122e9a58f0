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
