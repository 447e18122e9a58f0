"""Served likelihood (vLLM's ``prompt_logprobs``): its cost against hf-vlm in-process.

In one run on one machine, with one tiny random Qwen2.5-VL folder (plugins/hfvlm/tiny.py):

1. ``colorbench run --model hf-vlm:<folder> --scoring likelihood --task stroop-white
   --samples N`` in-process (shared-prefix KV cache: one prefix pass per image);
2. the same through ``served:<folder>@<url> --scoring likelihood`` against
   ``tests/served_support.VLLMStub`` (vLLM's JSON, one full forward pass per request, one
   request at a time, 127.0.0.1): requests per image and question, wall time, the largest
   score difference to (1), and the store's size against the responses as received;
3. the same served command again, its result removed: requests sent (only the probe).

The stub's compute is a full pass per request, as vLLM's is for prompt log-probabilities
(no prefix cache); a real server's speed is not measured here, read the counts and ratios.
Example::

    python bench/bench_served_likelihood.py   # writes bench/RESULTS-served-likelihood.md
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import transformers
from machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from served_support import VLLMStub  # noqa: E402

from colorbench.cli.app import main as colorbench  # noqa: E402
from colorbench.names import model_slug  # noqa: E402
from colorbench.plugins.hfvlm.load import create_adapter  # noqa: E402
from colorbench.plugins.hfvlm.tiny import tiny_model  # noqa: E402
from colorbench.plugins.served.store import store_path  # noqa: E402

DEFAULT_RESULTS = ROOT / "bench" / "RESULTS-served-likelihood.md"


def run(out: Path, model: str, stored_as: str, samples: int) -> tuple[pd.DataFrame, float]:
    argv = ["run", "--model", model, "--task", "stroop-white", "--samples", str(samples)]
    argv += ["--scoring", "likelihood", "--keep-scores", "--out", str(out), "-q"]
    start = time.monotonic()
    assert colorbench(argv) == 0
    wall = time.monotonic() - start
    table = out / model_slug(stored_as) / "stroop-white" / "predictions.parquet"
    frame = pd.read_parquet(table).sort_values(["sample_id", "prompt"]).reset_index(drop=True)
    return frame, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=1, help="stroop-white samples (90 each)")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-served-lk-"))
    folder = work / "tiny-qwen2_5_vl"
    model, processor = tiny_model("qwen2_5_vl", seed=0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    loaded = create_adapter(f"hf-vlm:{folder}")
    sizes: list[int] = []
    stub = VLLMStub(loaded.model, loaded.processor, name=str(folder))
    complete = stub.complete
    stub.complete = lambda body: sizes.append(len(json.dumps(r := complete(body)))) or r
    out = work / "out"
    try:
        truth, in_process = run(out, f"hf-vlm:{folder}", f"hf-vlm:{folder}", args.samples)
        served = f"served:{folder}@{stub.url}"
        mine, remote = run(out, served, f"{served}@likelihood", args.samples)
        asked = len(stub.bodies)
        result = out / model_slug(f"{served}@likelihood") / "stroop-white"
        (result / "summary.json").unlink()
        _, again = run(out, served, f"{served}@likelihood", args.samples)
        resumed = len(stub.bodies) - asked
    finally:
        stub.close()
    scores = [c for c in truth.columns if c.startswith("score_")]
    worst = float((mine[scores] - truth[scores]).abs().max().max())
    same = bool((mine["answer"] == truth["answer"]).all())
    cards = len(truth)
    with sqlite3.connect(store_path(out, str(folder))) as db:
        store = db.execute("SELECT SUM(LENGTH(response)) FROM responses").fetchone()[0]
    shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Served likelihood: cost against hf-vlm in-process (bench/bench_served_likelihood.py)",
        "",
        "Command: `python bench/bench_served_likelihood.py`  ",
        f"Machine: {machine()}  ",
        f"Versions: transformers {transformers.__version__}; server: tests/served_support.py "
        "VLLMStub (vLLM's JSON, one full pass per request, one at a time)  ",
        f"Model: tiny random Qwen2.5-VL folder; stroop-white --samples {args.samples} "
        f"({cards} cards, one question each)",
        "",
        "| | hf-vlm in-process | served (VLLMStub) |",
        "|---|---|---|",
        f"| requests | - | {asked} ({(asked - 1) / cards:.0f} per card + 1 probe) |",
        f"| command wall s | {in_process:.1f} | {remote:.1f} (**{remote / in_process:.1f}x**) |",
        f"| same answers, max score difference | - | {same}, {worst:.1e} |",
        f"| response bytes received / kept in the store | - | {sum(sizes):,} / {store:,} "
        f"(**{sum(sizes) / store:.1f}x** smaller kept) |",
        f"| the same command again: requests | - | {resumed} (the probe), {again:.1f} s |",
        "",
        "Each card costs 1 + the palette's spellings requests (the prompt alone, then each "
        "spelling as an open assistant turn), each a full prefill: vLLM computes prompt "
        "log-probabilities without its prefix cache, so a real server pays the image encoder "
        "and prefill per answer, where hf-vlm pays one prefix pass per image. The store keeps "
        "each prompt's last 64 tokens' log-probabilities (the answer lies there) and drops the "
        "top-1 entries and decoded texts; the tiny prompts (~60 tokens) are shorter than 64, "
        "so with a real model's hundreds of image tokens per prompt the cut is larger.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
