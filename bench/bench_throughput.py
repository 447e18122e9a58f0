"""Throughput and peak memory of colorbench against its limit and against the usual way.

In one run on one machine this measures

1. **encoder only**: ``adapter.encode_images`` on pre-made uint8 tensors (the limit);
2. **colorbench end to end**: ``colorbench.api.evaluate`` on the chosen tasks, from
   model creation to every result written (rendering, text encoding, scoring, Parquet,
   summaries, figures);
3. **PNG + DataLoader**, the usual way (as CLIP_benchmark does): the same stimuli written
   as PNG files, read back through a torch ``DataLoader`` with PIL decode and the model's
   torchvision preprocess from ``open_clip.create_model_and_transforms``, one pass per
   task (each task is its own dataset run there), all of a task's prompts scored from
   that pass. Writing the PNGs is timed separately and not counted.

Rates are stimulus images per second: the distinct images of the selected tasks' sets
divided by the time to answer every selected task. Peak memory (RSS; CUDA max allocated
on a GPU) of end-to-end runs at 1 and 10 samples per combination is measured in separate
subprocesses so the two peaks are independent. The CPU may be shared, so the ratios,
measured in one run, are the numbers to read. Example::

    python bench/bench_throughput.py                      # random-RN50, CPU, small
    python bench/bench_throughput.py --device cuda --samples 500 --task all --memory-task all
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from machine import machine
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RESULTS = ROOT / "bench" / "RESULTS-throughput.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="random-RN50")
    parser.add_argument(
        "--task",
        action="append",
        help="task(s) to time (repeatable, or all); default: global-color and part-attribution",
    )
    parser.add_argument("--samples", type=int, default=1, help="samples per combination")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the engine's")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--encoder-images", type=int, default=256)
    parser.add_argument(
        "--memory-task",
        action="append",
        help="task(s) of the two memory runs (default: stroop-white, the smallest set)",
    )
    parser.add_argument("--memory-samples", default="1,10")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child-memory", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def setup(args: argparse.Namespace):
    """Plugins, the validated plan and the batch size, as ``colorbench run`` would have them."""
    from colorbench.config import RunConfig
    from colorbench.plugin.pluginmanager import load_plugins
    from colorbench.runner.checkpoint import CHUNK_SIZE
    from colorbench.runner.device import auto_batch_size
    from colorbench.runner.plan import build_plan

    plugins = load_plugins()
    config = RunConfig(
        models=[args.model],
        tasks=args.task or ["global-color", "part-attribution"],
        samples=args.samples,
        device=args.device,
        precision=args.precision,
        batch_size=args.batch_size,
        quiet=True,
        resume=False,
    )
    plan = build_plan(config, plugins)
    device, precision = plan.device, plan.precision
    batch_size = min(config.batch_size or auto_batch_size(device, CHUNK_SIZE), CHUNK_SIZE)
    return plugins, config, plan, device, precision, batch_size


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_adapter(plugins, config, device, precision):
    torch.manual_seed(config.seed)
    factory = plugins.models.get(config.models[0])
    return factory(
        config.models[0],
        device=device,
        precision=precision,
        weights=config.weights,
        palette=config.palette,
        seed=config.seed,
    )


def encoder_only(adapter, plan, config, device, batch_size: int, count: int) -> float:
    """(1) images/s of ``encode_images`` on uint8 batches already on the device."""
    stim = plan.sets[0].stimuli
    count = min(count, stim.size(config.samples))
    images = stim.render(stim.samples(0, count, config.samples), "pil").images.to(device)
    batches = images.split(batch_size)
    adapter.encode_images(batches[0])  # warm-up (allocator, kernels)
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        adapter.encode_images(batch)
    sync(device)
    return count / (time.perf_counter() - start)


def distinct_images(plan, config) -> int:
    return sum(s.stimuli.size(config.samples) for s in plan.sets)


def end_to_end(plugins, config, plan, out: Path) -> float:
    """(2) images/s of ``evaluate`` from model creation to every result stored."""
    from colorbench.api import evaluate

    config.out = out
    start = time.perf_counter()
    evaluate(config, plugins)
    return distinct_images(plan, config) / (time.perf_counter() - start)


def export_pngs(plan, config, root: Path) -> tuple[dict[str, list[Path]], float]:
    """Write every stimulus of the selected sets as PNG (the usual way's first step)."""
    start = time.perf_counter()
    files: dict[str, list[Path]] = {}
    for planned in plan.sets:
        name, stim = planned.name, planned.stimuli
        folder = root / name
        folder.mkdir(parents=True)
        size = stim.size(config.samples)
        paths = []
        for begin in range(0, size, 256):
            batch = stim.render(stim.samples(begin, min(begin + 256, size), config.samples), "pil")
            for i, image in enumerate(batch.images.permute(0, 2, 3, 1).numpy()):
                path = folder / f"{begin + i:07d}.png"
                Image.fromarray(image).save(path)
                paths.append(path)
        files[name] = paths
    return files, time.perf_counter() - start


class PngDataset(torch.utils.data.Dataset):
    """PIL decode + torchvision preprocess, as image-folder benchmarks read their data."""

    def __init__(self, paths: list[Path], transform) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        with Image.open(self.paths[index]) as image:
            return self.transform(image.convert("RGB"))


def png_dataloader(adapter, plan, config, device, precision, batch_size, workers, files):
    """(3) images/s of the usual way; also its answers, to check they agree with (2)."""
    import open_clip

    start = time.perf_counter()
    model, _, transform = open_clip.create_model_and_transforms(adapter.arch, pretrained=None)
    model.load_state_dict(adapter.model.state_dict())
    model = model.to(device).eval()
    tokenizer = open_clip.get_tokenizer(adapter.arch)
    autocast = (
        torch.autocast(device.type, dtype=adapter.compute_dtype)
        if adapter.compute_dtype is not None
        else torch.autocast(device.type, enabled=False)
    )
    answers: dict[tuple[str, str], torch.Tensor] = {}
    with torch.inference_mode(), autocast:
        for planned in plan.sets:
            for task in planned.tasks:  # one dataset run per task
                classifiers = []
                for prompt in task.prompts:
                    tokens = tokenizer(prompt.texts(config.palette)).to(device)
                    text = model.encode_text(tokens).float()
                    classifiers.append(torch.nn.functional.normalize(text, dim=-1))
                loader = torch.utils.data.DataLoader(
                    PngDataset(files[task.stimulus_set], transform),
                    batch_size=batch_size,
                    num_workers=workers,
                    pin_memory=device.type == "cuda",
                )
                found = [[] for _ in task.prompts]
                for pixels in loader:
                    image = model.encode_image(pixels.to(device, non_blocking=True)).float()
                    image = torch.nn.functional.normalize(image, dim=-1)
                    for i, text in enumerate(classifiers):
                        found[i].append((image @ text.T).argmax(1).cpu())
                for prompt, parts in zip(task.prompts, found, strict=True):
                    answers[(task.name, prompt.id)] = torch.cat(parts)
    sync(device)
    return distinct_images(plan, config) / (time.perf_counter() - start), answers


def agreement(results_dir: Path, model: str, answers, palette) -> float:
    """Share of (image, prompt) answers on which (2) and (3) agree."""
    import pandas as pd

    from colorbench.report.results import model_slug

    same = total = 0
    for (task, prompt), index in answers.items():
        frame = pd.read_parquet(results_dir / model_slug(model) / task / "predictions.parquet")
        ours = frame.loc[frame["prompt"] == prompt, "answer"].to_numpy()
        theirs = [palette.names[i] for i in index.tolist()]
        same += sum(a == b for a, b in zip(ours, theirs, strict=True))
        total += len(theirs)
    return same / total


def peak_memory_child(args: argparse.Namespace) -> None:
    """Child process: one end-to-end run; print its peak RSS and CUDA allocation as JSON."""
    from colorbench.api import evaluate

    args.task, args.samples = args.memory_task or ["stroop-white"], args.child_memory
    plugins, config, plan, device, _, _ = setup(args)
    with tempfile.TemporaryDirectory() as tmp:
        config.out = Path(tmp)
        start = time.perf_counter()
        evaluate(config, plugins)
        seconds = time.perf_counter() - start
    result = {
        "samples": args.child_memory,
        "images": distinct_images(plan, config),
        "seconds": seconds,
        "rss_peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cuda_peak_mib": torch.cuda.max_memory_allocated() / 2**20
        if device.type == "cuda"
        else None,
    }
    print(json.dumps(result))


def peak_memory(argv: list[str], samples: int) -> dict:
    command = [sys.executable, __file__, *argv, "--child-memory", str(samples)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"memory run with --samples {samples} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def versions() -> str:
    from importlib.metadata import version

    import colorbench

    names = ("torch", "torchvision", "open_clip_torch", "pillow", "numpy", "pyarrow")
    found = [f"python {platform.python_version()}", f"colorbench {colorbench.__version__}"]
    return ", ".join(found + [f"{n} {version(n)}" for n in names])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child_memory is not None:
        peak_memory_child(args)
        return 0
    where, what = machine(), versions()
    plugins, config, plan, device, precision, batch_size = setup(args)
    tasks = [t.name for planned in plan.sets for t in planned.tasks]
    adapter = make_adapter(plugins, config, device, precision)
    images = distinct_images(plan, config)
    print(f"{args.model} on {device} ({precision}), tasks {', '.join(tasks)}: {images} images")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        encoder = encoder_only(adapter, plan, config, device, batch_size, args.encoder_images)
        print(f"(1) encoder only          {encoder:8.1f} images/s")
        ours = end_to_end(plugins, config, plan, tmp / "results")
        print(f"(2) colorbench end to end {ours:8.1f} images/s")
        encoder_after = encoder_only(adapter, plan, config, device, batch_size, args.encoder_images)
        print(f"(1) encoder only, again   {encoder_after:8.1f} images/s")
        files, export_s = export_pngs(plan, config, tmp / "png")
        usual, answers = png_dataloader(
            adapter, plan, config, device, precision, batch_size, args.workers, files
        )
        print(
            f"(3) PNG + DataLoader      {usual:8.1f} images/s (writing the PNGs: {export_s:.1f} s)"
        )
        agree = agreement(tmp / "results", args.model, answers, config.palette)
    # (1) is measured just before and just after (2): their mean cancels a drifting load
    encoder_mean = (encoder + encoder_after) / 2
    print(f"(2)/(1) = {ours / encoder_mean:.2f} (against the mean of the two (1) measurements)")
    print(f"(2)/(3) = {ours / usual:.2f};  (2) and (3) give the same answer {100 * agree:.1f}%")

    forward = [a for a in argv if a not in ("--no-write",)]
    memory = [peak_memory(forward, int(s)) for s in args.memory_samples.split(",")]
    for m in memory:
        cuda = f", CUDA max allocated {m['cuda_peak_mib']:.0f} MiB" if m["cuda_peak_mib"] else ""
        print(
            f"peak memory, --samples {m['samples']} ({m['images']} images, {m['seconds']:.0f} s): "
            f"RSS {m['rss_peak_mib']:.0f} MiB{cuda}"
        )
    if not args.no_write:
        write_results(args, argv, where, what, device, precision, batch_size, tasks, images, {
            "encoder": encoder, "encoder_after": encoder_after, "ours": ours, "usual": usual,
            "export_s": export_s, "agree": agree, "memory": memory,
        })  # fmt: skip
    return 0


def write_results(args, argv, where, what, device, precision, batch_size, tasks, images, n) -> None:
    """``bench/RESULTS-throughput.md``: machine, versions, command and every number."""
    mean = (n["encoder"] + n["encoder_after"]) / 2
    memory_tasks = ", ".join(args.memory_task or ["stroop-white"])
    lines = [
        "# Throughput: colorbench vs. the encoder alone vs. PNG + DataLoader",
        "",
        f"- command: `python bench/bench_throughput.py {shlex.join(argv)}`",
        f"- machine: {where}",
        f"- versions: {what}",
        f"- run: {args.model} on {device}, precision {precision}, batch size {batch_size}, "
        f"tasks {', '.join(tasks)}, --samples {args.samples} ({images} distinct images), "
        f"DataLoader workers {args.workers}",
        "",
        "| way | images/s |",
        "|---|---|",
        f"| (1) encoder only on pre-made uint8 tensors (before / after (2)) | "
        f"{n['encoder']:.1f} / {n['encoder_after']:.1f} |",
        f"| (2) colorbench end to end | {n['ours']:.1f} |",
        f"| (3) PNG + DataLoader (PIL decode, torchvision preprocess) | {n['usual']:.1f} |",
        "",
        f"- (2)/(1) = **{n['ours'] / mean:.2f}** (target >= 0.80; (1) is measured right before "
        "and right after (2), against their mean)",
        f"- (2)/(3) = **{n['ours'] / n['usual']:.2f}** (target >= 2)",
        f"- (2) and (3) give the same answer on {100 * n['agree']:.1f}% of image x prompt rows",
        f"- writing the PNG files for (3) took {n['export_s']:.1f} s (not counted in (3))",
        "",
        "Rates count distinct stimulus images answered per second. (2) shares one pass over",
        "a set among the tasks on it; (3) reads the PNGs once per task, as a per-dataset",
        "benchmark run does, and scores all of that task's prompts from the one pass.",
        "",
        f"Peak memory of end-to-end runs ({memory_tasks}), each in its own process:",
        "",
        "| --samples | images | seconds | peak RSS MiB | CUDA max allocated MiB |",
        "|---|---|---|---|---|",
    ]
    for m in n["memory"]:
        cuda = f"{m['cuda_peak_mib']:.0f}" if m["cuda_peak_mib"] is not None else "-"
        lines.append(
            f"| {m['samples']} | {m['images']} | {m['seconds']:.0f} | "
            f"{m['rss_peak_mib']:.0f} | {cuda} |"
        )
    args.results.write_text("\n".join(lines) + "\n")
    print(f"written to {args.results}")


if __name__ == "__main__":
    raise SystemExit(main())
