"""Generative-VLM speed (hf-vlm): shared prefixes, and colorbench against lmms-eval.

In one run on one machine this measures

1. **shared prefix vs naive**: the K = 11 answers' log-likelihoods for a batch of Stroop
   images by ``HFVLMAdapter.loglikelihood`` (one pass over image + question, then the 11
   answers packed as one trie per image under a tree attention mask) against
   ``loglikelihood_naive`` (one full forward pass over image + question + answer per
   answer) on a random ~60M-parameter Qwen2-VL-like model; the scores must agree to 1e-4
   and the ratio is the speed-up;
2. **end to end vs the model's own forward passes**: ``colorbench.api.evaluate`` of that
   model saved as a folder (``hf-vlm:<folder>``) on stroop-white, against the same model's
   prefix and packed-answers forward passes alone on the same batches, inputs prepared
   beforehand;
3. **one image prefix for all questions (prompt-choice)**: the harness's
   :class:`~colorbench.runner.scoring.Scorer` answering prompt-choice's five questions of
   the same Stroop cards by likelihood in three ways: as before the shared image prefix
   existed (one prefix pass per question, the KV cache repeated per answer and the padded
   answers scored with the output head at every position: :class:`BeforeSharedPrefix`,
   hf-vlm's ``loglikelihood`` at ``git show aa607a1^``), one prefix pass per question with
   today's packed answers, and one image prefix continued by every question; images per
   CPU-second and the largest score difference. On a LLaVA-1.5-shaped model (CLIP at 336
   pixels: LLaVA-1.5's 576 image tokens; its tokenizer merges the questions' words, one
   token a word as in a real 32,000-word vocabulary) and on the Qwen2-VL-like model of
   1-2 (224 pixels: 64 image tokens), so the dependence on the image's share shows;
4. **colorbench vs lmms-eval's own model class** (``llava_hf``) on identical generation
   work: the same tiny random LLaVA folder, stroop-white exported by ``colorbench export
   lmms-eval`` (same stimuli, same questions), greedy, 10 new tokens; each tool run as a
   command (start-up and model loading included) with one thread, wall seconds; answers
   compared after ``colorbench import lmms-eval`` joins lmms-eval's log to the stimuli.
   lmms-eval lives in its own virtual environment (``--lmms-python``; its ~50 dependencies
   pin versions colorbench does not want), with colorbench installed there for the
   exported hooks.

Times 1-3 are CPU seconds of this process (``time.process_time``) with one torch thread,
the fastest of ``--repeats`` runs, the paths of each ratio taking turns: the development
machine's two cores are shared, and there wall-clock time swings by 3x with other jobs.
Read the ratios, measured in one run. The last two lines printed are the headline ratios
(read by an acceptance check). Example::

    python bench/bench_vlm.py                  # writes bench/RESULTS-vlm.md
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import transformers
from machine import machine

from colorbench.api import evaluate, make_config
from colorbench.names import model_slug
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.adapter import AnswerLogLikelihoods
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.plugins.hfvlm.adapter import HFVLMAdapter, _cut, _token_logprobs, quiet_transformers
from colorbench.plugins.hfvlm.load import create_adapter
from colorbench.plugins.hfvlm.tiny import llava, qwen_vl, tiny_model
from colorbench.plugins.hfvlm.tree import PREFIX_END, pack
from colorbench.runner.answers import parse_answer
from colorbench.runner.scoring import Scorer, ScoringMode
from colorbench.stimuli.stroop import StroopSet, StroopWhiteSet
from colorbench.tasks import questions
from colorbench.tasks.stroop_tasks import PromptChoice

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
#: LLaVA-1.5's vision side scaled down: a 4 x 256 CLIP tower at 336 pixels, 576 image tokens
CLIP = {"hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 4,
        "num_attention_heads": 4, "projection_dim": 256}  # fmt: skip
MROPE = (16, 8, 8)  # half the head size (64 / 2), split over time, height, width
NAMES = DEFAULT_PALETTE.names
#: new tokens per answer in section 4, for both tools
NEW_TOKENS = 10


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="images per likelihood call")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (fastest counts)")
    parser.add_argument("--samples", type=int, default=1, help="stroop-white samples")
    parser.add_argument("--batch-size", type=int, default=16, help="end-to-end batch size")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument(
        "--lmms-python",
        default=os.environ.get("LMMS_PYTHON", "/work/venv-lmms/bin/python"),
        help="python of a virtual environment with lmms-eval 0.7.3 and colorbench installed",
    )
    return parser.parse_args(argv)


def build(folder: Path) -> HFVLMAdapter:
    """The random model, saved to ``folder`` and loaded back as ``hf-vlm:<folder>`` (so the
    forward passes timed alone are those of the very model the run uses)."""
    config, processor = qwen_vl("qwen2_vl", TEXT, VISION, MROPE, max_pixels=224 * 224)
    torch.manual_seed(0)
    transformers.Qwen2VLForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return create_adapter(f"hf-vlm:{folder}", precision="fp32")


def build_llava(folder: Path) -> HFVLMAdapter:
    """A LLaVA-1.5-shaped random model (576 image tokens at 336 pixels, the text model of
    :func:`build`), its tokenizer merging prompt-choice's question words, as a folder."""
    words = {w for p in PromptChoice.prompts for w in re.findall(r"[A-Za-z]+", asked(p))}
    config, processor = llava(TEXT, CLIP, image_size=336, words=tuple(sorted(words)))
    torch.manual_seed(0)
    transformers.LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return create_adapter(f"hf-vlm:{folder}", precision="fp32")


