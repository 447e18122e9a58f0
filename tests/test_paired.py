"""Paired comparison: McNemar p-values worked out by hand, clustered pairs, and reference
adapters whose differences are known (ideal-observer vs pixel-majority; chance vs chance-7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from colorbench.cli.app import main
from colorbench.errors import ColorbenchError
from colorbench.report.compare import compare
from colorbench.report.paired import (
    cluster_robust_t,
    exact_interval,
    mcnemar_exact,
    paired_difference,
)


def test_exact_mcnemar_matches_the_binomial_by_hand():
    assert mcnemar_exact(10, 0) == pytest.approx(2 * 0.5**10)
    # 8 vs 2 discordant: P(X <= 2 | n=10) = (1 + 10 + 45) / 1024, doubled
    assert mcnemar_exact(8, 2) == pytest.approx(2 * 56 / 1024)
    assert mcnemar_exact(2, 8) == mcnemar_exact(8, 2)
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    # large counts stay finite and exact-ish: 50.5% of 200,000 discordant pairs
    assert 0 < mcnemar_exact(101_000, 99_000) < 1e-5


def test_paired_difference_of_independent_pairs():
    # 20 rows: both right 5, only A 8, only B 2, both wrong 5
    a = np.array([1] * 5 + [1] * 8 + [0] * 2 + [0] * 5)
    b = np.array([1] * 5 + [0] * 8 + [1] * 2 + [0] * 5)
    r = paired_difference(a, b, np.arange(20))
    assert (r.a_only, r.b_only, r.n, r.clusters) == (8, 2, 20, 20)
    assert (r.a_pct, r.b_pct, r.difference) == pytest.approx((65.0, 35.0, 30.0))
    assert r.test == "exact McNemar" and r.p_value == pytest.approx(2 * 56 / 1024)
    assert not r.significant
    # the exact interval: Clopper-Pearson of A's share of the 10 discordant pairs (statsmodels),
    # each end times the one-standard-error Clopper-Pearson bound of the discordance rate
    # 10 / 20 that widens it (both ends here: low < 0, high > 0 -> the rate's upper bound)
    low, high = proportion_confint(8, 10, alpha=0.05, method="beta")
    rate = proportion_confint(10, 20, alpha=0.32, method="beta")[1]
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (100 * (2 * low - 1) * rate, 100 * (2 * high - 1) * rate)
    )
    assert r.ci_low < 0 < r.ci_high  # p = 0.11: the interval holds 0


def test_five_discordant_pairs_to_none_are_neither_starred_nor_excluding_zero():
    """The issue's case: 5 vs 0 discordant in 90 rows, p = 0.0625; a Wald interval gave
    [+0.8, +10.3], excluding 0 while the test did not reject."""
    a = np.array([1] * 5 + [0] * 85)
    r = paired_difference(a, np.zeros(90), np.arange(90))
    assert r.p_value == pytest.approx(0.0625) and not r.significant
    assert r.ci_low <= 0 < r.ci_high


def test_star_and_exact_interval_never_disagree():
    """Every split of up to 60 discordant pairs in 90 rows: 0 lies outside the interval
    exactly when the exact McNemar test rejects at 5%."""
    for a_only in range(61):
        for b_only in range(61 - a_only):
            low, high = exact_interval(a_only, b_only, 90)
            rejects = mcnemar_exact(a_only, b_only) < 0.05
            assert rejects == (not low <= 0 <= high), (a_only, b_only)


def test_clustered_rows_get_the_cluster_robust_t_of_statsmodels():
    """Every image asked twice: the test is the cluster-robust t on the image totals, with
    statsmodels' CR1 standard error and G - 1 degrees of freedom; its interval holds 0
    exactly when p >= 0.05."""
    rng = np.random.default_rng(3)
    images = np.repeat(np.arange(15), 2)
    a = (rng.random(30) < 0.7).astype(int)
    b = (rng.random(30) < 0.4).astype(int)
    r = paired_difference(a, b, images)
    d = (a * (1 - b) - b * (1 - a)).astype(float)
    fit = sm.OLS(d, np.ones(30)).fit(cov_type="cluster", cov_kwds={"groups": images}, use_t=True)
    assert r.test.startswith("cluster-robust t (15 clusters")
    assert r.difference == pytest.approx(100 * fit.params[0])
    assert r.p_value == pytest.approx(fit.pvalues[0])
    low, high = fit.conf_int(alpha=0.05)[0]
    assert (r.ci_low, r.ci_high) == pytest.approx((100 * low, 100 * high))
    assert r.significant == (not r.ci_low <= 0 <= r.ci_high)
    # nobody disagrees: no difference, p = 1
    assert cluster_robust_t(np.zeros(3), np.full(3, 2)) == (1.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def reference_results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results")
    argv = ["run", "--samples", "1", "--out", str(out), "-q"]
    for model in ("ideal-observer", "pixel-majority", "chance", "chance-7"):
        argv += ["--model", model]
    for task in ("part-attribution", "stroop-white", "stroop-colored"):
        argv += ["--task", task]
    assert main(argv) == 0
    return out


def test_ideal_observer_beats_pixel_majority_significantly(reference_results):
    found = {
        c.task: c.result for c in compare(reference_results, "ideal-observer", "pixel-majority")
    }
    # by construction: pixel-majority names the background, so it never gets the font
    assert found["stroop-colored"].difference == 100.0 and found["stroop-colored"].significant
    assert found["stroop-colored"].a_only == 990 and found["stroop-colored"].b_only == 0
    assert found["stroop-white"].difference == 100.0 and found["stroop-white"].significant
    # part-attribution: both right on the background prompt, only ideal on the object one
    part = found["part-attribution"]
    assert (part.difference, part.a_only, part.b_only) == (50.0, 880, 0) and part.significant
    assert part.clusters == 880 and part.n == 1760


def test_two_chance_guessers_do_not_differ_significantly(reference_results):
    results = compare(reference_results, "chance", "chance-7")
    assert {c.task for c in results} == {"part-attribution", "stroop-white", "stroop-colored"}
    for c in results:
        # different answers (they are different guessers) but no significant difference
        assert c.result.a_only + c.result.b_only > 0
        assert not c.result.significant and c.result.ci_low < 0 < c.result.ci_high


def test_compare_cli_prints_one_line_per_task(reference_results, capsys):
    argv = ["compare", "ideal-observer", "pixel-majority", "--results", str(reference_results)]
    assert main([*argv, "--task", "stroop-white", "-q"]) == 0
    out = capsys.readouterr().out
    # 90 of 90 discordant pairs for A: the exact interval's low end is 2 * 0.025^(1/90) - 1,
    # times the discordance rate's lower bound 0.16^(1/90)
    assert out.strip() == "stroop-white: +100.0 [+90.1, +100.0] p=1.62e-27 *"


def test_results_from_different_stimuli_are_refused(reference_results, tmp_path):
    other = tmp_path / "other"
    assert main(["run", "--model", "chance", "--task", "stroop-white", "--seed", "1",
                 "--out", str(other), "-q"]) == 0  # fmt: skip
    with pytest.raises(ColorbenchError, match="did not see the same stroop-white stimuli"):
        from colorbench.report.compare import comparison

        comparison(
            other / "chance" / "stroop-white" / "summary.json",
            reference_results / "chance" / "stroop-white" / "summary.json",
        )
    with pytest.raises(ColorbenchError, match="no finished task in common"):
        compare(reference_results, "chance", "nobody")


def test_leaderboard_marks_significant_deltas(reference_results, tmp_path):
    from colorbench.report.leaderboard import build

    out = tmp_path / "board" / "README.md"
    board = build(reference_results, out, baseline="pixel-majority")
    assert board.tests[("ideal-observer", "stroop-colored")].significant
    row = next(line for line in out.read_text().splitlines() if line.startswith("| ideal-obs"))
    assert "Δ\\* +100.0" in row
    board = build(reference_results, out, baseline="chance")
    row = next(line for line in out.read_text().splitlines() if line.startswith("| chance-7 "))
    assert "Δ " in row and "Δ\\*" not in row and "Δ°" not in row  # tested, not significant
    frame = pd.read_csv(out.parent / "leaderboard.csv").set_index("model")
    assert frame.loc["chance-7", "stroop-colored delta p"] > 0.05


def test_cluster_by_combination_pools_the_samples_of_each_combination(tmp_path, capsys):
    """3 samples of each of stroop-white's 90 combinations: by image the rows are paired one
    to one (exact McNemar on 270 rows); by combination they form 90 clusters of 3."""
    out = tmp_path / "results"
    argv = ["run", "--samples", "3", "--out", str(out), "-q", "--task", "stroop-white"]
    assert main([*argv, "--model", "chance", "--model", "chance-7"]) == 0
    [by_image] = compare(out, "chance", "chance-7")
    [by_combination] = compare(out, "chance", "chance-7", cluster="combination")
    assert (by_image.cluster, by_image.result.test) == ("image", "exact McNemar")
    assert by_image.result.clusters == 270
    assert by_combination.cluster == "combination" and by_combination.result.clusters == 90
    assert by_combination.result.test.startswith("cluster-robust t (90 clusters")
    assert by_combination.result.difference == by_image.result.difference
    cli = ["compare", "chance", "chance-7", "--results", str(out), "--cluster", "combination"]
    capsys.readouterr()
    assert main(cli) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "combinations)" in shown and "cluster-robust t" in shown
    assert main([*cli[:-1], "shape"]) != 0  # not a unit: refused


def test_color_naming_is_clustered_by_xkcd_colour_in_its_headline_and_in_compare():
    from colorbench.plugin.task import COMBINATION_UNIT
    from colorbench.tasks.color_naming import ColorNamingTask

    task = ColorNamingTask()
    assert (task.cluster, task.combination_unit) == ("combination", "xkcd_name")
    rows = pd.DataFrame({"xkcd_name": ["a", "a", "b"], "combination": [0, 1, 2],
                         "prompt": "object", "variant": "patch", "human_term": "red",
                         "background": "none", "answer": "red"})  # fmt: skip
    assert task.grade(rows)[COMBINATION_UNIT].tolist() == ["a", "a", "b"]
