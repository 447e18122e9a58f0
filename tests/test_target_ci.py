"""``--target-ci``: sizes from the worst-case rule, runs that are prefixes of larger runs."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest
from fake_support import CALLS, MajorityAdapter, config

from colorbench.api import evaluate
from colorbench.cli.app import main
from colorbench.errors import ColorbenchError, Interrupted
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.report.compare import comparison
from colorbench.runner.checkpoint import CHUNK_SIZE
from colorbench.runner.plan import build_plan, stimulus_set
from colorbench.runner.sizing import bound_pp, samples_for, size_task

K = 110  # fake-squares combinations with the default palette


def test_rule_is_the_smallest_n_under_the_worst_case_bound():
    # (1.96 / (2 * 0.01))^2 = 9604 images: 240 combinations need 41 each (40 give 9600)
    assert samples_for(1.0, 240) == 41
    assert bound_pp(240 * 41) <= 1.0 < bound_pp(240 * 40)
    assert samples_for(0.5, 240) == 161  # four times the images, rounded up per combination
    assert samples_for(1.0, 20_000) == 1


def test_paper_tasks_are_sized_by_their_smallest_reported_figure():
    plugins = load_plugins()
    sizes = {}
    for name in (
        "global-color",
        "part-attribution",
        "prompt-choice",
        "stroop-white",
        "color-naming",
    ):
        task = plugins.tasks.get(name)
        sizes[name] = size_task(task, stimulus_set(plugins, task, DEFAULT_PALETTE, 0), 1.0)
    # part-attribution: 3 achromatic backgrounds x 10 object colours x 8 shapes = 240
    assert (sizes["part-attribution"].samples, sizes["part-attribution"].combinations) == (41, 240)
    assert sizes["part-attribution"].smallest == "background_group=achromatic"
    # global-color's asymmetry counts only mixed combinations: 3 x 8 chromatic objects x 8
    assert (sizes["global-color"].samples, sizes["global-color"].combinations) == (51, 192)
    assert (sizes["prompt-choice"].samples, sizes["prompt-choice"].combinations) == (36, 270)
    assert (sizes["stroop-white"].samples, sizes["stroop-white"].smallest) == (107, "headline")
    naming = sizes["color-naming"]  # 558 XKCD colours: +-4.1 pp at best
    assert naming.floor_pp == pytest.approx(bound_pp(558)) and naming.samples == 1
    assert "cannot be reached" in naming.line(stimulus_set(plugins, plugins.tasks.get(
        "color-naming"), DEFAULT_PALETTE, 0))  # fmt: skip


def test_target_ci_sets_samples_and_records_the_rule(plugins, tmp_path):
    plan = build_plan(config(tmp_path, target_ci=10.0), plugins)
    assert plan.sets[0].samples == samples_for(10.0, K) == 1
    results = evaluate(config(tmp_path, target_ci=5.0), plugins)
    n = samples_for(5.0, K)
    assert n == 4
    for result in results:
        prov = json.loads((result.path / "summary.json").read_text())["provenance"]
        assert prov["target_ci"] == 5.0 and prov["samples"] == n
        assert prov["sizing"]["n"] == n and "z/(2*sqrt" in prov["sizing"]["rule"]
        assert prov["sizing"]["achieved_pp"]["headline"] <= 5.0
        assert result.predictions["sample"].max() == n - 1


def test_bad_target_is_one_line(plugins, tmp_path):
    with pytest.raises(ColorbenchError, match="--target-ci must be from"):
        build_plan(config(tmp_path, target_ci=0.0), plugins)
    with pytest.raises(ColorbenchError, match="--stop-early needs --target-ci"):
        build_plan(config(tmp_path, stop_early=True), plugins)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["sample_id", "prompt"]).reset_index(drop=True)


def assert_grown_like_fresh(plugins, tmp_path, samples: int) -> None:
    """Growing ``tmp_path/a`` to ``samples`` computes all but one chunk and gives the
    predictions and headlines of a fresh run."""
    CALLS.clear()
    grown = evaluate(config(tmp_path / "a", samples=samples), plugins)
    assert sum(n for kind, n in CALLS if kind == "images") == K * samples - CHUNK_SIZE
    fresh = evaluate(config(tmp_path / "b", samples=samples), plugins)
    for a, b in zip(grown, fresh, strict=True):
        pd.testing.assert_frame_equal(_sorted(a.predictions), _sorted(b.predictions))
        assert a.summary.headline == b.summary.headline


def test_a_larger_run_adds_only_what_the_smaller_one_lacks(plugins, tmp_path):
    """10 samples (1,100 images) then 20: the chunk the stored rows fill is not computed
    again, and the result equals a fresh run at 20."""
    evaluate(config(tmp_path / "a", samples=10), plugins)
    assert_grown_like_fresh(plugins, tmp_path, 20)


def test_compare_pairs_a_target_run_with_a_larger_run_on_shared_images(tmp_path):
    run = ["run", "--task", "stroop-white", "--out", str(tmp_path), "-q"]
    assert main([*run, "--model", "chance", "--target-ci", "8"]) == 0  # n = 2
    assert main([*run, "--model", "ideal-observer", "--samples", "3"]) == 0
    result = comparison(
        tmp_path / "ideal-observer" / "stroop-white" / "summary.json",
        tmp_path / "chance" / "stroop-white" / "summary.json",
    ).result
    assert result.n == 2 * 90  # the 2 shared samples of each of the 90 combinations
    assert result.a_pct == 100.0
    other = tmp_path / "seed1"
    assert main([*run[:-3], "--out", str(other), "-q", "--model", "chance", "--seed", "1"]) == 0
    with pytest.raises(ColorbenchError, match="did not see the same"):
        comparison(
            other / "chance" / "stroop-white" / "summary.json",
            tmp_path / "chance" / "stroop-white" / "summary.json",
        )


def test_cli_states_sizes_and_achieved_half_widths(tmp_path, capsys):
    argv = ["run", "--model", "chance", "--task", "stroop-white", "--target-ci", "8"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "stroop-white: +-8 pp needs n=2 per combination (180 images" in err
    assert "achieved 95% half-width: headline +-" in err


def test_unfinished_work_grows_to_a_larger_size(plugins, tmp_path, monkeypatch):
    """Interrupted at 20 samples after chunk 0, resumed at 21: chunk 0 (work indices 0-1023,
    the same images at both sizes) is kept, the rest is computed."""
    original, calls = MajorityAdapter.encode_images, itertools.count(1)

    def encode(self, images):
        if next(calls) == 6:  # in chunk 1, with batches of 256
            raise KeyboardInterrupt
        return original(self, images)

    with monkeypatch.context() as patch:
        patch.setattr(MajorityAdapter, "encode_images", encode)
        with pytest.raises(Interrupted):
            evaluate(config(tmp_path / "a", samples=20, batch_size=256), plugins)
    assert_grown_like_fresh(plugins, tmp_path, 21)


def test_stop_early_stops_at_the_ceiling_and_reports_the_sequence(tmp_path, capsys):
    """ideal-observer is right on every stroop-white image: its confidence sequence is
    within +-5 pp after 2 of the 5 rounds the fixed rule needs; chance's (about 9%) needs
    more. Both store the sequence as the headline interval."""
    argv = ["run", "--task", "stroop-white", "--target-ci", "5", "--stop-early"]
    assert (
        main([*argv, "--model", "ideal-observer", "--model", "chance", "--out", str(tmp_path)]) == 0
    )
    ideal = json.loads((tmp_path / "ideal-observer" / "stroop-white" / "summary.json").read_text())
    chance = json.loads((tmp_path / "chance" / "stroop-white" / "summary.json").read_text())
    assert samples_for(5.0, 90) == 5
    assert ideal["provenance"]["samples"] == 2 < chance["provenance"]["samples"] <= 5
    assert ideal["provenance"]["sizing"]["stop_early"]["rounds"] == 2
    top = ideal["summary"]["headline"]
    assert top["value"] == 100.0 and top["n"] == 180 and 95.0 <= top["ci_low"] < 99.0
    half = chance["provenance"]["sizing"]["achieved_pp"]["headline"]
    low, high = chance["summary"]["headline"]["ci_low"], chance["summary"]["headline"]["ci_high"]
    assert high - low == pytest.approx(2 * half, abs=0.01)


def test_export_sizes_by_target(tmp_path, capsys):
    argv = ["export", "vlmevalkit", "--task", "stroop-white", "--target-ci", "8"]
    assert main([*argv, "--out", str(tmp_path / "x")]) == 0
    out = capsys.readouterr().out
    assert "stroop-white: +-8 pp needs n=2 per combination (180 images" in out
    assert "180 " in out.splitlines()[-1]  # one row per image: two samples of 90 combinations
