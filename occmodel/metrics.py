"""Per-run measurement in bounded memory.

The model calls a handful of counting methods per attempt; nothing allocates per event except
floats appended to latency buffers, which are folded into log-bucketed histograms every
`FOLD` values (relative bucket width 0.1 %, so percentiles are exact to ±0.05 % while memory
stays fixed however long the run).

The measured population is every operation that *started* in the window [warmup, warmup +
duration): its attempts and outcomes count wherever they happen, so an operation still
running when the window closes is followed through the drain (the model keeps the load running)
instead of being dropped, which would cut off exactly the slow tail. What is still unfinished
when the drain ends is `censored`. Rates (throughput, offered) and time averages (utilization,
concurrency, breaker open fraction) are per second of the window. `p50_ms ...` cover successful
operations only; `all_*_ms` every finished one, whatever its outcome (a policy that gives up
early cannot look fast there). The time series covers the whole run, warm-up included, one
list slot per bin.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .guards import MAX_BINS, too_many_bins
from .keystats import KeyStats
from .outcomes import CONFLICT, ERROR, OK, REJECTED, TIMEOUT, TOO_OLD

METRICS = (
    "throughput", "offered", "success_rate", "attempts_per_op", "conflict_rate", "gave_up", "rejected",
    "timeouts", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "all_mean_ms", "all_p50_ms",
    "all_p90_ms", "all_p99_ms", "all_p999_ms", "all_max_ms", "censored", "breaker_open_fraction",
    "breaker_transitions", "store_utilization", "mean_version_gap", "p50_version_gap", "p99_version_gap",
    "max_version_gap", "top_key_conflict_share", "makespan_s", "calls",
    "operations", "successes", "errors", "concurrency", "cache_hit_rate", "collapsed", "recovery_s", "events",
    "wall_s",
)
# `successes` are counted in the bin where the success reached the client; `successes_by_start` in
# the bin where that operation started (so a backlog served late cannot pass for recovery)
SERIES = ("starts", "successes", "successes_by_start", "conflicts", "retries", "rejections", "timeouts",
          "breaker_open")

FOLD = 65536
RESOLUTION = 0.001                  # relative width of a latency bucket
_LOG_STEP = math.log1p(RESOLUTION)
_FLOOR = 1e-9                       # 1 ns: everything below shares the first bucket
_BUCKETS = int(math.log(1e7 / _FLOOR) / _LOG_STEP) + 1   # up to ~116 days


class LatencyHistogram:
    """Exact count, sum and max; percentiles from 0.1 %-wide log buckets. The buckets in use lie
    between `lo` and `hi`, so that the work at the end of a run (quantiles, the non-empty buckets)
    scans those, not all ~37,000."""

    def __init__(self) -> None:
        self.buffer: list[float] = []
        self.counts = np.zeros(_BUCKETS, dtype=np.int64)
        self.n, self.total, self.max = 0, 0.0, 0.0
        self.lo, self.hi = _BUCKETS, -1                          # first and last bucket in use
        self.cumulative: tuple[int, np.ndarray] | None = None   # (n, cumsum of counts[lo:hi + 1])

    def fold(self) -> None:
        if not self.buffer:
            return
        values = np.asarray(self.buffer)
        self.buffer.clear()
        self.add(values)

    def add(self, values: np.ndarray) -> None:
        if not len(values):
            return
        self.n += len(values)
        self.total += float(values.sum())
        self.max = max(self.max, float(values.max()))
        idx = np.clip((np.log(np.maximum(values, _FLOOR) / _FLOOR) / _LOG_STEP).astype(np.int64), 0, _BUCKETS - 1)
        lo, hi = int(idx.min()), int(idx.max())
        self.counts[lo:hi + 1] += np.bincount(idx - lo, minlength=hi - lo + 1)
        self.lo, self.hi = min(self.lo, lo), max(self.hi, hi)

    def quantile(self, q: float) -> float:
        """Nearest-rank quantile, reported at the bucket's geometric centre (capped at the max)."""
        self.fold()
        if self.n == 0:
            return math.nan
        rank = max(1, math.ceil(q * self.n))
        if self.cumulative is None or self.cumulative[0] != self.n:    # counts change only with n
            self.cumulative = (self.n, np.cumsum(self.counts[self.lo:self.hi + 1]))
        i = self.lo + int(np.searchsorted(self.cumulative[1], rank))
        return min(self.max, _FLOOR * math.exp((i + 0.5) * _LOG_STEP))

    def merge(self, other: "LatencyHistogram") -> None:
        """Add `other`'s values (another process's histogram of the same run)."""
        self.fold()
        other.fold()
        self.counts += other.counts
        self.n += other.n
        self.total += other.total
        self.max = max(self.max, other.max)
        self.lo, self.hi = min(self.lo, other.lo), max(self.hi, other.hi)

    def nonempty(self) -> tuple[np.ndarray, np.ndarray]:
        """(upper edge in seconds, count) of every non-empty bucket."""
        self.fold()
        idx = self.lo + np.nonzero(self.counts[self.lo:self.hi + 1])[0]     # empty when nothing is in use
        return _FLOOR * np.exp((idx + 1) * _LOG_STEP), self.counts[idx]


