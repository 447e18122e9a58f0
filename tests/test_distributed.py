"""torchrun with two CPU processes (gloo) stores exactly what one process stores."""

from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fake_support import MajorityAdapter, config

from colorbench.api import evaluate
from colorbench.errors import Interrupted
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.runner.distributed import rounds

HERE = Path(__file__).parent
SAMPLES = 30  # 3,300 fake-squares images: 4 chunks
TORCHRUN = Path(sys.executable).with_name("torchrun")


def test_rounds_deal_chunks_round_robin_and_pad_the_last_round():
    assert rounds([1, 2, 3], 2) == [[1, 2], [3, None]]
    assert rounds([0, 1, 2, 3], 1) == [[0], [1], [2], [3]]
    assert rounds([], 4) == []


@pytest.mark.skipif(shutil.which(str(TORCHRUN)) is None, reason="torchrun is not installed")
def test_two_gloo_processes_resume_and_match_one_process(tmp_path, monkeypatch):
    plugins = load_plugins(["fake_support"], entrypoints=False)
    reference = evaluate(config(tmp_path / "one", samples=SAMPLES), plugins)

    # one process finishes chunk 0 and is interrupted; two ranks share chunks 1, 2, 3
    out = tmp_path / "two"
    original, calls = MajorityAdapter.encode_images, itertools.count(1)

    def encode(self, images):
        if next(calls) == 6:
            raise KeyboardInterrupt
        return original(self, images)

    monkeypatch.setattr(MajorityAdapter, "encode_images", encode)
    with pytest.raises(Interrupted):
        evaluate(config(out, samples=SAMPLES, batch_size=256), plugins)
    command = [str(TORCHRUN), "--standalone", "--nproc-per-node", "2"]
    command += [str(HERE / "fake_support.py"), "--out", str(out), "--samples", str(SAMPLES)]
    command += ["--task", "fake-global", "--task", "fake-part", "--batch-size", "256"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

    for result in reference:
        directory = out / "fake-majority" / result.task
        stored = pd.read_parquet(directory / "predictions.parquet")
        pd.testing.assert_frame_equal(stored, result.predictions, check_dtype=False)
        summary = json.loads((directory / "summary.json").read_text())
        assert summary["provenance"]["world_size"] == 2
        assert summary["summary"] == result.summary.to_dict()
    assert not (out / "fake-majority" / ".work").exists()
