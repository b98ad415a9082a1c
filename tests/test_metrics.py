"""Metrics: the latency histogram's accuracy and the measurement window."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from occmodel.metrics import RESOLUTION, LatencyHistogram, Recorder
from occmodel.outcomes import CONFLICT, OK, REJECTED


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(min_value=1e-6, max_value=100), min_size=1, max_size=500),
       st.sampled_from([0.5, 0.9, 0.99, 1.0]))
def test_quantiles_within_resolution_of_nearest_rank(values, q):
    h = LatencyHistogram()
    h.buffer.extend(values)
    exact = sorted(values)[max(1, math.ceil(q * len(values))) - 1]
    assert h.quantile(q) == pytest.approx(exact, rel=RESOLUTION)
    assert h.n == len(values) and h.total == pytest.approx(sum(values)) and h.max == max(values)


def test_memory_is_bounded_by_folding():
    h = LatencyHistogram()
    rng = np.random.default_rng(1)
    for x in rng.exponential(1e-3, 300_000).tolist():
        h.buffer.append(x)
        if len(h.buffer) >= 65536:
            h.fold()
    assert len(h.buffer) < 65536 and h.n + len(h.buffer) == 300_000
    assert h.quantile(0.5) == pytest.approx(math.log(2) * 1e-3, rel=0.02)


def test_population_is_operations_started_in_the_window_and_bins_cover_the_run():
    r = Recorder(t0=1.0, t1=3.0, bin_width=1.0, keys=4)
    r.start(0.5)                      # warm-up: binned, not measured, even though it finishes inside
    r.attempt(0.5, 0.6, CONFLICT, 2, False, (1,), 1)
    r.finish(0.5, 1.5, OK, (1,))
    r.start(2.0)
    r.attempt(2.0, 2.1, OK, 0, False, (0, 2))
    r.finish(2.0, 2.5, OK, (0, 2))
    r.start(2.5)                      # started in the window, finishes after it: still measured
    r.attempt(2.5, 3.2, CONFLICT, 3, False, (2,), 2)
    r.finish(2.5, 3.5, CONFLICT, (2,))
    r.start(2.9)                      # started in the window, never finished: censored...
    r.attempt(2.9, 2.95, CONFLICT, 1, True, (3,), 3)   # ...but its attempts count, as `attempts` do
    m = r.summary(3.0, 0.0)
    assert m["operations"] == 2 and m["successes"] == 1 and m["censored"] == 1 and m["offered"] == 1.5
    assert m["throughput"] == 0.5 and m["success_rate"] == 0.5 and m["gave_up"] == 1
    assert m["attempts_per_op"] == 1.5 and m["conflict_rate"] == 2 / 3 and m["mean_version_gap"] == 2
    # per key, the same population: key 1 (warm-up) counts nothing, key 3 an attempt but no operation
    k = r.keys
    assert k.operations == [1, 0, 2, 0, 0] and k.attempts == [1, 0, 2, 1, 0] and list(k.conflicts) == [0, 0, 1, 1, 0]
    assert list(k.stale) == [0, 0, 0, 1, 0] and list(k.gap_sum) == [0, 0, 3, 1, 0] and k.gaps[1:4] == [1, 0, 1]
    assert m["top_key_conflict_share"] == 0.5 and m["max_version_gap"] == 3
    assert m["mean_ms"] == pytest.approx(500.0) and m["max_ms"] == pytest.approx(500.0)
    assert m["all_mean_ms"] == pytest.approx(750.0) and m["all_max_ms"] == pytest.approx(1000.0)
    ts = r.timeseries(3.0)
    assert ts["starts"][:3] == [1, 0, 3] and ts["conflicts"][0] == 1
    # successes by completion bin vs by their operation's start bin (0.5 -> 1.5: bin 1 vs bin 0)
    assert ts["successes"][:3] == [0, 1, 1] and ts["successes_by_start"][:3] == [1, 0, 1]
    # in flight over the window: the warm-up op for 0.5 s, then 0.5 + 0.5 + 0.1 s
    assert m["concurrency"] == pytest.approx((0.5 + 0.5 + 0.5 + 0.1) / 2)


def test_all_latencies_cover_every_outcome_and_success_latencies_only_successes():
    """Survivorship bias: a fast give-up must not make the success percentiles look good, and
    must show in the all_* ones."""
    r = Recorder(t0=0.0, t1=10.0, bin_width=1.0, keys=4)
    for i in range(90):
        r.start(0.0)
        r.finish(0.0, 1.0, OK, (0,))                # 90 successes after 1 s
    for i in range(10):
        r.start(0.0)
        r.finish(0.0, 0.001, REJECTED, (0,))        # 10 fast-fails after 1 ms
    m = r.summary(10.0, 0.0)
    assert m["p50_ms"] == pytest.approx(1000, rel=RESOLUTION) and m["max_ms"] == pytest.approx(1000)
    assert m["all_p50_ms"] == pytest.approx(1000, rel=RESOLUTION)
    assert m["all_mean_ms"] == pytest.approx((90 * 1000 + 10 * 1) / 100)
    assert m["all_p90_ms"] == pytest.approx(1000, rel=RESOLUTION)
    r2 = Recorder(t0=0.0, t1=10.0, bin_width=1.0, keys=4)
    for i in range(100):
        r2.start(0.0)
        r2.finish(0.0, 0.001 if i < 50 else 2.0, OK if i < 50 else CONFLICT, (0,))
    m2 = r2.summary(10.0, 0.0)
    assert m2["p99_ms"] == pytest.approx(1, rel=RESOLUTION) and m2["all_p99_ms"] == pytest.approx(2000, rel=RESOLUTION)


def test_drained_event_fires_when_the_last_measured_operation_finishes():
    import simpy

    env = simpy.Environment()
    r = Recorder(t0=0.0, t1=1.0, bin_width=1.0, keys=4)
    r.start(0.5)
    r.start(0.6)
    r.drained = env.event()
    r.finish(0.5, 1.2, OK, (0,))
    assert not r.drained.triggered
    r.start(1.3)                      # after the window: load, not population
    r.finish(0.6, 1.4, OK, (0,))
    assert r.drained.triggered and r.summary(1.4, 0.0)["censored"] == 0


def test_breaker_open_time_is_split_across_bins():
    r = Recorder(t0=0.0, t1=4.0, bin_width=1.0, keys=4)
    r.breaker_open(0.5, 2.25, 1.0)
    assert r.series["breaker_open"][:3] == pytest.approx([0.5, 1.0, 0.25])
    assert r.summary(4.0, 0.0)["breaker_open_fraction"] == pytest.approx(1.75 / 4)


def test_an_instant_failure_is_not_counted_as_a_success_latency():
    r = Recorder(t0=0.0, t1=10.0, bin_width=1.0, keys=4)
    r.start(1.0)
    r.finish(1.0, 1.0, REJECTED, (0,))        # latency 0 (the sign bit carries the outcome)
    r.start(1.0)
    r.finish(1.0, 1.5, OK, (0,))
    m = r.summary(10.0, 0.0)
    assert m["mean_ms"] == pytest.approx(500) and m["all_mean_ms"] == pytest.approx(250)
    assert r.latency.n == 1 and r.all_latency.n == 2


def test_merged_recorders_equal_one_recorder_fed_every_event():
    """Real runs measure in several client processes: merging their recorders must give exactly
    what one recorder fed all their events gives (every metric and every bin)."""
    from occmodel.metrics import merge_recorders

    rng = np.random.default_rng(3)
    events = []
    for i in range(400):
        start = float(rng.uniform(0, 6))
        outcomes = [CONFLICT] * int(rng.integers(0, 3)) + [OK if rng.random() < 0.8 else REJECTED]
        events.append((i % 3, start, outcomes, float(rng.exponential(0.2))))
    whole, parts = Recorder(1.0, 5.0, 0.5, 4), [Recorder(1.0, 5.0, 0.5, 4) for _ in range(3)]
    for part, start, outcomes, length in events:
        keys = (int(start * 10) % 4,)
        for r in (whole, parts[part]):
            r.start(start)
            for k, outcome in enumerate(outcomes[:-1]):
                r.attempt(start, start + length * (k + 1) / len(outcomes), outcome, k + 1, False, keys, keys[0])
                r.retry(start + length * (k + 1) / len(outcomes))
            if start < 5.5:      # the rest stay in flight: censored, concurrency to the end
                r.attempt(start, start + length, outcomes[-1], 0, False, keys)
                r.finish(start, start + length, outcomes[-1], keys)
            if part == 0:
                r.breaker_open(start, start + 0.01, 1 / 3)
    merged = merge_recorders(parts)
    expected, got = whole.summary(7.0, math.nan), merged.summary(7.0, math.nan)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, nan_ok=True), name
    assert merged.timeseries(7.0) == pytest.approx(whole.timeseries(7.0))
    assert np.array_equal(merged.latency.nonempty()[1], whole.latency.nonempty()[1])
    assert merged.keys.saved() == whole.keys.saved()


def test_histogram_scans_only_the_buckets_in_use_with_the_same_answers():
    """Quantiles and non-empty buckets read off `lo..hi` equal those read off the whole bucket array."""
    import math as m
    import numpy as np
    rng = np.random.default_rng(4)
    a, b = LatencyHistogram(), LatencyHistogram()
    a.add(rng.lognormal(-6, 1.5, 5000))
    b.add(rng.exponential(2.0, 300))
    a.merge(b)
    whole = LatencyHistogram()
    whole.merge(a)
    whole.lo, whole.hi = 0, len(whole.counts) - 1          # scan every bucket
    assert 0 < a.lo < a.hi < len(a.counts) - 1
    for q in (0.0, 0.5, 0.9, 0.99, 0.999, 1.0):
        assert a.quantile(q) == whole.quantile(q)
    (edges, counts), (all_edges, all_counts) = a.nonempty(), whole.nonempty()
    assert np.array_equal(counts, all_counts) and np.array_equal(edges, all_edges)
    assert counts.sum() == 5300 == a.n and np.array_equal(counts, a.counts[np.nonzero(a.counts)[0]])
    empty = LatencyHistogram()
    assert m.isnan(empty.quantile(0.5)) and [len(x) for x in empty.nonempty()] == [0, 0]


def test_breaker_open_time_from_a_bin_edge_that_rounds_down_ends():
    """Found by the invariants test (a batch run hung): 0.29 * 100 = 28.999..., so the bin of
    t = 0.29 was taken as 28 and its upper edge, 0.29, never moved the loop on. Hand-computed split:
    bin 28 holds 0.2853869 → 0.29, bin 29 holds 0.29 → 0.2903869 (in bin widths)."""
    import signal

    def stuck(signum, frame):
        raise TimeoutError("breaker_open never ended")

    old = signal.signal(signal.SIGALRM, stuck)
    signal.alarm(10)
    try:
        for t1 in (math.inf, 1.0):
            r = Recorder(t0=0.0, t1=t1, bin_width=0.01, keys=4)
            r.breaker_open(0.28538690747480383, 0.29038690747480383, 1.0)
            bins = r.series["breaker_open"]
            assert bins[28] == pytest.approx((0.29 - 0.28538690747480383) / 0.01)
            assert bins[29] == pytest.approx((0.29038690747480383 - 0.29) / 0.01)
            assert sum(bins) == pytest.approx(0.5)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
