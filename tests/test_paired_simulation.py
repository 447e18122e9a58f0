"""Coverage and type-I error of the paired comparison, by seeded simulation (a few seconds).

The truths are known by construction: rows drawn with known discordance probabilities, so
the true difference is known and the test's null holds exactly when the two are equal.
"""

from __future__ import annotations

import numpy as np

from colorbench.report.paired import exact_interval, mcnemar_exact, paired_difference

REPLICATIONS = 2000


def _discordant(rng: np.random.Generator, n: int, p_a: float, p_b: float, size: int):
    """``size`` replications of (A-only, B-only) counts among ``n`` independent rows."""
    counts = rng.multinomial(n, [p_a, p_b, 1 - p_a - p_b], size=size)
    return counts[:, 0], counts[:, 1]


def test_exact_test_and_interval_hold_their_level_on_independent_rows():
    rng = np.random.default_rng(20)
    n = 90
    a_only, b_only = _discordant(rng, n, 0.04, 0.04, REPLICATIONS)
    rejected = np.mean([mcnemar_exact(a, b) < 0.05 for a, b in zip(a_only, b_only, strict=True)])
    assert rejected <= 0.05  # the exact test is conservative, never liberal
    a_only, b_only = _discordant(rng, n, 0.10, 0.03, REPLICATIONS)
    bounds = np.array([exact_interval(a, b, n) for a, b in zip(a_only, b_only, strict=True)])
    covered = np.mean((bounds[:, 0] <= 0.07) & (0.07 <= bounds[:, 1]))
    assert covered >= 0.94, covered


def _clustered(rng: np.random.Generator, clusters: int, rows: int, shift: float):
    """Hits of A and B on ``clusters`` x ``rows`` rows whose discordance rates vary by
    cluster (Beta-distributed), A's by ``shift`` more on average: true difference ``shift``."""
    p_b = rng.beta(1, 9, clusters)
    p_a = np.clip(p_b + shift + rng.normal(0, 0.08, clusters), 0, 1 - p_b)
    u = rng.random((clusters, rows))
    a_only = u < p_a[:, None]
    b_only = (u >= p_a[:, None]) & (u < (p_a + p_b)[:, None])
    return a_only.ravel().astype(int), b_only.ravel().astype(int), p_a.mean() - p_b.mean()


def test_cluster_robust_interval_covers_at_twenty_clusters():
    """20 clusters of 10 rows: the small-sample correction (G/(G-1), t on G-1 df) brings
    coverage of the clusters' mean difference to ~0.95 (a normal Wald interval: ~0.93), and
    the test's type-I error to ~0.05."""
    rng = np.random.default_rng(22)
    clusters = np.repeat(np.arange(20), 10)
    covered = rejected = 0
    for _ in range(REPLICATIONS):
        a, b, truth = _clustered(rng, 20, 10, 0.15)
        r = paired_difference(a, b, clusters)
        covered += r.ci_low <= 100 * truth <= r.ci_high
        a, b, _ = _clustered(rng, 20, 10, 0.0)
        rejected += paired_difference(a, b, clusters).significant
    assert covered / REPLICATIONS >= 0.94, covered / REPLICATIONS
    assert rejected / REPLICATIONS <= 0.065, rejected / REPLICATIONS
