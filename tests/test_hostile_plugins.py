"""Issue 16: plugins are third-party code, so what they register and return is checked.

Names used as paths, patterns that overlap another plugin's ids, adapters that return
garbage, reporters that exit: each is one line naming the plugin, and finished work is kept.
"""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
import torch
from fake_support import MajorityAdapter, MinorityAdapter, config
from plugins_support import write_module

import colorbench
from colorbench.api import evaluate
from colorbench.cli.app import main
from colorbench.errors import ColorbenchError, Interrupted, PluginError
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.plugin.registry import Registry, patterns_overlap
from colorbench.report import results
from colorbench.report.summary import read as read_summary
from colorbench.runner.checkpoint import WorkDir


@pytest.fixture
def import_path(tmp_path, monkeypatch):
    """An import path for throw-away plugin modules; the installed plugins load as usual."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


# -- class 4: overlapping patterns ------------------------------------------------------

MODEL_PATTERN = """
import colorbench

@colorbench.hookimpl
def colorbench_register_models(register):
    register({name!r}, lambda model_id, **options: None)
"""


@pytest.mark.parametrize("name", ["*", "r*", "random-R*", "hf-*", "?andom-RN50", "[rx]andom-*"])
def test_a_pattern_overlapping_another_plugins_ids_is_a_conflict(import_path, name):
    greedy = write_module(import_path, MODEL_PATTERN.format(name=name))
    with pytest.raises(PluginError, match="overlaps") as info:
        load_plugins([greedy])
    message = str(info.value)
    assert f"plugin {greedy!r}" in message and "-p no:" in message and "\n" not in message


def test_an_exact_id_inside_another_plugins_pattern_is_a_conflict(import_path):
    squatter = write_module(import_path, MODEL_PATTERN.format(name="random-RN50"))
    with pytest.raises(PluginError, match="overlaps") as info:
        load_plugins([squatter])
    assert "'random-RN50' of plugin" in str(info.value) and "'random-*' of plugin" in str(
        info.value
    )


def test_patterns_that_cannot_match_one_name_do_not_conflict(import_path):
    mine = write_module(import_path, MODEL_PATTERN.format(name="mine-*"))
    plugins = load_plugins([mine])
    assert plugins.models.resolve("mine-x").plugin == mine
    assert plugins.models.resolve("random-RN50").plugin == "openclip"


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("*", "x", True),
        ("r*", "random-*", True),
        ("random-*", "hf-hub:*", False),
        ("*-RN50", "random-*", True),
        ("x*y", "*z", False),
        ("a?c", "abd", False),
        ("a?c", "a*", True),
    ],
)
def test_pattern_overlap_is_decided_exactly_without_sets(a, b, overlap):
    assert patterns_overlap(a, b) is overlap and patterns_overlap(b, a) is overlap


def test_the_providing_plugin_is_in_provenance(plugins, tmp_path):
    evaluate(config(tmp_path, tasks=["fake-global"]), plugins)
    doc = json.loads((tmp_path / "fake-majority" / "fake-global" / "summary.json").read_text())
    assert doc["provenance"]["model_plugin"] == "fake_support"


# -- class 7: names from plugins used as paths ------------------------------------------

PATH_NAMES = """
import colorbench
from colorbench.plugin.task import Task

class Escaping(Task):
    name = {task!r}
    stimulus_set = "fake-squares"

    def summarize(self, predictions, palette):
        raise AssertionError("never run")

@colorbench.hookimpl
def colorbench_register_stimulus_sets(register):
    register({stim!r}, lambda **options: None)

@colorbench.hookimpl
def colorbench_register_tasks(register):
    register(Escaping())
