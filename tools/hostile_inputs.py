"""Issue 16's cases for ``tools/bad_inputs.py``: hostile results folders and misbehaving plugins.

:func:`make_fixtures` builds, in the scratch directory, the plugin modules, planted symlinks,
damaged results and palettes the :data:`CASES` point at; a ``victim`` folder outside every
``--out`` is fingerprinted before and after (:func:`fingerprint`), to show that nothing
outside ``--out`` was written or removed. Disk-full and read-only cases need small tmpfs
mounts (root); without them those cases say they were skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import textwrap
import zlib
from contextlib import ExitStack, contextmanager
from pathlib import Path

from PIL import Image

PLUGINS = {
    "nan_scores.py": """
        import torch
        import colorbench
        from colorbench.plugin.adapter import ModelAdapter

        class NanScores(ModelAdapter):
            def __init__(self, model_id, **options):
                self.model_id, self.device = model_id, torch.device("cpu")

            def score(self, images, texts):
                return torch.full((len(images), len(texts)), float("nan"))

        class NumpyScores(NanScores):
            def score(self, images, texts):
                return torch.rand(len(images), len(texts)).numpy()

        class TransposedScores(NanScores):
            def score(self, images, texts):
                return torch.rand(len(texts), len(images))

        @colorbench.hookimpl
        def colorbench_register_models(register):
            register("nan-scores", NanScores)
            register("numpy-scores", NumpyScores)
            register("transposed-scores", TransposedScores)
    """,
    "greedy.py": """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_models(register):
            register("r*", lambda model_id, **options: None)
    """,
    "escaping.py": """
        import colorbench

        @colorbench.hookimpl
        def colorbench_register_stimulus_sets(register):
            register("../../../victim", lambda **options: None)
    """,
    "exiting_reporter.py": """
        import sys
        import colorbench

        @colorbench.hookimpl
        def colorbench_result_written(model_id, task, summary, path):
            sys.exit(0)
    """,
}

RUN = "colorbench run --model ideal-observer --task stroop-white -q"
FAKE = "colorbench -p fake_support run --model fake-majority --task fake-global --samples 20"
#: a run of the test suite's fake plugin, slowed to 1 s per batch of 256 (4 s per chunk) so
#: that SIGINT, 11 s in (start-up takes 3-5 s here), lands in its second chunk
SLOW = f"COLORBENCH_FAKE_DELAY=1 timeout --preserve-status -s INT 11 {FAKE} --batch-size 256 -q"


def bomb_png(path: Path, side: int = 100_000) -> None:
    """A valid 1x1 PNG whose header claims ``side`` x ``side`` pixels."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


def summary(results: Path, folder: str, model: str, task: str, **headline) -> None:
    """A hand-made summary.json in ``results/folder/task``."""
    head = {"metric": "correct %", "value": 50.0, "n": 100, "ci_low": 40.0, "ci_high": 60.0}
    doc = {
        "schema": "colorbench.summary/1",
        "model": model,
        "task": task,
        "provenance": {"samples": 1, "weights_sha256": "random"},
        "summary": {"task": task, "headline": {**head, **headline}, "tables": {}},
        "files": {},
    }
    (results / folder / task).mkdir(parents=True, exist_ok=True)
    (results / folder / task / "summary.json").write_text(json.dumps(doc))


@contextmanager
def tmpfs(path: Path, size: str, readonly: bool = False):
    """Mount a small tmpfs at ``path`` (yields False when this machine does not allow it)."""
    path.mkdir(parents=True)
    options = f"size={size}" + (",ro" if readonly else "")
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(path)], check=False)


