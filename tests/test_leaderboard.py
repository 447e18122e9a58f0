"""The leaderboard, built from hand-written summary.json files whose numbers are known."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from colorbench.cli.app import main
from colorbench.errors import ColorbenchError
from colorbench.report.leaderboard import build
from colorbench.report.markdown import escape
from colorbench.report.results import model_slug
from colorbench.report.summary import SCHEMA

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def write_summary(
    results: Path,
    model: str,
    task: str,
    value: float,
    n: int = 880,
    ci: tuple[float, float] | None = None,
    samples: int = 1,
    weights: str = "random",
    **provenance: object,
) -> Path:
    folder = results / model_slug(model) / task
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "table.md").write_text(f"| {task} |\n")
    low, high = ci or (max(0.0, value - 2.0), min(100.0, value + 2.0))
    data = {
        "schema": SCHEMA,
        "model": model,
        "task": task,
        "provenance": {
            "samples": samples,
            "weights_sha256": weights,
            "started": "2026-01-01",
            **provenance,
        },
        "summary": {
            "task": task,
            "headline": {"metric": "correct %", "value": value, "n": n, "ci_low": low,
                         "ci_high": high},
            "tables": {},
        },
        "files": {"predictions": "predictions.parquet", "table": "table.md"},
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(data))
    return folder / "summary.json"


@pytest.fixture
def results(tmp_path) -> Path:
    root = tmp_path / "results"
    write_summary(root, "openai-RN50", "global-color", 40.0, weights="ab" * 32, samples=5)
    write_summary(root, "openai-RN50", "stroop-white", 60.0, n=1100, weights="ab" * 32, samples=5)
    write_summary(root, "ideal-observer", "global-color", 100.0, ci=(99.6, 100.0))
    write_summary(root, "ideal-observer", "stroop-white", 100.0, n=110, ci=(96.6, 100.0))
    write_summary(root, "random-RN50", "stroop-white", 9.25, n=110, ci=(5.0, 16.0), samples=2)
    return root


def settle(folder: Path, **settings) -> None:
    """Write a leaderboard.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leaderboard.json").write_text(json.dumps(settings))


def test_one_row_per_model_with_headline_ci_n_and_delta(results, tmp_path):
    out = tmp_path / "board" / "README.md"
    settle(out.parent, baseline="openai-RN50", footer=["", "## Adding a row", "run it"])
    board = build(results, out)
    assert board.baseline == "openai-RN50" and board.warnings == []
    frame = pd.read_csv(out.parent / "leaderboard.csv").set_index("model")
    assert list(frame.index) == ["ideal-observer", "openai-RN50", "random-RN50"]
    assert frame.loc["ideal-observer", "global-color"] == 100.0
    assert frame.loc["ideal-observer", "global-color delta"] == 60.0
    assert frame.loc["ideal-observer", "stroop-white delta"] == 40.0
    assert frame.loc["random-RN50", "stroop-white delta"] == pytest.approx(-50.75)
    assert pd.isna(frame.loc["random-RN50", "global-color"])
    assert pd.isna(frame.loc["openai-RN50", "global-color delta"])
    assert frame.loc["openai-RN50", "stroop-white n"] == 1100
    assert frame.loc["openai-RN50", "weights"] == "ab" * 32
    assert frame.loc["random-RN50", "stroop-white ci_low"] == 5.0
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| random-RN50 "))
    # no predictions to pair: the Δ is shown untested (°)
    assert (
        "[9.2](../results/random-RN50/stroop-white/table.md) Δ° -50.8<br>(5.0–16.0, n=110)" in row
    )
    assert "| random | 2 |" in row and "| — |" in row
    assert "| openai-RN50 | contrastive | similarity | abababababab | 5 |" in text
    assert "baseline model (`openai-RN50`)" in text
    # the models table, then the paper's reported figures, then the configured footer
    assert "n=110) |\n\n## Reported in Arias et al. 2024" in text
    assert text.endswith(" |\n\n## Adding a row\nrun it\n")


