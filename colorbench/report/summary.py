"""``summary.json``: the one record of a finished (model, task) result; its schema lives here.

Written last into ``results/<model-slug>/<task>/`` (its presence marks the result finished),
read back by a resumed run (to skip finished tasks) and by the leaderboard. Both readers go
through :func:`parse`, so what counts as a usable summary is decided once. The layout is
documented in docs/ARCHITECTURE.md::

    {"schema": "colorbench.summary/1", "model": ..., "task": ..., "provenance": {...},
     "summary": {"task", "headline": {...}, "tables": {...}}, "files": {"predictions": ...},
     "margins": {"threshold", "rows", "near_ties", ...}, "higher_is_better": true,
     "cluster": "image"}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from colorbench.atomic import write_json
from colorbench.config import CLUSTER_UNITS
from colorbench.names import model_slug, printable
from colorbench.plugin.task import Headline, TaskSummary

SCHEMA = "colorbench.summary/1"
#: slack (in percentage points) for a headline computed in floating point, e.g. a CI bound
#: of 99.99999999999999 around a value of 100.0
TOLERANCE = 1e-6
FILENAME = "summary.json"


@dataclass(frozen=True)
class StoredSummary:
    """A parsed, checked ``summary.json``."""

    path: Path
    model: str
    task: str
    headline: Headline
    provenance: dict[str, Any]
    files: dict[str, str]
    #: the ``summary`` object as stored (``TaskSummary.to_dict`` form)
    summary: dict[str, Any]
    #: the task's headline direction (:attr:`colorbench.plugin.task.Task.higher_is_better`);
    #: True for summaries written before tasks declared one
    higher_is_better: bool | None = True
    #: the unit the task's headline clusters by, compare's default for it
    #: (:attr:`colorbench.plugin.task.Task.cluster`); ``image`` for older summaries
    cluster: str = "image"

    def task_summary(self) -> TaskSummary:
        """The stored summary, with the text each prompt put to the model (:func:`asked`)."""
        summary = TaskSummary.from_dict(self.summary)
        summary.prompts = asked(self.provenance.get("prompts"))
        return summary

    def file(self, kind: str) -> Path | None:
        """The listed file of ``kind`` (``"table"``, ...) if it exists inside the result folder.

        A name pointing outside the folder (``../../x``) counts as not listed.
        """
        name = self.files.get(kind)
        if not isinstance(name, str) or not name:
            return None
        folder = self.path.parent.resolve()
        target = self.path.parent / name
        if not target.resolve().is_relative_to(folder) or not target.is_file():
            return None
        return target


def asked(recorded: object) -> dict[str, str]:
    """Per prompt id, the text provenance's ``prompts`` says the model was given; an
    imported result may list several wordings of one prompt (joined with `` / ``). Anything
    else stored there is ignored: a label is not worth refusing a result for."""
    if not isinstance(recorded, dict):
        return {}
    texts = {}
    for prompt, text in recorded.items():
        if isinstance(text, list) and text and all(isinstance(t, str) for t in text):
            text = " / ".join(text)
        if isinstance(prompt, str) and isinstance(text, str):
            texts[prompt] = text
    return texts


def document(
    model_id: str,
    task: str,
    summary: TaskSummary,
    provenance: dict[str, Any],
    files: dict[str, str],
    margins: dict[str, Any] | None = None,
    higher_is_better: bool | None = True,
    cluster: str = "image",
) -> dict[str, Any]:
    """The ``summary.json`` content of one result (what reporters receive too).

    ``margins`` is the near-tie count of :func:`colorbench.report.margins.margin_report`;
    ``higher_is_better`` the task's headline direction (None: not a score) and ``cluster``
    the unit its headline clusters by, stored so the leaderboard and ``compare`` know them
    without the task's code.
    """
    doc = {
        "schema": SCHEMA,
        "model": model_id,
        "task": task,
        "provenance": provenance,
        "summary": summary.to_dict(),
        "files": files,
        "higher_is_better": higher_is_better,
        "cluster": cluster,
    }
    if margins is not None:
        doc["margins"] = margins
    return doc


def write(directory: Path, doc: dict[str, Any]) -> None:
    write_json(Path(directory) / FILENAME, doc)


def parse(path: Path) -> StoredSummary:
    """Parse and check one ``summary.json``; ``ValueError`` says why it is not a usable one.

    A results folder is shared, so nothing in the file is trusted: the headline must be a
    percentage inside its 95% interval with n >= 1, the stored tables must load, and the
    file must sit in the folder its model and task belong in (``<model-slug>/<task>/``).
    """
    data = _load(path)
    summary = data.get("summary")
    headline = summary.get("headline") if isinstance(summary, dict) else None
    if not isinstance(headline, dict):
        raise ValueError("no summary.headline")
    n = headline.get("n")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"headline n is not a count >= 1: {n!r}")
    model, task = _text(data.get("model"), "model"), _text(data.get("task"), "task")
    _check_folder(Path(path), model, task)
    value = _number(headline.get("value"), "headline value")
    low = _number(headline.get("ci_low"), "headline ci_low")
    high = _number(headline.get("ci_high"), "headline ci_high")
    inside = low <= value + TOLERANCE and value <= high + TOLERANCE
    if not (inside and low >= -TOLERANCE and high <= 100 + TOLERANCE):
        raise ValueError(
            f"headline {value!r} with 95% CI {low!r}-{high!r} is not a percentage inside "
            "its interval"
        )
    try:
        TaskSummary.from_dict(summary)
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise ValueError(f"malformed summary tables or headline ({type(exc).__name__})") from None
    provenance, files = data.get("provenance"), data.get("files")
    direction = data.get("higher_is_better", True)
    if direction is not None and not isinstance(direction, bool):
        raise ValueError(f"higher_is_better is not true, false or null: {direction!r}")
    cluster = data.get("cluster", CLUSTER_UNITS[0])
    if cluster not in CLUSTER_UNITS:
        raise ValueError(f"cluster is not one of {', '.join(CLUSTER_UNITS)}: {cluster!r}")
    return StoredSummary(
        path=Path(path),
        model=model,
        task=task,
        headline=Headline(
            metric=_text(headline.get("metric"), "headline metric"),
            value=value,
            n=n,
            ci_low=low,
            ci_high=high,
        ),
        provenance=provenance if isinstance(provenance, dict) else {},
        files=files if isinstance(files, dict) else {},
        summary=summary,
        higher_is_better=direction,
        cluster=cluster,
    )


def stored_model(path: Path) -> str | None:
    """The ``model`` a colorbench ``summary.json`` names, checked no further (None when the
    file is not one): enough to tell that a folder holds another model's results."""
    try:
        model = _load(path).get("model")
    except ValueError:
        return None
    return model if isinstance(model, str) else None


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"unreadable JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ValueError(f"not a colorbench summary (schema is not {SCHEMA!r})")
    return data


def _check_folder(path: Path, model: str, task: str) -> None:
    folder = path.parent
    if folder.name != task:
        raise ValueError(
            f"its task {printable(repr(task))} does not match its folder {folder.name!r}"
        )
    if folder.parent.name != model_slug(model):
        raise ValueError(
            f"its model {printable(repr(model))} belongs in folder {model_slug(model)!r}, "
            f"not {folder.parent.name!r}"
        )


def read(directory: Path) -> StoredSummary | None:
    """The summary of the finished result in ``directory``, or None if absent or unusable."""
    try:
        return parse(Path(directory) / FILENAME)
    except ValueError:
        return None


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number: {value!r}")
    return float(value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} is missing or not a string")
    return value
