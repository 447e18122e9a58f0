"""The engine's answers, work sharing and validation, against adapters with known answers."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from fake_support import CALLS, FakeGlobal, MajorityAdapter, config
from plugins_support import write_module

from colorbench.api import evaluate
from colorbench.cli.app import main
from colorbench.errors import ColorbenchError
from colorbench.runner.checkpoint import CHUNK_SIZE
from colorbench.runner.device import auto_batch_size, resolve_precision, resolve_renderer
from colorbench.runner.plan import MAX_SAMPLES
from colorbench.runner.prefetch import prefetch

SQUARES = 110  # fake-squares combinations: 11 backgrounds x 10 other object colours
FLAT = 11


def by_task(results):
    return {r.task: r for r in results}


def test_all_expands_to_every_registered_task(plugins, tmp_path):
    results = by_task(evaluate(config(tmp_path, tasks=["all"], samples=2), plugins))
    assert set(results) == {"fake-global", "fake-part", "fake-flat"}
    assert len(results["fake-flat"].predictions) == FLAT * 2
    assert len(results["fake-global"].predictions) == SQUARES * 2
    assert len(results["fake-part"].predictions) == SQUARES * 2 * 2


def test_contrastive_adapter_answers_the_majority_colour(plugins, tmp_path):
    part = by_task(evaluate(config(tmp_path, samples=3), plugins))["fake-part"].predictions
    assert (part["answer"] == part["background"]).all()
    assert (part["outcome"] == "background").all()
    asked_background = part["prompt"] == "background"
    assert part.loc[asked_background, "correct"].all()
    assert not part.loc[~asked_background, "correct"].any()
    assert part.groupby("prompt").size().to_dict() == {"background": 330, "object": 330}
    assert not part.duplicated(["sample_id", "prompt"]).any()
    assert {"sample_id", "set", "combination", "sample", "task", "score", "side", "x"} <= set(
        part.columns
    )
    # image-major rows: every image's prompts are adjacent, in the task's prompt order
    assert list(part["prompt"][:4]) == ["object", "background", "object", "background"]


def test_plain_adapter_is_asked_per_prompt_and_answers_the_object(plugins, tmp_path):
    CALLS.clear()
    cfg = config(tmp_path, models=["fake-minority"], tasks=["all"], samples=2, batch_size=1000)
    results = by_task(evaluate(cfg, plugins))
    squares = results["fake-part"].predictions
    assert (squares["answer"] == squares["object"]).all()
    flat = results["fake-flat"].predictions
    assert (flat["answer"] == flat["background"]).all()
    # one score() call per batch and prompt: 3 prompts on squares, 1 on flat
    assert sum(n for kind, n in CALLS if kind == "images") == SQUARES * 2 * 3 + FLAT * 2


def test_each_image_and_each_text_is_encoded_once(plugins, tmp_path):
    CALLS.clear()
    evaluate(config(tmp_path, tasks=["all"], samples=2, batch_size=50), plugins)
    assert sum(n for kind, n in CALLS if kind == "images") == SQUARES * 2 + FLAT * 2
    texts = [t for kind, batch in CALLS if kind == "texts" for t in batch]
    # "{c}" (shared by fake-global and fake-flat) + the two fake-part templates
    assert len(texts) == len(set(texts)) == 3 * 11


def test_predictions_do_not_depend_on_batch_size(plugins, tmp_path):
    small = by_task(evaluate(config(tmp_path / "a", samples=10, batch_size=7), plugins))
    large = by_task(evaluate(config(tmp_path / "b", samples=10, batch_size=500), plugins))
    assert SQUARES * 10 > CHUNK_SIZE  # more than one chunk
    for task in small:
        pd.testing.assert_frame_equal(small[task].predictions, large[task].predictions)


def test_a_batch_that_runs_out_of_gpu_memory_is_split_and_answers_the_same(
    plugins, tmp_path, monkeypatch
):
    whole = by_task(evaluate(config(tmp_path / "a", samples=2, batch_size=100), plugins))
    original, sizes = MajorityAdapter.encode_images, []

    def encode(self, images):
        sizes.append(len(images))
        if len(images) > 40:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return original(self, images)

    monkeypatch.setattr(MajorityAdapter, "encode_images", encode)
    split = by_task(evaluate(config(tmp_path / "b", samples=2, batch_size=100), plugins))
    for task in whole:
        pd.testing.assert_frame_equal(whole[task].predictions, split[task].predictions)
    assert sizes[:3] == [100, 50, 25] and max(sizes[3:]) == 25  # halved once, then kept


class Orphan(FakeGlobal):
    name = "orphan"
    stimulus_set = "fake-missing"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"models": ["fake-majorty"]}, "did you mean: fake-majority"),
        ({"tasks": ["fake-globl"]}, "did you mean: fake-global"),
        ({"tasks": []}, "--task"),
        ({"samples": 0}, "--samples"),
        ({"samples": -3}, "--samples"),
        ({"samples": MAX_SAMPLES + 1}, "--samples"),
        ({"samples": True}, "--samples"),
        ({"batch_size": 0}, "--batch-size"),
        ({"precision": "fp8"}, "unknown precision"),
        ({"renderer": "gpu"}, "unknown renderer"),
        ({"renderer": "torch"}, "has no 'torch' renderer"),
        ({"device": "tpu"}, "unknown device"),
        ({"models": ["fake-majority", "fake-minority"], "weights": "w.pt"}, "one model"),
        ({"weights": "missing.pt"}, "does not exist"),
        ({"tasks": ["orphan"]}, "stimulus set 'fake-missing'"),
    ],
)
def test_bad_options_fail_in_one_line_before_any_work(plugins, tmp_path, options, message):
    plugins.tasks.add("orphan", Orphan(), "test")
    CALLS.clear()
    with pytest.raises(ColorbenchError, match=message.replace("(", r"\(")) as info:
        evaluate(config(tmp_path / "out", **options), plugins)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
    assert CALLS == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused(plugins, tmp_path):
    with pytest.raises(ColorbenchError, match="no CUDA GPU.*--device cpu"):
        evaluate(config(tmp_path, device="cuda"), plugins)


def test_auto_choices_on_cpu():
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"
    assert resolve_renderer("auto", ("pil", "torch"), cpu, "shapes") == "pil"
    assert resolve_renderer("torch", ("pil", "torch"), cpu, "shapes") == "torch"
    assert auto_batch_size(cpu, limit=1024) == 64
    assert auto_batch_size(cpu, limit=10) == 10


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_auto_choices_on_cuda():
    gpu = torch.device("cuda")
    assert resolve_precision("auto", gpu) == "fp16"
    assert resolve_renderer("auto", ("pil", "torch"), gpu, "shapes") == "torch"
    assert resolve_renderer("auto", ("pil",), gpu, "shapes") == "pil"
    size = auto_batch_size(gpu, limit=1024)
    assert 16 <= size <= 1024 and size & (size - 1) == 0


def test_prefetch_keeps_order_and_raises_the_producers_error():
    assert [(i, r) for i, r in prefetch(range(10), lambda i: i * i)] == [
        (i, i * i) for i in range(10)
    ]

    def fail(i):
        if i == 3:
            raise ValueError("render failed")
        return i

    seen = []
    with pytest.raises(ValueError, match="render failed"):
        for i, _ in prefetch(range(10), fail):
            seen.append(i)
    assert seen == [0, 1, 2]


DUCK = """
import torch
import colorbench

