"""The question path through the engine: generative adapters get each prompt's question,
answer by likelihood or generation, and every result says how it was obtained."""

import json

import pandas as pd
import pytest
import torch
from plugins_support import write_module

from colorbench.cli.app import main
from colorbench.names import model_slug
from colorbench.palette import DEFAULT_PALETTE
from colorbench.tasks import paper_tasks

torch.set_num_threads(1)

#: a generative model whose free answer names two colours: always unparsed
MUMBLER = """
import torch
import colorbench
from colorbench.plugin.adapter import AnswerLogLikelihoods, GenerativeAdapter

QUESTIONS = []

class Mumbler(GenerativeAdapter):
    model_id = "mumbler"

    def loglikelihood(self, images, question, answers):
        QUESTIONS.append(question)
        total = torch.zeros(len(images), len(answers))
        total[:, list(answers).index("red")] = 1.0
        return AnswerLogLikelihoods(total, torch.ones(len(answers), dtype=torch.long))

    def generate(self, images, question, max_new_tokens):
        QUESTIONS.append(question)
        return ["Maybe blue-green?"] * len(images)

@colorbench.hookimpl
def colorbench_register_models(register):
    register("mumbler", lambda model_id, **options: Mumbler(), description="test")
"""


def run(out, model, tasks, *options, plugin=None):
    argv = ["run", "--model", model, "--samples", "1", "--out", str(out), "--quiet"]
    argv += [x for t in tasks for x in ("--task", t)] + list(options)
    if plugin:
        argv += ["-p", plugin]
    assert main(argv) == 0


def stored(out, model, task):
    """``model`` is the id results are stored under (``ideal-observer@generate``)."""
    directory = out / model_slug(model) / task
    doc = json.loads((directory / "summary.json").read_text())
    return doc, pd.read_parquet(directory / "predictions.parquet")


TASKS = ("part-attribution", "stroop-white")


@pytest.fixture(scope="module")
def ideal(tmp_path_factory):
    """The ideal observer in all three modes (statements by default)."""
    outs = {}
    for mode in ("similarity", "likelihood", "generate"):
        outs[mode] = tmp_path_factory.mktemp(mode)
        options = () if mode == "similarity" else ("--scoring", mode)
        run(outs[mode], "ideal-observer", TASKS, *options)
    return outs


@pytest.mark.parametrize("task", TASKS)
def test_questions_give_the_reference_its_known_answers(ideal, task):
    (statement, rows), answers = stored(ideal["similarity"], "ideal-observer", task), {}
    assert statement["summary"]["headline"]["value"] == 100.0
    for mode in ("likelihood", "generate"):
        doc, answers[mode] = stored(ideal[mode], f"ideal-observer@{mode}", task)
        assert (doc["model"], doc["provenance"]["model"]) == (
            f"ideal-observer@{mode}",
            "ideal-observer",
        )
        assert doc["summary"]["headline"] == statement["summary"]["headline"]
        assert answers[mode]["answer"].tolist() == rows["answer"].tolist()
    assert answers["generate"]["response"].str.startswith("The color is ").all()
    assert answers["generate"]["score"].isna().all()
    assert "response" not in rows and "response" not in answers["likelihood"]


def test_results_record_the_mode_and_the_exact_text_asked(ideal):
    task = next(t for t in paper_tasks() if t.name == "part-attribution")
    ids = {"similarity": "ideal-observer", "likelihood": "ideal-observer@likelihood",
           "generate": "ideal-observer@generate"}  # fmt: skip
    prov = {mode: stored(out, ids[mode], task.name)[0]["provenance"] for mode, out in ideal.items()}
    assert prov["similarity"]["prompts"] == {p.id: p.template for p in task.prompts}
    asked = {form: {p.id: p.asked(DEFAULT_PALETTE, form) for p in task.prompts}
             for form in ("open", "choices")}  # fmt: skip
    assert prov["likelihood"]["prompts"] == asked["open"]
    assert prov["generate"]["prompts"] == asked["choices"]
    assert [prov[m].get("question_form") for m in prov] == [None, "open", "choices"]
    assert prov["likelihood"]["score_end"] is False
    assert [prov[m]["kind"] for m in prov] == ["reference"] * 3
    assert [prov[m]["scoring"] for m in prov] == ["similarity", "likelihood", "generate"]
    assert [prov[m]["normalization"] for m in prov] == [None, "sum", None]
    assert prov["generate"]["max_new_tokens"] > 0


def test_a_contrastive_model_keeps_similarity_under_scoring_generate(tmp_path):
    run(tmp_path, "fake-majority", ["fake-global"], "--scoring", "generate", plugin="fake_support")
    doc, rows = stored(tmp_path, "fake-majority", "fake-global")
    assert (doc["provenance"]["kind"], doc["provenance"]["scoring"]) == (
        "contrastive",
        "similarity",
    )
    assert "response" not in rows and rows["score"].notna().all()


def test_unparsed_answers_are_counted_in_n_and_in_every_table(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = write_module(tmp_path, MUMBLER)
    run(tmp_path / "gen", "mumbler", ["global-color"], "--scoring", "generate", plugin=plugin)
    doc, rows = stored(tmp_path / "gen", "mumbler@generate", "global-color")
    assert (rows["answer"] == "unparsed").all() and (rows["response"] == "Maybe blue-green?").all()
    # the headline counts the mixed groups' rows, unparsed ones included (none names a part)
    mixed = rows["background_chromatic"] != rows["object_chromatic"]
    assert doc["summary"]["headline"]["n"] == mixed.sum() == rows["headline_hit"].notna().sum()
    assert doc["summary"]["headline"]["value"] == 0
    for name, table in doc["summary"]["tables"].items():
        columns = table["columns"]
        assert any(c.startswith("unparsed") for c in columns), name
    groups = pd.DataFrame(**doc["summary"]["tables"]["groups_bare"])
    assert groups["unparsed_pct"].dropna().eq(100.0).all()
    assert (groups["n"].sum(), doc["provenance"]["kind"]) == (len(rows), "generative")

    run(tmp_path / "lik", "mumbler", ["global-color"], "--normalization", "mean", plugin=plugin)
    doc, rows = stored(tmp_path / "lik", "mumbler@likelihood-mean", "global-color")
    assert (rows["answer"] == "red").all()
    assert (doc["provenance"]["scoring"], doc["provenance"]["normalization"]) == (
        "likelihood",
        "mean",
    )


def test_a_prompt_without_a_question_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = write_module(
        tmp_path,
        MUMBLER
        + """
from colorbench.tasks.shapes_tasks import GlobalColor
from colorbench.plugin.task import Prompt

class NoQuestion(GlobalColor):
    name = "no-question"
    prompts = (Prompt("bare", "{c}"),)

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(NoQuestion())
""",
    )
    argv = ["run", "--model", "mumbler", "--task", "no-question", "--out", str(tmp_path / "o")]
    assert main([*argv, "-q", "-p", plugin]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no question form" in err and "bare" in err
