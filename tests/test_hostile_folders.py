"""Issue 16: a results folder is shared, so nothing found in it is trusted.

Symlinks planted under colorbench's own names, folders holding another model's results,
damaged chunks and summaries: each is refused in one line or repaired, and nothing outside
``--out`` is ever written or removed.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fake_support import CALLS, FakeSquares, MajorityAdapter, config
from test_leaderboard import write_summary
from test_resume import SAMPLES, interrupt, work_chunks

from colorbench.api import evaluate
from colorbench.atomic import atomic_path, write_text
from colorbench.cli.app import main
from colorbench.errors import ColorbenchError
from colorbench.report.leaderboard import build
from colorbench.report.results import model_slug
from colorbench.report.summary import read as read_summary
from colorbench.runner.checkpoint import CHUNK_SIZE
from colorbench.runner.lock import DirectoryLock

# -- class 1: symlinks ------------------------------------------------------------------


def test_a_symlinked_lock_is_refused_and_its_target_untouched(plugins, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    out = tmp_path / "out"
    (out / "fake-majority").mkdir(parents=True)
    (out / "fake-majority" / ".lock").symlink_to(victim)
    with pytest.raises(ColorbenchError, match="is a symlink") as info:
        evaluate(config(out, tasks=["fake-global"]), plugins)
    assert "\n" not in str(info.value)
    assert victim.read_text() == "precious"


def test_a_hard_linked_lock_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "m").mkdir()
    os.link(victim, tmp_path / "m" / ".lock")
    with pytest.raises(ColorbenchError, match="hard link"), DirectoryLock(tmp_path / "m"):
        pass
    assert victim.read_text() == "precious"


def test_atomic_writes_never_follow_a_symlink_planted_at_a_temp_name(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    # every name the old scheme (".<stem>.tmp-<pid><suffix>") could have used
    for pid in {os.getpid(), os.getpid() + 1}:
        (folder / f".summary.tmp-{pid}.json").symlink_to(victim)
    write_text(folder / "summary.json", "new")
    assert victim.read_text() == "precious"
    assert (folder / "summary.json").read_text() == "new"
    with atomic_path(folder / "table.md") as tmp:
        assert not tmp.is_symlink() and tmp.stat().st_nlink == 1
        tmp.write_text("x")


# -- class 2: model ids that share a folder ---------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("hf-hub:a/b_c", "hf-hub:a_b/c"),
        ("café", "cafè"),
        ("x/y", "x:y"),
        ("..", "."),
        ("a b", "a_b"),
    ],
)
def test_different_model_ids_never_share_a_folder(a, b):
    assert model_slug(a) != model_slug(b)
    for slug in (model_slug(a), model_slug(b)):
        assert "/" not in slug and slug not in (".", "..") and not slug.startswith(".")


def test_plain_ids_keep_their_folder_names():
    for plain in ("random-RN50", "ideal-observer", "hf-clip-tiny-random", "openai-RN50x4"):
        assert model_slug(plain) == plain


def test_two_ids_that_used_to_collide_keep_both_results(plugins, tmp_path):
    for alias in ("fake:majority", "fake/majority"):
        plugins.models.add(alias, MajorityAdapter, "test")
        evaluate(config(tmp_path, models=[alias], tasks=["fake-global"]), plugins)
    docs = [json.loads(p.read_text()) for p in tmp_path.glob("*/fake-global/summary.json")]
    assert sorted(d["model"] for d in docs) == ["fake/majority", "fake:majority"]


def test_a_folder_holding_another_models_results_is_refused(plugins, tmp_path):
    plugins.models.add("fake/majority", MajorityAdapter, "test")
    evaluate(config(tmp_path, tasks=["fake-global"]), plugins)
    # an older colorbench (or a person) put fake-majority's results where fake/majority goes
    (tmp_path / "fake-majority").rename(tmp_path / model_slug("fake/majority"))
    with pytest.raises(ColorbenchError, match="holds results of model 'fake-majority'"):
        evaluate(config(tmp_path, models=["fake/majority"], tasks=["fake-global"]), plugins)
    doc = json.loads(next(tmp_path.glob("*/fake-global/summary.json")).read_text())
    assert doc["model"] == "fake-majority"  # not replaced


# -- class 9: the leaderboard trusts nothing in summary.json -----------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"value": 150.0, "ci": (140.0, 160.0)}, "not a percentage inside its interval"),
        ({"value": 50.0, "ci": (60.0, 40.0)}, "not a percentage inside its interval"),
        ({"value": 50.0, "ci": (10.0, 20.0)}, "not a percentage inside its interval"),
        ({"value": 50.0, "n": 0}, "n is not a count >= 1"),
    ],
)
def test_impossible_headlines_are_skipped_with_a_warning(tmp_path, change, reason):
    path = write_summary(tmp_path / "results", "model-a", "global-color", **change)
    board = build(tmp_path / "results", tmp_path / "lb" / "README.md")
    assert board.models == []
    assert board.warnings == [f"skipping {path}: {board.warnings[0].split(': ', 1)[1]}"]
    assert reason in board.warnings[0]


def test_a_summary_naming_another_model_than_its_folder_is_skipped(tmp_path):
    path = write_summary(tmp_path / "results", "model-a", "global-color", 50.0)
    doc = json.loads(path.read_text())
    doc["model"] = "openai-RN50"  # someone's edit: model-a's numbers under RN50's name
    path.write_text(json.dumps(doc))
    board = build(tmp_path / "results", tmp_path / "lb" / "README.md")
    assert board.models == []
    assert "belongs in folder 'openai-RN50', not 'model-a'" in board.warnings[0]


def test_formula_task_names_and_escape_codes_are_neutralised(tmp_path, capsys):
    results = tmp_path / "results"
    write_summary(results, "model-a", "=HYPERLINK(1)", 50.0)
    write_summary(results, "model-b\x1b[2Jx", "global-color", 40.0)
    junk = results / "\x1b]0;owned\x07" / "global-color"
    junk.mkdir(parents=True)
    (junk / "summary.json").write_text("{not json")
    out = tmp_path / "lb" / "README.md"
    assert main(["leaderboard", "--results", str(results), "--out", str(out), "-q"]) == 0
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]0;owned\\x07" in err
    header = (out.parent / "leaderboard.csv").read_text().splitlines()[0]
    assert "'=HYPERLINK(1)" in header and ",=" not in header
    readme = out.read_text()
    assert "\x1b" not in readme and "model-b\\\\x1b" in readme


def test_leaderboard_out_must_be_markdown(tmp_path, capsys):
    results = tmp_path / "results"
    write_summary(results, "model-a", "global-color", 50.0)
    readme = tmp_path / "lb" / "README.md"
    readme.parent.mkdir()
    readme.write_text("keep me")
    out = readme.parent / "leaderboard.csv"
    code = main(["leaderboard", "--results", str(results), "--out", str(out)])
    assert code == 2 and "is not a markdown (.md) file" in capsys.readouterr().err
    assert readme.read_text() == "keep me" and not out.exists()


# -- class 5: resuming with settings that change answers ---------------------------------


def test_resuming_with_another_precision_is_refused(plugins, tmp_path, monkeypatch):
    interrupt(plugins, tmp_path, monkeypatch, precision="fp32")
    with pytest.raises(ColorbenchError, match="dtype 'float32' -> 'bfloat16'"):
        evaluate(config(tmp_path, samples=SAMPLES, precision="bf16"), plugins)
    assert work_chunks(tmp_path) == ["chunk-000000.parquet"]


def test_resuming_with_another_renderer_is_refused(plugins, tmp_path, monkeypatch):
    monkeypatch.setattr(FakeSquares, "backends", ("pil", "torch"))
    interrupt(plugins, tmp_path, monkeypatch, renderer="pil")
    with pytest.raises(ColorbenchError, match="renderer 'pil' -> 'torch'"):
        evaluate(config(tmp_path, samples=SAMPLES, renderer="torch"), plugins)


def test_a_finished_result_is_not_kept_for_another_precision(plugins, tmp_path, capsys):
    evaluate(config(tmp_path, tasks=["fake-global"], precision="fp32"), plugins)
    CALLS.clear()
    evaluate(config(tmp_path, tasks=["fake-global"], precision="bf16", quiet=False), plugins)
    assert "already done, kept" not in capsys.readouterr().out
    assert any(kind == "images" for kind, _ in CALLS)
    stored = read_summary(tmp_path / "fake-majority" / "fake-global")
    assert stored.provenance["dtype"] == "bfloat16"


# -- class 6: stored state is checked, a damaged chunk is recomputed alone ---------------


def full_run(plugins, out) -> dict:
    return {r.task: r for r in evaluate(config(out, samples=SAMPLES), plugins)}


def chunk0(out):
    return out / "fake-majority" / ".work" / "fake-squares" / "chunk-000000.parquet"


@pytest.mark.parametrize("damage", ["truncate", "drop-rows", "unrecorded"])
def test_a_damaged_chunk_is_recomputed_alone_with_a_warning(
    plugins, tmp_path, monkeypatch, capsys, damage
):
    reference = full_run(plugins, tmp_path / "reference")
    out = tmp_path / "out"
    interrupt(plugins, out, monkeypatch, at_batch=9)  # in chunk 2: chunks 0, 1 finished
    assert work_chunks(out) == ["chunk-000000.parquet", "chunk-000001.parquet"]
    path = chunk0(out)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:500])
    elif damage == "drop-rows":  # a valid parquet file, 476 rows short
        table = pq.read_table(path)
        pq.write_table(table.slice(0, table.num_rows - 476), path)
    else:  # e.g. written by a run killed before it recorded the chunk
        manifest = json.loads(path.with_name("manifest.json").read_text())
        del manifest["chunks"]["0"]
        path.with_name("manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    CALLS.clear()
    results = full_run(plugins, out)
    err = capsys.readouterr().err
    assert f"colorbench: warning: {path} " in err and "computing that chunk again" in err
    assert sum(n for kind, n in CALLS if kind == "images") == CHUNK_SIZE + 152  # chunks 0, 2
    for task, ref in reference.items():
        pd.testing.assert_frame_equal(results[task].predictions, ref.predictions)
        assert results[task].summary.headline == ref.summary.headline


def test_a_corrupt_predictions_file_is_recomputed_not_a_traceback(plugins, tmp_path):
    first = full_run(plugins, tmp_path)
    predictions = tmp_path / "fake-majority" / "fake-global" / "predictions.parquet"
    predictions.write_bytes(predictions.read_bytes()[:100])
    again = full_run(plugins, tmp_path)
    pd.testing.assert_frame_equal(
        again["fake-global"].predictions, first["fake-global"].predictions
    )


def test_a_summary_with_an_unknown_key_is_recomputed_not_a_traceback(plugins, tmp_path):
    first = full_run(plugins, tmp_path)
    path = tmp_path / "fake-majority" / "fake-global" / "summary.json"
    doc = json.loads(path.read_text())
    doc["summary"]["headline"]["surprise"] = 1
    path.write_text(json.dumps(doc))
    assert read_summary(path.parent) is None
    again = full_run(plugins, tmp_path)
    assert again["fake-global"].summary.headline == first["fake-global"].summary.headline
    assert "surprise" not in path.read_text()


def test_stray_files_in_the_work_folder_are_ignored(plugins, tmp_path, monkeypatch):
    interrupt(plugins, tmp_path, monkeypatch)
    (chunk0(tmp_path).parent / "chunk-abc.parquet").write_text("x")
    (chunk0(tmp_path).parent / "manifest.json").write_text("[1, 2]")  # valid JSON, not ours
    results = full_run(plugins, tmp_path)
    assert results["fake-global"].summary.headline.n == 110 * SAMPLES
