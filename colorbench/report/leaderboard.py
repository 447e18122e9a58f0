"""The leaderboard: one row per model, the headline figure of every task, built from results.

``colorbench leaderboard`` reads ``results/<model-slug>/<task>/summary.json`` (schema in
docs/ARCHITECTURE.md) and writes ``leaderboard/README.md``, ``leaderboard/leaderboard.csv``
and the models x tasks picture at the README's top, ``leaderboard/heatmap.png``
(:mod:`colorbench.report.heatmap`).
Everything is sorted and nothing depends on the clock, so regenerating from the same results
gives the same bytes and the files can be committed and diffed. Files that are not readable
colorbench summaries are skipped with a warning naming them, never fatal: a results folder is
shared by people and tools. Every string that came from a plugin or a user (model ids,
metrics, paths) is escaped, so a model id cannot break or inject into the table.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from colorbench.atomic import write_text
from colorbench.errors import ColorbenchError, suggest
from colorbench.names import csv_text
from colorbench.report import heatmap, reported
from colorbench.report.compare import comparison
from colorbench.report.markdown import escape
from colorbench.report.paired import PairedDifference
from colorbench.report.summary import parse

#: the leaderboard's configuration file, beside its README (see :class:`Settings`)
SETTINGS = "leaderboard.json"
#: how the README names the unit the Δ tests cluster by (``--cluster``)
UNITS = {
    None: "image, XKCD colour for color-naming (each headline's own unit)",
    "image": "image (`--cluster image`)",
    "combination": "factor combination (`--cluster combination`)",
}
#: how the README names a task's headline direction
DIRECTION = {True: "higher is better", False: "lower is better", None: "not a score"}


@dataclass(frozen=True)
class Settings:
    """What a leaderboard folder configures in ``leaderboard.json``; every key optional.

    ``baseline``: the model the other rows are compared with by default (when it has
    results); ``footer``: markdown lines closing the README (e.g. how to add a row);
    ``results``: the results folder the board is built from when ``--results`` is not
    given, relative to the leaderboard's folder (the committed board names its own
    ``results``, so regenerating it in a fresh clone never reads an unrelated
    ``./results`` and drops committed rows). The core names no model: which one is the
    baseline is this leaderboard's choice.
    """

    baseline: str | None = None
    footer: tuple[str, ...] = ()
    results: str | None = None


def read_settings(folder: Path) -> Settings:
    """``folder/leaderboard.json``, or the empty settings when there is none."""
    path = folder / SETTINGS
    if not path.exists():
        return Settings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ColorbenchError(
            f"cannot read {path} ({type(exc).__name__}); fix its JSON or remove it"
        ) from None
    baseline = data.get("baseline") if isinstance(data, dict) else None
    footer = data.get("footer", []) if isinstance(data, dict) else None
    results = data.get("results") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or set(data) - {"baseline", "footer", "results"}
        or not isinstance(baseline, str | None)
        or not isinstance(results, str | None)
        or not isinstance(footer, list)
        or not all(isinstance(line, str) for line in footer)
    ):
        raise ColorbenchError(
            f'{path} must be a JSON object with an optional "baseline" (a model id), '
            '"results" (the results folder, relative to it) and "footer" (a list of '
            "markdown lines); fix it or remove it"
        )
    return Settings(baseline, tuple(footer), results)


@dataclass(frozen=True)
class Score:
    """The headline of one (model, task) result and where its full table lives."""

    model: str
    task: str
    metric: str
    value: float
    n: int
    ci_low: float
    ci_high: float
    samples: int | None
    weights: str | None
    table: Path | None
    #: contrastive / generative / reference (provenance ``kind``)
    kind: str = "contrastive"
    #: how the answers were obtained: ``similarity``, ``likelihood (sum)``, ``generate``...
    scoring: str = "similarity"
    #: the summary.json it was read from (pairs it with the baseline's for the Δ test)
    source: Path | None = None
    #: the run's ``--target-ci`` (pp), when its samples were chosen by one
    target_ci: float | None = None
    #: the task's headline direction; None: not a score (shown, never coloured as good/bad)
    higher_is_better: bool | None = True


@dataclass
class Leaderboard:
    """Scores of every (model, task) found, the chosen baseline and the files skipped."""

    scores: list[Score]
    baseline: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: (model, task) -> the paired test of its Δ against the baseline; None: not testable
    tests: dict[tuple[str, str], PairedDifference | None] = field(default_factory=dict)
    #: markdown lines closing the README (:attr:`Settings.footer`)
    footer: tuple[str, ...] = ()
    #: the results folder it was built from
    results: Path | None = None
    #: the unit the Δ tests cluster rows by; None: each task's headline unit
    cluster: str | None = None

    @property
    def models(self) -> list[str]:
        return sorted({s.model for s in self.scores})

    @property
    def tasks(self) -> list[str]:
        return sorted({s.task for s in self.scores})

    def direction(self, task: str) -> bool | None:
        """The task's headline direction; None (not a score) unless every result says one."""
        found = {s.higher_is_better for s in self.scores if s.task == task}
        return found.pop() if len(found) == 1 else None

    def score(self, model: str, task: str) -> Score | None:
        for s in self.scores:
            if s.model == model and s.task == task:
                return s
        return None

    def delta(self, model: str, task: str) -> float | None:
        """Headline difference from the baseline model on ``task`` (None without one)."""
        mine, base = self.score(model, task), self.baseline and self.score(self.baseline, task)
        if mine is None or not base or model == self.baseline:
            return None
        return mine.value - base.value

    def to_frame(self, out_dir: Path) -> pd.DataFrame:
        """The wide table of the CSV: one row per model, six columns per task."""
        rows = []
        for model in self.models:
            row: dict[str, object] = {
                "model": csv_text(model),
                "kind": csv_text(self.kind(model)),
                "scoring": csv_text(self.scoring(model)),
                "weights": csv_text(self._weights(model, short=False)),
                "samples": self._samples(model),
            }
            for task in self.tasks:
                s, column = self.score(model, task), csv_text(task)
                row[column] = s.value if s else None
                row[f"{column} ci_low"] = s.ci_low if s else None
                row[f"{column} ci_high"] = s.ci_high if s else None
                row[f"{column} n"] = s.n if s else None
                row[f"{column} delta"] = self.delta(model, task)
                test = self.tests.get((model, task))
                row[f"{column} delta p"] = test.p_value if test else None
                row[f"{column} table"] = _link(s.table, out_dir) if s and s.table else None
            rows.append(row)
        frame = pd.DataFrame(rows)
        for task in self.tasks:
            frame[f"{csv_text(task)} n"] = frame[f"{csv_text(task)} n"].astype("Int64")
        return frame

    def to_markdown(self, out_dir: Path, results_dir: Path) -> str:
        """The README: legend, then one row per model with a linked cell per task."""
        base = f"`{escape(self.baseline)}`" if self.baseline else "none"
        lines = [
            "# colorbench leaderboard",
            "",
            f"![headline % of every model on every task, with 95% CI]({heatmap.FILENAME})",
            "",
            f"Generated by `colorbench leaderboard` from `{escape(_link(results_dir, out_dir))}`;"
            " do not edit by hand.",
            "Each cell is the task's headline figure with its 95% confidence interval and n,"
            " the number of samples it rests on; the figure links to the task's full table.",
            f"Δ is the difference from the baseline model ({base}); Δ\\* marks a difference"
            " significant at 95% by a paired test on the identical stimuli (as"
            " `colorbench compare`: exact McNemar with its exact interval, or a cluster-robust"
            f" t with G-1 df; rows clustered by {UNITS[self.cluster]}), Δ° one that could not"
            " be tested (different stimuli or results stored before headline hits were).",
            "",
            "| task | headline metric | direction | paper |",
            "|---|---|---|---|",
        ]
        for task in self.tasks:
            metrics = sorted({s.metric for s in self.scores if s.task == task})
            paper = reported.experiment(task) or "**beyond the paper**"
            way = DIRECTION[self.direction(task)]
            lines.append(f"| {escape(task)} | {escape(', '.join(metrics))} | {way} | {paper} |")
        header = ["model", "kind", "scoring", "weights", "samples / combination", *self.tasks]
        lines += [
            "",
            "| " + " | ".join(escape(h) for h in header) + " |",
            "|---" * len(header) + "|",
        ]
        for model in self.models:
            cells = [escape(model), escape(self.kind(model)), escape(self.scoring(model))]
            cells += [escape(self._weights(model)), escape(self._samples(model))]
            cells += [self._cell(model, task, out_dir) for task in self.tasks]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join([*lines, *reported.section(), *self.footer]) + "\n"

    def _cell(self, model: str, task: str, out_dir: Path) -> str:
        s = self.score(model, task)
        if s is None:
            return "—"
        value = f"{s.value:.1f}"
        if s.table is not None:
            value = f"[{value}]({_link(s.table, out_dir)})"
        delta = self.delta(model, task)
        if delta is not None:
            test = self.tests.get((model, task))
            mark = "°" if test is None else "\\*" if test.significant else ""
            value = f"{value} Δ{mark} {delta:+.1f}"
        if s.target_ci is not None:  # the achieved half-width next to the one asked for
            half = (s.ci_high - s.ci_low) / 2
            value = f"{value} ±{half:.2f} (target ±{s.target_ci:g})"
        return f"{value}<br>({s.ci_low:.1f}–{s.ci_high:.1f}, n={s.n})"  # two lines keep it narrow

    def kind(self, model: str) -> str:
        """The model's kind, or ``mixed`` if its results disagree."""
        found = {s.kind for s in self.scores if s.model == model}
        return found.pop() if len(found) == 1 else "mixed"

    def scoring(self, model: str) -> str:
        """How the model's answers were obtained, or ``mixed`` if its results disagree."""
        found = {s.scoring for s in self.scores if s.model == model}
        return found.pop() if len(found) == 1 else "mixed"

    def _weights(self, model: str, short: bool = True) -> str:
        """``random``, the weights' sha256 (12 digits when ``short``), ``mixed`` or ``?``."""
        found = {s.weights for s in self.scores if s.model == model and s.weights}
        if not found:
            return "?"
        if len(found) > 1:
            return "mixed"
        weights = found.pop()
        return weights[:12] if short and weights != "random" else weights

    def _samples(self, model: str) -> str:
        found = sorted({s.samples for s in self.scores if s.model == model and s.samples})
        if not found:
            return "?"
        return str(found[0]) if len(found) == 1 else f"{found[0]}–{found[-1]}"


