"""Images and model calls ``--target-ci`` needs, against the paper's fixed 500 per combination.

Part 1 (no model, exact): per paper task, the samples per combination the worst-case rule
gives at each target, the images and model calls (images x prompts) that makes, and the
ratio to ``--samples 500``. Part 2 (measured): ``colorbench run --target-ci`` with and
without ``--stop-early`` for the given models and tasks, the images each used and the
achieved 95% half-widths (headline and widest reported figure); ``--results DIR`` adds
finished ``--target-ci`` results from an earlier run (e.g. the full ``--task all`` run).

    python bench/bench_target_ci.py                      # writes bench/RESULTS-target-ci.md
    python bench/bench_target_ci.py --models chance --tasks stroop-white --targets 1
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from colorbench.api import evaluate, make_config
from colorbench.palette import DEFAULT_PALETTE
from colorbench.plugin.pluginmanager import load_plugins
from colorbench.runner.plan import select_tasks, stimulus_set
from colorbench.runner.sizing import size_task

PAPER = 500
HERE = Path(__file__).parent


def sizing_table(plugins, targets: list[float]) -> list[str]:
    """Part 1: the rule's sizes for every registered task (exact, nothing is run)."""
    head = ["task", "K", "prompts", "sized by"]
    for t in targets:
        head += [f"n @{t:g}pp", f"images @{t:g}pp", f"calls @{t:g}pp", f"calls/500 @{t:g}pp"]
    head += ["images @500", "calls @500"]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    totals = {t: [0, 0] for t in targets}
    paper = [0, 0]
    for task in select_tasks(plugins, ["all"]):
        stim = stimulus_set(plugins, task, DEFAULT_PALETTE, 0)
        k, prompts = stim.num_combinations(), len(task.prompts)
        cells = [task.name, str(k), str(prompts)]
        first = size_task(task, stim, targets[0])
        cells.append(
            "fixed pool (unreachable)"
            if first.floor_pp
            else f"{first.smallest} ({first.combinations})"
        )
        for t in targets:
            sizing = size_task(task, stim, t)
            images = stim.size(sizing.samples)
            calls = images * prompts
            totals[t][0] += images
            totals[t][1] += calls
            cells += [
                str(sizing.samples),
                f"{images:,}",
                f"{calls:,}",
                f"{calls / (stim.size(PAPER) * prompts):.3f}",
            ]
        paper[0] += stim.size(PAPER)
        paper[1] += stim.size(PAPER) * prompts
        cells += [f"{stim.size(PAPER):,}", f"{stim.size(PAPER) * prompts:,}"]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**all tasks**", "", "", ""]
    for t in targets:
        cells += [
            "",
            f"{totals[t][0]:,}",
            f"{totals[t][1]:,}",
            f"**{totals[t][1] / paper[1]:.3f}**",
        ]
    cells += [f"{paper[0]:,}", f"{paper[1]:,}"]
    lines.append("| " + " | ".join(cells) + " |")
    return lines


def result_row(summary: Path, rule: str, seconds: float | None) -> list[str]:
    doc = json.loads(summary.read_text())
    prov, top = doc["provenance"], doc["summary"]["headline"]
    sizing = prov.get("sizing", {})
    widths = sizing.get("achieved_pp", {})
    widest = max(widths, key=widths.get) if widths else "?"
    return [
        prov["model"],
        doc["summary"]["task"],
        rule,
        f"{prov.get('target_ci', '?')}",
        str(prov["samples"]),
        f"{top['n']:,}",
        f"{top['value']:.1f}",
        f"{widths.get('headline', float('nan')):.2f}",
        f"{widest} {widths.get(widest, float('nan')):.2f}",
        "" if seconds is None else f"{seconds:.0f}",
    ]


def measured(
    plugins, models, slow, slow_target, tasks, targets, out: Path, extra: list[Path]
) -> list[str]:
    head = ["model", "task", "rule", "target pp", "n", "answers", "headline %",
            "achieved ± headline", "widest reported ±", "wall s"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for folder in extra:
        for summary in sorted(folder.glob("*/*/summary.json")):
            if "target_ci" in json.loads(summary.read_text())["provenance"]:
                lines.append(
                    "| " + " | ".join(result_row(summary, "fixed (from --results)", None)) + " |"
                )
    for target in targets:
        for stop in (False, True):
            rule = "stop-early" if stop else "fixed"
            folder = out / f"{rule}-{target:g}"
            for model in models + (slow if target == slow_target else []):
                start = time.monotonic()
                config = make_config(
                    model, tasks, out=folder, target_ci=target, stop_early=stop, quiet=True
                )
                results = evaluate(config, plugins)
                seconds = (time.monotonic() - start) / max(1, len(results))
                for result in results:
                    row = result_row(result.path / "summary.json", rule, seconds)
                    lines.append("| " + " | ".join(row) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="ideal-observer,chance,pixel-majority")
    parser.add_argument(
        "--slow-models", default="random-ViT-S-32", help="measured at --slow-target only"
    )
    parser.add_argument("--slow-target", type=float, default=3.0)
    parser.add_argument("--measure", default="1", help="targets measured (part 2)")
    parser.add_argument("--tasks", default="stroop-white")
    parser.add_argument("--targets", default="1,0.5")
    parser.add_argument("--results", type=Path, action="append", default=[])
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-target-ci"))
    parser.add_argument("--report", type=Path, default=HERE / "RESULTS-target-ci.md")
    args = parser.parse_args()
    plugins = load_plugins()
    targets = [float(t) for t in args.targets.split(",")]
    models = [m for m in args.models.split(",") if m]
    slow = [m for m in args.slow_models.split(",") if m]
    tasks = [t for t in args.tasks.split(",") if t]
    lines = [
        "# --target-ci: images and model calls against --samples 500",
        "",
        f"Generated by `python bench/bench_target_ci.py --models {args.models} --slow-models "
        f"{args.slow_models} --slow-target {args.slow_target:g} --measure {args.measure} --tasks "
        f"{args.tasks} --targets {args.targets}"
        + "".join(f" --results {p}" for p in args.results)
        + f"` on {platform.node() or 'this machine'} ({platform.machine()}).",
        "",
        "## The rule's sizes (exact; nothing is run)",
        "",
        "n = ceil((1.96 / 2h)^2 / K_min): K_min is the number of combinations of the task's "
        "smallest reported figure (the headline, or one level of a reported factor). calls = "
        "images x prompts (one model call per image and prompt); calls/500 is the share of "
        "`--samples 500`'s calls. color-naming's interval is clustered on 558 XKCD colours: "
        "no sample count reaches 1 pp, so it runs every item once.",
        "",
        *sizing_table(plugins, targets),
        "",
        "## Measured: achieved 95% half-widths (pp)",
        "",
        "fixed: the worst-case size, Wilson interval (clustered by image). stop-early: rounds "
        "of one sample per combination, stopped when the empirical-Bernstein confidence "
        "sequence of every sized figure is within the target (capped at the fixed n); the "
        "sequence is the reported interval. n = samples per combination used; answers = "
        "rows in the headline; wall s = seconds per result in this invocation (a result "
        "already in --out is kept by the resume, so a rerun shows about 0). Rows 'from "
        "--results' are the `colorbench run --model ideal-observer --model chance --task all "
        "--target-ci 1` run (30 min wall on 2 shared cores).",
        "",
        *measured(
            plugins,
            models,
            slow,
            args.slow_target,
            tasks,
            sorted({*[float(t) for t in args.measure.split(",")], args.slow_target}, reverse=True),
            args.out,
            args.results,
        ),
        "",
    ]
    args.report.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
