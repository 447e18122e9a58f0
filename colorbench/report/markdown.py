"""Markdown output that plugin- and user-supplied text cannot break or inject into."""

from __future__ import annotations

import html
import re

import pandas as pd

from colorbench.names import printable


def escape(text: object) -> str:
    """Make any value safe inside a markdown table cell.

    Model ids, labels and paths come from plugins and users: ``|`` would split a cell,
    a newline would end the row, raw HTML would render and a terminal escape sequence would
    act on whoever cats the file. All are neutralised.
    """
    s = html.escape(printable(" ".join(str(text).split())), quote=False)
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", s)


def table(df: pd.DataFrame, index: bool = True, floatfmt: str = "{:.1f}") -> str:
    """Render a DataFrame as a GitHub markdown table with escaped cells."""
    frame = df.reset_index() if index else df
    header = [escape(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in frame.itertuples(index=False):
        cells = [floatfmt.format(v) if isinstance(v, float) else escape(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