def baseline_tests(
    board: Leaderboard, cluster: str | None = None
) -> dict[tuple[str, str], PairedDifference | None]:
    """The paired test of every Δ against the baseline, rows clustered by ``cluster``
    (:func:`colorbench.report.compare.comparison`); None where the pair cannot be made."""
    tests: dict[tuple[str, str], PairedDifference | None] = {}
    for model in board.models:
        for task in board.tasks:
            if board.delta(model, task) is None:
                continue
            mine, base = board.score(model, task), board.score(board.baseline or "", task)
            tests[(model, task)] = None
            if mine and base and mine.source and base.source:
                try:
                    result = comparison(mine.source, base.source, cluster).result
                    tests[(model, task)] = result
                except ColorbenchError:
                    pass  # different stimuli or older results: shown as untested
    return tests


def _link(path: Path, out_dir: Path) -> str:
    """A relative, URL-quoted POSIX link from the leaderboard's folder to ``path``."""
    rel = os.path.relpath(Path(path).resolve(), Path(out_dir).resolve())
    return quote(Path(rel).as_posix())


def scoring_label(provenance: dict) -> str:
    """How the row's answers were obtained, as the scoring column shows it: the mode, then
    how the question was put and scored (``likelihood (sum, end, open)``, ``generate
    (choices)``); results from before generative models were statements (``similarity``).
    The token limit stays in provenance."""
    scoring = provenance.get("scoring")
    if not isinstance(scoring, str) or not scoring:
        return "similarity"
    details = [provenance.get("normalization")]
    if provenance.get("score_end"):
        details.append("end")
    details.append(provenance.get("question_form"))
    shown = [d for d in details if isinstance(d, str) and d]
    return f"{scoring} ({', '.join(shown)})" if shown else scoring


