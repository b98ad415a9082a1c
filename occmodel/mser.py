"""MSER-5: where a run's start-up transient ends, read off its own time series.

The Marginal Standard Error Rule (White 1997; MSER-5: White, Cobb & Spratt 2000) truncates the
first d batches of a series so that the mean of what is left is as precise as it can be: the
observations are averaged in consecutive batches of 5 (Z_1 … Z_m, a partial last batch dropped),
and d* minimises

    MSER(d) = Σ_{j>d} (Z_j − Z̄_d)² / (m − d)²      (Z̄_d: the mean of Z_{d+1} … Z_m)

over d = 0 … ⌊m/2⌋. Removing transient batches shrinks the squared deviations faster than the
shrinking count inflates the statistic; removing steady-state ones does not pay. The search stops
at half the series, as the rule's authors advise: with only a few batches left the statistic is
often tiny by chance (two batch means that happen to agree), and on noisy per-bin counts such a
late minimum would win most of the time. A minimum on that limit means the series had not settled
by half its length: `Truncation.settled` is False there, and callers say so.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

BATCH = 5


class Truncation(NamedTuple):
    """MSER-5's answer: truncate `batches` × 5 observations; `settled` when d* is below the limit ⌊m/2⌋."""

    batches: int
    observations: int
    settled: bool


def mser_statistic(series: Sequence[float], batch: int = BATCH) -> np.ndarray:
    """MSER(d) for d = 0 … m − 2 of the batch means of `series` (empty when m < 2); the rule
    reads its first ⌊m/2⌋ + 1 values."""
    x = np.asarray(series, dtype=float)
    m = x.size // batch
    if m < 2:
        return np.zeros(0)
    z = x[: m * batch].reshape(m, batch).mean(axis=1)
    out = np.empty(m - 1)
    for d in range(m - 1):
        tail = z[d:]
        out[d] = float(np.sum((tail - tail.mean()) ** 2)) / tail.size ** 2
    return out


def mser5(series: Sequence[float], batch: int = BATCH) -> Truncation:
    """The truncation point of one series; ties go to the smaller d (truncate no more than needed).

    A series too short for two batches cannot be judged: nothing is truncated and it is not settled."""
    full = mser_statistic(series, batch)
    if full.size == 0:
        return Truncation(0, 0, False)
    half = (full.size + 1) // 2                      # ⌊m/2⌋
    stat = full[: half + 1]
    # a constant tail computes as 0 or as rounding noise (a mean of equal floats need not equal
    # them): both are "no variance", hence a tolerance on the scale of the data's squares
    scale = float(np.max(np.abs(np.asarray(series, dtype=float)))) ** 2
    best = float(stat.min())
    d = int(np.flatnonzero(stat <= best * (1 + 1e-9) + 1e-20 * scale)[0])
    return Truncation(d, d * batch, d < half or half == 0)


def truncate(series: Sequence[Sequence[float]], batch: int = BATCH) -> Truncation:
    """The truncation of several series of one run: the latest of their points (each output must
    have left its transient), settled only if every one is."""
    found = [mser5(s, batch) for s in series]
    latest = max(found, key=lambda t: t.batches)
    return Truncation(latest.batches, latest.observations, all(t.settled for t in found))
