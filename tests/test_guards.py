"""Guards: runs that would never end or not fit in memory stop with a message naming the key."""
import math
import time

import pytest

import occmodel
from occmodel.errors import ConfigError
from occmodel.experiment import load_experiment
from occmodel.guards import (BYTES_PER_CLIENT, MAX_BINS, MAX_EVENT_RATE, PACE_EVENTS, SPIN_LIMIT, Pace, check_memory,
                             estimate_bytes)

BREAKER = {"workload": {"kind": "closed", "clients": 2}, "network": {"one_way": "1ms"},
           "store": {"faults": [{"kind": "error", "probability": 1.0}]},
           "policy": {"kind": "circuit_breaker", "scope": "client", "inner": {"kind": "exponential"}}}


@pytest.mark.parametrize("scope", ["client", "global"])
def test_zero_time_loop_behind_an_open_breaker_stops_naming_think_and_the_breaker(scope):
    scenario = {**BREAKER, "policy": {**BREAKER["policy"], "scope": scope}}
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"workload.think.*{SPIN_LIMIT} operations.*circuit breaker"):
        occmodel.simulate(scenario, seed=1, duration="5s")
    assert time.perf_counter() - t < 10


def test_the_same_breaker_with_a_think_time_runs():
    result = occmodel.simulate({**BREAKER, "workload": {"kind": "closed", "clients": 2, "think": "1ms"}},
                               seed=1, duration="1s")
    assert result.metrics["rejected"] > 0


def test_batch_that_never_finishes_stops_at_max_time():
    never = {"workload": {"kind": "batch", "clients": 2}, "operation": {"timeout": "10ms"},
             "store": {"faults": [{"kind": "down", "mode": "hang"}]}, "policy": {"kind": "exponential", "max_attempts": 0}}
    with pytest.raises(ConfigError, match=r"experiment.max_time: got '30s'.*2 of 2 operations unfinished"):
        occmodel.simulate(never, seed=1, max_time="30s")


def test_batch_within_max_time_is_untouched():
    done = {"workload": {"kind": "batch", "clients": 2}, "network": {"one_way": "1ms"}}
    assert occmodel.simulate(done, seed=1, max_time="1s").metrics["makespan_s"] == pytest.approx(0.004)
    with pytest.raises(ConfigError, match="max_time"):
        occmodel.simulate(done, seed=1, max_time="3ms")


def test_open_rate_has_a_sanity_limit():
    with pytest.raises(ConfigError, match="scenario.workload.rate: got 1e\\+30"):
        occmodel.simulate({"workload": {"kind": "open", "rate": 1e30}}, seed=1)
    occmodel.simulate({"workload": {"kind": "open", "rate": 1e6}, "network": {"one_way": "1ms"}}, seed=1,
                      duration="1ms")


def test_distinct_keys_beyond_the_keyspace_are_rejected_for_every_kind():
    with pytest.raises(ConfigError, match="keys.count is 1"):
        occmodel.simulate({"operation": {"kind": "call", "reads": 2}, "network": {"one_way": "1ms"}}, seed=1)