def read_score(path: Path) -> Score:
    """One summary.json as a leaderboard score; ``ValueError`` says why a file is not usable."""
    stored = parse(path)
    samples = stored.provenance.get("samples")
    weights = stored.provenance.get("weights_sha256")
    target = stored.provenance.get("target_ci")
    kind = stored.provenance.get("kind")
    if not isinstance(kind, str) or not kind:
        # results from before adapters declared a kind: a reference adapter or a contrastive one
        kind = "reference" if "reference" in stored.provenance else "contrastive"
    h = stored.headline
    return Score(
        model=stored.model,
        task=stored.task,
        metric=h.metric,
        value=h.value,
        n=h.n,
        ci_low=h.ci_low,
        ci_high=h.ci_high,
        samples=samples if isinstance(samples, int) and not isinstance(samples, bool) else None,
        weights=weights if isinstance(weights, str) else None,
        table=stored.file("table"),
        kind=kind,
        scoring=scoring_label(stored.provenance),
        source=Path(path),
        target_ci=target
        if isinstance(target, int | float) and not isinstance(target, bool)
        else None,
        higher_is_better=stored.higher_is_better,
    )


def collect(results: Path) -> Leaderboard:
    """Read every ``results/*/*/summary.json``; skip, with a warning, what cannot be used."""
    if not results.is_dir():
        raise ColorbenchError(
            f"results folder {results} does not exist; run `colorbench run` first or pass --results"
        )
    board = Leaderboard(scores=[])
    for path in sorted(results.glob("*/*/summary.json")):
        try:  # parse ties each summary to its folder, so no (model, task) is found twice
            board.scores.append(read_score(path))
        except ValueError as exc:
            board.warnings.append(f"skipping {path}: {exc}")
    return board


