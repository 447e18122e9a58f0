"""Terminal rendering with rich: task summaries after a run, and the ``colorbench list`` tables.

Every string shown here may come from a plugin (ids, labels, descriptions), so cells are
built as :class:`rich.text.Text`, never parsed as rich markup: a model called ``[red]x``
prints as itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from colorbench.registry import Entry, Registry
from colorbench.task import TaskSummary

#: a plugin listing more exact model ids than this is collapsed unless ``--all``
COLLAPSE_OVER = 12
#: how many ids of a collapsed plugin are still shown
COLLAPSED_SHOWN = 6


def cell(value: object) -> Text:
    """A table cell: floats to one decimal, everything else literally."""
    if isinstance(value, float):
        return Text("" if pd.isna(value) else f"{value:.1f}")
    return Text(str(value))


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    """A DataFrame as a rich table, keeping its index as the first column."""
    table = Table(title=Text(title), title_justify="left")
    flat = frame.reset_index()
    for i, column in enumerate(flat.columns):
        table.add_column(Text(str(column)), justify="left" if i == 0 else "right")
    for row in flat.itertuples(index=False):
        table.add_row(*(cell(v) for v in row))
    return table


def print_summary(
    console: Console, model: str, summary: TaskSummary, path: Path | None = None
) -> None:
    """The headline and every table of one (model, task) result, then where it is stored."""
    h = summary.headline
    console.rule(Text(f"{model} · {summary.task}"))
    console.print(
        Text(f"{h.metric}: {h.value:.1f} (95% CI {h.ci_low:.1f}–{h.ci_high:.1f}, n={h.n})"),
        style="bold",
    )
    for name, frame in summary.tables.items():
        console.print(frame_table(frame, name))
    if path is not None:
        console.print(Text(f"written to {path}"), style="dim")


def _entries_table(title: str, columns: Iterable[str], rows: Iterable[Iterable[object]]) -> Table:
    table = Table(title=Text(title), title_justify="left")
    for column in columns:
        table.add_column(Text(column))
    for row in rows:
        table.add_row(*(Text(str(v)) for v in row))
    return table


def models_table(models: Registry, show_all: bool = False) -> Table:
    """Models by plugin; patterns stay patterns, long id lists collapse to a few and a count."""
    by_plugin: dict[str, list[Entry]] = {}
    for entry in models:
        by_plugin.setdefault(entry.plugin, []).append(entry)
    rows: list[tuple[str, str, str]] = []
    for plugin in sorted(by_plugin):
        entries = by_plugin[plugin]
        patterns = [e for e in entries if e.is_pattern]
        exact = [e for e in entries if not e.is_pattern]
        shown = exact if show_all or len(exact) <= COLLAPSE_OVER else exact[:COLLAPSED_SHOWN]
        rows += [(e.name, plugin, e.description) for e in patterns + shown]
        if len(shown) < len(exact):
            rows.append(
                (
                    f"… {len(exact) - len(shown)} more ({len(exact)} ids)",
                    plugin,
                    "`colorbench list models --all` shows them all",
                )
            )
    return _entries_table("models", ("id or pattern", "plugin", "description"), rows)


def tasks_table(tasks: Registry) -> Table:
    rows = [
        (e.name, getattr(e.obj, "stimulus_set", ""), getattr(e.obj, "reference", ""), e.plugin)
        for e in tasks
    ]
    return _entries_table("tasks", ("task", "stimulus set", "reference", "plugin"), rows)


def named_table(title: str, registry: Registry) -> Table:
    """Stimulus sets or analyses: name, plugin, description."""
    rows = [(e.name, e.plugin, e.description) for e in registry]
    return _entries_table(title, ("name", "plugin", "description"), rows)


def plugins_table(sources: dict[str, str]) -> Table:
    return _entries_table("plugins", ("name", "source"), sorted(sources.items()))
