"""Interrupted runs keep their finished chunks, resume exactly, and refuse to mix runs."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_support import CALLS, MajorityAdapter, config
from plugins_support import EXTRA_TASK, write_module

from colorbench.api import evaluate
from colorbench.errors import ColorbenchError, Interrupted
from colorbench.palette import DEFAULT_PALETTE, Color, Palette
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.runner.checkpoint import CHUNK_SIZE
from colorbench.runner.lock import DirectoryLock

HERE = Path(__file__).parent
SAMPLES = 20  # 2,200 fake-squares images: chunks of 1024, 1024 and 152
TASKS = ("fake-global", "fake-part")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """Predictions of one uninterrupted run."""
    out = tmp_path_factory.mktemp("reference")
    results = evaluate(
        config(out, samples=SAMPLES), load_plugins(["fake_support"], entrypoints=False)
    )
    return {r.task: r.predictions for r in results}


def work_chunks(out: Path, model: str = "fake-majority") -> list[str]:
    return sorted(p.name for p in (out / model / ".work" / "fake-squares").glob("chunk-*"))


def interrupt(plugins, out: Path, monkeypatch, at_batch: int = 6, **options) -> Interrupted:
    """Run until the ``at_batch``-th image batch, where a Ctrl-C arrives."""
    original, calls = MajorityAdapter.encode_images, itertools.count(1)

    def encode(self, images):
        if next(calls) == at_batch:
            raise KeyboardInterrupt
        return original(self, images)

    with monkeypatch.context() as patch:
        patch.setattr(MajorityAdapter, "encode_images", encode)
        with pytest.raises(Interrupted) as info:
            evaluate(config(out, samples=SAMPLES, batch_size=256, **options), plugins)
    return info.value


def assert_same(results, reference) -> None:
    got = {r.task: r.predictions for r in results}
    assert set(got) == set(reference)
    for task, frame in reference.items():
        pd.testing.assert_frame_equal(got[task], frame, check_dtype=False)
        assert not got[task].duplicated(["sample_id", "prompt"]).any()


def test_ctrl_c_keeps_finished_chunks_and_the_resume_is_exact(
    plugins, tmp_path, monkeypatch, reference
):
    error = interrupt(plugins, tmp_path, monkeypatch, at_batch=6)  # in chunk 1 of 3
    assert error.exit_code == 130 and "resume with the same command" in str(error)
    assert work_chunks(tmp_path) == ["chunk-000000.parquet"]
    assert not list(tmp_path.rglob(".*tmp*"))
    with DirectoryLock(tmp_path / "fake-majority"):  # the lock was released
        pass
    CALLS.clear()
    assert_same(evaluate(config(tmp_path, samples=SAMPLES), plugins), reference)
    assert sum(n for kind, n in CALLS if kind == "images") == 110 * SAMPLES - CHUNK_SIZE


@pytest.mark.parametrize(
    ("options", "change"),
    [
        ({"seed": 1}, "seed 0 -> 1"),
        ({"weights": "w.pt"}, "weights_sha256 'random' -> '"),
        ({"palette": "swapped"}, "palette '"),
    ],
)
def test_resuming_with_changed_provenance_is_refused(
    plugins, tmp_path, monkeypatch, options, change
):
    for alias in ("fake_majority", "fake/majority"):  # two ids with the same slug
        plugins.models.add(alias, MajorityAdapter, "test")
    first = {"models": ["fake_majority"]} if "models" in options else {}
    interrupt(plugins, tmp_path, monkeypatch, **first)
    if "weights" in options:
        options = {"weights": tmp_path / "w.pt"}
        options["weights"].write_bytes(b"trained")
    if "palette" in options:
        colors = list(DEFAULT_PALETTE.colors)
        colors[0] = Color("black", (10, 10, 10), False)
        options = {"palette": Palette(tuple(colors))}
    with pytest.raises(ColorbenchError, match="cannot resume") as info:
        evaluate(config(tmp_path, **{"samples": SAMPLES, **options}), plugins)
    message = str(info.value)
    assert change in message and "--no-resume" in message and "\n" not in message
    slug = "fake_majority" if "models" in options else "fake-majority"
    assert work_chunks(tmp_path, slug) == ["chunk-000000.parquet"]  # nothing lost


def test_no_resume_starts_over(plugins, tmp_path, monkeypatch, reference):
    interrupt(plugins, tmp_path, monkeypatch)
    CALLS.clear()
    assert_same(evaluate(config(tmp_path, samples=SAMPLES, resume=False), plugins), reference)
    assert sum(n for kind, n in CALLS if kind == "images") == 110 * SAMPLES


def test_a_resume_for_fewer_tasks_finishes_the_unfinished_run(
    plugins, tmp_path, monkeypatch, reference
):
    interrupt(plugins, tmp_path, monkeypatch)
    results = evaluate(config(tmp_path, samples=SAMPLES, tasks=["fake-global"]), plugins)
    assert_same(results, reference)  # both tasks of the unfinished run are written


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_unfinished_work_of_an_uninstalled_task_is_kept_and_never_blocks_its_set(
    plugins, site, tmp_path, monkeypatch, capsys, reference
):
    extra = write_module(site, EXTRA_TASK, stem="extra")
    with_extra = load_plugins(["fake_support", extra], entrypoints=False)
    tasks = [*TASKS, "fake-extra"]
    interrupt(with_extra, tmp_path, monkeypatch, tasks=tasks)  # chunk 0 done, then Ctrl-C
    work = tmp_path / "fake-majority" / ".work" / "fake-squares"
    left = folder_bytes(work)
    assert "chunk-000000.parquet" in left
    capsys.readouterr()
    # the plugin is uninstalled: its task's work neither blocks the others nor is discarded
    for resume in (True, False):  # --no-resume discards this run's work, not that folder
        results = evaluate(config(tmp_path, samples=SAMPLES, resume=resume), plugins)
        assert_same(results, reference)
        warned = capsys.readouterr().err.strip().splitlines()
        assert len(warned) == 1 and warned[0].startswith(f"colorbench: warning: {work} holds")
        assert f"task 'fake-extra' of plugin '{extra}' ({extra} 0.3)" in warned[0]
        assert "run --task fake-extra to finish them" in warned[0]
        assert folder_bytes(work) == left  # byte for byte
        assert sorted(p.name for p in work.parent.iterdir()) == ["fake-squares"]  # its own: gone
    # installed again, it resumes from the chunk that was kept
    CALLS.clear()
    resumed = evaluate(config(tmp_path, samples=SAMPLES, tasks=["fake-extra"]), with_extra)
    assert sum(n for kind, n in CALLS if kind == "images") == 110 * SAMPLES - CHUNK_SIZE
    fresh = evaluate(config(tmp_path / "fresh", samples=SAMPLES, tasks=tasks), with_extra)
    assert_same(resumed, {r.task: r.predictions for r in fresh})
    assert not work.parent.exists()


def test_finished_results_are_kept_and_a_changed_run_recomputes(plugins, tmp_path, reference):
    evaluate(config(tmp_path, samples=SAMPLES), plugins)
    CALLS.clear()
    assert_same(evaluate(config(tmp_path, samples=SAMPLES), plugins), reference)
    assert CALLS == []
    evaluate(config(tmp_path, samples=2), plugins)
    assert sum(n for kind, n in CALLS if kind == "images") == 110 * 2


def test_a_second_run_into_the_same_model_directory_is_locked_out(plugins, tmp_path):
    with DirectoryLock(tmp_path / "fake-majority"):
        with pytest.raises(ColorbenchError, match=r"another colorbench run \(pid \d+\)"):
            evaluate(config(tmp_path), plugins)
    assert not (tmp_path / "fake-majority" / "fake-global").exists()


def start(out: Path, samples: int, delay: float) -> subprocess.Popen:
    """The fake run in a subprocess, slowed to ``delay`` s per batch of 128 images."""
    env = {**os.environ, "COLORBENCH_FAKE_DELAY": str(delay)}
    command = [sys.executable, str(HERE / "fake_support.py"), "--out", str(out)]
    command += ["--samples", str(samples), "--batch-size", "128"]
    command += [arg for task in TASKS for arg in ("--task", task)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


#: how long a run may go without finishing a chunk before it counts as stuck. Generous: on
#: the shared 2-core machine a run's start-up (importing torch, pandas, pyarrow, loading the
#: plugins) took 21 s at load 11 and 41 s at load 10 plus two busy loops, where it takes 3 s
#: on an idle one; a fixed 60 s for start-up and chunks together was the flake.
STALL_S = 300


def wait_for_chunks(process: subprocess.Popen, out: Path, count: int) -> None:
    """Until the run has ``count`` chunks (or ended); it fails only when the run is stuck,
    finishing no chunk in ``STALL_S``, whatever the machine's load makes start-up cost."""
    seen, deadline = len(work_chunks(out)), time.monotonic() + STALL_S
    while seen < count and process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.communicate()
            raise AssertionError(f"the run finished no chunk in {STALL_S} s ({seen} done)")
        time.sleep(0.02)
        now = len(work_chunks(out))
        if now != seen:
            seen, deadline = now, time.monotonic() + STALL_S


