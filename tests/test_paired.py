"""Paired comparison: McNemar p-values worked out by hand, clustered pairs, and reference
adapters whose differences are known (ideal-observer vs pixel-majority; chance vs chance-7)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from colorbench.cli.app import main
from colorbench.errors import ColorbenchError
from colorbench.report.compare import compare
from colorbench.report.paired import clustered_mcnemar, mcnemar_exact, paired_difference


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
    # Wald interval of paired proportions: var = ((b + c) / n - d^2) / n
    se = math.sqrt((10 / 20 - 0.3**2) / 20)
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (100 * (0.3 - 1.96 * se), 100 * (0.3 + 1.96 * se))
    )


def test_duplicated_rows_give_the_images_mcnemar_statistic():
    # every image asked twice with the same answers: the clustered test is McNemar's
    # chi-square (no continuity correction) on the images, not on twice as many rows
    a = np.array([1] * 12 + [0] * 4 + [1] * 4)
    b = np.array([0] * 12 + [1] * 4 + [1] * 4)
    doubled = paired_difference(np.repeat(a, 2), np.repeat(b, 2), np.repeat(np.arange(20), 2))
    chi2 = (12 - 4) ** 2 / (12 + 4)
    assert doubled.test.startswith("clustered McNemar")
    assert doubled.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))
    assert clustered_mcnemar(np.array([0, 0])) == 1.0
    single = paired_difference(a, b, np.arange(20))
    assert doubled.difference == pytest.approx(single.difference)
    assert (doubled.ci_low, doubled.ci_high) == pytest.approx((single.ci_low, single.ci_high))


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
    assert out.strip() == "stroop-white: +100.0 [+100.0, +100.0] p=1.62e-27 *"


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
