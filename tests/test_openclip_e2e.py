"""random-init open_clip models run every paper task end to end through the CLI.

A three-colour palette keeps the stimulus grid small (48 shapes, 6 + 4 Stroop images per
sample) so both architectures run on CPU in the default suite; the full 11-colour run of
both is in leaderboard/results (``--task all --samples 1``).
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from colorbench.cli.app import main
from colorbench.tasks import paper_tasks

PAPER_TASKS = [task.name for task in paper_tasks()]
#: images per sample: shapes 8 x 3 x 2; stroop 3 x 2 x 1; stroop-white: 2 words (not white)
#: x 1 font (!= word, != white)
EXPECTED_IMAGES = {"shapes": 48, "stroop": 6, "stroop-white": 2}


@pytest.mark.parametrize("model", ["random-RN50", "random-ViT-B-32"])
def test_random_init_model_runs_every_paper_task(
    model: str, tmp_path: Path, three_colours: Path
) -> None:
    argv = ["run", "--model", model, "--samples", "1", "--palette", str(three_colours), "-q"]
    for task in PAPER_TASKS:
        argv += ["--task", task]
    assert main([*argv, "--out", str(tmp_path / "results")]) == 0

    for task in PAPER_TASKS:
        folder = tmp_path / "results" / model / task
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["provenance"]["weights_sha256"] == "random"
        predictions = pd.read_parquet(folder / "predictions.parquet")
        images = predictions.drop_duplicates("sample_id")
        assert len(images) == EXPECTED_IMAGES[images["set"].iloc[0]]
        assert set(predictions["answer"]) <= {"black", "white", "red"}
        assert predictions["outcome"].notna().all()
        assert (folder / "table.md").stat().st_size > 0
