"""The results store: ``results/<model-slug>/<task>/`` with predictions, summary, table, figure.

Every file is written atomically (:mod:`colorbench.atomic`). ``summary.json``
(:mod:`colorbench.report.summary`) is written last: its presence marks a finished (model, task)
result, which is what the leaderboard reads and what a resumed run skips.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from colorbench.atomic import atomic_path, write_parquet, write_text
from colorbench.errors import ColorbenchError
from colorbench.names import model_slug, printable
from colorbench.plugin.pluginmanager import call_each
from colorbench.plugin.task import Task, TaskSummary
from colorbench.report import summary as summary_json
from colorbench.report.margins import margin_report
from colorbench.report.markdown import escape, table

PREDICTIONS = "predictions.parquet"
TABLE = "table.md"
FIGURE = "figure.png"


def result_dir(out: Path, model_id: str, task: str) -> Path:
    return Path(out) / model_slug(model_id) / task


def render_tables(model_id: str, summary: TaskSummary, figure: str | None = None) -> str:
    """``table.md``: the headline, the figure (when drawn), the text each prompt put to the
    model (a statement, or the question a generative model was asked), then every summary
    table under its own heading, cells escaped."""
    parts = [f"# {escape(model_id)}: {escape(summary.task)}\n"]
    h = summary.headline
    parts.append(
        f"Headline: {escape(h.metric)} = {h.value:.1f} "
        f"(95% CI {h.ci_low:.1f}-{h.ci_high:.1f}, n = {h.n})\n"
    )
    if figure is not None:
        parts.append(f"![{escape(summary.task)}: figure]({figure})\n")
    if summary.prompts:
        asked = pd.DataFrame({"text given to the model": summary.prompts})
        parts.append(f"## prompts\n\n{table(asked.rename_axis('prompt'))}")
    for name, df in summary.tables.items():
        parts.append(f"## {escape(name)}\n\n{table(df)}")
    return "\n".join(parts)


def write_result(
    out: Path,
    model_id: str,
    task: Task,
    summary: TaskSummary,
    predictions: pd.DataFrame,
    provenance: dict[str, Any],
    warn: Callable[[str], None] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Store one (model, task) result; returns its directory and the ``summary.json`` content.

    A task whose ``figure`` raises is reported through ``warn`` (one line) and the result
    is stored without a figure: the tables and headline are the result, the picture is not.
    """
    directory = result_dir(out, model_id, task.name)
    # An old summary must not outlive the files it describes: until the new one is written
    # (last), a kill leaves a folder with no summary rather than one from another run.
    (directory / summary_json.FILENAME).unlink(missing_ok=True)
    write_parquet(directory / PREDICTIONS, predictions)
    files = {"predictions": PREDICTIONS, "table": TABLE}
    if draw_figure(task, summary, directory / FIGURE, warn):
        files["figure"] = FIGURE
    write_text(directory / TABLE, render_tables(model_id, summary, files.get("figure")))
    margins = margin_report(predictions)
    doc = summary_json.document(
        model_id,
        task.name,
        summary,
        provenance,
        files,
        margins,
        task.higher_is_better,
        task.cluster,
    )
    summary_json.write(directory, doc)
    return directory, doc


def draw_figure(
    task: Task, summary: TaskSummary, path: Path, warn: Callable[[str], None] | None = None
) -> bool:
    """Draw the task's figure to ``path`` (atomically); False, and no file, when the task
    has none or its ``figure`` raised (then one ``warn`` line names the task and the error)."""
    try:
        with atomic_path(path) as tmp:
            drawn = task.figure(summary, tmp)
    except Exception as exc:  # a plugin's drawing code: never worth the result
        if warn is not None:
            text = " ".join(str(exc).split())
            warn(
                f"task {task.name!r}: figure() failed ({type(exc).__name__}: {text}); "
                "summary and tables stored without a figure"
            )
        drawn = None
    if drawn is None:
        path.unlink(missing_ok=True)
    return drawn is not None


def check_owner(model_dir: Path, model_id: str) -> None:
    """Refuse a model folder holding another model's results (planted, or written by a
    colorbench whose folder names were not unique): they would be mixed or replaced."""
    for path in sorted(Path(model_dir).glob(f"*/{summary_json.FILENAME}")):
        stored = summary_json.stored_model(path)
        if stored is not None and stored != model_id:
            raise ColorbenchError(
                f"{model_dir} holds results of model {printable(repr(stored))}, not "
                f"{model_id!r}; move that folder away or pass another --out"
            )


def read_predictions(directory: Path) -> pd.DataFrame:
    """A stored result's predictions; a file damaged beyond its footer is one line."""
    try:
        return pq.read_table(directory / PREDICTIONS).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise ColorbenchError(
            f"cannot read {directory}/{PREDICTIONS} ({type(exc).__name__}); delete "
            f"{directory} and rerun to compute that result again"
        ) from None


def notify(pm: Any, doc: dict[str, Any], directory: Path, warn: Callable[[str], None]) -> None:
    """Call every ``colorbench_result_written`` reporter; one that raises becomes a warning."""
    kwargs = {"model_id": doc["model"], "task": doc["task"], "summary": doc, "path": str(directory)}
    call_each(
        pm,
        "colorbench_result_written",
        lambda plugin: kwargs,
        lambda line: warn(f"{line}; result kept"),
    )
