"""Paired comparison of two models on identical stimuli: McNemar tests and the difference's CI.

Every model answers the very same images, so two models' headlines are not independent
samples: what matters is the rows where they disagree. For rows paired one to one (one
answer per image) the test is the exact McNemar test (a two-sided binomial test on the
discordant pairs, McNemar 1947). Where a headline pools several prompts about one image
the rows come in clusters, and the test is the clustered McNemar statistic of Durkalski
et al. (Statistics in Medicine 2003), which reduces to McNemar's when every cluster holds
one pair. The interval of the difference is the normal interval with the variance
estimated from per-image totals (the ratio estimator behind
:func:`colorbench.report.stats.design_effect`), the Wald interval of paired proportions when
clusters hold one row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: two-sided level at which a difference is called significant
ALPHA = 0.05


@dataclass(frozen=True)
class PairedDifference:
    """Model A against model B on the same rows; percentages and points in percent."""

    n: int  #: paired rows
    clusters: int  #: images the rows ask about
    a_pct: float
    b_pct: float
    difference: float  #: a_pct - b_pct, in percentage points
    ci_low: float
    ci_high: float
    a_only: int  #: rows where A is right and B wrong
    b_only: int  #: rows where B is right and A wrong
    p_value: float
    test: str

    @property
    def significant(self) -> bool:
        """Whether the difference is significant at the 95% level (p < 0.05)."""
        return self.p_value < ALPHA


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value: binomial(a_only + b_only, 1/2) tail, doubled.

    Summed in log space, so hundreds of thousands of discordant pairs are exact too.
    """
    n, k = a_only + b_only, min(a_only, b_only)
    if n == 0:
        return 1.0
    j = np.arange(1, k + 1, dtype=float)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log(n - j + 1) - np.log(j))])
    log_terms = log_choose + n * math.log(0.5)
    top = log_terms.max()
    tail = math.exp(top) * float(np.exp(log_terms - top).sum())
    return min(1.0, 2 * tail)


def clustered_mcnemar(per_cluster: np.ndarray) -> float:
    """p-value of Durkalski's clustered McNemar test from each cluster's ``a_only - b_only``.

    X^2 = (sum_k d_k)^2 / sum_k d_k^2 on 1 degree of freedom; 1 when nobody disagrees.
    """
    d = np.asarray(per_cluster, dtype=float)
    denominator = float(np.sum(d * d))
    if denominator == 0:
        return 1.0
    statistic = float(d.sum()) ** 2 / denominator
    return math.erfc(math.sqrt(statistic / 2))


def paired_difference(
    a_hits: pd.Series | np.ndarray,
    b_hits: pd.Series | np.ndarray,
    clusters: pd.Series | np.ndarray,
    z: float = 1.96,
) -> PairedDifference:
    """Compare two models' 0/1 hits on the same rows (row i of each is the same question).

    ``clusters`` labels the image each row asks about; rows of one image are paired with
    each other as well as across models.
    """
    a = np.asarray(a_hits, dtype=float)
    b = np.asarray(b_hits, dtype=float)
    n = a.size
    if n == 0 or b.size != n:
        raise ValueError("paired_difference needs two equally long, non-empty hit vectors")
    frame = pd.DataFrame(
        {"cluster": np.asarray(clusters), "a_only": a * (1 - b), "b_only": b * (1 - a)}
    )
    frame["d"] = frame["a_only"] - frame["b_only"]
    grouped = frame.groupby("cluster", sort=False)
    totals, sizes = grouped["d"].sum().to_numpy(), grouped.size().to_numpy()
    a_only, b_only = int(frame["a_only"].sum()), int(frame["b_only"].sum())
    diff = (a_only - b_only) / n
    se = math.sqrt(float(np.sum((totals - diff * sizes) ** 2))) / n
    if (sizes == 1).all():
        p_value, test = mcnemar_exact(a_only, b_only), "exact McNemar"
    else:
        p_value, test = clustered_mcnemar(totals), "clustered McNemar (Durkalski 2003)"
    return PairedDifference(
        n=n,
        clusters=len(sizes),
        a_pct=100 * float(a.mean()),
        b_pct=100 * float(b.mean()),
        difference=100 * diff,
        ci_low=100 * max(-1.0, diff - z * se),
        ci_high=100 * min(1.0, diff + z * se),
        a_only=a_only,
        b_only=b_only,
        p_value=p_value,
        test=test,
    )
