"""``colorbench compare A B``: is model A better than model B on a task, given the same stimuli?

Both results must come from the same stimuli (stimulus seed and palette), so each row of A
has its twin in B: the same image asked the same prompt. Runs with different samples per
combination (``--target-ci`` against ``--samples 500``) share the first ``n`` samples of
every combination, the smaller run's images; they are compared on those. The
rows are paired on ``(sample_id, prompt)`` and compared on ``headline_hit``, the per-row
value the task's headline is the percentage of (:meth:`colorbench.plugin.task.Task.headline_hits`);
the statistics are in :mod:`colorbench.report.paired`. The leaderboard marks its deltas against the
baseline with the same comparison.

Rows are clustered by ``image`` (the default for most tasks: the estimand is the model's
score on this very set of images, and the rows that share an image are paired) or by
``combination`` (``--cluster combination``: rows drawn from one factor combination share
its palette colours, shape and font, so the estimand generalises over samples of the
combinations, a much wider interval). Each task's own headline states its unit in
``summary.json`` (color-naming clusters by XKCD colour, its combination unit) and that is
the default, so compare and the headline interval agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from colorbench.config import CLUSTER_UNITS
from colorbench.errors import ColorbenchError
from colorbench.plugin.task import COMBINATION_UNIT
from colorbench.report import summary as summary_json
from colorbench.report.paired import PairedDifference, paired_difference
from colorbench.report.results import result_dir

#: the per-row column a headline is the percentage of (written by ``Task.grade``)
HIT = "headline_hit"
KEYS = ("sample_id", "prompt")
#: provenance that must agree for two results to have seen the same stimuli
SAME_STIMULI = ("seed", "palette")


@dataclass(frozen=True)
class Comparison:
    """One task's paired comparison of model ``a`` against model ``b``."""

    task: str
    metric: str
    a: str
    b: str
    result: PairedDifference
    #: the unit rows were clustered by (:data:`colorbench.config.CLUSTER_UNITS`)
    cluster: str = "image"


def comparison(a_summary: Path, b_summary: Path, cluster: str | None = None) -> Comparison:
    """Compare the results whose ``summary.json`` files are given (A minus B).

    ``cluster`` is ``image`` or ``combination``; None takes the unit the task's headline
    uses (stored in A's ``summary.json``). ``ColorbenchError`` (one line, naming the fix)
    when they cannot be paired.
    """
    if cluster is not None and cluster not in CLUSTER_UNITS:
        raise ColorbenchError(f"--cluster {cluster!r}: use one of {', '.join(CLUSTER_UNITS)}")
    a, b = _load(a_summary), _load(b_summary)
    (sa, ha), (sb, hb) = a, b
    if sa.task != sb.task:
        raise ColorbenchError(f"cannot compare task {sa.task!r} with task {sb.task!r}")
    differ = [k for k in SAME_STIMULI if sa.provenance.get(k) != sb.provenance.get(k)]
    if differ:
        what = ", ".join(
            f"{k} {sa.provenance.get(k)!r} vs {sb.provenance.get(k)!r}" for k in differ
        )
        raise ColorbenchError(
            f"{sa.model} and {sb.model} did not see the same {sa.task} stimuli ({what}); "
            "re-run one with the other's --seed / --palette"
        )
    pairs = ha.merge(hb, on=list(KEYS), how="outer", suffixes=("_a", "_b"), indicator=True)
    pairs = pairs[pairs["_merge"] != _larger(sa, sb)]  # the larger run's extra samples
    if not (pairs["_merge"] == "both").all():
        raise ColorbenchError(
            f"{sa.model} and {sb.model} answered different {sa.task} rows; "
            "re-run both with the same options"
        )
    pairs = pairs.dropna(subset=[f"{HIT}_a", f"{HIT}_b"])
    if pairs.empty:
        raise ColorbenchError(f"no {sa.task} row counts for the headline in both results")
    unit = cluster or sa.cluster
    labels = pairs["sample_id"] if unit == "image" else pairs[f"{COMBINATION_UNIT}_a"]
    result = paired_difference(
        pairs[f"{HIT}_a"].astype(bool), pairs[f"{HIT}_b"].astype(bool), labels
    )
    return Comparison(sa.task, sa.headline.metric, sa.model, sb.model, result, unit)


def _larger(a: summary_json.StoredSummary, b: summary_json.StoredSummary) -> str | None:
    """Which side's rows beyond the other's samples are left out (merge indicator value)."""
    na, nb = a.provenance.get("samples"), b.provenance.get("samples")
    if not isinstance(na, int) or not isinstance(nb, int) or na == nb:
        return None
    return "left_only" if na > nb else "right_only"


def compare(
    results: Path, a: str, b: str, tasks: list[str] | None = None, cluster: str | None = None
) -> list[Comparison]:
    """Compare models ``a`` and ``b`` in the results store on ``tasks`` (default: every
    task both have a finished result for), rows clustered by ``cluster`` (:func:`comparison`)."""
    if tasks is None:
        tasks = sorted(set(_finished(results, a)) & set(_finished(results, b)))
        if not tasks:
            raise ColorbenchError(
                f"{a} and {b} have no finished task in common in {results}; "
                "run both with `colorbench run` first"
            )
    return [
        comparison(
            result_dir(results, a, t) / summary_json.FILENAME,
            result_dir(results, b, t) / summary_json.FILENAME,
            cluster,
        )
        for t in tasks
    ]


def _finished(results: Path, model: str) -> list[str]:
    folder = result_dir(results, model, "x").parent
    return [p.parent.name for p in folder.glob(f"*/{summary_json.FILENAME}")]


def _load(path: Path) -> tuple[summary_json.StoredSummary, pd.DataFrame]:
    """A finished result's summary and its ``(sample_id, prompt, headline_hit,
    combination_unit)`` rows (``combination_unit`` is the ``combination`` column in results
    graded before tasks stored one)."""
    try:
        stored = summary_json.parse(path)
    except ValueError as exc:
        raise ColorbenchError(
            f"no usable result at {path.parent} ({exc}); run `colorbench run` for it first"
        ) from None
    predictions = stored.file("predictions")
    if predictions is None:
        raise ColorbenchError(f"{path.parent} lists no predictions file; re-run that result")
    try:
        names = set(pq.read_schema(predictions).names)
        unit = COMBINATION_UNIT if COMBINATION_UNIT in names else "combination"
        frame = pq.read_table(predictions, columns=[*KEYS, HIT, unit]).to_pandas()
        frame = frame.rename(columns={unit: COMBINATION_UNIT})
    except (OSError, ValueError, KeyError):
        raise ColorbenchError(
            f"{predictions} has no readable {HIT} column (older colorbench, or damaged); "
            "re-run that result with --no-resume"
        ) from None
    hits = frame[HIT].dropna().astype(bool)
    if hits.empty or abs(100 * hits.mean() - stored.headline.value) > 1e-6:
        raise ColorbenchError(
            f"{stored.task}'s headline is not the % of its {HIT} rows in {path.parent}; "
            "compare can only pair headlines that are a percentage of answers"
        )
    return stored, frame