def test_memory_estimate_refuses_what_the_machine_cannot_hold():
    exp = load_experiment({"experiment": {"name": "m"}, "scenario": {"workload": {"clients": 1000},
                                                                     "network": {"one_way": "1ms"}}})
    scenario = exp.points[0].scenario
    assert estimate_bytes(scenario) > BYTES_PER_CLIENT * 1000
    check_memory([scenario], 2, available=3 * estimate_bytes(scenario))
    with pytest.raises(ConfigError, match=r"scenario.workload.clients: got 1000; 4 run\(s\) at once"):
        check_memory([scenario], 4, available=3 * estimate_bytes(scenario))
    with pytest.raises(ConfigError, match="keys.count"):
        occmodel.simulate({"workload": {"keys": {"count": 2**62}}, "network": {"one_way": "1ms"}}, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("lean", [True, False])
def test_memory_per_client_is_within_the_estimate(lean):
    """The estimate (BYTES_PER_CLIENT) is an upper bound of what a client costs, within 2x, on
    either path of the model."""
    import tracemalloc

    def peak(clients):
        tracemalloc.start()
        occmodel.simulate({"workload": {"clients": clients, "think": "10ms"}, "network": {"one_way": "1ms"}},
                          seed=1, duration="20ms", lean=lean)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    per_client = (peak(20_000) - peak(1_000)) / 19_000
    assert BYTES_PER_CLIENT / 2 < per_client < BYTES_PER_CLIENT, per_client


@pytest.mark.parametrize("args,key", [({"seed": 1.5}, "seed"), ({"seed": True}, "seed"), ({"seed": -1}, "seed"),
                                      ({"seed": 1, "bin": 0}, "bin"), ({"seed": 1, "duration": "inf"}, "duration"),
                                      ({"seed": 1, "duration": "1e400s"}, "duration"), ({"seed": 1, "duration": 0}, "duration"),
                                      ({"seed": 1, "warmup": "-1s"}, "warmup"), ({"seed": 1, "replication": 0.5}, "replication"),
                                      ({"seed": 1, "max_time": "0s"}, "max_time")])
def test_simulate_rejects_its_own_bad_arguments(args, key):
    with pytest.raises(ConfigError, match=rf"^{key}: got"):
        occmodel.simulate({"network": {"one_way": "1ms"}}, **args)


@pytest.mark.parametrize("kind", ["open", "batch"])
def test_zero_delay_retries_of_zero_time_attempts_stop_naming_the_policy(kind):
    workload = {"kind": "open", "rate": 10} if kind == "open" else {"kind": "batch", "clients": 1}
    forever = {"workload": workload, "store": {"faults": [{"kind": "error", "probability": 1.0}]},
               "policy": {"kind": "exponential", "base": "0s", "cap": "0s", "max_attempts": 0}}
    with pytest.raises(ConfigError, match=rf"scenario.policy.*retried {SPIN_LIMIT} times.*max_attempts"):
        occmodel.simulate(forever, seed=1, duration="1s")
    bounded = {**forever, "policy": {**forever["policy"], "max_attempts": 3}}
    assert occmodel.simulate(bounded, seed=1, duration="1s").metrics["gave_up"] > 0


# --- events per simulated second (experiment.max_event_rate) ---------------------------------------
STORM = {"workload": {"kind": "open", "rate": 1e5}, "network": {"one_way": "1us"},
         "store": {"faults": [{"kind": "error", "probability": 1.0}]},
         "policy": {"kind": "immediate", "max_attempts": 0}}


def test_a_retry_storm_stops_at_the_event_rate_limit():
    """Every arrival retries every 2 us forever: events per simulated second grow without bound.
    Before the guard this ran for hours; now it stops within seconds naming the limit."""
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=r"^experiment.max_event_rate: got '1e\+07'; the run scheduled [0-9.e+]+ "
                                          r"events per simulated second.*policy.max_attempts.*workload.rate"):
        occmodel.simulate(STORM, seed=1, duration="1s")
    assert time.perf_counter() - t < 30


def test_the_limit_is_the_users_to_set_and_bounded_retries_pass():
    calm = {**STORM, "policy": {"kind": "immediate", "max_attempts": 3}, "workload": {"kind": "open", "rate": 1000}}
    m = occmodel.simulate(calm, seed=1, duration="1s").metrics     # ~1.7e4 events per simulated second
    assert m["gave_up"] > 900 and m["events"] < MAX_EVENT_RATE
    # 4 clients, each operation four 10 us hops and no queue: three events (the client waits once for
    # the read's reply and the commit's request hop, client.Client.lean_operation), so
    # 4 * 3 / 40 us = 3e5 events per second
    closed = {"workload": {"clients": 4}, "network": {"one_way": "10us"}}
    with pytest.raises(ConfigError, match=r"max_event_rate: got '100000'; the run scheduled 3e\+05 .*"
                                          "lower workload.clients"):
        occmodel.simulate(closed, seed=1, duration="10s", max_event_rate=1e5)


