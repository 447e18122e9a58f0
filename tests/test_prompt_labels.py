"""Tables and figures name each prompt by the text the model was given: the statement for a
contrastive model, the question as asked for a generative one (issue 22, point 5)."""

import json
import shutil
from pathlib import Path

import pytest

from colorbench.cli.app import main
from colorbench.figures import prompt_labels
from colorbench.names import model_slug
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.task import Prompt, TaskSummary
from colorbench.report import summary as summary_json
from colorbench.tasks import figures, paper_tasks

#: summaries as the leaderboard committed them before the labels (its rows are regenerated)
COMMITTED = Path(__file__).parent / "data" / "results-before-labels"
TASKS = {t.name: t for t in paper_tasks()}
STATEMENT = "The word is written in {c} font"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """prompt-choice answered by the ideal observer through statements and by generation."""
    out = tmp_path_factory.mktemp("labels")
    for options in ([], ["--scoring", "generate"]):
        argv = ["run", "--model", "ideal-observer", "--task", "prompt-choice", "--samples", "1"]
        assert main([*argv, "--out", str(out), "--quiet", *options]) == 0
    return out


def result(out, model):
    return out / model_slug(model) / "prompt-choice"


def drawn_labels(task, summary, monkeypatch, tmp_path):
    """The prompt labels and caption note the task's figure is drawn with."""
    seen = {}

    def capture(panels, outcomes, summary, path, note=""):
        # stacked bars: (title, table, row labels); heatmaps: one (label, table) per prompt
        labels = panels[0][2] if len(panels[0]) == 3 else [label for label, _ in panels]
        seen["labels"], seen["note"] = list(labels), note

    monkeypatch.setattr(figures, "stacked_bars", capture)
    monkeypatch.setattr(figures, "group_heatmaps", capture)
    task.figure(summary, tmp_path / "figure.png")
    return seen["labels"], seen["note"]


def test_a_generate_run_is_labelled_with_the_question_a_similarity_run_with_the_statement(
    runs, monkeypatch, tmp_path
):
    task = TASKS["prompt-choice"]
    font = next(p for p in task.prompts if p.id == "font")
    question = font.asked(DEFAULT_PALETTE, "choices")
    generated = result(runs, "ideal-observer@generate")
    contrastive = result(runs, "ideal-observer")
    table = (generated / "table.md").read_text()
    assert f"| font | {question} |" in table and STATEMENT not in table
    assert f"| font | {STATEMENT} |" in (contrastive / "table.md").read_text()

    stored = summary_json.read(generated).task_summary()
    assert stored.prompt_text(font) == question
    labels, note = drawn_labels(task, stored, monkeypatch, tmp_path)
    assert labels[0] == f'"{font.question}"' and note.endswith('brown."')
    assert "Answer with one of: black, white" in note
    labels, note = drawn_labels(
        task, summary_json.read(contrastive).task_summary(), monkeypatch, tmp_path
    )
    assert (labels[0], note) == (f'"{STATEMENT}"', "")


def test_an_old_results_folder_renders_with_the_questions_its_provenance_records(
    monkeypatch, tmp_path
):
    """Committed results written before the labels (``by_prompt`` still has its statement
    ``template`` column): the question comes from the provenance they always recorded."""
    old = COMMITTED / "hf-vlm-tiny-qwen2_5_vl_generate+aebdf25deb38"
    for name in ("prompt-choice", "part-attribution"):
        stored = summary_json.read(old / name)
        asked = stored.provenance["prompts"]
        summary, task = stored.task_summary(), TASKS[name]
        assert summary.prompts == asked
        labels, note = drawn_labels(task, summary, monkeypatch, tmp_path)
        shown = [p for p in task.prompts if p.id in asked]
        assert [" ".join(label.split()) for label in labels] == [f'"{p.question}"' for p in shown]
        assert note.startswith('each question ends "Answer with one of: black')


def test_an_old_folder_redraws_its_figure_and_is_read_by_the_leaderboard(tmp_path):
    folder = tmp_path / "results" / "hf-vlm-tiny-qwen2_5_vl_generate+aebdf25deb38"
    shutil.copytree(COMMITTED / folder.name / "prompt-choice", folder / "prompt-choice")
    stored = summary_json.read(folder / "prompt-choice")
    assert "template" in stored.summary["tables"]["by_prompt"]["columns"]  # the old layout
    summary = stored.task_summary()
    assert TASKS["prompt-choice"].figure(summary, tmp_path / "figure.png").stat().st_size > 0
    assert main(["leaderboard", "--results", str(tmp_path / "results"),
                 "--out", str(tmp_path / "board" / "README.md"), "--quiet"]) == 0  # fmt: skip


def test_labels_keep_whole_texts_unless_every_question_shares_its_ending():
    prompts = [Prompt("a", "A is {c}", "object", "What is A?"), Prompt("b", "B {c}", None, "B?")]
    summary = TaskSummary("t", None, prompts={"a": "What is A? One word.", "b": "B? Two."})
    assert prompt_labels(summary, prompts) == (['"What is A? One word."', '"B? Two."'], "")
    summary.prompts["b"] = "B? One word."
    assert prompt_labels(summary, prompts) == (
        ['"What is A?"', '"B?"'],
        'each question ends "One word."',
    )
    summary.prompts = {"a": "An imported wording"}  # b: not recorded, its statement
    assert prompt_labels(summary, prompts, width=10) == (['"An\nimported\nwording"', '"B {c}"'], "")
    assert json.dumps(summary_json.asked({"a": ["x", "y"], "b": 3, 4: "z"})) == '{"a": "x / y"}'
