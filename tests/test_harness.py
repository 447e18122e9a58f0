"""Export to lmms-eval / VLMEvalKit and import their answers back (fast, no harness installed).

Truths by construction: the exported images are the rendered stimuli, the exported answers
are the stimuli's ground truth, and a harness that answered exactly what colorbench's
ideal-observer answered must give back colorbench's own ideal-observer tables, cell for cell.
The harness files are written in the layouts lmms-eval 0.7.3 (``save_results_samples``) and
VLMEvalKit (``vlmeval/inference.py``: the TSV's columns minus ``image``, plus
``prediction``) write; tests/test_harness_lmms_eval.py runs the real lmms-eval.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from colorbench.cli.app import main
from colorbench.harness import lmms_hooks
from colorbench.harness.lmms_eval import METRIC
from colorbench.harness.spec import questions
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.plugin.task import TaskSummary
from colorbench.report.leaderboard import build

TASK = "stroop-white"
PLUGINS = load_plugins([])


def cli(*argv: str) -> int:
    return main([*argv, "-q"])


@pytest.fixture(scope="module")
def own(tmp_path_factory) -> Path:
    """colorbench's own ideal-observer result on the task."""
    out = tmp_path_factory.mktemp("own")
    assert cli("run", "--model", "ideal-observer", "--task", TASK, "--out", str(out)) == 0
    return out / "ideal-observer" / TASK


@pytest.fixture(scope="module")
def lmms_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lmms") / "export"
    assert cli("export", "lmms-eval", "--task", TASK, "--out", str(out)) == 0
    return out


@pytest.fixture(scope="module")
def vlm_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vlm") / "export"
    assert cli("export", "vlmevalkit", "--task", TASK, "--out", str(out)) == 0
    return out


def ideal_answers(own: Path) -> dict[tuple[str, str], str]:
    """What the ideal observer answered, as a generative model would write it ("Red.")."""
    frame = pd.read_parquet(own / "predictions.parquet")
    return {
        (s, p): f"{a.capitalize()}."
        for s, p, a in zip(frame["sample_id"], frame["prompt"], frame["answer"], strict=True)
    }


def lmms_docs(export: Path) -> list[dict]:
    """The documents lmms-eval builds from the exported parquet (image decoded to PIL)."""
    table = pq.read_table(export / "data" / f"{TASK}.parquet").to_pylist()
    for doc in table:
        doc["image"] = Image.open(io.BytesIO(doc["image"]["bytes"]))
    return table


def lmms_log(export: Path, answers: dict, path: Path) -> Path:
    """A samples log as lmms-eval 0.7.3 writes it, the answers passed through the hooks."""
    lines = []
    for doc_id, doc in enumerate(lmms_docs(export)):
        text = answers[(doc["sample_id"], doc["prompt"])]
        record = {"doc_id": doc_id, "target": doc["target"], "filtered_resps": text}
        record |= {"token_counts": [None], "doc_hash": "0" * 64}
        record |= lmms_hooks.process_results(doc, [text])
        record["input"] = lmms_hooks.doc_to_text(doc)
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines))
    return path


def assert_same_result(mine: Path, own: Path) -> None:
    a = TaskSummary.from_dict(json.loads((mine / "summary.json").read_text())["summary"])
    b = TaskSummary.from_dict(json.loads((own / "summary.json").read_text())["summary"])
    assert a.headline == b.headline
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name])
    pm, po = (pd.read_parquet(d / "predictions.parquet") for d in (mine, own))
    assert (pm["sample_id"] + pm["prompt"]).tolist() == (po["sample_id"] + po["prompt"]).tolist()
    assert pm["answer"].tolist() == po["answer"].tolist()


def stimuli():
    stim = PLUGINS.stimulus_sets.get("stroop-white")()
    batch = stim.render(stim.samples(0, stim.size(1), 1))
    return batch.samples, batch.images.permute(0, 2, 3, 1).numpy()


# --------------------------------------------------------------------------- lmms-eval
def test_lmms_export_is_a_task_folder_with_the_stimuli(lmms_dir: Path) -> None:
    yaml = (lmms_dir / "colorbench_stroop_white.yaml").read_text()
    assert 'task: "colorbench_stroop_white"' in yaml
    assert "output_type: generate_until" in yaml
    assert "process_results: !function utils.process_results" in yaml
    assert str(lmms_dir.resolve() / "data" / f"{TASK}.parquet") in yaml
    assert "from colorbench.harness import lmms_hooks" in (lmms_dir / "utils.py").read_text()
    meta = json.loads(
        pq.read_schema(lmms_dir / "data" / f"{TASK}.parquet").metadata[b"huggingface"]
    )
    assert meta["info"]["features"]["image"] == {"_type": "Image"}
    docs = lmms_docs(lmms_dir)
    samples, pixels = stimuli()
    assert [d["sample_id"] for d in docs] == [s.sample_id for s in samples]
    asked = questions(PLUGINS.tasks.get(TASK), DEFAULT_PALETTE)
    for doc, sample, image in zip(docs, samples, pixels, strict=True):
        assert np.array_equal(np.asarray(lmms_hooks.doc_to_visual(doc)[0]), image)
        assert doc["target"] == sample.attrs["font"]
        assert lmms_hooks.doc_to_text(doc) == asked["font"]