# the Recorder's running totals: adding them is what merging two recorders of one run means
TOTALS = ("started", "finished", "succeeded", "gave_up", "rejected", "attempts", "conflicts", "errors", "timeouts",
          "too_old", "gap_sum", "optimistic", "optimistic_hits", "inflight", "area", "open_starts",
          "breaker_transitions", "breaker_open_time")


class Recorder:
    """Counts for one run; `t0`/`t1` bound the measurement window (batch: 0 and inf).

    `drained`, if set (an event), succeeds when the last measured operation finishes. `pace`, if
    set, is called with the clock every `countdown` operation starts and retries (the guard on
    events per simulated second); with `countdown` 0 it is never called."""

    def __init__(self, t0: float, t1: float, bin_width: float, keys: int) -> None:
        self.t0, self.t1, self.bin = t0, t1, bin_width
        self.keys = KeyStats(keys)
        self._key_limit, self._key_ops, self._key_attempts = self.keys.limit, self.keys.operations, self.keys.attempts
        self.inv_bin = 1.0 / bin_width
        nbins = math.ceil(t1 / bin_width) + 1 if math.isfinite(t1) else 64
        self.series = {name: [0] * nbins for name in SERIES}
        self.series["breaker_open"] = [0.0] * nbins
        self._starts, self._successes = self.series["starts"], self.series["successes"]
        self._by_start = self.series["successes_by_start"]
        self._conflicts, self._retries = self.series["conflicts"], self.series["retries"]
        self._rejections, self._timeouts = self.series["rejections"], self.series["timeouts"]
        self.latency = LatencyHistogram()        # successful operations
        self.all_latency = LatencyHistogram()    # every finished operation
        # one buffer for both, one append per operation: successes as +latency, the rest as −latency
        # (−0.0 too: the sign bit tells them apart)
        self.latencies: list[float] = []
        self.drained: Any = None
        self.pace: Any = None
        self.countdown = self.every = 0
        self.started = self.finished = self.succeeded = self.gave_up = self.rejected = 0
        self.attempts = self.conflicts = self.errors = self.timeouts = self.too_old = 0
        self.gap_sum = 0
        self.optimistic = self.optimistic_hits = 0
        # concurrency: area under the in-flight count over the window, kept as the clipped durations
        # of finished operations plus, for those still in flight, (end − their clipped starts)
        self.inflight, self.area, self.open_starts = 0, 0.0, 0.0
        self.last_success = 0.0
        self.breaker_transitions = 0
        self.breaker_open_time = 0.0

    def _bin(self, now: float) -> int:
        i = int(now * self.inv_bin)
        if i >= len(self._starts):
            if self.t1 < math.inf:      # the drain, past every bin that is shown: one overflow bin
                return len(self._starts) - 1
            if i >= MAX_BINS:
                raise too_many_bins(self.bin, now)
            grow = max(i + 1, 2 * len(self._starts)) - len(self._starts)
            for name, values in self.series.items():
                values.extend([0.0 if name == "breaker_open" else 0] * grow)
        return i

    def _clip(self, t: float) -> float:
        return self.t0 if t <= self.t0 else self.t1 if t >= self.t1 else t

    # --- called by the model (hot: inlined arithmetic, bins grown only on IndexError) -----------
    def start(self, now: float) -> None:
        self.countdown -= 1
        if not self.countdown:
            self.look(now)
        try:
            self._starts[int(now * self.inv_bin)] += 1
        except IndexError:
            self._starts[self._bin(now)] += 1
        t0, t1 = self.t0, self.t1
        self.inflight += 1
        self.open_starts += t0 if now <= t0 else t1 if now >= t1 else now
        if t0 <= now < t1:
            self.started += 1

    def attempt(self, start: float, now: float, outcome: int, gap: int, optimistic: bool, keys: tuple[int, ...],
                key: int = -1) -> None:
        """An attempt on `keys` of the operation started at `start` reached the store (or timed out
        trying); a conflict names the `key` it was on."""
        if outcome:
            if outcome == CONFLICT:
                try:
                    self._conflicts[int(now * self.inv_bin)] += 1
                except IndexError:
                    self._conflicts[self._bin(now)] += 1
            elif outcome == TIMEOUT:
                self._timeouts[self._bin(now)] += 1
        if not self.t0 <= start < self.t1:
            return
        self.attempts += 1
        limit, counts = self._key_limit, self._key_attempts
        for k in keys:
            counts[k if k < limit else limit] += 1
        if optimistic:
            self.optimistic += 1
            self.optimistic_hits += outcome == OK
        if not outcome:
            return
        if outcome == CONFLICT:
            self.conflicts += 1
            self.gap_sum += gap
            self.keys.conflict(key, gap, optimistic)
        elif outcome == ERROR:
            self.errors += 1
        elif outcome == TIMEOUT:
            self.timeouts += 1
        elif outcome == TOO_OLD:
            self.too_old += 1

    def retry(self, now: float) -> None:
        try:
            self._retries[int(now * self.inv_bin)] += 1
        except IndexError:
            self._retries[self._bin(now)] += 1
        self.countdown -= 1
        if not self.countdown:
            self.look(now)

    def watch(self, pace: Any, every: int) -> None:
        """Call `pace(now)` every `every` operation starts and retries."""
        self.pace, self.countdown, self.every = pace, every, every

    def look(self, now: float) -> None:
        self.countdown = self.every
        self.pace(now)

    def finish(self, start: float, now: float, outcome: int, keys: tuple[int, ...]) -> None:
        """The operation on `keys` started at `start` ended with `outcome`."""
        t0, t1 = self.t0, self.t1
        self.inflight -= 1
        began = t0 if start <= t0 else t1 if start >= t1 else start
        self.open_starts -= began
        self.area += (t0 if now <= t0 else t1 if now >= t1 else now) - began
        if outcome == OK:
            try:
                self._successes[int(now * self.inv_bin)] += 1
            except IndexError:
                self._successes[self._bin(now)] += 1
            try:
                self._by_start[int(start * self.inv_bin)] += 1
            except IndexError:           # started in the drain, past the shown bins
                self._by_start[self._bin(start)] += 1
            self.last_success = now
        elif outcome == REJECTED:
            self._rejections[self._bin(now)] += 1
        if not t0 <= start < t1:
            return
        self.finished += 1
        limit, counts = self._key_limit, self._key_ops
        for k in keys:
            counts[k if k < limit else limit] += 1
        buf = self.latencies
        if outcome == OK:
            self.succeeded += 1
            buf.append(now - start)
        else:
            buf.append(-(now - start))      # −0.0 for an instant failure: still a failure
            if outcome == REJECTED:
                self.rejected += 1
            else:
                self.gave_up += 1
        if len(buf) >= FOLD:
            self.fold()
        if self.drained is not None and self.finished == self.started:
            self.drained.succeed()

    def fold(self) -> None:
        """Move the buffered latencies into the two histograms."""
        values = np.asarray(self.latencies, dtype=float)
        self.latencies.clear()
        self.latency.add(values[~np.signbit(values)])
        self.all_latency.add(np.abs(values))

    def breaker_open(self, opened: float, closed: float, share: float) -> None:
        """A breaker was open from `opened` to `closed`; `share` = 1 / number of breakers."""
        self.breaker_open_time += share * max(0.0, min(closed, self.t1) - max(opened, self.t0))
        t, series = opened, self.series["breaker_open"]
        if self.t1 < math.inf:          # past the shown bins: nothing to draw
            closed = min(closed, (len(series) - 1) * self.bin)
        while t < closed:
            i = self._bin(t)
            edge = (i + 1) * self.bin
            if edge <= t:       # t on a bin edge that t * inv_bin rounds below (0.29 * 100 = 28.99...):
                i = self._bin(edge + 0.5 * self.bin)       # it is the next bin's, or the loop never ends
                edge = (i + 1) * self.bin
            edge = min(closed, edge)
            series[i] += share * (edge - t) * self.inv_bin
            t = edge

    # --- at the end ----------------------------------------------------------------------
    def summary(self, end: float, utilization: float) -> dict[str, Any]:
        """The section-3 metrics; `end` is when the run stopped (batch: the makespan)."""
        span = (min(end, self.t1) - self.t0) or math.nan
        area = self.area + self.inflight * self._clip(end) - self.open_starts
        self.fold()
        lat, every = self.latency, self.all_latency
        ms = 1e3
        return {
            "throughput": self.succeeded / span,
            "offered": self.started / span,
            "success_rate": self.succeeded / self.finished if self.finished else math.nan,
            "attempts_per_op": self.attempts / self.finished if self.finished else math.nan,
            "conflict_rate": self.conflicts / self.attempts if self.attempts else 0.0,
            "gave_up": self.gave_up,
            "rejected": self.rejected,
            "timeouts": self.timeouts,
            "mean_ms": lat.total / lat.n * ms if lat.n else math.nan,
            "p50_ms": lat.quantile(0.5) * ms,
            "p90_ms": lat.quantile(0.9) * ms,
            "p99_ms": lat.quantile(0.99) * ms,
            "p999_ms": lat.quantile(0.999) * ms,
            "max_ms": lat.max * ms if lat.n else math.nan,
            "all_mean_ms": every.total / every.n * ms if every.n else math.nan,
            "all_p50_ms": every.quantile(0.5) * ms,
            "all_p90_ms": every.quantile(0.9) * ms,
            "all_p99_ms": every.quantile(0.99) * ms,
            "all_p999_ms": every.quantile(0.999) * ms,
            "all_max_ms": every.max * ms if every.n else math.nan,
            "censored": self.started - self.finished if math.isfinite(self.t1) else 0,
            "breaker_open_fraction": self.breaker_open_time / span,
            "breaker_transitions": self.breaker_transitions,
            "store_utilization": utilization,
            "mean_version_gap": self.gap_sum / self.conflicts if self.conflicts else math.nan,
            **self.keys.gap_metrics(),
            "top_key_conflict_share": self.keys.top_share(),
            "operations": self.finished,
            "successes": self.succeeded,
            "errors": self.errors,
            "concurrency": area / span,
            "cache_hit_rate": self.optimistic_hits / self.optimistic if self.optimistic else math.nan,
        }

    def timeseries(self, end: float) -> dict[str, list[float]]:
        n = min(len(self._starts), max(1, math.ceil(end * self.inv_bin - 1e-9)))   # no empty bin at the end
        out: dict[str, list[float]] = {"t_s": [i * self.bin for i in range(n)]}
        out.update({name: values[:n] for name, values in self.series.items()})
        return out


def merge_recorders(parts: list[Recorder]) -> Recorder:
    """One recorder with the counts of `parts`: recorders of one run's window kept by separate
    processes (real clients, occmodel.backends), each for its own clients."""
    first = parts[0]
    out = Recorder(first.t0, first.t1, first.bin, first.keys.keys)
    for r in parts:
        r.fold()
        out.keys.merge(r.keys)      # in place: the recorder's aliases of its key lists stay valid
        out.latency.merge(r.latency)
        out.all_latency.merge(r.all_latency)
        for name in TOTALS:
            setattr(out, name, getattr(out, name) + getattr(r, name))
        out.last_success = max(out.last_success, r.last_success)
        for name, values in r.series.items():
            target = out.series[name]     # grown in place: the recorder's aliases of its lists stay valid
            target.extend([0.0 if name == "breaker_open" else 0] * (len(values) - len(target)))
            for i, v in enumerate(values):
                target[i] += v
    return out
