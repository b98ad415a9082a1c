"""Metrics: the latency histogram's accuracy and the measurement window."""
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from occmodel.metrics import RESOLUTION, LatencyHistogram, Recorder
from occmodel.outcomes import CONFLICT, OK


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


def test_window_excludes_warmup_and_bins_cover_the_run():
    r = Recorder(t0=1.0, t1=3.0, bin_width=1.0)
    r.start(0.5)                      # warm-up: binned, not counted
    r.attempt(0.6, CONFLICT, 2, False)
    r.finish(0.5, 1.5, OK)            # finishes inside the window: counted with its latency
    r.start(2.0)
    r.attempt(2.1, OK, 0, False)
    r.finish(2.0, 2.5, OK)
    m = r.summary(3.0, 0.0)
    assert m["operations"] == 2 and m["successes"] == 2 and m["offered"] == 0.5
    assert m["conflict_rate"] == 0 and math.isnan(m["mean_version_gap"])
    assert m["mean_ms"] == pytest.approx(750.0)
    ts = r.timeseries(3.0)
    assert ts["starts"][:3] == [1, 0, 1] and ts["conflicts"][0] == 1
    assert m["concurrency"] == pytest.approx((0.5 + 0.5) / 2)   # one op in flight for 1 s of 2


def test_breaker_open_time_is_split_across_bins():
    r = Recorder(t0=0.0, t1=4.0, bin_width=1.0)
    r.breaker_open(0.5, 2.25, 1.0)
    assert r.series["breaker_open"][:3] == pytest.approx([0.5, 1.0, 0.25])
    assert r.summary(4.0, 0.0)["breaker_open_fraction"] == pytest.approx(1.75 / 4)