def test_lmms_import_equals_colorbench_run(lmms_dir: Path, own: Path, tmp_path: Path) -> None:
    log = lmms_log(lmms_dir, ideal_answers(own), tmp_path / "samples.jsonl")
    out = tmp_path / "results"
    assert (
        cli("import", "lmms-eval", str(log), "--model", "m", "--task", TASK, "--out", str(out)) == 0
    )
    assert_same_result(out / "m" / TASK, own)
    doc = json.loads((out / "m" / TASK / "summary.json").read_text())
    prov = doc["provenance"]
    assert prov["source_harness"] == "lmms-eval"
    assert prov["prompts"] == questions(
        PLUGINS.tasks.get(TASK), DEFAULT_PALETTE
    )  # the "input" lmms-eval logged
    assert prov["source_sha256"] == __import__("hashlib").sha256(log.read_bytes()).hexdigest()
    assert {"predictions", "table", "figure"} <= set(doc["files"])
    board = build(out, tmp_path / "board" / "README.md")  # the leaderboard picks it up
    assert board.models == ["m"] and board.kind("m") == "generative"
    assert board.score("m", TASK).value == doc["summary"]["headline"]["value"]


def test_lmms_aggregation_is_colorbench_headline(lmms_dir: Path, own: Path) -> None:
    answers = ideal_answers(own)
    docs = lmms_docs(lmms_dir)
    items = [
        lmms_hooks.process_results(d, [answers[(d["sample_id"], d["prompt"])]])[METRIC]
        for d in docs
    ]
    palette = lmms_dir / "palette.json"
    headline = json.loads((own / "summary.json").read_text())["summary"]["headline"]["value"]
    assert lmms_hooks.aggregate_headline(items, palette) == headline
    wrong = [{**items[0], "response": "Purple."}] + items[1:]
    assert lmms_hooks.aggregate_headline(wrong, palette) == pytest.approx(
        headline - 100 / len(items)
    )
    assert np.isnan(lmms_hooks.aggregate_headline(items[:-1], palette))  # lmms-eval --limit


