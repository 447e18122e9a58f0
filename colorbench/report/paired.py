"""Paired comparison of two models on identical stimuli: a test and an interval that agree.

Every model answers the very same images, so two models' headlines are not independent
samples: what matters is the rows where they disagree. The star (significant at 95%) and
the interval of the difference always come from one statistic, so the interval excludes 0
exactly when the test rejects:

- rows paired one to one (one answer per image): the exact McNemar test (a two-sided
  binomial test on the discordant pairs, McNemar 1947) and the interval that inverts the
  same conditional binomial: the Clopper-Pearson interval of the share of discordant pairs
  won by A, mapped to the difference through the discordance rate. A Wald interval
  can exclude 0 where the exact test does not (5 discordant pairs against 0 in 90 rows:
  p = 0.0625, Wald [+0.8, +10.3]); this one cannot.
- rows in clusters (several prompts about one image, or every image of one factor
  combination, ``--cluster``): the cluster-robust t test of the mean row difference, its
  variance from per-cluster totals with the small-sample factor G/(G-1) (CR1) and G-1
  degrees of freedom (Cameron & Miller 2015, sec. VI), and the t interval from the same
  standard error. Without that correction a normal interval covers about 0.93 at 20
  clusters; with it about 0.95 (``tests/test_paired_simulation.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

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


#: confidence of the discordance-rate bound that widens the exact interval (one standard error)
RATE_LEVEL = 0.68


def clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a binomial proportion ``k / n``, central tails."""
    tail = (1 - level) / 2
    low = float(stats.beta.ppf(tail, k, n - k + 1)) if k > 0 else 0.0
    high = float(stats.beta.ppf(1 - tail, k + 1, n - k)) if k < n else 1.0
    return low, high


def exact_interval(a_only: int, b_only: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The difference's interval (fractions) that agrees with the exact McNemar test.

    The difference is (2 phi - 1) psi, with phi the share of discordant pairs A wins and
    psi the discordance rate. Given the discordant pairs, A's wins are binomial(a_only +
    b_only, phi), phi = 1/2 under no difference: the Clopper-Pearson interval of phi
    (each tail (1 - level) / 2) excludes 1/2 exactly when :func:`mcnemar_exact` is below
    1 - level. Each end is then scaled by the Clopper-Pearson bound of psi
    (:data:`RATE_LEVEL`) that widens it, which never changes its sign: the interval
    excludes 0 exactly when the test rejects. Scaling by the observed psi alone ignores
    psi's own noise and covers ~0.91 at n = 90; the widened one covers >= 0.95 in the
    simulations of ``tests/test_paired_simulation.py``.
    """
    discordant = a_only + b_only
    rate_low, rate_high = clopper_pearson(discordant, n, RATE_LEVEL)
    if discordant == 0:
        return -rate_high, rate_high
    share_low, share_high = clopper_pearson(a_only, discordant, level)
    low, high = 2 * share_low - 1, 2 * share_high - 1
    return low * (rate_low if low > 0 else rate_high), high * (rate_high if high > 0 else rate_low)


def cluster_robust_t(
    totals: np.ndarray, sizes: np.ndarray, level: float = 0.95
) -> tuple[float, float, float]:
    """``(p, low, high)`` of the mean row difference from per-cluster totals and sizes.

    The standard error is the cluster-robust one scaled by G/(G-1), referred to a t
    distribution with G-1 degrees of freedom; the interval uses the same standard error
    and quantile, so it excludes 0 exactly when p < 1 - level. With one cluster nothing
    is known: p = 1 and the interval is [-1, 1].
    """
    totals, sizes = np.asarray(totals, dtype=float), np.asarray(sizes, dtype=float)
    g, n = len(totals), float(sizes.sum())
    diff = float(totals.sum()) / n
    if g < 2:
        return 1.0, -1.0, 1.0
    se = math.sqrt(g / (g - 1) * float(np.sum((totals - diff * sizes) ** 2))) / n
    quantile = float(stats.t.ppf(1 - (1 - level) / 2, g - 1))
    if se == 0:
        return (1.0 if diff == 0 else 0.0), diff, diff
    p_value = float(2 * stats.t.sf(abs(diff) / se, g - 1))
    return p_value, max(-1.0, diff - quantile * se), min(1.0, diff + quantile * se)


def paired_difference(
    a_hits: pd.Series | np.ndarray,
    b_hits: pd.Series | np.ndarray,
    clusters: pd.Series | np.ndarray,
) -> PairedDifference:
    """Compare two models' 0/1 hits on the same rows (row i of each is the same question).

    ``clusters`` labels the unit each row belongs to (the image, or the factor combination);
    rows of one unit are paired with each other as well as across models.
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
    if (sizes == 1).all():
        p_value, test = mcnemar_exact(a_only, b_only), "exact McNemar"
        low, high = exact_interval(a_only, b_only, n, 1 - ALPHA)
    else:
        p_value, low, high = cluster_robust_t(totals, sizes, 1 - ALPHA)
        test = f"cluster-robust t ({len(sizes)} clusters, CR1, {len(sizes) - 1} df)"
    return PairedDifference(
        n=n,
        clusters=len(sizes),
        a_pct=100 * float(a.mean()),
        b_pct=100 * float(b.mean()),
        difference=100 * (a_only - b_only) / n,
        ci_low=100 * low,
        ci_high=100 * high,
        a_only=a_only,
        b_only=b_only,
        p_value=p_value,
        test=test,
    )
