"""Generative-VLM scoring speed (hf-vlm) on a random ~50M-parameter Qwen2-VL-like model.

In one run on one machine this measures

1. **shared prefix vs naive**: the K = 11 answers' log-likelihoods for a batch of Stroop
   images by ``HFVLMAdapter.loglikelihood`` (one pass over image + question, the KV cache
   repeated for the 11 right-padded answers) against ``loglikelihood_naive`` (one full
   forward pass over image + question + answer per answer); the scores must agree to
   1e-4 and the ratio is the speed-up;
2. **end to end vs the model's own forward passes**: ``colorbench.api.evaluate`` of the
   model saved as a folder (``hf-vlm:<folder>``, loaded as a downloaded checkpoint) on
   stroop-white, timed by the run's own clock (rendering, preprocessing, scoring,
   Parquet, tables, figures; model loading excluded), against the same model's prefix and
   answer forward passes alone on the same batches with inputs prepared beforehand.

Times are CPU seconds of this process (``time.process_time``) with one torch thread, the
fastest of ``--repeats`` runs, the two paths of each ratio taking turns: the development
machine's two cores are shared, and there wall-clock time swings by 3x with other jobs
and idle OpenMP threads spin on CPU time. The end-to-end figure includes loading the
model from the folder. Rates are images per CPU-second; read the ratios, measured in one
run. Example::

    python bench/bench_vlm.py                  # writes bench/RESULTS-vlm.md
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import transformers
from machine import machine

from colorbench.api import evaluate, make_config
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.plugins.hfvlm.adapter import HFVLMAdapter, quiet_transformers
from colorbench.plugins.hfvlm.load import create_adapter
from colorbench.plugins.hfvlm.tiny import qwen_vl
from colorbench.stimuli.stroop import StroopWhiteSet
from colorbench.tasks import questions

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = ROOT / "bench" / "RESULTS-vlm.md"
#: ~50M parameters: 8 text layers of width 512 (vocabulary 32,000), 4 vision layers of 256
TEXT = {
    "hidden_size": 512,
    "intermediate_size": 1536,
    "num_hidden_layers": 8,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "vocab_size": 32_000,
    "initializer_range": 0.02,
}
VISION = {"depth": 4, "embed_dim": 256, "hidden_size": 512, "num_heads": 4}
MROPE = (16, 8, 8)  # half the head size (64 / 2), split over time, height, width
NAMES = DEFAULT_PALETTE.names


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="images per likelihood call")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (fastest counts)")
    parser.add_argument("--samples", type=int, default=1, help="stroop-white samples")
    parser.add_argument("--batch-size", type=int, default=16, help="end-to-end batch size")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    return parser.parse_args(argv)


def build(folder: Path) -> HFVLMAdapter:
    """The random model, saved to ``folder`` and loaded back as ``hf-vlm:<folder>`` (so the
    forward passes timed alone are those of the very model the run uses)."""
    config, processor = qwen_vl("qwen2_vl", TEXT, VISION, MROPE, max_pixels=224 * 224)
    torch.manual_seed(0)
    transformers.Qwen2VLForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return create_adapter(f"hf-vlm:{folder}", precision="fp32")


def cpu_seconds(fn) -> tuple[float, object]:
    """CPU seconds of one call, and its result."""
    start = time.process_time()
    result = fn()
    return time.process_time() - start, result


def shared_vs_naive(adapter: HFVLMAdapter, images: torch.Tensor, repeats: int) -> dict:
    question = questions.FONT
    adapter.loglikelihood(images[:1], question, NAMES)  # warm up
    shared_times, naive_times = [], []
    for _ in range(repeats):  # taking turns, so both see the same machine
        seconds, shared = cpu_seconds(lambda: adapter.loglikelihood(images, question, NAMES))
        shared_times.append(seconds)
        seconds, naive = cpu_seconds(lambda: adapter.loglikelihood_naive(images, question, NAMES))
        naive_times.append(seconds)
    shared_s, naive_s = min(shared_times), min(naive_times)
    return {
        "images": len(images),
        "shared_s": shared_s,
        "naive_s": naive_s,
        "speedup": naive_s / shared_s,
        "max_abs_diff": float((shared.total - naive.total).abs().max()),
        "answer_tokens": shared.tokens.tolist(),
    }


def end_to_end(folder: Path, out: Path, samples: int, batch_size: int) -> dict:
    model_id = f"hf-vlm:{folder}"
    config = make_config(
        model_id, "stroop-white", samples, batch_size=batch_size, out=out, quiet=True
    )
    seconds, results = cpu_seconds(lambda: evaluate(config, load_plugins()))
    return {"images": len(results[0].predictions), "seconds": seconds}


def forward_only(adapter: HFVLMAdapter, samples: int, batch_size: int) -> dict:
    """The model's own prefix + answers passes on the same batches, inputs made beforehand."""
    stimuli = StroopWhiteSet(DEFAULT_PALETTE, seed=0)
    size = stimuli.size(samples)
    tokens = adapter.answer_tokens(questions.FONT, tuple(NAMES))
    ids = torch.nn.utils.rnn.pad_sequence([torch.tensor(a) for a in tokens.ids], batch_first=True)
    prepared = []
    for start in range(0, size, batch_size):
        batch = stimuli.render(stimuli.samples(start, min(start + batch_size, size), samples))
        inputs = adapter.inputs(batch.images, questions.FONT)
        positions = adapter._answer_positions(inputs, ids.shape[1], len(NAMES))
        prepared.append((inputs, positions))
    return {"images": size, "seconds": cpu_seconds(lambda: passes(adapter, prepared, ids))[0]}


