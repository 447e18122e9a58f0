"""Rendering throughput of the stimulus renderers, next to the image encoder's.

The engine renders batch n+1 while the model encodes batch n, so rendering must
outpace encoding. This measures images per second of each renderer (Pillow on CPU,
batched torch on CPU and on CUDA when present) at batch sizes 1..1024, the cost of
``sample()`` (run for every index), and a randomly initialised open_clip image
encoder on the same device, and writes a markdown table.

    python bench/bench_render.py            # full: batch sizes 1, 4, 16, 64, 256, 1024
    python bench/bench_render.py --quick    # batch sizes 1, 16, 256
"""

from __future__ import annotations

import argparse
import datetime
import platform
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL
import torch
from machine import machine

from colorbench.stimuli import ShapesSet, StimulusSet, StroopSet

FULL_BATCHES = (1, 4, 16, 64, 256, 1024)
QUICK_BATCHES = (1, 16, 256)


def timed(run: Callable[[], object], device: torch.device, min_time: float) -> tuple[float, float]:
    """Wall and process-CPU seconds per call: a warm-up call, then repeats for ``min_time``.

    On a shared machine the wall clock also counts other people's work; CPU seconds
    give the cost of rendering itself.
    """

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run()
    sync()
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while True:
        run()
        sync()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            return elapsed / calls, (time.process_time() - cpu) / calls


def spread(stimulus_set: StimulusSet, count: int) -> list:
    """``count`` samples spread over all combinations, like a slice of a real run."""
    n = stimulus_set.num_combinations()
    return [stimulus_set.sample((i * 7919) % n, i % 500) for i in range(count)]


def sample_rate(stimulus_set: StimulusSet, count: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    spread(stimulus_set, count)
    return count / (time.perf_counter() - start), count / (time.process_time() - cpu)


def encoder_rate(
    arch: str, device: torch.device, batch: int, min_time: float
) -> tuple[float, float]:
    """Images/s of a randomly initialised open_clip image encoder (fp32 on CPU, fp16 on CUDA)."""
    import open_clip

    model = open_clip.create_model(arch, pretrained=None).visual.to(device).eval()
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    model = model.to(dtype)
    images = torch.randn(batch, 3, 224, 224, device=device, dtype=dtype)
    with torch.inference_mode():
        wall, cpu = timed(lambda: model(images), device, min_time)
        return batch / wall, batch / cpu


def versions() -> str:
    try:
        import open_clip

        oc = open_clip.__version__
    except ImportError:
        oc = "absent"
    return (
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"Pillow {PIL.__version__}, numpy {np.__version__}, open_clip {oc}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch sizes 1, 16, 256 only")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--min-time", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--model", default="RN50", help="open_clip arch to compare ('' = none)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS-render.md"))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    batches = QUICK_BATCHES if args.quick else FULL_BATCHES
    min_time = args.min_time if args.min_time is not None else (0.3 if args.quick else 1.0)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])

    rows = []
    for stimulus_set in (ShapesSet(), StroopSet()):
        pool = spread(stimulus_set, max(batches))
        rows.append((stimulus_set.name, "sample()", "cpu", "-", *sample_rate(stimulus_set, 2000)))
        for device in devices:
            for backend in ("pil", "torch") if device.type == "cpu" else ("torch",):
                for batch in batches:
                    chunk = pool[:batch]
                    wall, cpu = timed(
                        lambda s=stimulus_set, c=chunk, b=backend, d=device: s.render(c, b, d),
                        device,
                        min_time,
                    )
                    rows.append(
                        (stimulus_set.name, backend, device.type, batch, batch / wall, batch / cpu)
                    )
                    print(f"{rows[-1][:4]}: {rows[-1][4]:,.0f} img/s", flush=True)
    encoders = []
    if args.model:
        for device in devices:
            batch = 16 if device.type == "cpu" else 256
            wall, cpu = encoder_rate(args.model, device, batch, min_time)
            encoders.append((args.model, device.type, batch, wall, cpu))
            print(f"encoder {args.model} on {device.type}: {wall:,.1f} img/s", flush=True)

    command = "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv or sys.argv[1:])])
    lines = [
        "# Stimulus rendering throughput",
        "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}",
        f"- versions: {versions()}",
        f"- command: `{command}`",
        "",
        "Images per second of each renderer (`render()` of pre-made samples, masks included);",
        "`sample()` is the per-index ground truth every run computes before rendering.",
        "images/CPU-s divides by this process's CPU time (all its threads): the cost of",
        "rendering on a CPU, whatever else the machine was running.",
        "",
        "| set | renderer | device | batch | images/s | images/CPU-s |",
        "|---|---|---|---:|---:|---:|",
        *(f"| {s} | {r} | {d} | {b} | {w:,.0f} | {c:,.0f} |" for s, r, d, b, w, c in rows),
        "",
    ]
    if encoders:
        lines += [
            "The image encoder these renderers feed (random init, same machine, same run):",
            "",
            "| encoder | device | batch | images/s | images/CPU-s |",
            "|---|---|---:|---:|---:|",
            *(f"| {m} | {d} | {b} | {w:,.1f} | {c:,.1f} |" for m, d, b, w, c in encoders),
            "",
        ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
