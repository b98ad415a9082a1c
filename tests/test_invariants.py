"""Metric invariants over random small scenarios (hypothesis; issue 13).

Whatever the scenario: rates lie in [0, 1], percentiles are ordered and bounded by the max,
the store is never more than fully busy, throughput never exceeds what was offered (plus, for a
closed workload measured after a warm-up, the at most `clients` operations already in flight when
the window opened), and a value that is due (latencies when something succeeded) is not NaN.
Per key: the counts add up to the run's (operations × keys per operation, conflicts), the gap
histogram to the conflicts and their mean gap, and gap percentiles are ordered.
`max_examples` is 50 in the default suite; `--slow` runs 500.
"""
from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import occmodel
from occmodel.errors import ConfigError
from occmodel.units import parse_duration

RATES = ("success_rate", "conflict_rate", "cache_hit_rate", "breaker_open_fraction")
ms = st.floats(min_value=0.05, max_value=2.0).map(lambda v: f"{v:.3f}ms")
exp_ms = ms.map(lambda m: {"dist": "exponential", "mean": m})
inner = st.sampled_from([{"kind": "exponential", "base": "1ms", "cap": "20ms"}, {"kind": "immediate"},
                         {"kind": "jitter", "mode": "full", "base": "1ms", "cap": "20ms"}])
policies = st.one_of(
    st.sampled_from([{"kind": "none"}, {"kind": "immediate"}, {"kind": "exponential", "base": "1ms", "cap": "20ms"},
                     {"kind": "jitter", "mode": "equal", "base": "1ms", "cap": "10ms", "max_attempts": 0}]),
    st.builds(lambda i, scope, th: {"kind": "circuit_breaker", "inner": i, "scope": scope, "threshold": th,
                                    "cooldown": "5ms"}, inner, st.sampled_from(["operation", "client", "global"]),
              st.integers(1, 5)),
    st.builds(lambda i: {"kind": "retry_budget", "inner": i, "style": "aws"}, inner),
    st.builds(lambda i, wt, counts: {"kind": "circuit_breaker", "style": "resilience4j", "inner": i, "window_type": wt,
                                     "window_size": 5, "minimum_calls": 3, "wait_in_open": "5ms", "half_open_calls": 2,
                                     "slow_call_duration": "2ms", "counts": counts},
              inner, st.sampled_from(["count", "time"]), st.sampled_from(["attempts", "operations"])),
    st.builds(lambda i, scope: {"kind": "circuit_breaker", "style": "polly", "inner": i, "minimum_throughput": 3,
                                "failure_ratio": 0.3, "sampling_duration": "0.5s", "break_duration": "0.5s",
                                "scope": scope}, inner, st.sampled_from(["client", "global"])),
    st.builds(lambda i, d, n, nf: {"kind": "hedge", "inner": i, "delay": d, "max_attempts": n, "non_fatal": nf},
              inner, st.sampled_from(["0s", "1ms"]), st.integers(2, 5), st.sampled_from([[], ["conflict", "error"]])),
)


@st.composite
def scenarios(draw):
    kind = draw(st.sampled_from(["closed", "open", "batch"]))
    count = draw(st.integers(1, 8))
    op_kind = draw(st.sampled_from(["append", "transaction", "call", "value_check", "reload"]))
    reads = draw(st.integers(1, min(2, count)))
    writes = 1 if op_kind in ("append", "reload", "value_check") else draw(st.integers(1, reads))
    workload = {"kind": kind, "clients": draw(st.integers(1, 6)), "keys": {"count": count,
                "choice": draw(st.sampled_from(["uniform", "zipf", "hotspot"]))}}
    if kind == "open":
        workload["rate"] = draw(st.floats(50, 2000))
    else:
        workload["think"] = draw(st.one_of(st.just("0s"), exp_ms))
    if kind == "batch":
        workload["ops_per_client"] = draw(st.integers(1, 20))
    store = {"commit": {"capacity": draw(st.sampled_from([1, 2, "inf"])), "service": draw(exp_ms)},
             "read": {"service": draw(exp_ms)}}
    if draw(st.booleans()):
        store["faults"] = [{"kind": "error", "probability": draw(st.floats(0, 0.5))}]
    scenario = {"workload": workload, "network": {"one_way": draw(exp_ms)}, "store": store,
                "operation": {"kind": op_kind, "reads": reads, "writes": writes,
                              "timeout": draw(st.sampled_from(["0s", "3ms", "20ms"]))},
                "policy": draw(policies)}
    return scenario, draw(st.sampled_from(["0s", "20ms"])), draw(st.sampled_from(["50ms", "200ms"]))