def results_folder(results: Path | None, out: Path) -> Path:
    """The results folder a board is built from: ``--results`` when given, else the one
    ``leaderboard.json`` beside ``out`` names (relative to that folder), else ``results``."""
    if results is not None:
        return Path(results)
    named = read_settings(Path(out).parent).results
    return Path(out).parent / named if named is not None else Path("results")


def build(
    results: Path | None = None,
    out: Path = Path("leaderboard/README.md"),
    baseline: str | None = None,
    cluster: str | None = None,
) -> Leaderboard:
    """Write ``out`` (markdown), ``leaderboard.csv`` and the heatmap beside it; return what
    was built. ``results`` defaults to :func:`results_folder`.

    ``baseline`` defaults to the settings' baseline (``leaderboard.json`` beside ``out``)
    when that model has results, else no baseline; a baseline that was asked for but has
    no results is an error that suggests the nearest model.
    """
    if Path(out).suffix.lower() != ".md":
        raise ColorbenchError(
            f"--out {out} is not a markdown (.md) file; leaderboard.csv and the heatmap are "
            "written beside it, so pass e.g. --out leaderboard/README.md"
        )
    settings = read_settings(out.parent)
    results = results_folder(results, out)
    board = collect(results)
    board.results = results
    board.footer = settings.footer
    if baseline is not None and baseline not in board.models:
        raise ColorbenchError(
            f"baseline model {baseline!r} has no results in {results}"
            f"{suggest(baseline, board.models)}"
        )
    default = settings.baseline if settings.baseline in board.models else None
    board.baseline = baseline or default
    board.cluster = cluster
    board.tests = baseline_tests(board, cluster)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text(out, board.to_markdown(out.parent, results))
    write_text(out.parent / "leaderboard.csv", board.to_frame(out.parent).to_csv(index=False))
    heatmap.draw(board, out.parent / heatmap.FILENAME)
    return board
