"""Time and peak memory of ``colorbench analyze neurons`` (the three passes over the encoder).

Each configuration runs in its own process so its peak memory is its own: peak RSS on
CPU, peak allocated CUDA memory on a GPU. Two corpus sizes on CPU show that memory
does not grow with the corpus (streaming top-k); on a GPU the paper's settings run
(top-100 patches and top-100 Stroop images for every unit of the full RN50).

    python bench/bench_interpret.py                      # CPU, small settings
    python bench/bench_interpret.py --gpu                # + the GPU at paper settings
    python bench/bench_interpret.py --model openai-RN50 --weights RN50.pt --gpu

Results are appended to bench/RESULTS-interpret.md with the machine and the command.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS-interpret.md")


def worker(config: dict) -> dict:
    """Run the neuron analysis once and measure it (inside a fresh process)."""
    import torch

    from colorbench.plugin.pluginmanager import load_plugins
    from colorbench.plugins.interpret.analyses import open_model, spread_samples
    from colorbench.plugins.interpret.corpus import Corpus, folder_corpus, skimage_corpus
    from colorbench.plugins.interpret.layers import RESNET_LAYERS
    from colorbench.plugins.interpret.neurons import NeuronSettings, analyze_neurons

    torch.set_num_threads(config["threads"])
    plugins = load_plugins()
    args = argparse.Namespace(
        model=config["model"],
        weights=config["weights"],
        seed=0,
        device=config["device"],
    )
    adapter, device = open_model(args, plugins)
    corpus = folder_corpus(config["images"]) if config["images"] else skimage_corpus()
    if config["natural"]:
        corpus = Corpus(corpus.items[: config["natural"]], corpus.size, name=corpus.name)
    stroop = plugins.stimulus_sets.get("stroop")(seed=0)
    samples = spread_samples(stroop, config["stroop_samples"], config["stroop_images"])
    settings = NeuronSettings(
        top_k=config["top_k"],
        stroop_top=config["stroop_top"],
        batch_size=config["batch_size"],
        csi_gray=config["csi_gray"],
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    results = analyze_neurons(
        adapter.model.visual,
        adapter.preprocess,
        list(RESNET_LAYERS),
        corpus,
        stroop,
        samples,
        settings,
        device,
    )
    if device.type == "cuda":
        torch.cuda.synchronize()
    wall = time.perf_counter() - started
    # colour + grey corpus passes, Stroop pass; pca-opponent's grey pass runs one forward
    # per distinct field, on windows, so there only wall time compares
    forwards = 2 * len(corpus) + len(samples) if config["csi_gray"] == "luma" else None
    encoder_rate = _encoder_only(adapter, settings.batch_size, device)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {
        **config,
        "units": len(results.table),
        "natural_images": len(corpus),
        "stroop_images": len(samples),
        "wall_s": round(wall, 1),
        "images_per_s": round(forwards / wall, 1) if forwards else "-",
        "encoder_images_per_s": round(encoder_rate, 1),
        "peak_mib": round(peak),
        "peak_kind": "CUDA allocated" if device.type == "cuda" else "process RSS",
        "device_name": torch.cuda.get_device_name()
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
    }


def _encoder_only(adapter, batch_size: int, device, batches: int = 3) -> float:
    """Images/s of preprocess + the full image encoder alone: the ceiling of any pass."""
    import torch

    images = torch.randint(0, 256, (batch_size, 3, 224, 224), dtype=torch.uint8, device=device)
    with torch.inference_mode():
        adapter.model.visual(adapter.preprocess(images))  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(batches):
            adapter.model.visual(adapter.preprocess(images))
        if device.type == "cuda":
            torch.cuda.synchronize()
    return batches * batch_size / (time.perf_counter() - started)


def _run(config: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(config)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="random-RN50")
    parser.add_argument("--weights")
    parser.add_argument("--images", help="natural-image folder; default scikit-image samples")
    parser.add_argument("--gpu", action="store_true", help="also run on CUDA at paper settings")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    base = {
        "model": args.model,
        "weights": args.weights,
        "images": args.images,
        "threads": args.threads,
    }
    cpu = {
        **base,
        "device": "cpu",
        "top_k": 10,
        "stroop_top": 20,
        "batch_size": 16,
        "stroop_samples": 1,
        "stroop_images": 50,
    }
    # luma at two corpus sizes (memory does not grow with the corpus), and pca-opponent on
    # the small one: the cost ratio of the two --csi-gray conversions from one run
    configs = [
        {**cpu, "natural": 16, "csi_gray": "luma"},
        {**cpu, "natural": 16, "csi_gray": "pca-opponent"},
        {**cpu, "natural": 64, "csi_gray": "luma"},
    ]
    if args.gpu:
        gpu = {
            **base,
            "device": "cuda",
            "top_k": 100,
            "stroop_top": 100,
            "batch_size": 128,
            "natural": None,
            "stroop_samples": 1,
            "stroop_images": None,
        }
        configs += [{**gpu, "csi_gray": gray} for gray in ("luma", "pca-opponent")]
    rows = []
    for config in configs:
        result = _run(config)
        print(json.dumps(result))
        rows.append(result)
    _write(rows, " ".join(["python", *sys.argv]))


def _write(rows: list[dict], command: str) -> None:
    import torch

    header = (
        "| device | model | natural images | Stroop images | top-k | top-N Stroop | units "
        "| CSI grey | wall (s) | forwards/s | encoder-only images/s | peak MiB |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['device']} ({r['device_name']}) | {r['model']} | {r['natural_images']} "
        f"| {r['stroop_images']} | {r['top_k']} | {r['stroop_top']} | {r['units']} "
        f"| {r['csi_gray']} | {r['wall_s']} | {r['images_per_s']} | {r['encoder_images_per_s']} "
        f"| {r['peak_mib']} ({r['peak_kind']}) |"
        for r in rows
    ]
    text = (
        f"\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n\n"
        f"Command: `{command}`  \n"
        f"Machine: {platform.platform()}, torch {torch.__version__}, "
        f"{rows[0]['threads']} CPU threads\n\n" + header + "\n".join(lines) + "\n"
    )
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmark: neuron analyses (`colorbench analyze neurons`)\n\n"
            "Wall time of the three passes (natural colour, natural grey + neuron features, "
            "Stroop) over every unit of stem and layer1..layer4; forwards/s counts encoder "
            "forward passes (2 x natural + Stroop); encoder-only images/s: the same encoder "
            "on random tensors in the same process, the ceiling. Figures and report are "
            "not timed.\n"
        )
    with RESULTS.open("a") as f:
        f.write(text)


if __name__ == "__main__":
    main()