# --------------------------------------------------------------------------- VLMEvalKit
def read_tsv(path: Path) -> pd.DataFrame:
    """The TSV as VLMEvalKit's ImageBaseDataset loads it: short image fields are indices."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    images = dict(zip(frame["index"], frame["image"], strict=True))
    frame["image"] = [images[v] if len(v) <= 64 else v for v in frame["image"]]
    return frame


def test_vlmevalkit_tsv_images_and_answers(vlm_dir: Path) -> None:
    frame = read_tsv(vlm_dir / "colorbench_stroop_white.tsv")
    assert {"index", "image", "question", "answer", "category"} <= set(frame.columns)
    assert not {"A", "B"} & set(frame.columns)  # colour words, not option letters
    samples, pixels = stimuli()
    assert frame["sample_id"].tolist() == [s.sample_id for s in samples]
    for (_, row), sample, image in zip(frame.iterrows(), samples, pixels, strict=True):
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(row["image"]))).convert("RGB"))
        assert np.array_equal(decoded, image)
        assert row["answer"] == sample.attrs["font"]
        assert (
            row["category"]
            == f"word={sample.attrs['word']}, font={sample.attrs['font']}, background=white"
        )
    assert "--judge exact_matching" in (vlm_dir / "README.md").read_text()


def test_vlmevalkit_shares_images_between_prompts(tmp_path: Path) -> None:
    out = tmp_path / "pc"
    assert (
        cli(
            "export",
            "vlmevalkit",
            "--task",
            "global-color",
            "--task",
            "part-attribution",
            "--out",
            str(out),
        )
        == 0
    )
    raw = pd.read_csv(out / "colorbench_part_attribution.tsv", sep="\t", dtype=str)
    assert (raw["image"].str.len() <= 64).sum() == len(raw) // 2  # 2 prompts per image
    resolved = read_tsv(out / "colorbench_part_attribution.tsv")
    pairs = resolved.groupby("sample_id")["image"].nunique()
    assert (pairs == 1).all()


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv"])
def test_vlmevalkit_import_equals_colorbench_run(vlm_dir, own, tmp_path, suffix) -> None:
    answers = ideal_answers(own)
    pred = read_tsv(vlm_dir / "colorbench_stroop_white.tsv").drop(columns="image")
    pred["index"] = pred["index"].astype(int)
    pred["samples"], pred["seed"] = pred["samples"].astype(int), pred["seed"].astype(int)
    pred["prediction"] = [answers[k] for k in zip(pred["sample_id"], pred["prompt"], strict=True)]
    path = tmp_path / f"M_colorbench_stroop_white{suffix}"
    if suffix == ".xlsx":
        pred.to_excel(path, index=False)
    else:
        pred.to_csv(path, sep="\t", index=False)
    out = tmp_path / "results"
    assert (
        cli("import", "vlmevalkit", str(path), "--model", "m", "--task", TASK, "--out", str(out))
        == 0
    )
    assert_same_result(out / "m" / TASK, own)
    assert (
        json.loads((out / "m" / TASK / "summary.json").read_text())["provenance"]["source_harness"]
        == "VLMEvalKit"
    )


# --------------------------------------------------------------------------- bad input
def error_line(capsys, *argv: str) -> str:
    assert cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_export_refuses_a_folder_that_is_not_empty(tmp_path, capsys) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    err = error_line(capsys, "export", "lmms-eval", "--task", TASK, "--out", str(tmp_path / "x"))
    assert "not an empty folder" in err
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["keep.txt"]


def test_failed_export_leaves_nothing(tmp_path, monkeypatch) -> None:
    from colorbench.harness import vlmevalkit

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")
        yield

    monkeypatch.setattr(vlmevalkit, "items", broken)
    with pytest.raises(RuntimeError):
        cli("export", "vlmevalkit", "--task", TASK, "--out", str(tmp_path / "x"))
    assert list(tmp_path.iterdir()) == []


def test_truncated_jsonl_is_one_line(lmms_dir, own, tmp_path, capsys) -> None:
    log = lmms_log(lmms_dir, ideal_answers(own), tmp_path / "s.jsonl")
    lines = log.read_text().count("\n")
    log.write_bytes(log.read_bytes()[:-40])
    out = tmp_path / "results"
    err = error_line(
        capsys, "import", "lmms-eval", str(log), "--model", "m", "--task", TASK, "--out", str(out)
    )
    assert f"line {lines} " in err and "truncated" in err
    assert not out.exists()


def test_import_of_the_wrong_task_or_harness(lmms_dir, vlm_dir, own, tmp_path, capsys) -> None:
    log = lmms_log(lmms_dir, ideal_answers(own), tmp_path / "s.jsonl")
    common = ("--model", "m", "--out", str(tmp_path / "r"))
    err = error_line(capsys, "import", "lmms-eval", str(log), "--task", "stroop-colored", *common)
    assert "holds colorbench task 'stroop-white'" in err and "--task stroop-white" in err
    err = error_line(capsys, "import", "vlmevalkit", str(log), "--task", TASK, *common)
    assert "neither .xlsx nor .tsv" in err
    tsv = vlm_dir / "colorbench_stroop_white.tsv"
    err = error_line(capsys, "import", "vlmevalkit", str(tsv), "--task", TASK, *common)
    assert "no 'prediction' column" in err
    err = error_line(capsys, "import", "lmms-eval", str(tsv), "--task", TASK, *common)
    assert "line 1" in err
    assert not (tmp_path / "r").exists()


def test_rows_that_do_not_join_are_counted_and_refused(lmms_dir, own, tmp_path, capsys) -> None:
    log = lmms_log(lmms_dir, ideal_answers(own), tmp_path / "s.jsonl")
    lines = log.read_text().splitlines()
    common = ("--model", "m", "--task", TASK, "--out", str(tmp_path / "r"))
    bad = [line.replace('"stroop-white/7/0"', '"stroop-white/700/0"') for line in lines]
    bad[3] = bad[3].replace('"prompt": "font"', '"prompt": "nonsense"')
    log.write_text("\n".join(bad) + "\n")
    err = error_line(capsys, "import", "lmms-eval", str(log), *common)
    assert f"2 of {len(lines)} rows" in err and "do not join" in err
    log.write_text("\n".join(lines[:-3] + lines[:1]) + "\n")
    err = error_line(capsys, "import", "lmms-eval", str(log), *common)
    assert f"{len(lines) - 3} of the {len(lines)}" in err and "3 missing, 1 repeated" in err
    assert not (tmp_path / "r").exists()


def test_import_never_overwrites_a_result(lmms_dir, own, tmp_path, capsys) -> None:
    log = lmms_log(lmms_dir, ideal_answers(own), tmp_path / "s.jsonl")
    out = tmp_path / "r"
    argv = ("import", "lmms-eval", str(log), "--model", "m", "--task", TASK, "--out", str(out))
    assert cli(*argv) == 0
    before = (out / "m" / TASK / "summary.json").read_bytes()
    assert "already holds a result" in error_line(capsys, *argv)
    assert (out / "m" / TASK / "summary.json").read_bytes() == before


def test_provenance_records_the_questions_the_harness_asked(lmms_dir, own, tmp_path) -> None:
    """An export made with older wording records that wording, not today's question form."""
    log = lmms_log(lmms_dir, ideal_answers(own), tmp_path / "s.jsonl")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("".join(json.dumps({**r, "input": "Old wording?"}) + "\n" for r in records))
    out = tmp_path / "r"
    assert (
        cli("import", "lmms-eval", str(log), "--model", "m", "--task", TASK, "--out", str(out)) == 0
    )
    prov = json.loads((out / "m" / TASK / "summary.json").read_text())["provenance"]
    assert prov["prompts"] == {"font": "Old wording?"}
