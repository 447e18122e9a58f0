"""Served-model throughput and resume (served:<folder>@<url> against ``transformers serve``).

In one run on one machine this measures

1. **requests/s at 1, 4 and 16 in flight**: ``colorbench run --model served:<folder>@<url>
   --task stroop-white --samples N --max-in-flight K`` against one ``transformers serve
   --continuous-batching`` of a tiny random LLaVA folder on CPU (127.0.0.1), each into a
   fresh ``--out`` so every request is really sent; the rate is answers per second of
   request time (the run's own ``usage.answers_per_s``), the wall time is the whole command;
2. **resume after a kill**: the same run through a counting proxy, SIGKILLed once 40% of the
   answers are stored, then the same command again: how many answers the second run asked
   that the first had already received (the resume figure; must be 0), how many it reused
   from the response store, and whether anything is missing.

A tiny model makes the server's compute small, so the figures show what colorbench's client
adds (HTTP, PNG encoding, the store) and how concurrency hides latency; read the ratios.
Example::

    python bench/bench_served.py                # writes bench/RESULTS-served.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import transformers
from machine import machine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from served_support import FaultProxy, Server, sigkill_mid_run  # noqa: E402

from colorbench.cli.app import main as colorbench  # noqa: E402
from colorbench.names import model_slug  # noqa: E402
from colorbench.plugins.hfvlm.tiny import tiny_model  # noqa: E402
from colorbench.plugins.served.store import store_path  # noqa: E402

DEFAULT_RESULTS = ROOT / "bench" / "RESULTS-served.md"
IN_FLIGHT = (1, 4, 16)


def run(out: Path, model: str, samples: int, *options: str) -> dict:
    """One ``colorbench run`` in-process; the stored result's usage and the wall time."""
    argv = ["run", "--model", model, "--task", "stroop-white", "--samples", str(samples)]
    start = time.monotonic()
    assert colorbench([*argv, "--out", str(out), "-q", *options]) == 0
    wall = time.monotonic() - start
    doc = json.loads((out / model_slug(model) / "stroop-white" / "summary.json").read_text())
    return {**doc["provenance"]["usage"], "command_s": wall}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2, help="stroop-white samples (90 each)")
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()
    header = machine()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model, processor = tiny_model("llava", seed=0)
        folder = root / "tiny-llava"
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        server = Server(folder, root / "serve.log")
        started = time.monotonic()
        server.start()
        try:
            server.wait()
            startup = time.monotonic() - started
            served = f"served:{folder}@{server.url}"
            rates = {}
            for k in IN_FLIGHT:
                rates[k] = run(root / f"k{k}", served, args.samples, "--max-in-flight", str(k))
                print(f"{k:>2} in flight: {rates[k]['answers_per_s']} answers/s", file=sys.stderr)
            proxy = FaultProxy(server.url)
            try:
                via = f"served:{folder}@{proxy.url}"
                out = root / "killed"
                total = 90 * args.samples
                argv = [sys.executable, "-m", "colorbench", "run", "--model", via, "--task"]
                argv += ["stroop-white", "--samples", str(args.samples), "--out", str(out)]
                argv += ["-q", "--max-in-flight", "4"]
                store = store_path(out, str(folder))
                killed_at = sigkill_mid_run(proxy, argv, store, int(total * 0.4))
                resumed = run(out, via, args.samples, "--max-in-flight", "4")
                counts = proxy.counts()
            finally:
                proxy.close()
        finally:
            server.stop()
    lines = [
        "# Served models: throughput and resume (bench/bench_served.py)",
        "",
        "Command: `python bench/bench_served.py`  ",
        f"Machine: {header}  ",
        f"Versions: transformers {transformers.__version__} (`transformers serve "
        "--continuous-batching --device cpu`, up in "
        f"{startup:.0f} s)  ",
        f"Model: tiny random LLaVA folder (plugins/hfvlm/tiny.py); stroop-white, --samples "
        f"{args.samples} ({90 * args.samples} requests per run, PNG data URIs, 10 new tokens)",
        "",
        "## 1. Requests per second by requests in flight (one endpoint)",
        "",
        "Server and client share this machine's CPU cores (load average above), so the server's",
        "compute bounds the rate; more requests in flight overlap the client's work (PNG,",
        "HTTP, the store) with the server's and let continuous batching group requests.",
        "",
        "| in flight | requests | answers/s (request time) | command wall s | vs 1 in flight |",
        "|---|---|---|---|---|",
    ]
    base = rates[IN_FLIGHT[0]]["answers_per_s"]
    for k in IN_FLIGHT:
        r = rates[k]
        lines.append(
            f"| {k} | {r['answered']} | {r['answers_per_s']:.1f} | {r['command_s']:.1f} | "
            f"**{r['answers_per_s'] / base:.2f}x** |"
        )
    reasked = counts["answered_twice"]
    lines += [
        "",
        "## 2. Resume after SIGKILL (through a counting proxy)",
        "",
        "| answers stored at the kill | asked by the resumed run | reused from the store | "
        "answered twice (re-asked after the kill) | missing | requests held and abandoned |",
        "|---|---|---|---|---|---|",
        f"| {killed_at} of {total} | {resumed['answered']} | {resumed['reused_from_store']} | "
        f"**{reasked}** | {resumed['missing']} | {counts['abandoned']} |",
        "",
        f"Answers re-asked after the kill: **{reasked}** (every request body answered at most "
        f"once at the proxy: {counts['distinct_answered']} distinct, {counts['answered']} "
        "answers in all).",
        "",
    ]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if reasked == 0 and resumed["missing"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
