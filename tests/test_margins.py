"""Answer margins (best minus runner-up score), near-tie counts and the kept K scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
from fake_support import config

from colorbench.api import evaluate
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.report.margins import NEAR_TIE, margin_report
from colorbench.runner.scoring import Answers, answers_from_scores


def test_margin_is_best_minus_second_best():
    scores = torch.tensor([[0.1, 0.5, 0.3], [0.2, 0.2, 0.1], [0.9, 0.0, 0.4]])
    answers = answers_from_scores(scores)
    assert answers.answer.tolist() == [1, 0, 0]
    assert answers.margin == pytest.approx([0.2, 0.0, 0.5])  # an exact tie has margin 0
    assert answers.scores is None
    kept = answers_from_scores(scores, keep_scores=True)
    assert np.array_equal(kept.scores, scores.numpy())


def test_one_candidate_or_no_scores_leave_the_margin_missing():
    assert math.isnan(answers_from_scores(torch.tensor([[0.3], [0.1]])).margin[0])
    free_text = Answers(answer=np.array([2, 4]), score=np.array([np.nan, np.nan]))
    assert np.isnan(free_text.margin).all() and len(free_text.margin) == 2
    joined = Answers.concat([free_text, free_text])
    assert len(joined.margin) == 4 and joined.scores is None


def test_margin_report_counts_near_ties_per_prompt():
    frame = pd.DataFrame(
        {
            "prompt": ["a", "a", "a", "b", "b", "b"],
            "margin": [0.0, NEAR_TIE / 2, 0.5, NEAR_TIE, 0.2, np.nan],
        }
    )
    report = margin_report(frame)
    assert (report["rows"], report["near_ties"]) == (5, 2)  # NaN not counted; NEAR_TIE is not a tie
    assert report["near_ties_pct"] == pytest.approx(40.0)
    assert report["by_prompt"] == {
        "a": {"rows": 3, "near_ties": 2},
        "b": {"rows": 2, "near_ties": 0},
    }
    assert margin_report(frame.drop(columns="margin"))["rows"] == 0


def test_a_run_stores_margins_and_on_request_every_score(tmp_path):
    plugins = load_plugins(["fake_support"], entrypoints=False)
    cfg = config(tmp_path, tasks=["fake-flat", "fake-part"], samples=2, keep_scores=True)
    results = {r.task: r for r in evaluate(cfg, plugins)}
    # a flat image: the majority adapter's score is 1 for its colour and 0 for every other
    flat = results["fake-flat"].predictions
    assert (flat["margin"] == 1.0).all()
    part = results["fake-part"].predictions
    columns = [f"score_{name}" for name in cfg.palette.names]
    scores = part[columns].to_numpy()
    assert np.array_equal(np.array(cfg.palette.names)[scores.argmax(axis=1)], part["answer"])
    ordered = np.sort(scores, axis=1)
    assert part["margin"].to_numpy() == pytest.approx(ordered[:, -1] - ordered[:, -2])
    doc = json.loads((results["fake-part"].path / "summary.json").read_text())
    assert doc["margins"]["rows"] == len(part)
    assert doc["margins"]["near_ties"] == int((part["margin"] < NEAR_TIE).sum())
    assert doc["provenance"]["keep_scores"] is True
    # without the option: margins, but no per-candidate columns
    plain = evaluate(config(tmp_path / "plain", tasks=["fake-part"]), plugins)[0].predictions
    assert "margin" in plain.columns and not any(c.startswith("score_") for c in plain.columns)
