"""The Python API: the same config and plan as the CLI, results as DataFrames."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pandas as pd
import pytest
from plugins_support import plugin, stimulus_set, write_module

import colorbench
from colorbench.api import Results, make_config
from colorbench.errors import ColorbenchError
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.task import Headline, TaskSummary


def fake_run(model: str, task: str, answers: list[str]) -> types.SimpleNamespace:
    hits = sum(a == "red" for a in answers)
    headline = Headline("correct %", 100 * hits / len(answers), len(answers), 0.0, 100.0)
    table = pd.DataFrame({"n": [len(answers)]}, index=pd.Index(["red"], name="font"))
    predictions = pd.DataFrame({"task": task, "answer": answers, "font": "red"})
    summary = TaskSummary(task, headline, {"by font": table})
    return types.SimpleNamespace(
        model=model, task=task, summary=summary, predictions=predictions, path=Path(model, task)
    )


def test_make_config_accepts_cli_shaped_values(tmp_path):
    palette = tmp_path / "palette.json"
    palette.write_text(json.dumps({**DEFAULT_PALETTE.to_dict(), "name": "mine"}))
    config = make_config("m", "t", 3, palette=str(palette), weights="w.pt", out="o", seed=4)
    assert (config.models, config.tasks, config.samples, config.seed) == (["m"], ["t"], 3, 4)
    assert config.palette.name == "mine" and config.palette.names == DEFAULT_PALETTE.names
    assert (config.weights, config.out) == (Path("w.pt"), Path("o"))
    assert make_config(["a", "b"]).tasks == ["all"] and make_config("a").palette is DEFAULT_PALETTE


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample": 3}, r"unknown run option 'sample' \(did you mean: samples"),
        ({"palette": "/nonexistent/palette.json"}, "cannot read palette file"),
    ],
)
def test_make_config_rejects_bad_options_in_one_line(kwargs, message):
    with pytest.raises(ColorbenchError, match=message):
        make_config("m", **kwargs)


def test_results_as_dataframes():
    results = Results([fake_run("a", "t1", ["red", "blue"]), fake_run("b", "t1", ["red"])])
    heads = results.headlines
    assert heads[["model", "task", "value", "n"]].values.tolist() == [
        ["a", "t1", 50.0, 2],
        ["b", "t1", 100.0, 1],
    ]
    predictions = results.predictions
    assert list(predictions.columns[:2]) == ["model", "task"] and len(predictions) == 3
    assert predictions.groupby("model").size().to_dict() == {"a": 2, "b": 1}
    assert results.tables("b", "t1")["by font"].loc["red", "n"] == 1
    with pytest.raises(KeyError, match="did you mean: a/t1"):
        results.tables("a", "t2")


def test_run_loads_plugins_plans_and_calls_the_engine(site, monkeypatch, tmp_path):
    names = [plugin(site, "alpha"), stimulus_set(site, "alpha")]
    seen = []

    def run(plan, plugins, ctx):
        seen.append(plan)
        return [fake_run(m.id, "alpha-task", ["red"]) for m in plan.models]

    monkeypatch.setitem(sys.modules, "colorbench.runner.engine", types.SimpleNamespace(run=run))
    results = colorbench.run("alpha-model", "alpha-task", samples=2, plugins=names, out=tmp_path)
    (plan,) = seen
    config = plan.config
    assert config.samples == 2 and config.out == tmp_path and config.plugins == names
    assert [(m.id, m.plugin) for m in plan.models] == [("alpha-model", names[0])]
    assert [(s.name, [t.name for t in s.tasks]) for s in plan.sets] == [
        ("alpha-set", ["alpha-task"])
    ]
    assert results.headlines["value"].tolist() == [100.0]
    with pytest.raises(ColorbenchError, match=r"did you mean: alpha-model\?"):
        colorbench.run("alpha-modle", plugins=names)
    with pytest.raises(ColorbenchError, match="--samples must be a whole number"):
        colorbench.run("alpha-model", samples=0, plugins=names)
    assert len(seen) == 1  # the bad options never reached the engine


def test_plugin_problems_become_warnings(site, monkeypatch):
    broken = write_module(site, "raise ImportError('no torch here')")
    monkeypatch.setitem(
        sys.modules, "colorbench.runner.engine", types.SimpleNamespace(run=lambda plan, p, ctx: [])
    )
    names = [broken, plugin(site, "alpha"), stimulus_set(site, "alpha")]
    with pytest.warns(UserWarning, match="no torch here"):
        results = colorbench.run("alpha-model", plugins=names)
    assert results.runs == [] and results.predictions.empty