def interrupt_subprocess(out: Path, samples: int, how: signal.Signals, rng: random.Random) -> bool:
    """Start the run, let it finish 0-2 more chunks (at least one before a SIGTERM, so the
    run is past start-up), wait part of a chunk, send ``how``; was the run still going?"""
    before = len(work_chunks(out))
    process = start(out, samples, delay=0.02)  # 8 batches per chunk: ~0.16 s
    wait_for_chunks(process, out, before + rng.randint(1 if how == signal.SIGTERM else 0, 2))
    time.sleep(rng.uniform(0, 0.15))
    running = process.poll() is None
    process.send_signal(how)
    _, err = process.communicate(timeout=STALL_S)
    if running and how == signal.SIGTERM:
        assert process.returncode == 130, err
        assert "resume with the same command" in err
        assert not list(out.rglob(".*tmp*"))
    return running


@pytest.mark.parametrize(
    "kills", [2, pytest.param(8, marks=pytest.mark.slow)], ids=["2-kills", "8-kills"]
)
def test_sigterm_and_sigkill_at_random_points_then_resume_is_exact(plugins, tmp_path, kills):
    seed = os.environ.get("PYTEST_SEED", str(time.time_ns()))
    print(f"PYTEST_SEED={seed}")  # shown when it fails: rerun with the same points
    rng = random.Random(seed)
    signals = [signal.SIGTERM] + [signal.SIGKILL] * kills
    samples = 10 * (3 * len(signals) + 3)  # more chunks than the interruptions can finish
    out = tmp_path / "killed"
    landed = sum(interrupt_subprocess(out, samples, how, rng) for how in signals)
    assert landed == len(signals), "a signal landed after the run had finished"
    resumed = {r.task: r.predictions for r in evaluate(config(out, samples=samples), plugins)}
    reference = evaluate(config(tmp_path / "reference", samples=samples), plugins)
    for result in reference:
        stored = pd.read_parquet(out / "fake-majority" / result.task / "predictions.parquet")
        pd.testing.assert_frame_equal(stored, result.predictions, check_dtype=False)
        pd.testing.assert_frame_equal(resumed[result.task], result.predictions, check_dtype=False)
        assert len(stored) == 110 * samples * len(plugins.tasks.get(result.task).prompts)
        assert not stored.duplicated(["sample_id", "prompt"]).any()