def test_pace_judges_over_at_least_pace_events():
    """Hand-computed: a limit of 10 * PACE_EVENTS events per simulated second, judged once
    PACE_EVENTS events have passed since the last judgement."""
    count, limit = [0], 10 * PACE_EVENTS
    pace = Pace(limit, lambda: count[0], "open")
    count[0] = PACE_EVENTS - 1
    pace(1e-9)                                   # too few events to judge, however short the time
    count[0] = PACE_EVENTS
    pace(0.1)                                    # PACE_EVENTS in 0.1 s: exactly the limit, allowed
    assert (pace.events, pace.since) == (PACE_EVENTS, 0.1)
    count[0] = 2 * PACE_EVENTS + 1
    with pytest.raises(ConfigError, match=rf"{limit:.3g} events per simulated second between t = 0.1 s and 0.2 s"
                       .replace("+", r"\+")):
        pace(0.2)                                # one event more than that in the next 0.1 s: past it
    stuck = Pace(limit, lambda: PACE_EVENTS, "closed")
    with pytest.raises(ConfigError, match="inf events"):
        stuck(0.0)                               # no simulated time at all


@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, "fast", True])
def test_simulate_rejects_a_bad_max_event_rate(value):
    with pytest.raises(ConfigError, match="^max_event_rate: got"):
        occmodel.simulate({"network": {"one_way": "1ms"}}, seed=1, max_event_rate=value)


# --- time-series bins (found auditing issue 13: MemoryError / OverflowError tracebacks) -----------
@pytest.mark.parametrize("args", [{"bin": "1e-12s"}, {"duration": 1e300}, {"warmup": 1e300}, {"bin": "1us", "duration": 2}])
def test_a_window_of_too_many_bins_is_refused_before_it_runs(args):
    with pytest.raises(ConfigError, match=rf"^bin: got .*warmup \+ duration = .* more than {MAX_BINS:,}"):
        occmodel.simulate({"network": {"one_way": "1ms"}}, **{"seed": 1, "duration": "10ms", **args})
    occmodel.simulate({"network": {"one_way": "1ms"}}, seed=1, duration=1, bin=1 / MAX_BINS)   # at the limit


def test_a_batch_run_stops_when_its_series_pass_the_bin_limit():
    with pytest.raises(ConfigError, match=rf"^experiment.bin: got '1e-09s'; the batch run passed .* {MAX_BINS:,}"):
        occmodel.simulate({"workload": {"kind": "batch"}, "network": {"one_way": "1ms"}}, seed=1, bin="1ns")


def test_the_drain_past_the_window_keeps_one_overflow_bin():
    """Bins past the window are never shown: events in the drain (or in a long breaker opening)
    share one overflow bin instead of growing the series without bound."""
    from occmodel.metrics import Recorder

    r = Recorder(t0=0.0, t1=1.0, bin_width=0.1, keys=4)
    n = len(r.series["starts"])
    r.start(0.05)
    r.start(1e9)                               # before: a series of 10^10 bins (MemoryError)
    r.breaker_open(0.95, 1e12, 1.0)            # before: a loop over 10^13 bins
    assert all(len(v) == n for v in r.series.values())
    assert r.timeseries(1.0)["starts"] == [1] + [0] * 9
    assert r.timeseries(1.0)["breaker_open"][-1] == pytest.approx(0.5)
    m = occmodel.simulate({"workload": {"kind": "closed", "clients": 1}, "operation": {"kind": "call"},
                           "store": {"commit": {"service": "3s"}}}, seed=1, duration=4, bin="1s")
    assert m.metrics["operations"] == 2 and len(m.timeseries["starts"]) == 4
    # operations that start and succeed in the drain, bins past the window (an IndexError once)
    busy = {"workload": {"kind": "closed", "clients": 4}, "operation": {"kind": "call"},
            "store": {"commit": {"service": {"dist": "exponential", "mean": "50ms"}}}}
    r = occmodel.simulate(busy, seed=3, duration=0.1, bin=0.01)
    assert r.metrics["censored"] == 0 and len(r.timeseries["starts"]) == 10
    assert sum(r.timeseries["starts"]) == r.metrics["operations"]


@pytest.mark.parametrize("value", ["x", 1.5, True, -2])
def test_simulate_rejects_a_bad_trace_op(value):
    with pytest.raises(ConfigError, match="^trace_op: got"):
        occmodel.simulate({"network": {"one_way": "1ms"}}, seed=1, duration="10ms", trace_op=value)