"""


@pytest.mark.parametrize(
    ("task", "stim", "kind"),
    [
        ("../../x", "ok-set", "task"),
        ("ok-task", "../../../victim", "stimulus set"),
        ("..", "ok-set", "task"),
        ("ok-task", ".hidden", "stimulus set"),
        ("a/b", "ok-set", "task"),
        ("ok-task", "C:\\x", "stimulus set"),
    ],
)
def test_names_that_would_escape_the_results_folder_are_refused(import_path, task, stim, kind):
    module = write_module(import_path, PATH_NAMES.format(task=task, stim=stim))
    with pytest.raises(PluginError) as info:
        load_plugins([module])
    message = str(info.value)
    assert f"plugin {module!r} registered a {kind}" in message and "\n" not in message


def test_control_characters_in_a_model_id_are_refused():
    with pytest.raises(PluginError, match=r"plugin 'p' .*\\x1b"):
        Registry("model").add("evil\x1b[2J", object(), "p")


def test_work_is_never_removed_through_a_symlink(tmp_path):
    victim = tmp_path / "victim" / "fake-squares"
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    model_dir = tmp_path / "out" / "m"
    model_dir.mkdir(parents=True)
    (model_dir / ".work").symlink_to(tmp_path / "victim")
    with pytest.raises(ColorbenchError, match="is a symlink"):
        WorkDir(model_dir, "fake-squares").discard()
    assert (victim / "keep.txt").read_text() == "precious"
    with pytest.raises(ColorbenchError, match="cannot be used as a folder name"):
        WorkDir(model_dir, "../../victim")


# -- class 11: small ones ---------------------------------------------------------------


class ExitingReporter:
    @colorbench.hookimpl
    def colorbench_result_written(self, model_id, task, summary, path):
        sys.exit(0)


def test_a_reporter_calling_sys_exit_does_not_end_the_run(plugins, tmp_path, capsys):
    plugins.pm.register(ExitingReporter(), name="exiter")
    results = evaluate(config(tmp_path), plugins)
    assert sorted(r.task for r in results) == ["fake-global", "fake-part"]
    err = capsys.readouterr().err
    assert err.count("plugin 'exiter' failed in colorbench_result_written: SystemExit: 0") == 2


def test_weights_for_a_reference_model_is_an_error(capsys, tmp_path):
    (tmp_path / "w.pt").write_bytes(b"weights")
    code = main(["run", "--model", "ideal-observer", "--task", "stroop-white", "--out",
                 str(tmp_path / "r"), "--weights", str(tmp_path / "w.pt")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "reference model with no weights; drop --weights" in err
    assert not (tmp_path / "r").exists()


def test_the_interrupt_hint_never_repeats_no_resume(plugins, tmp_path, monkeypatch):
    argv = ["colorbench", "run", "--model", "fake-majority", "--no-resume", "--samples", "20"]
    monkeypatch.setattr(sys, "argv", argv)

    def interrupt(self, images):
        raise KeyboardInterrupt

    monkeypatch.setattr(MajorityAdapter, "encode_images", interrupt)
    with pytest.raises(Interrupted) as info:
        evaluate(config(tmp_path, samples=20, resume=False), plugins)
    hint = str(info.value)
    assert "colorbench run --model fake-majority --samples 20" in hint
    assert "--no-resume" not in hint


def test_a_kill_between_predictions_and_summary_leaves_no_stale_summary(
    plugins, tmp_path, monkeypatch
):
    evaluate(config(tmp_path, tasks=["fake-global"], seed=0), plugins)
    folder = tmp_path / "fake-majority" / "fake-global"
    assert read_summary(folder).provenance["seed"] == 0

    def killed(*args, **kwargs):  # the process dies right after predictions.parquet
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(results, "write_text", killed)
        with pytest.raises(Interrupted):
            evaluate(config(tmp_path, tasks=["fake-global"], seed=1), plugins)
    assert (folder / "predictions.parquet").exists()
    assert read_summary(folder) is None  # not seed 0's summary beside seed 1's predictions
    evaluate(config(tmp_path, tasks=["fake-global"], seed=1), plugins)
    assert read_summary(folder).provenance["seed"] == 1


# -- class 3: adapter output is checked -------------------------------------------------

GOOD_BATCHES = 4  # chunk 0 (1024 images) is 4 batches of 256: it finishes before the garbage


def garbage(kind: str, good: torch.Tensor):
    """What a broken adapter might return instead of ``good`` ([B, K] float scores)."""
    b, k = good.shape
    make = {
        "nan": lambda: good.index_fill(0, torch.tensor([0]), float("nan")),  # one image's row
        "inf": lambda: good.index_fill(1, torch.tensor([0]), float("inf")),  # one candidate
        "short": lambda: good[:, : k - 1],
        "transposed": lambda: good.T,
        "int": lambda: good.round().long(),
        "bool": lambda: good > 0,
        "complex": lambda: good.to(torch.complex64),
        "numpy": lambda: good.numpy(),
        "list": lambda: good.tolist(),
        "none": lambda: None,
        "meta": lambda: torch.empty(b, k, device="meta"),
    }
    return make[kind]()


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("nan", "11 NaN or infinite value(s)"),
        ("inf", "256 NaN or infinite value(s)"),
        ("short", "shape [256, 10]"),
        ("transposed", "shape [11, 256]"),
        ("int", "dtype torch.int64"),
        ("bool", "dtype torch.bool"),
        ("complex", "dtype torch.complex64"),
        ("numpy", "a numpy.ndarray"),
        ("list", "a builtins.list"),
        ("none", "a builtins.NoneType"),
        ("meta", "a meta tensor"),
    ],
)
def test_bad_adapter_output_is_one_line_and_finished_chunks_are_kept(plugins, tmp_path, kind, what):
    calls = []

    class Broken(MinorityAdapter):
        def score(self, images, texts):
            good = super().score(images, texts)
            calls.append(1)
            return good if len(calls) <= GOOD_BATCHES else garbage(kind, good)

    plugins.models.add("broken-model", Broken, "broken_plugin")
    run = config(tmp_path, models=["broken-model"], tasks=["fake-global"], samples=20)
    with pytest.raises(PluginError) as info:
        evaluate(dataclasses.replace(run, batch_size=256), plugins)
    message = str(info.value)
    assert "model 'broken-model' of plugin 'broken_plugin' returned" in message
    assert what in message and "\n" not in message
    work = tmp_path / "broken-model" / ".work" / "fake-squares"
    assert sorted(p.name for p in work.glob("chunk-*")) == ["chunk-000000.parquet"]
    assert not (tmp_path / "broken-model" / "fake-global" / "summary.json").exists()


def test_contrastive_embeddings_are_checked_too(plugins, tmp_path):
    class NanEmbeddings(MajorityAdapter):
        def encode_images(self, images):
            return super().encode_images(images) * float("nan")

    plugins.models.add("nan-model", NanEmbeddings, "nan_plugin")
    with pytest.raises(PluginError, match="'nan_plugin' returned .* NaN .* from encode_images"):
        evaluate(config(tmp_path, models=["nan-model"], tasks=["fake-global"]), plugins)