def passes(adapter: HFVLMAdapter, prepared: list, ids: torch.Tensor) -> None:
    """The prefix pass and the answers pass of every prepared batch, nothing else."""
    with torch.inference_mode():
        for inputs, positions in prepared:
            out = adapter.model(**inputs, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            cache.batch_repeat_interleave(len(NAMES))
            rows = inputs["input_ids"].shape[0] * len(NAMES)
            adapter.model(
                input_ids=ids.repeat(inputs["input_ids"].shape[0], 1),
                past_key_values=cache,
                position_ids=positions,
                attention_mask=torch.ones(
                    rows, inputs["input_ids"].shape[1] + ids.shape[1], dtype=torch.long
                ),
            )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    quiet_transformers()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "qwen2-vl-50m"
        adapter = build(folder)
        params = sum(p.numel() for p in adapter.model.parameters())
        stimuli = StroopWhiteSet(DEFAULT_PALETTE, seed=0)
        images = stimuli.render(stimuli.samples(0, args.batch, 1)).images
        ratio1 = shared_vs_naive(adapter, images, args.repeats)
        runs = []
        for repeat in range(args.repeats):  # taking turns, the fastest of each counts
            out = Path(tmp) / f"results-{repeat}"
            runs.append(
                (
                    end_to_end(folder, out, args.samples, args.batch_size),
                    forward_only(adapter, args.samples, args.batch_size),
                )
            )
        e2e = min((r[0] for r in runs), key=lambda r: r["seconds"])
        bare = min((r[1] for r in runs), key=lambda r: r["seconds"])
    e2e_rate, bare_rate = e2e["images"] / e2e["seconds"], bare["images"] / bare["seconds"]
    lines = [
        "# hf-vlm scoring speed (bench/bench_vlm.py)",
        "",
        f"Command: `{' '.join(['python bench/bench_vlm.py', *(argv or sys.argv[1:])])}`  ",
        f"Machine: {machine()}  ",
        f"Versions: torch {torch.__version__}, transformers {transformers.__version__}  ",
        f"Model: random Qwen2-VL-like, {params / 1e6:.1f}M parameters (text 8 x 512, vocabulary "
        "32,000; vision 4 x 256); Stroop cards 224 x 224 (64 image tokens); fp32, CPU.",
        "",
        "## 1. Shared prefix vs one full pass per answer",
        "",
        "| images | answers (tokens) | shared prefix (CPU s) | naive (CPU s) | speed-up "
        "| max abs diff |",
        "|---|---|---|---|---|---|",
        f"| {ratio1['images']} | 11 ({'/'.join(map(str, ratio1['answer_tokens']))}) | "
        f"{ratio1['shared_s']:.3f} | {ratio1['naive_s']:.3f} | **{ratio1['speedup']:.1f}x** | "
        f"{ratio1['max_abs_diff']:.1e} |",
        "",
        "## 2. End to end vs the model's own forward passes",
        "",
        "| path | images | CPU seconds | images / CPU-second |",
        "|---|---|---|---|",
        f"| colorbench end to end (`hf-vlm:<folder>`, stroop-white) | {e2e['images']} | "
        f"{e2e['seconds']:.2f} | {e2e_rate:.2f} |",
        f"| prefix + answer forward passes only | {bare['images']} | {bare['seconds']:.2f} | "
        f"{bare_rate:.2f} |",
        "",
        f"End to end runs at **{e2e_rate / bare_rate:.2f}x** the forward passes alone.",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