def check(scenario, warmup, duration, seed):
    try:
        r = occmodel.simulate(scenario, seed=seed, duration=duration, warmup=warmup, bin="10ms")
    except ConfigError as exc:   # the zero-time-loop guard: think 0 behind a breaker that refuses at once
        assert "workload.think" in str(exc) and scenario["policy"]["kind"] == "circuit_breaker", exc
        return
    m = r.metrics
    check_keys(scenario, m, r.keys)
    for rate in RATES:
        v = m[rate]
        assert v != v or 0 <= v <= 1 + 1e-9, (rate, v)
    if scenario["store"]["commit"]["capacity"] != "inf":
        assert 0 <= m["store_utilization"] <= 1 + 1e-9, m["store_utilization"]
    else:                                      # no capacity to use up
        assert math.isnan(m["store_utilization"])
    if m["successes"]:
        lat = [m[k] for k in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms")]
        assert not any(math.isnan(v) for v in [*lat, m["mean_ms"]]), m
        assert all(a <= b * (1 + 1e-3) for a, b in zip(lat, lat[1:])), lat   # histogram: 0.1 % buckets
        assert 0 <= m["mean_ms"] <= m["max_ms"] * (1 + 1e-9)
    if m["operations"]:
        assert not math.isnan(m["success_rate"]) and not math.isnan(m["attempts_per_op"])
    w = scenario["workload"]
    if w["kind"] != "batch":
        window = parse_duration(duration)
        in_flight = w["clients"] if w["kind"] == "closed" and warmup != "0s" else 0
        # open workloads measured after a warm-up may start with any number in flight: checked only without one
        if w["kind"] == "closed" or warmup == "0s":
            assert m["throughput"] <= m["offered"] + in_flight / window + 1e-9, m
    else:
        assert m["makespan_s"] >= 0 and m["successes"] <= w["clients"] * w["ops_per_client"]


def check_keys(scenario: dict, m: dict, saved: dict) -> None:
    rows = [row[1:] for row in saved["rows"]] + [saved["other"]]
    operations, attempts, conflicts, stale = (sum(r[i] for r in rows) for i in range(4))
    op = scenario["operation"]
    assert operations == m["operations"] * max(op["reads"], op["writes"])
    assert all(r[2] <= r[1] and r[3] <= r[2] for r in rows)               # conflicts <= attempts, stale <= conflicts
    assert conflicts == sum(c for _, c in saved["gaps"])
    if conflicts:
        assert sum(g * c for g, c in saved["gaps"]) / conflicts == pytest.approx(m["mean_version_gap"])
        assert 1 <= m["p50_version_gap"] <= m["p99_version_gap"] <= m["max_version_gap"]
        assert 0 < m["top_key_conflict_share"] <= 1
    else:
        assert math.isnan(m["top_key_conflict_share"]) and math.isnan(m["max_version_gap"])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**16))
def test_metric_invariants(case, seed):
    check(*case, seed)


@pytest.mark.slow
@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**16))
def test_metric_invariants_many(case, seed):
    check(*case, seed)


# found by test_metric_invariants with store_utilization among the rates: 1.114 on this scenario
UTILIZATION_CASE = {"workload": {"kind": "closed", "clients": 3, "keys": {"count": 1}},
                    "network": {"one_way": {"dist": "exponential", "mean": "1ms"}},
                    "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "2ms"}},
                              "read": {"service": {"dist": "exponential", "mean": "1ms"}}},
                    "operation": {"kind": "call"}}


def test_store_utilization_is_at_most_one():
    m = occmodel.simulate(UTILIZATION_CASE, seed=0, duration="50ms", bin="10ms").metrics
    assert m["store_utilization"] <= 1, m["store_utilization"]


# A batch run ends when its last operation does, but a request it abandoned (timed out, or a losing
# hedged copy) may still be in service then; the server credited the whole service when it started
# (a batch run's window has no end): utilization was 2.25 here (main at 7499ce1). Found while adding hedging.
BATCH_OVERHANG = {"workload": {"kind": "batch", "clients": 3, "keys": {"count": 1}},
                  "network": {"one_way": {"dist": "exponential", "mean": "1ms"}},
                  "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "1ms"}}},
                  "operation": {"kind": "call", "timeout": "1ms"}}


def test_batch_utilization_with_abandoned_requests_is_at_most_one():
    m = occmodel.simulate(BATCH_OVERHANG, seed=0).metrics
    assert m["store_utilization"] <= 1, m["store_utilization"]


def test_batch_utilization_takes_back_only_the_overhang():
    """Hand-computed: one call, sent at 0, reaches the store at 0.5 ms and is served until 10.5 ms;
    the client times out at 1 ms and (policy none) the batch ends there. Busy inside the run
    [0, 1 ms]: 0.5 ms to 1 ms, half of it (without the take-back: 10 ms of 1 ms)."""
    sc = {"workload": {"kind": "batch", "clients": 1, "ops_per_client": 1}, "network": {"one_way": "0.5ms"},
          "store": {"commit": {"capacity": 1, "service": "10ms"}},
          "operation": {"kind": "call", "timeout": "1ms"}, "policy": {"kind": "none"}}
    r = occmodel.simulate(sc, seed=0)
    assert r.metrics["timeouts"] == 1
    assert r.metrics["store_utilization"] == pytest.approx(0.5)


def test_infinite_capacity_has_no_utilization():
    """`capacity = "inf"`: nothing to use up, so no fraction of it (once: the mean number in
    service, which exceeds 1 with 3 commits at once)."""
    sc = {"workload": {"kind": "closed", "clients": 3}, "operation": {"kind": "call"},
          "store": {"commit": {"capacity": "inf", "service": "30ms"}}}
    assert math.isnan(occmodel.simulate(sc, seed=1, duration=0.1).metrics["store_utilization"])
