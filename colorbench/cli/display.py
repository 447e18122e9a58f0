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

from colorbench.plugin.registry import Entry, Registry
from colorbench.plugin.task import TaskSummary

#: a plugin listing more exact model ids than this is collapsed unless ``--all``
COLLAPSE_OVER = 12
#: how many ids of a collapsed plugin are still shown
COLLAPSED_SHOWN = 6


def cell(value: object) -> Text:
    """A table cell: floats to one decimal, everything else literally."""
    if isinstance(value, float):
        return Text("" if pd.isna(value) else f"{value:.1f}")
    return Text(str(value))


def merge_intervals(frame: pd.DataFrame) -> pd.DataFrame:
    """Fold each ``X_pct, X_ci_low, X_ci_high`` triple into one ``X %`` column, "87.5 (80.1–92.3)".

    Tasks store the three numbers separately (machine-readable); a person reads them together,
    and three columns per outcome make the terminal tables too wide to read.
    """
    names = [str(c) for c in frame.columns]
    bases = {
        n[: -len("_pct")]
        for n in names
        if n.endswith("_pct") and {f"{n[:-4]}_ci_low", f"{n[:-4]}_ci_high"} <= set(names)
    }
    bounds = {f"{b}_ci_{end}" for b in bases for end in ("low", "high")}
    columns: dict[str, object] = {}
    for column, name in zip(frame.columns, names, strict=True):
        base = name.removesuffix("_pct")
        if base in bases and name == f"{base}_pct":
            triples = zip(
                frame[column], frame[f"{base}_ci_low"], frame[f"{base}_ci_high"], strict=True
            )
            columns[f"{base} %"] = [_interval(*t) for t in triples]
        elif name not in bounds:
            columns[name] = frame[column].tolist()
    return pd.DataFrame(columns, index=frame.index)


def _interval(value: float, low: float, high: float) -> str:
    return "" if pd.isna(value) else f"{value:.1f} ({low:.1f}–{high:.1f})"


def frame_table(frame: pd.DataFrame, title: str) -> Table:
    """A DataFrame as a rich table, its index (levels joined by " / ") as the first column."""
    table = Table(title=Text(title), title_justify="left")
    merged = merge_intervals(frame)
    table.add_column(Text(" / ".join(str(n) for n in frame.index.names if n is not None)))
    for column in merged.columns:
        table.add_column(Text(str(column)), justify="right")
    for key, row in zip(merged.index, merged.itertuples(index=False), strict=True):
        label = " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)
        table.add_row(Text(label), *(cell(v) for v in row))
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
        shown = exact
        if not show_all and len(exact) > COLLAPSE_OVER:
            # the shortest ids are usually the canonical ones (openai-RN50, not a long tag)
            shortest = sorted(exact, key=lambda e: (len(e.name), e.name))[:COLLAPSED_SHOWN]
            shown = sorted(shortest, key=lambda e: e.name)
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


def results_table(results: Iterable) -> Table:
    """The closing overview of a run: one row per (model, task) with its headline and folder."""
    rows = []
    for r in results:
        h = r.summary.headline
        rows.append(
            (r.model, r.task, h.metric, _interval(h.value, h.ci_low, h.ci_high), h.n, r.path)
        )
    columns = ("model", "task", "headline", "value (95% CI)", "n", "stored in")
    return _entries_table("results", columns, rows)


def comparison_table(comparisons: Iterable) -> Table:
    """``colorbench compare``: one row per task, A and B, the paired difference and its test."""
    rows = []
    for c in comparisons:
        r = c.result
        mark = "yes" if r.significant else "no"
        rows.append(
            (
                c.task,
                c.metric,
                f"{r.a_pct:.1f}",
                f"{r.b_pct:.1f}",
                f"{r.difference:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}]",
                f"{r.a_only} / {r.b_only}",
                f"{r.p_value:.3g}",
                mark,
                f"{r.n} ({r.clusters} {c.cluster}s)",
                r.test,
            )
        )
    first = next(iter(comparisons), None)
    a, b = (first.a, first.b) if first else ("A", "B")
    columns = ("task", "headline", a, b, "A − B (95% CI)", "only A / only B right", "p",
               "significant (95%)", "paired rows", "test")  # fmt: skip
    return _entries_table(f"{a} (A) vs {b} (B), paired on identical stimuli", columns, rows)
