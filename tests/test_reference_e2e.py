"""The reference adapters' known answers, through the full CLI path and the results store.

``colorbench run`` renders the real stimulus sets, scores them with the adapter,
classifies, summarises and stores; these tests read back what it stored.
"""

import json

import pandas as pd
import pytest
import torch

from colorbench.report.stats import wilson_interval

pytest.importorskip(
    "colorbench.runner.engine",
    reason="colorbench.runner.engine (the run engine) is not importable yet",
)

from colorbench.cli.app import main  # noqa: E402  (after the skip: the CLI needs the engine)
from colorbench.report.leaderboard import collect  # noqa: E402

torch.set_num_threads(1)


def run(out, model, *tasks, samples=1, options=()):
    argv = ["run", "--model", model, "--samples", str(samples), "--out", str(out), "--quiet"]
    argv += list(options)
    for task in tasks:
        argv += ["--task", task]
    assert main(argv) == 0
    return out


def stored(out, model, task):
    directory = out / model / task
    summary = json.loads((directory / "summary.json").read_text())
    return summary, pd.read_parquet(directory / "predictions.parquet")


@pytest.fixture(scope="module")
def ideal(tmp_path_factory):
    out = tmp_path_factory.mktemp("ideal")
    return run(out, "ideal-observer", "part-attribution", "stroop-white", "stroop-colored")


@pytest.fixture(scope="module")
def majority(tmp_path_factory):
    return run(
        tmp_path_factory.mktemp("majority"), "pixel-majority", "global-color", "stroop-colored"
    )


@pytest.mark.parametrize("task", ["part-attribution", "stroop-white", "stroop-colored"])
def test_ideal_observer_is_always_correct(ideal, task):
    summary, predictions = stored(ideal, "ideal-observer", task)
    assert summary["model"] == "ideal-observer" and summary["task"] == task
    assert len(predictions) > 0 and predictions["correct"].all()
    headline = summary["summary"]["headline"]
    assert headline["value"] == 100.0 and headline["n"] == len(predictions)
    if task == "part-attribution":
        assert set(predictions["prompt"]) == {"object", "background"}
        correct = pd.DataFrame(**summary["summary"]["tables"]["correct"])
        assert correct["correct_pct"].tolist() == [100.0, 100.0]


@pytest.mark.parametrize("task", ["global-color", "stroop-colored"])
def test_pixel_majority_names_the_background(majority, task):
    summary, predictions = stored(majority, "pixel-majority", task)
    assert len(predictions) > 0
    assert (predictions["outcome"] == "background").all()
    assert (predictions["answer"] == predictions["background"]).all()


def test_a_headline_that_is_no_score_is_stored_without_a_direction(majority, ideal):
    """global-color's "% background" has no right answer (pixel majority's 100% is not a
    perfect score); the leaderboard learns that from summary.json alone."""
    doc, _ = stored(majority, "pixel-majority", "global-color")
    assert doc["higher_is_better"] is None
    # naming the larger area: chromatic in one mixed group, achromatic in the other (equal
    # sizes: 3 x 8 colour pairs x 8 shapes each) -> the asymmetry index is exactly 50
    headline = doc["summary"]["headline"]
    assert (headline["value"], headline["n"]) == (50.0, 2 * 3 * 8 * 8)
    assert stored(ideal, "ideal-observer", "stroop-white")[0]["higher_is_better"] is True
    board = collect(majority)
    assert board.direction("global-color") is None
    assert board.direction("stroop-colored") is True


def test_chance_lands_within_its_interval_of_one_in_eleven(tmp_path):
    # part-attribution, 1 sample per combination: 880 images x 2 prompts = 1760 answers
    summary, predictions = stored(
        run(tmp_path, "chance", "part-attribution"), "chance", "part-attribution"
    )
    headline = summary["summary"]["headline"]
    assert headline["n"] == len(predictions) == 1760
    assert headline["ci_low"] <= 100 / 11 <= headline["ci_high"]
    # every colour is answered about equally often (each within its own Wilson interval)
    counts = predictions["answer"].value_counts()
    low, high = wilson_interval(counts.to_numpy(), len(predictions), z=3.29)  # 99.9%
    assert len(counts) == 11 and ((low <= 1 / 11) & (1 / 11 <= high)).all(), counts


def test_chance_answers_do_not_depend_on_batching(tmp_path):
    # the answer is a hash of (image, text, seed), not a random stream: any split agrees
    runs = [
        stored(
            run(tmp_path / name, "chance", "stroop-white", options=opts), "chance", "stroop-white"
        )[1]
        for name, opts in (("default", ()), ("small", ("--batch-size", "7")))
    ]
    assert len(runs[0]) > 0
    assert runs[0]["answer"].tolist() == runs[1]["answer"].tolist()
