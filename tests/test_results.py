"""The results store: files, summary.json schema, provenance, reporters, atomic writes."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from fake_support import MajorityAdapter, config

import colorbench
from colorbench.api import evaluate
from colorbench.atomic import atomic_path, write_text
from colorbench.report.results import model_slug
from colorbench.report.summary import read as read_summary

PROVENANCE = {
    "colorbench", "model", "weights_sha256", "torch", "device", "dtype", "seed",
    "samples", "palette", "renderer", "batch_size", "world_size", "started", "wall_time_s",
}  # fmt: skip


def test_each_task_gets_predictions_summary_table_and_figure(plugins, tmp_path):
    results = {r.task: r for r in evaluate(config(tmp_path, samples=2, seed=3), plugins)}
    part = tmp_path / "fake-majority" / "fake-part"
    assert results["fake-part"].path == part
    doc = json.loads((part / "summary.json").read_text())
    assert doc["schema"] == "colorbench.summary/1"
    assert (doc["model"], doc["task"]) == ("fake-majority", "fake-part")
    assert PROVENANCE <= set(doc["provenance"])
    prov = doc["provenance"]
    assert (prov["samples"], prov["seed"], prov["weights_sha256"]) == (2, 3, "random")
    assert prov["colorbench"] == colorbench.__version__
    assert prov["palette"] == colorbench.palette.DEFAULT_PALETTE.fingerprint()
    assert doc["summary"]["headline"]["n"] == 110 * 2 * 2
    assert doc["files"] == {
        "predictions": "predictions.parquet",
        "table": "table.md",
        "figure": "figure.png",
    }
    stored = pd.read_parquet(part / "predictions.parquet")
    pd.testing.assert_frame_equal(stored, results["fake-part"].predictions, check_dtype=False)
    table = (part / "table.md").read_text()
    assert "## outcomes" in table and "| background | 100.0 |" in table
    # fake-global draws no figure: none is listed or left behind
    glob = tmp_path / "fake-majority" / "fake-global"
    assert "figure" not in read_summary(glob).files and not (glob / "figure.png").exists()
    assert not list(tmp_path.rglob(".*tmp*")), "temp files left behind"
    assert not (tmp_path / "fake-majority" / ".work").exists()


def test_model_ids_are_slugged_and_escaped_in_markdown(plugins, tmp_path):
    evil = "evil|<b>model</b> /x"  # control characters are refused at registration
    plugins.models.add(evil, MajorityAdapter, "test")
    evaluate(config(tmp_path, models=[evil], tasks=["fake-global"]), plugins)
    slug = model_slug(evil)
    assert (
        slug.startswith("evil__b_model__b___x+") and len(slug) == len("evil__b_model__b___x+") + 12
    )
    table = (tmp_path / slug / "fake-global" / "table.md").read_text()
    assert table.splitlines()[0] == r"# evil\|&lt;b&gt;model&lt;/b&gt; /x: fake-global"


class Reporter:
    def __init__(self, fail: bool = False) -> None:
        self.fail, self.calls = fail, []

    @colorbench.hookimpl
    def colorbench_result_written(self, model_id, task, summary, path):
        self.calls.append((model_id, task, summary["summary"]["headline"]["n"], path))
        if self.fail:
            raise RuntimeError("tracker is down")


def test_reporters_are_called_and_a_failing_one_loses_nothing(plugins, tmp_path, capsys):
    good, bad = Reporter(), Reporter(fail=True)
    plugins.pm.register(good, name="good")
    plugins.pm.register(bad, name="bad")
    evaluate(config(tmp_path, tasks=["fake-global"]), plugins)
    where = str(tmp_path / "fake-majority" / "fake-global")
    assert good.calls == bad.calls == [("fake-majority", "fake-global", 110, where)]
    err = capsys.readouterr().err
    assert "plugin 'bad' failed in colorbench_result_written: RuntimeError: tracker" in err
    assert err.count("\n") == 1 and "result kept" in err
    assert read_summary(tmp_path / "fake-majority" / "fake-global") is not None


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "summary.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_atomic_writes_get_the_mode_of_an_ordinary_write(tmp_path, umask):
    """Shared results folders: a result is as readable as ``open(path, "w")`` would make it."""
    old = os.umask(umask)
    try:
        write_text(tmp_path / "summary.json", "{}")
        (tmp_path / "plain.json").write_text("{}")
    finally:
        os.umask(old)
    mode = (tmp_path / "summary.json").stat().st_mode & 0o777
    assert mode == (tmp_path / "plain.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_foreign_or_malformed_summaries_are_not_results(tmp_path):
    (tmp_path / "summary.json").write_text("{not json")
    assert read_summary(tmp_path) is None
    (tmp_path / "summary.json").write_text('{"schema": "something-else/1"}')
    assert read_summary(tmp_path) is None
