"""The example plugin installed with pip, as a user would, and found by ``colorbench``.

It is installed into a private target folder (never the shared venv) and ``colorbench`` runs in
a subprocess with that folder on PYTHONPATH, so the plugin is found only through the entry
point in its installed dist-info.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from colorbench.palette import DEFAULT_PALETTE

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "colorbench-hf"


@pytest.fixture(scope="module")
def installed_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pip")
    source = root / "colorbench-hf"  # a copy: building leaves build/ and egg-info behind
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = root / "site"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"]
    pip += ["--no-build-isolation", "--target", str(target), str(source)]
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    return target


def colorbench(installed_site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join(filter(None, [str(installed_site), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}
    command = [sys.executable, "-m", "colorbench", *argv]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_pip_installed_plugin_shows_up_in_list(installed_site, tmp_path):
    assert (installed_site / "colorbench_hf-0.1.0.dist-info" / "entry_points.txt").is_file()
    listed = colorbench(installed_site, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line for line in listed.stdout.splitlines() if "hf-" in line]
    assert any("hf-clip:*" in row and "│ hf " in row for row in rows)
    assert any("hf-siglip-tiny-random" in row for row in rows)
    assert "colorbench-hf 0.1.0" in listed.stdout  # the plugins table names the distribution


@pytest.mark.slow  # a real run in a fresh interpreter: about 25 s on a shared 2-core machine
@pytest.mark.skipif(
    importlib.util.find_spec("colorbench.runner.engine") is None,
    reason="colorbench.runner.engine (issue 3/7 engine) is not in this checkout yet",
)
def test_pip_installed_plugin_runs_end_to_end(installed_site, tmp_path):
    argv = ["run", "--model", "hf-clip-tiny-random", "--task", "stroop-white", "--samples", "1"]
    result = colorbench(
        installed_site, tmp_path, *argv, "--out", "res", "--device", "cpu", "--quiet"
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "res" / "hf-clip-tiny-random" / "stroop-white"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["model"] == "hf-clip-tiny-random"
    assert summary["provenance"]["weights_sha256"] == "random"
    predictions = pd.read_parquet(folder / "predictions.parquet")
    assert 0 < summary["summary"]["headline"]["n"] <= len(predictions)
    assert set(predictions["answer"]) <= set(DEFAULT_PALETTE.names)
