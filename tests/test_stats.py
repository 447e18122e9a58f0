"""Wilson score intervals against values worked out by hand from the closed form."""

import math

import pandas as pd
import pytest

from colorbench.report.stats import (
    clustered_wilson_interval,
    design_effect,
    proportion_table,
    wilson_interval,
)


def test_wilson_matches_hand_computed_values():
    # 5/10, z = 1.96: centre (0.5 + 0.19208) / 1.38416 = 0.5,
    # half-width 1.96 / 1.38416 * sqrt(0.025 + 0.009604) = 1.416021 * 0.186022 = 0.263410
    low, high = wilson_interval(5, 10)
    assert low == pytest.approx(0.236590, abs=1e-6)
    assert high == pytest.approx(0.763410, abs=1e-6)
    # 0/10: the lower bound is 0 and the upper z^2/n / (1 + z^2/n) = 0.38416 / 1.38416
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.38416 / 1.38416, abs=1e-9)


def test_wilson_is_vectorised_symmetric_and_nan_for_empty():
    k = pd.Series([0, 3, 10, 0])
    n = pd.Series([10, 10, 10, 0])
    low, high = wilson_interval(k, n)
    assert low.shape == high.shape == (4,)
    # k successes and n-k failures give mirrored intervals
    assert low[0] == pytest.approx(1 - high[2]) and high[0] == pytest.approx(1 - low[2])
    assert math.isnan(low[3]) and math.isnan(high[3])
    # the interval contains the point estimate and narrows with n
    assert low[1] < 0.3 < high[1]
    low_big, high_big = wilson_interval(300, 1000)
    assert high_big - low_big < high[1] - low[1]


def test_wilson_z_controls_the_width():
    low_68, high_68 = wilson_interval(30, 100, z=1.0)
    low_99, high_99 = wilson_interval(30, 100, z=2.576)
    assert low_99 < low_68 < 0.3 < high_68 < high_99


def test_proportion_table_columns_and_values():
    counts = pd.DataFrame({"yes": [3, 0], "no": [1, 4]}, index=["a", "b"])
    table = proportion_table(counts, ["yes", "no"])
    assert list(table.columns) == [
        "n",
        "yes_pct",
        "yes_ci_low",
        "yes_ci_high",
        "no_pct",
        "no_ci_low",
        "no_ci_high",
    ]
    assert table["n"].tolist() == [4, 4]
    assert table.loc["a", "yes_pct"] == 75.0
    low, high = wilson_interval(3, 4)
    assert table.loc["a", "yes_ci_low"] == pytest.approx(100 * low)
    assert table.loc["a", "yes_ci_high"] == pytest.approx(100 * high)
    assert table.loc["b", "yes_pct"] == 0.0 and table.loc["b", "no_pct"] == 100.0


def test_design_effect_of_repeated_rows_is_the_cluster_size():
    hits = [1, 1, 1, 0, 0, 1, 0, 0]
    assert design_effect(hits, range(8)) == pytest.approx(1.0)  # one row per cluster
    tripled = [h for h in hits for _ in range(3)]
    clusters = [c for c in range(8) for _ in range(3)]
    assert design_effect(tripled, clusters) == pytest.approx(3.0)
    low, high, deff = clustered_wilson_interval(tripled, clusters)
    assert deff == pytest.approx(3.0)
    assert (low, high) == pytest.approx(tuple(float(v) for v in wilson_interval(4, 8)))


def test_design_effect_never_narrows_and_is_one_at_the_bounds():
    # each cluster holds one hit and one miss: less variable than independent rows,
    # but the interval keeps the row count (deff floors at 1)
    assert design_effect([1, 0] * 5, [c for c in range(5) for _ in range(2)]) == 1.0
    assert design_effect([1] * 6, [0, 0, 1, 1, 2, 2]) == 1.0
    low, high, _ = clustered_wilson_interval([1] * 6, [0, 0, 1, 1, 2, 2])
    assert (low, high) == pytest.approx(tuple(float(v) for v in wilson_interval(6, 6)))
