"""Bring a harness's per-sample answers back: join to the stimuli by id, classify, store.

Both importers and the lmms-eval aggregation hook end here, so a harness's answers are
parsed, classified and summarised by exactly the code a ``colorbench run`` uses: the
predictions frame is laid out by the engine's own
:func:`~colorbench.runner.predictions.chunk_table`,
the stimulus attributes come from the stimulus set (never from the file), and the result is
stored by :func:`~colorbench.report.results.write_result`, so ``colorbench leaderboard`` reads it
like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import colorbench
from colorbench.errors import ColorbenchError
from colorbench.harness.spec import ExportSpec, questions
from colorbench.palette import Palette
from colorbench.plugin.pluginmanager import Plugins
from colorbench.plugin.task import Task, TaskSummary
from colorbench.report import summary as summary_json
from colorbench.report.results import result_dir, write_result
from colorbench.runner.answers import answer_or_unparsed
from colorbench.runner.plan import stimulus_set
from colorbench.runner.predictions import chunk_table
from colorbench.runner.provenance import now_iso
from colorbench.runner.scoring import Answers
from colorbench.runner.weights import sha256_file

#: harness-side columns every importer hands to :func:`join`
ROW_COLUMNS = ("sample_id", "prompt", "response")


@dataclass(frozen=True)
class Source:
    """Where imported answers came from: the harness, the file and its sha256."""

    harness: str
    path: Path
    sha256: str

    @classmethod
    def of(cls, harness: str, path: Path) -> Source:
        return cls(harness, Path(path), sha256_file(path))


def one_spec(specs: pd.DataFrame, task: str, what: str) -> ExportSpec:
    """The single export spec of a file's rows; refuses a file of another or of mixed tasks.

    ``specs`` has the :attr:`ExportSpec.FIELDS` columns, one row per answer.
    """
    distinct = specs.drop_duplicates()
    if len(distinct) != 1:
        tasks = sorted(set(map(str, specs["colorbench_task"])))
        raise ColorbenchError(
            f"{what} mixes {len(distinct)} colorbench exports (tasks {', '.join(tasks)}); "
            "import one task's file at a time"
        )
    try:
        spec = ExportSpec.from_fields(distinct.iloc[0].to_dict())
    except ValueError as exc:
        raise ColorbenchError(
            f"{what} has a malformed colorbench field ({exc}); re-export"
        ) from None
    if spec.task != task:
        raise ColorbenchError(
            f"{what} holds colorbench task {spec.task!r}, not {task!r}; pass --task {spec.task}"
        )
    return spec


def join(
    rows: pd.DataFrame, task: Task, spec: ExportSpec, palette: Palette, plugins: Plugins, what: str
) -> pd.DataFrame:
    """The predictions frame of ``rows`` (``sample_id, prompt, response``), in engine order.

    Every stimulus x prompt of the export must be answered exactly once: rows naming a
    stimulus or prompt the export does not have, repeated rows and missing rows are
    counted and refused, since a partial table would not be comparable with a full run.
    """
    if palette.fingerprint() != spec.palette:
        raise ColorbenchError(
            f"{what} was exported with another palette than {palette.name!r}; pass the "
            "exporting palette with --palette FILE"
        )
    stim = stimulus_set(plugins, task, palette, spec.seed)
    prompt_ids = [p.id for p in task.prompts]
    ids = rows["sample_id"].astype(str).str.extract(r"^(?P<set>.+)/(?P<c>\d+)/(?P<s>\d+)$")
    combination = pd.to_numeric(ids["c"], errors="coerce")
    sample = pd.to_numeric(ids["s"], errors="coerce")
    position = rows["prompt"].map({p: i for i, p in enumerate(prompt_ids)})
    joins = (
        ids["set"].eq(stim.name)
        & combination.lt(stim.num_combinations())
        & sample.lt(spec.samples)
        & position.notna()
    )
    if not joins.all():
        first = rows.loc[~joins].iloc[0]
        raise ColorbenchError(
            f"{int((~joins).sum())} of {len(rows)} rows of {what} do not join to the stimuli "
            f"of task {task.name!r} (first: sample {first['sample_id']!r}, prompt "
            f"{first['prompt']!r}); import the file exported for this task"
        )
    key = (combination * spec.samples + sample) * len(prompt_ids) + position
    repeated = int(key.duplicated().sum())
    expected = stim.size(spec.samples) * len(prompt_ids)
    missing = expected - (len(rows) - repeated)
    if repeated or missing:
        raise ColorbenchError(
            f"{what} answers {len(rows) - repeated} of the {expected} stimulus x prompt rows "
            f"of {task.name!r} ({missing} missing, {repeated} repeated); run the harness on "
            "the whole export (no --limit) and import its complete output"
        )
    ordered = rows.assign(_key=key.astype(np.int64)).sort_values("_key", kind="stable")
    samples = stim.samples(0, stim.size(spec.samples), spec.samples)
    n = len(samples)
    # the engine's layout with a placeholder answer, then the parsed answers and raw texts
    unscored = Answers(answer=np.zeros(n, dtype=np.int64), score=np.full(n, np.nan, np.float32))
    frame = chunk_table(samples, [task], [unscored] * len(prompt_ids), palette).to_pandas()
    frame["answer"] = [answer_or_unparsed(text, palette.names) for text in ordered["response"]]
    if "response" not in frame:
        frame.insert(frame.columns.get_loc("answer") + 1, "response", None)
    frame["response"] = ordered["response"].to_numpy()
    return frame


def asked(rows: pd.DataFrame, task: Task, palette: Palette) -> dict[str, str | list[str]]:
    """Per prompt id, the question(s) the harness's file says it asked, for the provenance;
    the task's question form where the file does not say (an export of an older wording
    records what was really asked, not today's text)."""
    result: dict[str, str | list[str]] = {}
    for prompt, form in questions(task, palette).items():
        found = []
        if "question" in rows:
            found = sorted(
                rows.loc[rows["prompt"] == prompt, "question"].dropna().astype(str).unique()
            )
        result[prompt] = form if not found else found[0] if len(found) == 1 else found
    return result


def summarize(task: Task, frame: pd.DataFrame, palette: Palette) -> TaskSummary:
    """Grade and aggregate like a ``colorbench run``; adds ``outcome`` and ``correct``."""
    return task.summarize(task.grade(frame, palette), palette)


def store(
    out: Path,
    model_id: str,
    task: Task,
    palette: Palette,
    frame: pd.DataFrame,
    spec: ExportSpec,
    source: Source,
    prompts: dict[str, str | list[str]],
) -> tuple[Path, dict[str, Any]]:
    """Write the imported result; an existing result for (model, task) is never overwritten."""
    directory = result_dir(out, model_id, task.name)
    if summary_json.read(directory) is not None:
        raise ColorbenchError(
            f"{directory} already holds a result of {model_id!r} on {task.name!r}; remove it "
            "or import into another --out"
        )
    summary = summarize(task, frame, palette)
    summary.model, summary.prompts = model_id, summary_json.asked(prompts)
    provenance = {
        "colorbench": colorbench.__version__,
        "model": model_id,
        "kind": "generative",
        "scoring": "generate",
        "prompts": prompts,
        "source_harness": source.harness,
        "source_file": source.path.name,
        "source_sha256": source.sha256,
        "stimulus_set": task.stimulus_set,
        "samples": spec.samples,
        "seed": spec.seed,
        "palette": spec.palette,
        "palette_name": palette.name,
        "weights_sha256": "unknown",
        "imported": now_iso(),
    }
    return write_result(out, model_id, task, summary, frame, provenance)
