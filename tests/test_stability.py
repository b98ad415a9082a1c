"""`collapsed` and `recovery_s` on constructed time series, and wired into real runs."""
import math

import pytest

from occmodel import simulate
from occmodel.stability import collapsed, last_disturbance, recovery_s, whole_bins


def test_whole_bins_leave_out_straddling_bins():
    assert whole_bins(1.0, 5.0, 10.0, 20) == range(5, 10)
    assert whole_bins(2.0, 5.0, 10.0, 20) == range(3, 5)      # [4,6) straddles 5, [10,12) is past the end
    assert whole_bins(1.0, 5.0, 10.0, 7) == range(5, 7)       # a short series


def test_collapsed_judges_the_second_half_only():
    starts = [10] * 20
    # a dead first half and a healthy second half (window [0, 20): second half is bins 10..19)
    assert collapsed(starts, [0] * 10 + [10] * 10, 1.0, 0.0, 20.0) == 0.0
    assert collapsed(starts, [10] * 10 + [0] * 10, 1.0, 0.0, 20.0) == 1.0
    # the threshold is strict: exactly half is not collapsed, one success fewer is
    assert collapsed(starts, [0] * 10 + [5] * 10, 1.0, 0.0, 20.0) == 0.0
    assert collapsed(starts, [0] * 10 + [5] * 9 + [4], 1.0, 0.0, 20.0) == 1.0
    # a warm-up shifts the window: measured [4, 20) → second half is [12, 20)
    assert collapsed(starts, [10] * 12 + [4] * 8, 1.0, 4.0, 20.0) == 1.0
    assert collapsed(starts, [0] * 12 + [6] * 8, 1.0, 4.0, 20.0) == 0.0


def test_collapsed_is_nan_without_arrivals_or_a_window():
    assert math.isnan(collapsed([0] * 10, [0] * 10, 1.0, 0.0, 10.0))
    assert math.isnan(collapsed([5] * 10, [5] * 10, 1.0, 0.0, math.inf))


def test_recovery_counts_from_the_disturbance_to_the_first_good_window():
    # disturbance ends at 10 s; bins 10..13 serve nothing, from bin 14 on everything
    starts = [10] * 40
    successes = [10] * 10 + [0] * 4 + [10] * 26
    # a 5-bin window starting at bin i holds max(0, 4 - (i - 10)) dead bins: ≥ 90 % needs none → i = 14
    assert recovery_s(starts, successes, 1.0, 10.0, 40.0) == 4.0
    # 9 of 10 per bin is exactly 90 %: recovered at once
    assert recovery_s(starts, [9] * 40, 1.0, 10.0, 40.0) == 0.0
    # one dead bin among five good ones is 80 %: the window must slide past it
    assert recovery_s(starts, [10] * 12 + [0] + [10] * 27, 1.0, 10.0, 40.0) == 3.0


def test_recovery_starts_at_the_first_whole_bin_and_uses_5s_windows():
    starts = [10] * 40
    successes = [10] * 40
    assert recovery_s(starts, successes, 1.0, 10.5, 40.0) == pytest.approx(0.5)   # first bin at 11 s
    # 0.5 s bins: a 5 s window is 10 bins; after 4 dead bins (10–12 s) the first window with at most
    # one dead bin of ten (= 90 %) starts at bin 23, 11.5 s
    assert recovery_s([5] * 80, [5] * 20 + [0] * 4 + [5] * 56, 0.5, 10.0, 40.0) == 1.5


def test_recovery_is_nan_if_never_or_no_disturbance():
    starts = [10] * 30
    assert math.isnan(recovery_s(starts, [0] * 30, 1.0, 10.0, 30.0))
    assert math.isnan(recovery_s(starts, [10] * 30, 1.0, None, 30.0))
    # the window must fit inside the measured window: recovery that starts 3 s before the end is not seen
    assert math.isnan(recovery_s(starts, [0] * 27 + [10] * 3, 1.0, 10.0, 30.0))
    # windows with no arrivals prove nothing
    assert math.isnan(recovery_s([10] * 10 + [0] * 20, [10] * 10 + [0] * 20, 1.0, 10.0, 30.0))


def test_last_disturbance():
    assert last_disturbance([None, 12.0], [20.0, 28.0, None]) == 28.0
    assert last_disturbance([35.0], [20.0]) == 35.0
    assert last_disturbance([None], []) is None


def test_runs_report_recovery_from_an_outage_and_no_collapse():
    """A store down from 5 s to 10 s (fail fast, no retries): successes return as soon as it is up."""
    scenario = {"workload": {"kind": "open", "rate": 200},
                "network": {"one_way": "1ms"},
                "store": {"faults": [{"kind": "down", "start": "5s", "end": "10s"}]},
                "operation": {"kind": "call"}, "policy": {"kind": "none"}}
    m = simulate(scenario, seed=1, duration="30s").metrics
    assert m["recovery_s"] == 0.0 and m["collapsed"] == 0.0
    # the outage lasts to the end of the run: the second half is dead and recovery is never seen
    scenario["store"]["faults"] = [{"kind": "down", "start": "5s", "end": "40s"}]
    m = simulate(scenario, seed=1, duration="30s").metrics
    assert m["collapsed"] == 1.0 and math.isnan(m["recovery_s"])
    # no fault, no schedule: nothing to recover from
    scenario["store"]["faults"] = []
    assert math.isnan(simulate(scenario, seed=1, duration="30s").metrics["recovery_s"])


def test_a_backlog_served_after_a_spike_is_not_recovery():
    """The 2023 collapse study's store (1 s + 10 ms per request in service), 3 s timeouts, 3 attempts:
    this 5 s spike collapses the run. Right after the spike the backlog's successes outnumber the new
    arrivals (by completion the first 5 s window reads "recovered"); counted by start, nothing recovers."""
    scenario = {"workload": {"kind": "open", "schedule": [{"until": "20s", "rate": 40}, {"until": "25s", "rate": 80},
                                                         {"rate": 40}]},
                "network": {"one_way": {"dist": "exponential", "mean": "100ms"}},
                "store": {"commit": {"capacity": "inf", "service": "1010ms", "per_inflight": "10ms"}},
                "operation": {"kind": "call", "timeout": "3s"}, "policy": {"kind": "immediate", "max_attempts": 3}}
    r = simulate(scenario, seed=4, duration="80s", drain="0s")
    ts = r.timeseries
    by_completion = recovery_s(ts["starts"], ts["successes"], 1.0, 25.0, 80.0)
    assert by_completion == 0.0                                   # the misleading reading
    assert r.metrics["collapsed"] == 1.0 and math.isnan(r.metrics["recovery_s"])
    assert sum(ts["successes_by_start"]) == r.metrics["successes"]


def test_batch_runs_have_no_window_to_judge():
    m = simulate({"workload": {"kind": "batch", "clients": 2}, "network": {"one_way": "1ms"}}, seed=1).metrics
    assert math.isnan(m["collapsed"]) and math.isnan(m["recovery_s"])
