"""Answer margins: how close each answer came to being another colour.

Every predictions row stores ``margin``, the chosen candidate's score minus the
runner-up's (:func:`colorbench.runner.scoring.answers_from_scores`). A margin below
:data:`NEAR_TIE` is an answer that another precision (fp16 / bf16), device or batch
size could flip, so ``summary.json`` counts them: a headline resting on many near-ties
is less reproducible than its interval suggests.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: a margin below this is a near-tie. In cosine-similarity units (contrastive models):
#: about one rounding step of a similarity near 0.2-0.3 in bf16 (2^-9 ~ 0.002 at 0.25)
#: and several in fp16 (2^-12 ~ 0.0002), so such answers may change with the precision.
NEAR_TIE = 1e-3


def margin_report(predictions: pd.DataFrame, threshold: float = NEAR_TIE) -> dict[str, Any]:
    """The ``margins`` block of ``summary.json``: rows with a margin, near-ties, quartiles.

    Rows without a margin (free-text answers, one candidate, results from before margins
    were stored) are not counted; ``rows`` says how many were. ``by_prompt`` repeats the
    two counts per prompt.
    """
    if "margin" not in predictions.columns:
        return {"threshold": threshold, "rows": 0, "near_ties": 0}
    frame = pd.DataFrame(
        {"prompt": predictions["prompt"].astype(str), "margin": predictions["margin"]}
    ).dropna(subset=["margin"])
    near = frame["margin"] < threshold
    report: dict[str, Any] = {
        "threshold": threshold,
        "rows": int(len(frame)),
        "near_ties": int(near.sum()),
    }
    if frame.empty:
        return report
    q1, median, q3 = np.quantile(frame["margin"].to_numpy(dtype=float), [0.25, 0.5, 0.75])
    report["near_ties_pct"] = 100 * report["near_ties"] / report["rows"]
    report["quartiles"] = [float(q1), float(median), float(q3)]
    grouped = near.groupby(frame["prompt"], sort=False)
    report["by_prompt"] = {
        str(p): {"rows": int(g.size), "near_ties": int(g.sum())} for p, g in grouped
    }
    return report
