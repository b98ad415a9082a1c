"""Retry patterns through the whole model: each test fails if the pattern's effect were wrong.

Every run is short (a few simulated seconds, well under 3 s of wall time) and seeded; the
statistical checks use tolerances computed from the number of operations measured.
"""
from __future__ import annotations

import math

import pytest

from occmodel import simulate

ONE_MS = {"dist": "constant", "value": "1ms"}


def calls(policy: dict, *, p: float = 0.0, clients: int = 4, faults: list | None = None, think: dict | None = None) -> dict:
    """`call` operations (one store call per attempt, never a conflict) against a faulty store."""
    return {
        "workload": {"clients": clients, **({"think": think} if think else {})},
        "network": {"one_way": ONE_MS},
        "operation": {"kind": "call"},
        "store": {"faults": faults if faults is not None else [{"kind": "error", "probability": p}]},
        "policy": policy,
    }


def test_immediate_retries_follow_the_geometric_law():
    p, n_max = 0.3, 4
    m = simulate(calls({"kind": "immediate", "max_attempts": n_max}, p=p), seed=3, duration=4, warmup=0.5).metrics
    n = m["operations"]
    assert n > 5000
    probs = [p ** (k - 1) * (1 - p) for k in range(1, n_max)] + [p ** (n_max - 1)]   # P(attempts = k)
    mean = sum(k * q for k, q in enumerate(probs, 1))
    sd = math.sqrt(sum(k * k * q for k, q in enumerate(probs, 1)) - mean ** 2)
    assert mean == pytest.approx(1 + p + p ** 2 + p ** 3)
    assert abs(m["attempts_per_op"] - mean) < 4 * sd / math.sqrt(n)
    success = 1 - p ** n_max
    assert abs(m["success_rate"] - success) < 4 * math.sqrt(success * (1 - success) / n)
    assert m["gave_up"] == n - m["successes"] and m["rejected"] == 0


def test_grpc_budget_caps_amplification_when_failures_are_frequent():
    inner = {"kind": "immediate", "max_attempts": 10}
    grpc = {"kind": "retry_budget", "style": "grpc", "max_tokens": 10, "token_ratio": 0.1, "inner": inner}
    storm = simulate(calls(inner, p=0.9), seed=5, duration=3, warmup=1).metrics
    budgeted = simulate(calls(grpc, p=0.9), seed=5, duration=3, warmup=1).metrics
    assert storm["attempts_per_op"] > 6                     # (1 - 0.9^10) / 0.1 = 6.5
    assert budgeted["attempts_per_op"] <= 1 + 0.1           # tokens sink below max/2 and stay there
    assert budgeted["rejected"] > 0.8 * budgeted["operations"]
    healthy = simulate(calls(grpc, p=0.05), seed=5, duration=3, warmup=1).metrics   # and when the store is fine,
    plain = simulate(calls(inner, p=0.05), seed=5, duration=3, warmup=1).metrics    # the budget stays out of the way
    assert healthy["attempts_per_op"] == pytest.approx(plain["attempts_per_op"], abs=0.01)
    assert healthy["rejected"] < 0.01 * healthy["operations"]


OUTAGE = (5.0, 15.0)
DURATION = 20.0
COOLDOWN = 0.25


def outage(scope: str) -> tuple[dict, object]:
    policy = {"kind": "circuit_breaker", "scope": scope, "threshold": 5, "cooldown": f"{COOLDOWN}s",
              "inner": {"kind": "immediate", "max_attempts": 10}}
    down = [{"kind": "down", "start": f"{OUTAGE[0]}s", "end": f"{OUTAGE[1]}s", "mode": "fail_fast"}]
    r = simulate(calls(policy, clients=8, faults=down, think={"dist": "exponential", "mean": "10ms"}),
                 seed=11, duration=DURATION)
    return r.metrics, r


def test_global_breaker_holds_off_the_store_through_an_outage_and_closes_after():
    m, r = outage("global")
    assert m["breaker_open_fraction"] == pytest.approx((OUTAGE[1] - OUTAGE[0]) / DURATION, abs=COOLDOWN / DURATION)
    # store calls during the outage: the trip, the calls already in flight, one probe per cooldown
    assert m["errors"] <= 5 + 8 + (OUTAGE[1] - OUTAGE[0]) / COOLDOWN + 2
    ts = r.timeseries
    inside = [i for i, t in enumerate(ts["t_s"]) if OUTAGE[0] + 1 <= t and t + 1 <= OUTAGE[1]]
    assert sum(ts["retries"][i] for i in inside) == 0
    assert all(ts["rejections"][i] == ts["starts"][i] > 0 for i in inside)   # every operation fast-fails
    assert all(ts["breaker_open"][i] > 0.9 for i in inside)
    log = r.breaker_log
    assert log[0][1:] == ("global", "open") and OUTAGE[0] <= log[0][0] < OUTAGE[0] + 0.1
    assert [s for _, _, s in log[-3:]] == ["open", "half_open", "closed"]
    assert OUTAGE[1] <= log[-1][0] <= OUTAGE[1] + COOLDOWN + 0.01
    assert m["breaker_transitions"] == len(log)
    after = [i for i, t in enumerate(ts["t_s"]) if OUTAGE[1] + 1 <= t and t + 1 <= DURATION]
    assert all(ts["rejections"][i] == 0 and ts["successes"][i] > 0 for i in after)


