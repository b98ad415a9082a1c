"""Did a run collapse, and how long did it take to recover? (DESIGN 6.4)

Metastable failures are judged from the binned time series, not the run's totals: a system can
serve 90 % of a run's operations and still be dead at the end of it. Two metrics, both pure
functions of per-bin counts, so they can be tested on constructed series:

- `collapsed`: 1 when successes / arrivals < 0.5 over the last half of the measured window, else 0
  (NaN when that half holds no whole bin or no arrival). Successes are counted when they reach the
  client (the `successes` series, as the published collapse study counts them). It is a 0/1 per run
  so that its mean over replications is the fraction of replications that collapsed.
- `recovery_s`: seconds from the last disturbance (the end of the last fault window, or the last
  change of a load schedule) until the first 5 s window — slid bin by bin, starting at the first
  bin that begins at or after the disturbance — in which at least 90 % of the operations that
  *started* in it succeeded (`successes_by_start` / `starts`); NaN if no such window lies inside
  the measured window, or there was no disturbance. Counted by start, not by completion: right
  after a load spike the backlog's late successes outnumber the new arrivals, so a completion
  count reads "recovered" in a run that is about to collapse. A window, because single bins are
  noisy; windows with no arrival cannot show recovery and are skipped.
Only whole bins are used: a bin that straddles a boundary is left out rather than pro-rated.
"""
from __future__ import annotations

import math
from typing import Sequence

COLLAPSE_RATIO = 0.5
RECOVERY_RATIO = 0.9
RECOVERY_WINDOW = 5.0
_EPS = 1e-9


def whole_bins(bin_width: float, start: float, end: float, nbins: int) -> range:
    """Indices of the bins [i·w, (i+1)·w) lying entirely inside [start, end)."""
    first = math.ceil(start / bin_width - _EPS)
    last = min(nbins, math.floor(end / bin_width + _EPS))
    return range(max(0, first), max(0, last))


def collapsed(starts: Sequence[float], successes: Sequence[float], bin_width: float,
              t0: float, t1: float) -> float:
    """1.0 if successes / arrivals < 0.5 over the second half of [t0, t1), else 0.0 (NaN if unknown)."""
    if not math.isfinite(t1) or t1 <= t0:
        return math.nan
    bins = whole_bins(bin_width, (t0 + t1) / 2, t1, min(len(starts), len(successes)))
    arrivals = sum(starts[i] for i in bins)
    if not arrivals:
        return math.nan
    return 1.0 if sum(successes[i] for i in bins) < COLLAPSE_RATIO * arrivals else 0.0


def recovery_s(starts: Sequence[float], successes: Sequence[float], bin_width: float,
               disturbed_until: float | None, t1: float, window: float = RECOVERY_WINDOW) -> float:
    """Seconds from `disturbed_until` to the start of the first recovered window (NaN if none);
    `successes[i]`: operations started in bin i that succeeded."""
    if disturbed_until is None or not math.isfinite(t1):
        return math.nan
    width = max(1, round(window / bin_width))
    bins = whole_bins(bin_width, disturbed_until, t1, min(len(starts), len(successes)))
    for i in range(bins.start, bins.stop - width + 1):
        arrivals = sum(starts[i:i + width])
        if arrivals and sum(successes[i:i + width]) >= RECOVERY_RATIO * arrivals:
            return i * bin_width - disturbed_until
    return math.nan


def last_disturbance(fault_ends: Sequence[float | None], schedule_changes: Sequence[float | None]) -> float | None:
    """The latest finite fault-window end or schedule change time; None if there is none."""
    times = [t for t in (*fault_ends, *schedule_changes) if t is not None and math.isfinite(t)]
    return max(times) if times else None


__all__ = ["collapsed", "last_disturbance", "recovery_s", "whole_bins"]
