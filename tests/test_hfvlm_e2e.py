"""Tiny generative VLMs through the CLI and the engine: every task, both scoring modes,
batch-size and resume invariance, and a saved folder loading like a downloaded checkpoint.

In the default suite the tiny Qwen2.5-VL runs ``--task all --samples 1`` by likelihood
(13,124 image x prompt answers, under a minute on one core) and the paper tasks by
generation with a three-colour palette; every family runs ``--task all`` in both modes in
the slow suite.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pandas as pd
import pytest
import torch

pytest.importorskip("transformers")

from colorbench.api import evaluate, make_config  # noqa: E402
from colorbench.cli.app import main  # noqa: E402
from colorbench.errors import Interrupted  # noqa: E402
from colorbench.names import model_slug  # noqa: E402
from colorbench.palette import DEFAULT_PALETTE  # noqa: E402
from colorbench.plugin.pluginmanager import load_plugins  # noqa: E402
from colorbench.plugins.hfvlm.adapter import HFVLMAdapter  # noqa: E402
from colorbench.plugins.hfvlm.families import FAMILIES  # noqa: E402
from colorbench.plugins.hfvlm.tiny import tiny_model  # noqa: E402
from colorbench.runner import checkpoint, engine  # noqa: E402
from colorbench.tasks import paper_tasks  # noqa: E402

torch.set_num_threads(1)


PAPER_TASKS = [task.name for task in paper_tasks()]


def run_cli(tmp_path: Path, model: str, tasks: list[str], *options: str) -> Path:
    """Run through the CLI; the folder of the results (``<model>@generate`` when generating)."""
    out = tmp_path / "results"
    argv = ["run", "--model", model, "--samples", "1", "--out", str(out), "-q", *options]
    assert main([*argv, *(x for t in tasks for x in ("--task", t))]) == 0
    stored = model if "generate" not in options else f"{model}@generate"
    return out / model_slug(stored)


def check_results(
    folder: Path, family: str, scoring: str, tasks: list[str], terms: set[str]
) -> None:
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == sorted(tasks)
    for task in tasks:
        doc = json.loads((folder / task / "summary.json").read_text())
        prov = doc["provenance"]
        assert (prov["kind"], prov["scoring"], prov["architecture"]) == (
            "generative",
            scoring,
            FAMILIES[family].name,
        )
        # generation is offered the palette's terms, likelihood asked for one word
        form = {"likelihood": "open", "generate": "choices"}[scoring]
        offered = "one of: " + ", ".join(sorted(terms, key=DEFAULT_PALETTE.names.index))
        ending = {"open": "Answer with one word.", "choices": f"Answer with {offered}."}[form]
        assert prov["question_form"] == form
        assert all(text.endswith(ending) for text in prov["prompts"].values())
        rows = pd.read_parquet(folder / task / "predictions.parquet")
        assert set(rows["answer"]) <= terms | {"unparsed", "truncated"}
        assert doc["summary"]["headline"]["n"] > 0
        assert ("response" in rows) == (scoring == "generate")


ALL_TASKS = [*PAPER_TASKS, "color-naming"]
TERMS = set(DEFAULT_PALETTE.names)


def test_tiny_qwen2_5_vl_runs_every_task_through_the_cli(tmp_path):
    folder = run_cli(tmp_path, "hf-vlm-tiny-qwen2_5_vl", ["all"])
    check_results(folder, "qwen2_5_vl", "likelihood", ALL_TASKS, TERMS)


def test_tiny_qwen2_5_vl_answers_the_paper_tasks_by_generation(tmp_path, three_colours):
    options = ("--scoring", "generate", "--palette", str(three_colours))
    folder = run_cli(tmp_path, "hf-vlm-tiny-qwen2_5_vl", PAPER_TASKS, *options)
    check_results(folder, "qwen2_5_vl", "generate", PAPER_TASKS, {"black", "white", "red"})


@pytest.mark.slow
@pytest.mark.parametrize("scoring", ["likelihood", "generate"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_runs_every_task_through_the_cli(tmp_path, family, scoring):
    folder = run_cli(tmp_path, f"hf-vlm-tiny-{family}", ["all"], "--scoring", scoring)
    check_results(folder, family, scoring, ALL_TASKS, TERMS)


def predictions(out: Path, model: str, task: str) -> pd.DataFrame:
    return pd.read_parquet(out / model_slug(model) / task / "predictions.parquet")


@pytest.mark.parametrize("scoring", ["likelihood", "generate"])
def test_batch_size_does_not_change_the_predictions(tmp_path, scoring):
    plugins = load_plugins([], entrypoints=True)
    frames = []
    for batch_size in (7, 64):
        out = tmp_path / str(batch_size)
        config = make_config(
            "hf-vlm-tiny-llava", "stroop-white", batch_size=batch_size, out=out, quiet=True,
            scoring=scoring,
        )  # fmt: skip
        evaluate(config, plugins)
        stored = "hf-vlm-tiny-llava" + ("@generate" if scoring == "generate" else "")
        frames.append(predictions(out, stored, "stroop-white"))
    small, large = frames
    assert small["answer"].tolist() == large["answer"].tolist()
    if scoring == "generate":
        assert small["response"].tolist() == large["response"].tolist()
    else:
        assert small["score"].to_numpy() == pytest.approx(large["score"].to_numpy(), abs=1e-5)


def test_an_interrupted_generate_run_resumes_exactly(tmp_path, monkeypatch):
    """90 stroop-white cards in chunks of 32; Ctrl-C in the second chunk; resume."""
    monkeypatch.setattr(checkpoint, "CHUNK_SIZE", 32)
    monkeypatch.setattr(engine, "CHUNK_SIZE", 32)
    plugins = load_plugins([], entrypoints=True)
    model, stored = "hf-vlm-tiny-qwen2_5_vl", "hf-vlm-tiny-qwen2_5_vl@generate"

    def config(out):
        return make_config(
            model, "stroop-white", batch_size=16, out=out, quiet=True, scoring="generate"
        )

    evaluate(config(tmp_path / "whole"), plugins)
    original, calls = HFVLMAdapter.generate, itertools.count(1)

    def generate(self, images, question, max_new_tokens):
        if next(calls) == 3:  # chunk 0 (two batches) is stored
            raise KeyboardInterrupt
        return original(self, images, question, max_new_tokens)

    with monkeypatch.context() as patch:
        patch.setattr(HFVLMAdapter, "generate", generate)
        with pytest.raises(Interrupted):
            evaluate(config(tmp_path / "resumed"), plugins)
    work = tmp_path / "resumed" / model_slug(stored) / ".work" / "stroop-white"
    assert len(list(work.glob("chunk-*"))) == 1
    evaluate(config(tmp_path / "resumed"), plugins)
    whole = predictions(tmp_path / "whole", stored, "stroop-white")
    resumed = predictions(tmp_path / "resumed", stored, "stroop-white")
    columns = ["sample_id", "prompt", "answer", "response"]
    pd.testing.assert_frame_equal(whole[columns], resumed[columns])


def test_a_saved_folder_loads_like_a_downloaded_checkpoint(tmp_path, three_colours):
    """save_pretrained -> hf-vlm:<folder>: same model, same scores, weights hashed."""
    model, processor = tiny_model("qwen2_5_vl", seed=0)
    folder = tmp_path / "tiny-qwen"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    palette = three_colours
    rows = {}
    for model_id in ("hf-vlm-tiny-qwen2_5_vl", f"hf-vlm:{folder}"):
        out = tmp_path / "out"
        argv = ["run", "--model", model_id, "--task", "stroop-colored", "--palette", str(palette)]
        assert main([*argv, "--out", str(out), "-q"]) == 0
        rows[model_id] = predictions(out, model_id, "stroop-colored")
        doc = json.loads(
            (out / model_slug(model_id) / "stroop-colored" / "summary.json").read_text()
        )
        weights = doc["provenance"]["weights_sha256"]
        assert weights == "random" if model_id.startswith("hf-vlm-tiny") else len(weights) == 64
    tiny, loaded = rows.values()
    assert tiny["answer"].tolist() == loaded["answer"].tolist()
    assert tiny["score"].to_numpy() == pytest.approx(loaded["score"].to_numpy(), abs=1e-5)


@pytest.mark.parametrize("scoring", ["likelihood", "generate"])
def test_a_family_outside_the_table_runs_from_a_folder_in_both_modes(
    tmp_path, capsys, three_colours, scoring
):
    """Any AutoModelForImageTextToText checkpoint runs, with a warning naming the slow path."""
    model, processor = tiny_model("vipllava", seed=0)
    folder = tmp_path / "tiny-vipllava"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    options = ("--scoring", scoring, "--palette", str(three_colours))
    stored = run_cli(tmp_path, f"hf-vlm:{folder}", ["part-attribution"], *options)
    err = capsys.readouterr().err
    assert "'vipllava' has no hf-vlm table entry" in err and "generic path" in err
    doc = json.loads((stored / "part-attribution" / "summary.json").read_text())
    assert (doc["provenance"]["architecture"], doc["provenance"]["scoring"]) == (
        "vipllava",
        scoring,
    )
    rows = pd.read_parquet(stored / "part-attribution" / "predictions.parquet")
    assert len(rows) > 0 and set(rows["answer"]) <= {
        "black",
        "white",
        "red",
        "unparsed",
        "truncated",
    }