def test_operation_scope_breaker_never_protects_the_store():
    m, r = outage("operation")
    ts = r.timeseries
    inside = [i for i, t in enumerate(ts["t_s"]) if OUTAGE[0] <= t and t + 1 <= OUTAGE[1]]
    # every operation still makes `threshold` calls to the dead store before its own breaker trips
    assert all(ts["retries"][i] >= 3.5 * ts["starts"][i] > 0 for i in inside)
    assert m["errors"] > 100 * (5 + 8 + (OUTAGE[1] - OUTAGE[0]) / COOLDOWN)
    assert r.breaker_log == [] and m["breaker_open_fraction"] == 0.0 and m["breaker_transitions"] > 1000
    client, _ = outage("client")                            # per-client breakers do protect it
    assert client["errors"] < m["errors"] / 20


def batch(policy: dict) -> dict:
    return {
        "workload": {"kind": "batch", "clients": 50, "keys": {"count": 1}},
        "network": {"one_way": {"dist": "normal", "mean": "10ms", "sd": "2ms"}},
        "operation": {"kind": "append"},
        "policy": {"base": "10ms", "cap": "1s", "max_attempts": 0, **policy},
    }


def test_full_jitter_beats_lockstep_exponential_on_a_contended_batch():
    for seed in (1, 2):
        expo = simulate(batch({"kind": "exponential"}), seed=seed).metrics
        full = simulate(batch({"kind": "jitter", "mode": "full"}), seed=seed).metrics
        assert expo["successes"] == full["successes"] == 50
        assert full["calls"] < 0.7 * expo["calls"]
        assert full["makespan_s"] < 0.5 * expo["makespan_s"]


def value_check(kind: str, policy: dict, clients: int) -> dict:
    return {
        "workload": {"clients": clients, "keys": {"count": 1}},
        "network": {"one_way": ONE_MS},
        "operation": {"kind": kind},
        "policy": policy,
    }


def test_value_check_skips_reads_when_alone():
    checked = simulate(value_check("value_check", {"kind": "none"}, 1), seed=2, duration=2).metrics
    appended = simulate(value_check("append", {"kind": "none"}, 1), seed=2, duration=2).metrics
    assert checked["cache_hit_rate"] == 1.0 and checked["attempts_per_op"] == 1.0 and checked["success_rate"] == 1.0
    assert checked["mean_ms"] == pytest.approx(2.0, abs=0.01)        # one round trip...
    assert appended["mean_ms"] == pytest.approx(4.0, abs=0.01)       # ...instead of read + commit


def test_failed_value_check_retries_pessimistically_even_without_a_policy():
    r = simulate(value_check("value_check", {"kind": "none"}, 8), seed=2, duration=2, trace_op=200)
    m = r.metrics
    assert m["cache_hit_rate"] < 0.9
    assert 1.2 < m["attempts_per_op"] <= 2.0                # `none`, plus the one free retry, never more
    assert m["gave_up"] > 0
    plain = simulate(value_check("append", {"kind": "none"}, 8), seed=2, duration=2).metrics
    assert plain["attempts_per_op"] == 1.0
    # find a traced operation whose optimistic commit failed: its retry reads first
    for n in range(200, 260):
        spans = simulate(value_check("value_check", {"kind": "none"}, 8), seed=2, duration=0.5, trace_op=n).trace
        first = [s for s in spans if s.attempt == 1]
        if any(s.outcome == "conflict" for s in first):
            break
    else:
        pytest.fail("no traced operation had a failed value check")
    assert [s.kind for s in first] == ["commit"]            # optimistic: no read
    assert first[0].cached and not any(s.cached for s in spans if s.attempt == 2)   # the trace tells them apart
    assert [s.kind for s in spans if s.attempt == 2] == ["read", "commit"]
    assert max(s.attempt for s in spans) == 2


def test_client_breakers_in_an_open_workload_report_a_fraction():
    """Open fraction is averaged over the clients' breakers: at most 1, near 1 when always failing."""
    sc = {"workload": {"kind": "open", "rate": 200, "clients": 10}, "network": {"one_way": "1ms"},
          "operation": {"kind": "call"}, "store": {"faults": [{"kind": "error", "probability": 1.0}]},
          "policy": {"kind": "circuit_breaker", "scope": "client", "threshold": 3, "cooldown": "10s",
                     "inner": {"kind": "immediate", "max_attempts": 2}}}
    m = simulate(sc, seed=1, duration=5, warmup=1).metrics
    assert 0.9 < m["breaker_open_fraction"] <= 1.0