class Duck:  # does not subclass ModelAdapter
    {body}

@colorbench.hookimpl
def colorbench_register_models(register):
    register("duck", lambda model_id, **options: Duck())
"""
SCORES = "def score(self, images, texts):\n        return torch.ones(len(images), len(texts))"


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        (SCORES, "without a `device` attribute;"),
        ("device = 'cpu'", "without a `score(images, texts)` method;"),
        ("device = 'tpu:x'", "a `device` torch accepts (it has 'tpu:x') or a `score("),
    ],
)
def test_a_factory_result_outside_the_protocol_is_one_line_naming_plugin_id_and_gap(
    site, capsys, tmp_path, body, missing
):
    name = write_module(site, DUCK.format(body=body))
    argv = ["-p", "fake_support", "-p", name, "run", "--model", "duck", "--task", "fake-flat"]
    assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"colorbench: error: plugin {name!r} created model 'duck' as a Duck ")
    assert missing in err and "colorbench.plugin.adapter.ModelAdapter" in err


def test_a_duck_typed_adapter_that_meets_the_protocol_runs(site, tmp_path):
    name = write_module(site, DUCK.format(body=f"device = 'cpu'\n    {SCORES}"))
    argv = ["-p", "fake_support", "-p", name, "run", "--model", "duck", "--task", "fake-flat"]
    assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) == 0
    doc = json.loads((tmp_path / "out" / "duck" / "fake-flat" / "summary.json").read_text())
    assert doc["summary"]["headline"]["n"] == FLAT  # every image answered (all ties: "black")
    assert doc["provenance"]["weights_sha256"] == "none"
