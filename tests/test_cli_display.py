"""Terminal rendering of task tables: intervals folded into one column, indexes kept."""

from __future__ import annotations

import io
import types

import pandas as pd
from rich.console import Console

from colorbench.cli.display import frame_table, merge_intervals, results_table
from colorbench.plugin.task import Headline, TaskSummary


def render(table) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def test_pct_and_its_interval_become_one_column():
    frame = pd.DataFrame(
        {
            "n": [10, 4],
            "font_pct": [87.5, float("nan")],
            "font_ci_low": [52.9, float("nan")],
            "font_ci_high": [97.8, float("nan")],
            "word_pct": [12.5, 0.0],  # no interval columns: left alone
            "other_ci_low": [1.0, 2.0],  # an interval without its pct: left alone
        },
        index=pd.Index(["red", "blue"], name="font colour"),
    )
    merged = merge_intervals(frame)
    assert list(merged.columns) == ["n", "font %", "word_pct", "other_ci_low"]
    assert merged["font %"].tolist() == ["87.5 (52.9–97.8)", ""]
    assert merged.index.equals(frame.index)


def test_frame_table_keeps_index_labels_and_multiindex_levels():
    index = pd.MultiIndex.from_tuples(
        [("achromatic", "chromatic"), ("chromatic", "chromatic")], names=["background", "object"]
    )
    frame = pd.DataFrame({"object_pct": [50.0, 25.0], "object_ci_low": [40.0, 20.0],
                          "object_ci_high": [60.0, 30.0]}, index=index)  # fmt: skip
    text = render(frame_table(frame, "groups"))
    assert "background / object" in text and "object %" in text
    assert "achromatic / chromatic" in text and "50.0 (40.0–60.0)" in text
    assert "25.0 (20.0–30.0)" in text and "object_ci_low" not in text


def test_results_table_lists_every_result():
    summary = TaskSummary("stroop-white", Headline("correct (font) %", 100.0, 110, 96.6, 100.0))
    result = types.SimpleNamespace(model="m|x", task="stroop-white", summary=summary, path="r/x")
    text = render(results_table([result]))
    assert "m|x" in text and "100.0 (96.6–100.0)" in text and "110" in text and "r/x" in text