def make_fixtures(work: Path, plugins: Path, stack: ExitStack) -> dict[str, str]:
    """Everything the cases point at; mounts are undone when ``stack`` closes."""
    for name, body in PLUGINS.items():
        (plugins / name).write_text(textwrap.dedent(body))
    victim = work / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("must survive")
    lock_dir = work / "symlinked" / "ideal-observer"
    lock_dir.mkdir(parents=True)
    (lock_dir / ".lock").symlink_to(victim / "precious.txt")
    summary(work / "foreign", "ideal-observer", "pixel-majority", "stroop-white")
    board = work / "board-results"
    summary(board, "value-150", "value-150", "global-color", value=150, ci_low=140, ci_high=160)
    summary(board, "low-above-high", "low-above-high", "global-color", ci_low=70.0, ci_high=30.0)
    summary(board, "n-zero", "n-zero", "global-color", n=0)
    summary(board, "openai-RN50", "random-RN50", "global-color")
    summary(board, "formula", "formula", "=HYPERLINK(1)")
    summary(board, "\x1b]0;pwned\x07", "x", "global-color")
    palettes = work / "palettes"
    palettes.mkdir()
    white = {"name": "white", "rgb": [255, 255, 255], "chromatic": False}
    for name, rgb in (("rgb300", [300, 0, 0]), ("two", [10, 20])):
        colors = [white, {"name": "red", "rgb": rgb, "chromatic": True}]
        (palettes / f"{name}.json").write_text(json.dumps({"colors": colors}))
    (palettes / "latin1.json").write_bytes('{"name": "café"}'.encode("latin-1"))
    bombs = work / "bomb-images"
    bombs.mkdir()
    bomb_png(bombs / "bomb.png")
    Image.new("RGB", (64, 64), (200, 30, 30)).save(bombs / "red.png")
    (work / "sheet.png").mkdir()
    (work / "afile").write_text("not a folder")
    stale = work / "exported" / "images"
    stale.mkdir(parents=True)
    (stale / "999_9.png").write_bytes(b"stale")
    full, readonly, full_board = work / "full", work / "readonly", work / "full-board"
    fixtures = {
        "work": str(work),
        "full": str(full) if stack.enter_context(tmpfs(full, "256k")) else "",
        "readonly": str(readonly) if stack.enter_context(tmpfs(readonly, "64k", True)) else "",
        "full_board": "",
    }
    if stack.enter_context(tmpfs(full_board, "64k")):
        subprocess.run(["dd", "if=/dev/zero", f"of={full_board}/filler", "bs=1k", "count=52"],
                       capture_output=True)  # fmt: skip
        fixtures["full_board"] = str(full_board)
    return fixtures