def test_rows_show_the_kind_and_the_scoring_mode(tmp_path):
    root = tmp_path / "results"
    vlm = "hf-vlm-tiny-qwen2_5_vl"
    write_summary(root, vlm, "global-color", 9.5, kind="generative", scoring="likelihood",
                  normalization="sum")  # fmt: skip
    write_summary(root, f"{vlm}@generate", "global-color", 0.0, kind="generative",
                  scoring="generate", normalization=None)  # fmt: skip
    write_summary(root, "ideal-observer", "global-color", 100.0, reference="IdealObserver")
    out = tmp_path / "board" / "README.md"
    build(root, out)
    text = out.read_text()
    assert f"| {escape(vlm)} | generative | likelihood (sum) | random |" in text
    assert f"| {escape(vlm + '@generate')} | generative | generate | random |" in text
    assert "| ideal-observer | reference | similarity |" in text
    frame = pd.read_csv(out.parent / "leaderboard.csv").set_index("model")
    assert frame.loc[f"{vlm}@generate", ["kind", "scoring"]].tolist() == ["generative", "generate"]


def test_the_question_form_shows_in_the_scoring_column(tmp_path):
    """Offered terms or an open question are two ways of asking: both show on the row."""
    root, vlm = tmp_path / "results", "hf-vlm-tiny-qwen2_5_vl"
    for suffix, form in (("@generate", "choices"), ("@generate-open", "open")):
        write_summary(root, vlm + suffix, "global-color", 5.0, kind="generative",
                      scoring="generate", normalization=None, question_form=form,
                      max_new_tokens=32)  # fmt: skip
    write_summary(root, vlm + "@likelihood-end", "global-color", 5.0, kind="generative",
                  scoring="likelihood", normalization="sum", score_end=True,
                  question_form="open")  # fmt: skip
    out = tmp_path / "board" / "README.md"
    build(root, out)
    text = out.read_text()
    assert f"| {escape(vlm + '@generate')} | generative | generate (choices) |" in text
    assert f"| {escape(vlm + '@generate-open')} | generative | generate (open) |" in text
    assert (
        f"| {escape(vlm + '@likelihood-end')} | generative | likelihood (sum, end, open) |" in text
    )


def test_without_settings_there_is_no_baseline_and_no_footer(results, tmp_path):
    out = tmp_path / "plain" / "README.md"
    board = build(results, out)
    assert board.baseline is None and "baseline model (none)" in out.read_text()
    models_table = out.read_text().split("\n## Reported in Arias")[0]
    assert models_table.rstrip().splitlines()[-1].startswith("| random-RN50 ")
    assert "## Adding a row" not in out.read_text()


@pytest.mark.parametrize(
    "text", ["{not json", '{"baseline": 3}', '{"footer": "one string"}', '{"colour": "red"}']
)
def test_a_bad_settings_file_is_one_line_naming_it(results, tmp_path, text):
    out = tmp_path / "bad" / "README.md"
    out.parent.mkdir()
    (out.parent / "leaderboard.json").write_text(text)
    with pytest.raises(ColorbenchError, match="leaderboard.json") as info:
        build(results, out)
    assert "\n" not in str(info.value)


def test_links_point_at_the_task_tables(results, tmp_path):
    out = tmp_path / "deep" / "er" / "README.md"
    build(results, out)
    links = re.findall(r"\]\(([^)]+)\)", out.read_text())
    assert len(links) == 6  # five task tables and the heatmap
    assert all((out.parent / link).resolve().is_file() for link in links)
    csv_links = pd.read_csv(out.parent / "leaderboard.csv")["stroop-white table"]
    assert all((out.parent / link).resolve().is_file() for link in csv_links)


def test_regenerating_gives_the_same_bytes(results, tmp_path):
    first, second = tmp_path / "a" / "README.md", tmp_path / "b" / "README.md"
    build(results, first)
    # the same results written in another order, into another folder, later
    copy = tmp_path / "copy" / "results"
    for path in sorted(results.glob("*/*/summary.json"), reverse=True):
        target = copy / path.relative_to(results)
        target.parent.mkdir(parents=True)
        shutil.copy(path.parent / "table.md", target.parent / "table.md")
        shutil.copy(path, target)
    build(copy, tmp_path / "copy" / "b" / "README.md")
    build(results, second)
    for name in ("README.md", "leaderboard.csv", "heatmap.png"):
        assert (first.parent / name).read_bytes() == (second.parent / name).read_bytes()
        assert (first.parent / name).read_bytes() == (tmp_path / "copy" / "b" / name).read_bytes()