def asked(prompt) -> str:
    """The question the Scorer puts for ``prompt`` in likelihood mode."""
    return prompt.asked(DEFAULT_PALETTE, "open")


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
    """The model's own prefix + packed answers passes on the same batches, inputs and the
    packed layout made beforehand."""
    stimuli = StroopWhiteSet(DEFAULT_PALETTE, seed=0)
    size = stimuli.size(samples)
    tokens = adapter.answer_tokens(questions.FONT, tuple(NAMES))
    packed = pack([()], [tokens.ids])
    kept = [i for i in packed.keep if i != PREFIX_END]
    prepared = []
    for start in range(0, size, batch_size):
        batch = stimuli.render(stimuli.samples(start, min(start + batch_size, size), samples))
        prepared.append(adapter.inputs(batch.images, questions.FONT))
    seconds, _ = cpu_seconds(lambda: passes(adapter, prepared, packed, kept))
    return {"images": size, "seconds": seconds}


def passes(adapter: HFVLMAdapter, prepared: list, packed, kept: list[int]) -> None:
    """The prefix pass and the packed answers pass of every prepared batch, nothing else."""
    with torch.inference_mode():
        for inputs in prepared:
            cache = adapter.model(**inputs, use_cache=True, logits_to_keep=1).past_key_values
            adapter._packed_pass(inputs, cache, packed, kept)


def prompt_choice(adapter: HFVLMAdapter, images: torch.Tensor, repeats: int) -> dict:
    """Scorer on prompt-choice's five questions: as before the shared image prefix, one
    prefix per question (today's answers pass), one image prefix for all questions."""
    prompts = list(PromptChoice.prompts)
    mode = ScoringMode("likelihood", "sum")
    ways = {"shared": adapter, "alone": PerQuestion(adapter), "before": BeforeSharedPrefix(adapter)}
    scorers = {
        name: Scorer(way, prompts, DEFAULT_PALETTE, {}, mode, keep_scores=True)
        for name, way in ways.items()
    }
    for scorer in scorers.values():
        scorer(images[:1])  # warm up
    times: dict[str, list[float]] = {name: [] for name in scorers}
    answers = {}
    for _ in range(repeats):  # taking turns, so all see the same machine
        for name, scorer in scorers.items():
            seconds, answers[name] = cpu_seconds(lambda scorer=scorer: scorer(images))
            times[name].append(seconds)
    shared = answers["shared"]
    diff = max(
        float(abs(a.scores - b.scores).max())
        for other in ("alone", "before")
        for a, b in zip(shared, answers[other], strict=True)
    )
    same = all(
        (a.answer == b.answer).all()
        for other in ("alone", "before")
        for a, b in zip(shared, answers[other], strict=True)
    )
    best = {name: min(t) for name, t in times.items()}
    prompt = adapter.inputs(images[:1], asked(prompts[0]))["input_ids"]
    image_tokens = int((prompt == adapter.image_token_id).sum())
    return {"images": len(images), "questions": len(prompts), "image_tokens": image_tokens,
            "seconds": best, "speedup": best["before"] / best["shared"],
            "sharing": best["alone"] / best["shared"], "max_abs_diff": diff,
            "same_answers": same}  # fmt: skip


#: section 3's paths, as the table names them
PATHS = {
    "before": "before the shared image prefix: one prefix pass per question, answers padded, "
    "head at every position",
    "alone": "one prefix pass per question, answers packed (today's `loglikelihood`)",
    "shared": "one image prefix continued by every question, answers packed",
}


