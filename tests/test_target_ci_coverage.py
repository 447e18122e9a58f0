"""Seeded simulation: the intervals of both --target-ci rules cover the true mean.

Heterogeneous cells (accuracies spread around the mean, clipped to [0, 1]) at means near
0, 30, 67 and 100%; the truth is the mean of the cell accuracies, which both rules
estimate. Fixed rule: n = samples_for(target, K) images per cell, the reported Wilson
interval of the pooled hits. Stop-early rule: rounds of one image per cell, stop when the
empirical-Bernstein CS is narrower than the target or at the fixed n; the CS is reported.
"""

from __future__ import annotations

import numpy as np
import pytest

from colorbench.report.sequential import ConfidenceSequence
from colorbench.report.stats import wilson_interval
from colorbench.runner.sizing import samples_for

K, TARGET = 100, 2.0  # 100 cells, +-2 pp: 25 images per cell
MEANS = (0.005, 0.30, 0.67, 0.995)


def cells(rng: np.random.Generator, mean: float) -> np.ndarray:
    spread = min(mean, 1 - mean, 0.25)
    return np.clip(mean + rng.uniform(-spread, spread, K), 0, 1)


@pytest.mark.parametrize("mean", MEANS)
def test_fixed_rule_covers(mean):
    rng = np.random.default_rng(21)
    p = cells(rng, mean)
    n, reps = samples_for(TARGET, K), 4000
    hits = rng.binomial(n, p, size=(reps, K)).sum(axis=1)
    low, high = wilson_interval(hits, K * n)
    covered = (low <= p.mean()) & (p.mean() <= high)
    assert covered.mean() >= 0.94
    assert np.all((high - low) / 2 <= TARGET / 100 + 1e-12)  # the bound holds for Wilson too


@pytest.mark.parametrize("mean", MEANS)
def test_stop_early_confidence_sequence_covers_at_the_stopping_round(mean):
    rng = np.random.default_rng(21)
    p = cells(rng, mean)
    cap, reps, covered, rounds = samples_for(TARGET, K), 400, 0, []
    for _ in range(reps):
        cs = ConfidenceSequence(0.05)
        done = 0
        while done < cap:
            cs.update(rng.random(K) < p)
            done += 1
            centre, half = cs.interval()
            if half <= TARGET / 100:
                break
        covered += abs(centre - p.mean()) <= half
        rounds.append(done)
    assert covered / reps >= 0.94
    if mean in (0.005, 0.995):  # floor and ceiling: it stops well before the fixed size
        assert np.median(rounds) < cap / 2
