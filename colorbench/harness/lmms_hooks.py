"""The hooks an exported lmms-eval task calls (its ``utils.py`` re-exports these).

They run inside lmms-eval: ``doc_to_visual`` and ``doc_to_text`` hand the model the stimulus
image and colorbench's question; ``process_results`` passes the model's text on together
with the row's ids; ``aggregate_headline`` joins every answer to the stimuli, classifies
and summarises exactly as ``colorbench import`` does and returns the task's headline, so the
number lmms-eval prints is colorbench's. An aggregation that cannot join (lmms-eval run with
``--limit``) logs why and returns NaN rather than raising: lmms-eval aggregates before it
writes the samples log, and that log must not be lost.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from colorbench.errors import ColorbenchError
from colorbench.harness.spec import ExportSpec

log = logging.getLogger("colorbench.harness")


def doc_to_visual(doc: dict[str, Any]) -> list[Image.Image]:
    return [doc["image"].convert("RGB")]


def doc_to_text(doc: dict[str, Any], lmms_eval_specific_kwargs: dict | None = None) -> str:
    return doc["question"]


def process_results(doc: dict[str, Any], results: list[str]) -> dict[str, dict[str, Any]]:
    """The row's ids, export spec and the model's text, under the task's one metric."""
    from colorbench.harness.lmms_eval import METRIC

    fields = {k: doc[k] for k in ("sample_id", "prompt", *ExportSpec.FIELDS)}
    return {METRIC: {**fields, "response": results[0] if results else ""}}


def aggregate_headline(items: list[dict[str, Any]], palette_file: Path) -> float:
    """colorbench's headline (%) of the task from every document's ``process_results``."""
    from colorbench.harness.join import join, one_spec, summarize
    from colorbench.palette import Palette
    from colorbench.plugin.pluginmanager import load_plugins

    rows = pd.DataFrame(items)
    try:
        plugins = load_plugins([])
        palette = Palette.from_file(palette_file)
        task = plugins.tasks.get(str(rows["colorbench_task"].iloc[0]))
        spec = one_spec(rows[list(ExportSpec.FIELDS)], task.name, "lmms-eval's answers")
        frame = join(rows, task, spec, palette, plugins, "lmms-eval's answers")
        return float(summarize(task, frame, palette).headline.value)
    except ColorbenchError as exc:
        log.warning("colorbench: no headline: %s", exc)
        return float("nan")