class PerQuestion:
    """The adapter without its shared image prefix: one prefix pass per question."""

    def __init__(self, adapter: HFVLMAdapter) -> None:
        self.adapter, self.model_id, self.device = adapter, adapter.model_id, adapter.device
        self.scorings = adapter.scorings

    def loglikelihood(self, images, question, answers):
        return self.adapter.loglikelihood(images, question, answers)


class BeforeSharedPrefix(PerQuestion):
    """hf-vlm's likelihood before the shared image prefix (``git show
    aa607a1^:plugins/hfvlm/adapter.py``), for the baseline: per question one pass over the
    prompt, the KV cache repeated per answer, the right-padded answers in one pass with the
    output head at every position."""

    def loglikelihood(self, images, question, answers):
        adapter = self.adapter
        tokens = adapter.answer_tokens(question, tuple(answers))
        prefix = _cut(adapter.inputs(images, question), tokens.drop)
        k = len(tokens.ids)
        with torch.inference_mode():
            out = adapter.model(**prefix, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            cache.batch_repeat_interleave(k)
            rows = [torch.tensor(a) for a in tokens.ids]
            ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
            mask = torch.nn.utils.rnn.pad_sequence([torch.ones_like(r) for r in rows], True)
            batch, length = prefix["input_ids"].shape
            ids = ids.repeat(batch, 1)  # row b*K + k
            kwargs = {"attention_mask": torch.ones(batch * k, length + ids.shape[1], dtype=int)}
            if adapter.family.mrope:
                start = length + adapter._rope_deltas(prefix) + torch.arange(ids.shape[1])
                positions = start.repeat_interleave(k, dim=0)
                kwargs["position_ids"] = positions.unsqueeze(0).expand(3, -1, -1)
            later = adapter.model(input_ids=ids, cache=cache, use_cache=True, **kwargs)
            first = out.logits[:, -1:].repeat_interleave(k, dim=0)
            logits = torch.cat([first, later.logits[:, :-1]], dim=1)
            total = _token_logprobs(logits, ids, mask.repeat(batch, 1)).view(batch, k)
        return AnswerLogLikelihoods(total, mask.sum(dim=1))


def versus_lmms_eval(work: Path, lmms_python: str, batch_size: int) -> dict:
    """Wall seconds and answers of lmms-eval's llava_hf and colorbench on the same work."""
    folder = work / "tiny-llava"
    model, processor = tiny_model("llava", seed=0)
    processor.tokenizer.chat_template = processor.chat_template  # llava_hf reads the tokenizer's
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(work / "hf")}  # fmt: skip
    colorbench_cli = [sys.executable, "-m", "colorbench"]
    task = "stroop-white"
    export = work / "export"
    run([*colorbench_cli, "export", "lmms-eval", "--task", task, "--samples", "1", "--out",
         str(export), "-q"], env)  # fmt: skip
    lmms = [lmms_python, "-m", "lmms_eval", "--model", "llava_hf", "--model_args",
            f"pretrained={folder},device=cpu,device_map=cpu,dtype=float32",
            "--tasks", "colorbench_stroop_white", "--include_path", str(export),
            "--batch_size", "1", "--gen_kwargs", f"max_new_tokens={NEW_TOKENS}",
            "--output_path", str(work / "lmms"), "--log_samples"]  # fmt: skip
    lmms_s = run(lmms, env)
    ours = [*colorbench_cli, "run", "--model", f"hf-vlm:{folder}", "--task", task, "--samples",
            "1", "--scoring", "generate", "--max-new-tokens", str(NEW_TOKENS),
            "--batch-size", str(batch_size), "--out",
            str(work / "own"), "-q"]  # fmt: skip
    own_s = run(ours, env)
    (log,) = (work / "lmms").rglob("*_samples_colorbench_stroop_white.jsonl")
    run([*colorbench_cli, "import", "lmms-eval", str(log), "--model", "lmms-llava", "--task",
         task, "--out", str(work / "imported"), "-q"], env)  # fmt: skip
    keys = ["sample_id", "prompt"]
    theirs = pd.read_parquet(work / "imported" / "lmms-llava" / task / "predictions.parquet")
    stored = f"hf-vlm:{folder}@generate"
    own = pd.read_parquet(work / "own" / model_slug(stored) / task / "predictions.parquet")
    both = own.merge(theirs, on=keys, suffixes=("", "_lmms"))
    # answers parsed from each tool's text alike: colorbench marks a reply cut by the token
    # limit ``truncated`` whatever it says, which lmms-eval's log cannot tell
    parsed = {
        side: [parse_answer(t, NAMES) for t in both[f"response{side}"]] for side in ("", "_lmms")
    }
    return {"docs": len(theirs), "joined": len(both), "lmms_s": lmms_s, "own_s": own_s,
            "speedup": lmms_s / own_s,
            "same_answers": float(np.mean(np.equal(*parsed.values())) * 100),
            "same_text": float((both["response"].str.strip()
                                == both["response_lmms"].str.strip()).mean() * 100)}  # fmt: skip