def fingerprint(folder: Path) -> str:
    """sha256 over every path and file content under ``folder`` (symlinks not followed)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
    return digest.hexdigest()


CASES: list[tuple[str, str]] = [
    # 1: symlinks
    ("a symlinked .lock in the results", f"{RUN} --out {{work}}/symlinked"),
    # 2: a folder holding another model's results
    ("results folder holding another model's results", f"{RUN} --out {{work}}/foreign"),
    # 3: adapter output
    ("adapter returns NaN scores", "colorbench -p nan_scores run --model nan-scores "
     "--task stroop-white --out {work}/nan"),
    ("adapter returns a numpy array", "colorbench -p nan_scores run --model numpy-scores "
     "--task stroop-white --out {work}/nan"),
    ("adapter returns [K, B] scores", "colorbench -p nan_scores run --model transposed-scores "
     "--task stroop-white --out {work}/nan"),
    # 4: overlapping patterns
    ("plugin pattern 'r*' overlapping random-*", "colorbench -p greedy list models"),
    # 5: resume with other settings
    ("finished fp32 result, rerun in bf16",
     f"{RUN} --precision fp32 --out {{work}}/prec && {RUN} --precision bf16 --out {{work}}/prec"
     " && grep -h '\"dtype\"' {work}/prec/ideal-observer/stroop-white/summary.json"),
    ("interrupted fp32 run resumed in bf16",
     f"{SLOW} --out {{work}}/resume; {FAKE} --out {{work}}/resume --precision bf16"),
    # 6: stored state
    ("truncated chunk in an interrupted run",
     f"{SLOW} --out {{work}}/chunk; "
     "truncate -c -s 300 {work}/chunk/fake-majority/.work/fake-squares/chunk-000000.parquet; "
     f"{FAKE} --out {{work}}/chunk -q"),
    ("corrupt predictions.parquet of a finished result",
     f"{RUN} --out {{work}}/pred && truncate -s 100 "
     "{work}/pred/ideal-observer/stroop-white/predictions.parquet && "
     f"{RUN} --out {{work}}/pred"),
    ("summary.json with an unknown headline key",
     f"{RUN} --out {{work}}/extra && sed -i 's/\"n\":/\"surprise\": 1, \"n\":/' "
     "{work}/extra/ideal-observer/stroop-white/summary.json && "
     f"{RUN} --out {{work}}/extra"),
    # 7: names used as paths
    ("plugin stimulus set named ../../../victim", "colorbench -p escaping list sets"),
    # 8: one line, never a traceback
    ("--out is an existing file", f"{RUN} --out {{work}}/afile"),
    ("--out on a read-only file system", f"{RUN} --out {{readonly}}/results"),
    ("--seed -1", f"{RUN} --seed -1 --out {{work}}/seed"),
    ("--seed 2**63", f"{RUN} --seed 9223372036854775808 --out {{work}}/seed"),
    ("hf-hub id with a revision", "colorbench run --model hf-hub:org/repo@main "
     "--task stroop-white --out {work}/hub"),
    ("palette with rgb 300", f"{RUN} --palette {{work}}/palettes/rgb300.json --out {{work}}/p"),
    ("palette with two rgb values", f"{RUN} --palette {{work}}/palettes/two.json --out {{work}}/p"),
    ("palette that is not UTF-8",
     f"{RUN} --palette {{work}}/palettes/latin1.json --out {{work}}/p"),
    ("decompression-bomb PNG in --images",
     "colorbench analyze neurons --model random-RN50 --images {work}/bomb-images --layers layer4"
     " --top-k 1 --max-images 2 --quiet --out {work}/bomb-out"),
    ("--sheet is a directory", "colorbench generate shapes --sheet {work}/sheet.png"),
    ("--device cuda:abc", f"{RUN} --device cuda:abc --out {{work}}/dev"),
    ("disk full during a run",
     "colorbench run --model ideal-observer --task all -q --out {full}/results"),
    ("disk full while writing the leaderboard",
     "colorbench leaderboard --results {work}/pred --out {full_board}/lb/README.md"),
    # 9: the leaderboard trusts nothing
    ("leaderboard over impossible, misplaced and hostile summaries",
     "colorbench leaderboard --results {work}/board-results --out {work}/lb/README.md -q"),
    ("leaderboard --out ending in .csv",
     "colorbench leaderboard --results {work}/pred --out {work}/lb/leaderboard.csv"),
    # 10: generate
    ("generate --samples 10001", "colorbench generate shapes --samples 10001 --out {work}/g"),
    ("generate into a non-empty folder", "colorbench generate stroop-white --out {work}/exported"),
    ("generate --overwrite removes stale images",
     "colorbench generate stroop-white --out {work}/exported --overwrite -q && "
     "test ! -e {work}/exported/images/999_9.png && echo stale 999_9.png removed"),
    ("generate interrupted",
     "timeout -s INT 6 colorbench generate shapes --samples 20 --out {work}/gen-int -q; "
     "wc -l < {work}/gen-int/metadata.csv"),
    # 11: small ones
    ("interrupted with --no-resume: the hint", f"{SLOW} --out {{work}}/hint --no-resume"),
    ("reporter plugin calls sys.exit(0)", "colorbench -p exiting_reporter run "
     "--model ideal-observer --task stroop-white -q --out {work}/rep"),
    ("--weights for a reference model", f"{RUN} --weights {{work}}/full.pt --out {{work}}/w"),
]  # fmt: skip

#: cases whose command needs a tmpfs mount, by the fixture naming it
MOUNTS = {"{readonly}": "readonly", "{full}": "full", "{full_board}": "full_board"}


def command(template: str, fixtures: dict[str, str]) -> str:
    """The shell command of a case, or an ``echo`` saying why it was skipped."""
    for marker, name in MOUNTS.items():
        if marker in template and not fixtures[name]:
            return "echo 'skipped: needs root to mount a small tmpfs'"
    return template.format(**fixtures)