def test_malformed_and_foreign_files_are_skipped_with_a_warning_naming_them(results, tmp_path):
    bad = {
        "junk/global-color/summary.json": "{not json",
        "foreign/global-color/summary.json": json.dumps({"accuracy": 0.9}),
        "nohead/global-color/summary.json": json.dumps({"schema": SCHEMA, "summary": {}}),
        "listy/global-color/summary.json": json.dumps([1, 2]),
    }
    for rel, text in bad.items():
        (results / rel).parent.mkdir(parents=True)
        (results / rel).write_text(text)
    (results / "notes.txt").write_text("not a result")
    nan_value = write_summary(results, "weird", "global-color", float("nan"))
    strange_n = write_summary(results, "strange", "global-color", 50.0, n=-1)
    copied = results / "zz-copy" / "global-color" / "summary.json"  # a copied result folder
    shutil.copytree(results / "openai-RN50" / "global-color", copied.parent)
    board = build(results, tmp_path / "lb" / "README.md")
    assert board.models == ["ideal-observer", "openai-RN50", "random-RN50"]
    assert len(board.warnings) == 7
    named = {str(results / rel) for rel in bad} | {str(nan_value), str(strange_n)}
    named.add(str(copied))
    assert {w.split(": ")[0].removeprefix("skipping ") for w in board.warnings} == named
    assert any("belongs in folder 'openai-RN50', not 'zz-copy'" in w for w in board.warnings)
    assert any("not a colorbench summary" in w for w in board.warnings)


def test_plugin_supplied_text_cannot_break_or_inject_into_the_table(results, tmp_path):
    evil = "evil|model\n| injected | row |<script>alert(1)</script>[x](http://e)"
    write_summary(results, evil, "global-color", 12.5)
    write_summary(results, "=HYPERLINK(1)", "global-color", 12.0)
    out = tmp_path / "lb" / "README.md"
    build(results, out)
    lines = out.read_text().splitlines()
    header = lines.index(next(line for line in lines if line.startswith("| model |")))
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines[header + 2 :]))
    assert len(rows) == 5  # one row per model, no injected one
    assert len({len(UNESCAPED_PIPE.findall(row)) for row in rows}) == 1
    text = out.read_text()
    assert "&lt;script&gt;" in text and text.count("<") == text.count("<br>")  # no raw HTML
    assert "\\[x\\](http://e)" in text
    frame = pd.read_csv(out.parent / "leaderboard.csv")
    assert "'=HYPERLINK(1)" in set(frame["model"]) and evil.replace("\n", "\\x0a") in set(
        frame["model"]
    )


def test_baseline_choice(results, tmp_path):
    settle(tmp_path, baseline="openai-RN50")
    board = build(results, tmp_path / "README.md", baseline="ideal-observer")
    assert board.delta("openai-RN50", "global-color") == -60.0
    with pytest.raises(ColorbenchError, match=r"did you mean: ideal-observer\?"):
        build(results, tmp_path / "README.md", baseline="ideal-obsrever")
    assert build(results, tmp_path / "README.md").baseline == "openai-RN50"
    shutil.rmtree(results / "openai-RN50")  # the configured baseline has no results
    board = build(results, tmp_path / "README.md")
    assert board.baseline is None and board.delta("random-RN50", "stroop-white") is None
    assert "Δ" not in pd.read_csv(tmp_path / "leaderboard.csv").to_string()


def test_cli_leaderboard_warns_and_writes(results, tmp_path, capsys):
    (results / "x" / "y").mkdir(parents=True)
    (results / "x" / "y" / "summary.json").write_text("[]")
    out = tmp_path / "lb" / "README.md"
    code = main(["leaderboard", "--results", str(results), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0 and out.is_file() and (out.parent / "leaderboard.csv").is_file()
    assert f"colorbench: warning: skipping {results / 'x' / 'y' / 'summary.json'}" in captured.err
    assert "3 models x 2 tasks" in captured.out
    assert main(["-q", "leaderboard", "--results", str(results), "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""  # --quiet before the command counts too
    code = main(["leaderboard", "--results", str(tmp_path / "nowhere")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_tasks_beyond_the_paper_are_marked_and_reported_figures_kept_apart(results, tmp_path):
    write_summary(results, "ideal-observer", "color-naming", 55.0)
    out = tmp_path / "board" / "README.md"
    build(results, out)
    text = out.read_text()
    assert "| color-naming | correct % | higher is better | **beyond the paper** |" in text
    assert "| stroop-white | correct % | higher is better | Exp. 4 |" in text
    models_table, reported_section = text.split("## Reported in Arias et al. 2024", 1)
    # the paper's figures are their own section, never a ranked row of the models table
    assert "CLIP RN50" not in models_table and "not ranked" in reported_section
    assert "| stroop-colored | Exp. 5 | correct (font) % | 2.35 | Table 3" in reported_section
    csv = pd.read_csv(out.parent / "leaderboard.csv")
    assert set(csv["model"]) == {"openai-RN50", "ideal-observer", "random-RN50"}