def run(command: list[str], env: dict[str, str]) -> float:
    """Wall seconds of ``command``; its output only if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{command[:4]} failed:\n{done.stderr[-3000:]}")
    return time.perf_counter() - start


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
        cards = StroopSet(DEFAULT_PALETTE, seed=0)
        cards = cards.render(cards.samples(0, args.batch, 1)).images
        choice_qwen = prompt_choice(adapter, cards, args.repeats)
        del adapter
        big = build_llava(Path(tmp) / "llava-1.5-shaped")
        big_params = sum(p.numel() for p in big.model.parameters())
        choice = prompt_choice(big, cards, args.repeats)
        del big
        peer = versus_lmms_eval(Path(tmp), args.lmms_python, args.batch_size)
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
        "## 3. One image prefix for all of prompt-choice's questions",
        "",
        f"Scorer, likelihood, {choice['images']} Stroop cards x {choice['questions']} questions"
        " x 11 answers (several tokens each: the tiny tokenizers spell long colour names in "
        "letters). CPU seconds, the fastest of "
        f"{args.repeats}, paths taking turns. Models: LLaVA-1.5-shaped, "
        f"{big_params / 1e6:.1f}M parameters (CLIP 4 x 256 at 336 x 336 pixels: "
        f"{choice['image_tokens']} image tokens, as LLaVA-1.5; text as above; its tokenizer "
        "merges the questions' words, one token a word as in a real 32,000-word vocabulary, "
        "where the tiny tokenizer spends a token a letter); and the Qwen2-VL-like model above "
        f"({choice_qwen['image_tokens']} image tokens).",
        "",
        "| path | LLaVA-1.5-shaped: CPU s | images / CPU-s | Qwen2-VL-like: CPU s "
        "| images / CPU-s |",
        "|---|---|---|---|---|",
        *(
            f"| {label} | {choice['seconds'][name]:.2f} | "
            f"{choice['images'] / choice['seconds'][name]:.2f} | "
            f"{choice_qwen['seconds'][name]:.2f} | "
            f"{choice_qwen['images'] / choice_qwen['seconds'][name]:.2f} |"
            for name, label in PATHS.items()
        ),
        "",
        f"Shared image prefix vs before it existed: **{choice['speedup']:.2f}x** at "
        f"{choice['image_tokens']} image tokens ({choice_qwen['speedup']:.2f}x at "
        f"{choice_qwen['image_tokens']}); the sharing alone (same answers pass): "
        f"{choice['sharing']:.2f}x ({choice_qwen['sharing']:.2f}x). Largest score difference "
        f"{max(choice['max_abs_diff'], choice_qwen['max_abs_diff']):.1e}; same answers: "
        f"{choice['same_answers'] and choice_qwen['same_answers']}.",
        "",
        "## 4. colorbench vs lmms-eval `llava_hf`, same generation work",
        "",
        f"Tiny random LLaVA folder; stroop-white, {peer['docs']} documents, greedy, "
        f"{NEW_TOKENS} new tokens, one thread; each tool as a command (start-up and loading "
        "included); answers parsed from each tool's text by colorbench's parser.",
        "",
        "| tool | wall seconds |",
        "|---|---|",
        f"| lmms-eval 0.7.3 `--model llava_hf --batch_size 1` | {peer['lmms_s']:.1f} |",
        f"| colorbench `run --scoring generate --batch-size {args.batch_size}` | "
        f"{peer['own_s']:.1f} |",
        "",
        f"colorbench **{peer['speedup']:.2f}x**; same parsed answers {peer['same_answers']:.1f}% "
        f"and same text {peer['same_text']:.1f}% of {peer['joined']} joined documents.",
        "",
        f"shared image prefix (prompt-choice): {choice['speedup']:.2f}x",
        f"vs lmms-eval llava_hf: {peer['speedup']:.2f}x, same answers {peer['same_answers']:.1f}%",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
