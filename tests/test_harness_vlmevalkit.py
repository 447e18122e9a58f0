"""The round trip through VLMEvalKit's own code (slow; VLMEvalKit is not on PyPI).

Runs when ``vlmeval`` is importable (a VLMEvalKit checkout on ``PYTHONPATH`` with its
requirements). VLMEvalKit's ``build_dataset`` loads the exported TSV from ``$LMUData`` as a
custom dataset, its ``build_prompt`` dumps the images, and its ``infer_data_job`` asks a
model and writes the prediction file; the model is colorbench's ideal-observer, which sees
only the dumped image file and the question. The images VLMEvalKit dumps must be the
rendered stimuli pixel for pixel, and ``colorbench import vlmevalkit`` of the prediction file
(``.xlsx`` and, with ``PRED_FORMAT=tsv``, ``.tsv``) must give colorbench's own
ideal-observer tables cell for cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_harness import PLUGINS, assert_same_result, cli

from colorbench.harness.spec import harness_name
from colorbench.plugins.reference import IdealObserver

pytestmark = pytest.mark.slow
dataset_module = pytest.importorskip("vlmeval.dataset", reason="VLMEvalKit is not importable")
inference = pytest.importorskip("vlmeval.inference")  # reads $LMUData when called, not here
#: task -> the prediction file format VLMEvalKit is asked to write (PRED_FORMAT)
TASKS = {"stroop-white": "xlsx", "part-attribution": "tsv"}


class IdealObserverVLM:
    """A VLMEvalKit model (the ``generate(message, dataset)`` interface of vlmeval/vlm)."""

    is_api = False

    def __init__(self) -> None:
        self.observer = IdealObserver("ideal-observer")

    def set_dump_image(self, dump_image) -> None:
        self.dump_image = dump_image

    def generate(self, message: list[dict], dataset: str | None = None) -> str:
        (path,) = [m["value"] for m in message if m["type"] == "image"]
        (question,) = [m["value"] for m in message if m["type"] == "text"]
        pixels = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
        return self.observer.generate(pixels[None], question, max_new_tokens=16)[0]


def rendered_stimuli(task: str) -> dict[str, np.ndarray]:
    stim = PLUGINS.stimulus_sets.get(PLUGINS.tasks.get(task).stimulus_set)()
    batch = stim.render(stim.samples(0, stim.size(1), 1))
    pixels = batch.images.permute(0, 2, 3, 1).numpy()
    return {s.sample_id: image for s, image in zip(batch.samples, pixels, strict=True)}


def test_vlmevalkit_round_trip_equals_colorbench_run(tmp_path, monkeypatch) -> None:
    export = tmp_path / "LMUData"
    tasks = [arg for t in TASKS for arg in ("--task", t)]
    assert cli("export", "vlmevalkit", *tasks, "--out", str(export)) == 0
    monkeypatch.setenv("LMUData", str(export))
    own = tmp_path / "own"
    assert cli("run", "--model", "ideal-observer", *tasks, "--out", str(own)) == 0
    work = tmp_path / "work"
    work.mkdir()
    for task, suffix in TASKS.items():
        monkeypatch.setenv("PRED_FORMAT", suffix)
        dataset = dataset_module.build_dataset(harness_name(task))
        assert type(dataset).__name__ == "CustomVQADataset"
        inference.infer_data_job(IdealObserverVLM(), str(work), "IdealObserverVLM", dataset)
        rendered = rendered_stimuli(task)
        for index, sample_id in zip(dataset.data["index"], dataset.data["sample_id"], strict=True):
            dumped = np.array(Image.open(Path(dataset.img_root) / f"{index}.png").convert("RGB"))
            assert np.array_equal(dumped, rendered[sample_id])  # what the model saw
        predictions = work / f"IdealObserverVLM_{harness_name(task)}.{suffix}"
        out = tmp_path / "results"
        argv = ("import", "vlmevalkit", str(predictions), "--model", "vlm-ideal", "--task", task)
        assert cli(*argv, "--out", str(out)) == 0
        assert_same_result(out / "vlm-ideal" / task, own / "ideal-observer" / task)
