"""The round trip through the real lmms-eval (``pip install 'colorbench[harness]'``; slow).

A model package registers ``colorbench_ideal_observer`` through lmms-eval's
``lmms_eval.models`` entry points (tests/harness_support/colorbench_lmms_ideal.py: it sees
only the image and the question, like any lmms-eval model); ``lmms-eval --include_path``
runs the exported tasks; ``colorbench import`` reads its ``--log_samples`` JSONL. The stored
tables must equal colorbench's own ideal-observer run cell for cell, and the headline
lmms-eval itself reports (from the exported aggregation hook) must be colorbench's headline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from plugins_support import write_distribution
from test_harness import assert_same_result, cli

from colorbench.harness.spec import harness_name

pytest.importorskip("lmms_eval", reason="lmms-eval is not installed: pip install '.[harness]'")
tomllib = pytest.importorskip("tomllib")  # Python 3.11+

pytestmark = pytest.mark.slow

TASKS = ("stroop-white", "global-color", "prompt-choice")
SUPPORT = Path(__file__).parent / "harness_support"


def test_lmms_eval_round_trip_equals_colorbench_run(tmp_path: Path) -> None:
    site = tmp_path / "site"  # the support package as pip would install it
    site.mkdir()
    shutil.copy(SUPPORT / "colorbench_lmms_ideal.py", site)
    project = tomllib.loads((SUPPORT / "pyproject.toml").read_text())["project"]
    group = "lmms_eval.models"
    write_distribution(site, "colorbench_lmms_ideal", project["entry-points"][group], group)
    export = tmp_path / "export"
    tasks = [arg for t in TASKS for arg in ("--task", t)]
    assert cli("export", "lmms-eval", *tasks, "--samples", "1", "--out", str(export)) == 0
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    names = ",".join(harness_name(t) for t in TASKS)
    lmms = [sys.executable, "-m", "lmms_eval", "--model", "colorbench_ideal_observer"]
    lmms += ["--tasks", names, "--include_path", str(export), "--batch_size", "1"]
    lmms += ["--output_path", str(tmp_path / "lmms"), "--log_samples"]
    done = subprocess.run(lmms, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    own = tmp_path / "own"
    assert cli("run", "--model", "ideal-observer", *tasks, "--out", str(own)) == 0
    # lmms-eval can exit 0 having run nothing (with filelock 4 its evaluator fails to import
    # filelock._api and only logs it): no results file is the failure then
    found = list((tmp_path / "lmms").rglob("*_results.json"))
    assert len(found) == 1, f"lmms-eval wrote no results; its log ends: {done.stderr[-2000:]}"
    (aggregated,) = found
    reported = json.loads(aggregated.read_text())["results"]
    for task in TASKS:
        name = harness_name(task)
        (log,) = (tmp_path / "lmms").rglob(f"*_samples_{name}.jsonl")
        out = tmp_path / "results"
        argv = ("import", "lmms-eval", str(log), "--model", "lmms-ideal", "--task", task)
        assert cli(*argv, "--out", str(out)) == 0
        assert_same_result(out / "lmms-ideal" / task, own / "ideal-observer" / task)
        summary = json.loads((own / "ideal-observer" / task / "summary.json").read_text())
        headline = summary["summary"]["headline"]["value"]
        assert reported[name]["colorbench_headline,none"] == pytest.approx(headline)
