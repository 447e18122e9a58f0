"""Anytime-valid intervals for ``--stop-early``: an empirical-Bernstein confidence sequence.

A run that looks at its intervals after every round and stops once they are narrow
enough cannot report a fixed-size interval (optional stopping breaks its coverage). It
reports a *confidence sequence* instead: intervals ``C_t`` that hold the mean at every
``t`` simultaneously with probability >= 1 - alpha, so stopping at any data-dependent
round keeps the coverage.

The sequence is the predictable-plug-in empirical-Bernstein CS of Waudby-Smith & Ramdas
(2024, JRSSB 86(1), Theorem 2; the supermartingale is Howard et al. 2021, Ann. Stat. 49(2)),
for observations ``X_i`` in [0, 1]::

    C_t = ( sum_i lam_i X_i / sum_i lam_i )
          +- ( log(2/alpha) + sum_i v_i psi_E(lam_i) ) / sum_i lam_i
    v_i = 4 (X_i - mu_{i-1})^2,        psi_E(lam) = (-log(1 - lam) - lam) / 4
    mu_t = (1/2 + sum_{i<=t} X_i) / (t + 1)
    s2_t = (1/4 + sum_{i<=t} (X_i - mu_i)^2) / (t + 1)
    lam_i = min( sqrt( 2 log(2/alpha) / (s2_{i-1} t* log(1 + t*)) ), c ),  c = 1/2

Here an observation is one image: its share of headline hits over the prompts asked about
it (several prompts on one image are one observation, so clustering is accounted for).
Images come in *rounds*, one per combination of the figure; ``lam`` is held constant
within a round (chosen from the rounds before, with ``t*`` the round's middle index).
The supermartingale of Howard et al. holds for observations whose conditional means
differ, and bounds the ``lam``-weighted mean of those means; with ``lam`` constant within
each round that weighted mean is, at every round's end, exactly the mean of the cell
means, which is what the fixed-size figure estimates. So the sequence is valid at round
ends, where ``--stop-early`` looks.
"""

from __future__ import annotations

import math

import numpy as np

#: the cap on lam (Waudby-Smith & Ramdas suggest 1/2 or 3/4)
LAM_CAP = 0.5


class ConfidenceSequence:
    """The empirical-Bernstein CS, fed one round of observations at a time."""

    def __init__(self, alpha: float = 0.05) -> None:
        self.log_term = math.log(2 / alpha)
        self.t = 0  # observations so far
        self.sum_x = self.sum_sq = 0.0  # for mu_t and s2_t
        self.sum_lam = self.sum_lam_x = self.sum_penalty = 0.0

    def update(self, values: np.ndarray) -> None:
        """Add one round: its observations in [0, 1], in order, all at the same ``lam``."""
        x = np.clip(np.asarray(values, dtype=float), 0.0, 1.0)
        if x.size == 0:
            return
        s2 = (0.25 + self.sum_sq) / (self.t + 1)
        middle = self.t + (x.size + 1) / 2
        lam = min(math.sqrt(2 * self.log_term / (s2 * middle * math.log1p(middle))), LAM_CAP)
        index = self.t + np.arange(x.size)  # i - 1 for each observation i of the round
        before = self.sum_x + np.concatenate(([0.0], np.cumsum(x)[:-1]))
        mu_before = (0.5 + before) / (index + 1)  # mu_{i-1}
        mu_after = (0.5 + before + x) / (index + 2)  # mu_i
        psi = (-math.log1p(-lam) - lam) / 4
        self.sum_penalty += psi * float(np.sum(4 * (x - mu_before) ** 2))
        self.sum_lam += lam * x.size
        self.sum_lam_x += lam * float(x.sum())
        self.sum_sq += float(np.sum((x - mu_after) ** 2))
        self.sum_x += float(x.sum())
        self.t += x.size

    def interval(self) -> tuple[float, float]:
        """``(centre, half-width)`` now (infinite before any observation)."""
        if self.sum_lam == 0:
            return float("nan"), float("inf")
        return self.sum_lam_x / self.sum_lam, (self.log_term + self.sum_penalty) / self.sum_lam


def confidence_sequence(
    values: np.ndarray, round_sizes: list[int] | np.ndarray, alpha: float = 0.05
) -> tuple[float, float]:
    """``(centre, half-width)`` of the CS after the given rounds: ``values`` in order,
    ``round_sizes`` how many of them each round holds."""
    cs = ConfidenceSequence(alpha)
    bounds = np.cumsum([0, *round_sizes])
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        cs.update(np.asarray(values)[start:stop])
    return cs.interval()
