"""`warmup = "auto"`: each run's warm-up found by MSER-5 on its own trajectory; and the check of
an explicit warm-up against what MSER-5 finds.

A run's metrics are over the operations that *start* in [warmup, warmup + duration) (issue 12),
so the warm-up must be known before the run measures anything: truncating a finished run post hoc
would need every operation's record, and would shrink the measured window. Instead each run is
simulated twice on the same random streams (seed, replication). The pilot runs [0, duration)
with no drain and fine bins; MSER-5 on its per-bin series of successes and conflicts (the output,
and the contention that drives every per-operation metric) gives the truncation point w. The
measured run then simulates [0, w + duration + drain) and measures [w, w + duration): its first
w seconds are the pilot's own (nothing in the model's dynamics depends on where the window
starts), so w is this run's truncation point, and every run measures a full `duration`. The cost
is one extra `duration` of simulated time per run.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from .config import Scenario
from .model import simulate
from .mser import BATCH, truncate

SERIES = ("successes", "conflicts")   # the per-bin series MSER-5 reads
PILOT_BINS = 250                      # 50 batches of five over the pilot: enough for MSER to resolve
MIN_BATCHES = 10                      # fewer in a saved series: an explicit warm-up is not checked


class Found(NamedTuple):
    """A run's warm-up: `seconds`, whether MSER-5's minimum was in the first half of the series
    (`settled`), and the bin width of the series it read."""

    seconds: float
    settled: bool
    bin_s: float

    def record(self) -> dict[str, Any]:
        return {"s": self.seconds, "settled": self.settled, "bin_s": self.bin_s}


def pilot_bin(duration: float, bin_width: float) -> float:
    """The pilot's bin: the experiment's, or finer so that the pilot has PILOT_BINS bins."""
    return min(bin_width, duration / PILOT_BINS)


def find(scenario: Scenario, *, seed: int, replication: int, duration: float, bin_width: float,
         max_event_rate: float) -> Found:
    """The warm-up of replication `replication` of `scenario`: MSER-5 on its pilot."""
    width = pilot_bin(duration, bin_width)
    pilot = simulate(scenario, seed=seed, replication=replication, duration=duration, warmup=0.0, bin=width,
                     drain=0.0, max_event_rate=max_event_rate)
    return from_series(pilot.timeseries, width) or Found(0.0, False, width)


def from_series(timeseries: dict[str, list[float]], bin_width: float, min_batches: int = 2) -> Found | None:
    """MSER-5 on a run's saved series (bins of `bin_width` from t = 0); None when the series has
    fewer than `min_batches` batches of five bins."""
    if len(timeseries.get("t_s", [])) < min_batches * BATCH:
        return None
    t = truncate([timeseries[name] for name in SERIES])
    return Found(t.observations * bin_width, t.settled, bin_width)


def check(timeseries: dict[str, list[float]], bin_width: float) -> Found | None:
    """What MSER-5 finds on an explicit-warm-up run's series (warm-up and window together);
    None when the series is too short to judge (MIN_BATCHES)."""
    return from_series(timeseries, bin_width, MIN_BATCHES)
