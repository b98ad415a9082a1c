"""Polly v8's circuit breaker, computed by hand from its documentation
(https://www.pollydocs.org/strategies/circuit-breaker, CircuitBreakerStrategyOptions) and the
Polly.Core code it describes (CircuitStateController, AdvancedCircuitBehavior, RollingHealthMetrics)."""
from __future__ import annotations

import pytest
from test_policies import REJECTED, Harness
from test_resilience4j import admit, calls, finish

from occmodel import ConfigError
from occmodel.outcomes import ERROR, OK
from occmodel.policies import build_policy


def polly(**kw) -> Harness:
    return Harness({"kind": "circuit_breaker", "style": "polly", "inner": {"kind": "none"}, **kw})


def test_defaults_are_the_documented_ones():
    p = build_policy({"kind": "circuit_breaker", "style": "polly"})
    assert (p.failure_ratio, p.minimum_throughput, p.sampling_duration, p.break_duration) == (0.1, 100, 30, 5)
    assert p.failures == ["conflict", "error", "timeout", "too_old"]     # ShouldHandle: any exception


def test_default_breaks_at_ten_percent_of_a_hundred():
    # 90 successes then failures: the 100th outcome is the 10th failure, 10/100 >= 0.1 → open
    h = polly()
    calls(h, "S" * 90 + "F" * 9)
    assert h.state() == "closed"
    calls(h, "F")
    assert h.state() == "open"


def test_break_is_decided_on_a_failure_once_the_throughput_is_there():
    h = polly(failure_ratio=0.5, minimum_throughput=4)
    calls(h, "FSF")                 # 3 outcomes: 2/3 >= 0.5 but throughput 3 < 4
    assert h.state() == "closed"
    calls(h, "S")                   # 4 outcomes, 2/4 >= 0.5, but a success never breaks
    assert h.state() == "closed"
    calls(h, "F")                   # 5 outcomes, 3/5
    assert h.state() == "open"


@pytest.mark.parametrize("last, state", [(9.9, "open"), (10.0, "closed")])
def test_rolling_window_drops_a_sub_window_sampling_duration_after_its_start(last, state):
    # sampling 10 s: sub-windows of 1 s, each starting at its first outcome
    h = polly(failure_ratio=0.5, minimum_throughput=3, sampling_duration="10s")
    calls(h, "F")                   # t = 0: sub-window [0, 1)
    h.at(0.5)
    calls(h, "F")                   # same sub-window: 2 outcomes
    h.at(1.2)
    calls(h, "S")                   # a new sub-window starting at 1.2
    h.at(last)
    calls(h, "F")                   # 9.9: F F S F, 3/4 → open; 10.0: the first sub-window is gone: S F
    assert h.state() == state


def test_one_probe_after_the_break_and_a_success_closes_with_a_fresh_window():
    h = polly(failure_ratio=0.5, minimum_throughput=2, break_duration="5s")
    calls(h, "FF")                  # opens at 0 until 5
    h.at(4.9)
    assert calls(h, "S") == [REJECTED]
    h.at(5.0)                       # >= blockedUntil
    probe = admit(h)
    assert probe is not None and h.state() == "half_open"
    assert admit(h) is None         # every other call refused while the probe is out
    finish(h, probe, OK)
    assert h.state() == "closed"
    calls(h, "F")                   # the window was reset: 1 outcome < 2
    assert h.state() == "closed"


def test_a_failed_probe_breaks_again_and_is_not_counted():
    h = polly(failure_ratio=0.5, minimum_throughput=2, break_duration="5s")
    calls(h, "FF")
    h.at(6.0)
    finish(h, admit(h), ERROR)      # open again until 11
    assert h.state() == "open" and h.policy.breaker(h.op()).until == 11.0
    health = h.policy.breaker(h.op()).health
    assert (health.successes, health.failures) == (0, 2)      # the probe's failure not counted


def test_a_late_outcome_decides_the_half_open_state():
    h = polly(failure_ratio=0.5, minimum_throughput=2, break_duration="5s")
    late = admit(h)                 # admitted while closed
    calls(h, "FF")                  # opens at 0
    h.at(5.0)
    probe = admit(h)
    finish(h, late, OK)             # the late success closes it before the probe returns
    assert h.state() == "closed"
    finish(h, probe, ERROR)
    assert h.state() == "closed"    # 1 failure in the fresh window


def test_bad_polly_keys():
    for key, value in [("failure_ratio", 1.5), ("minimum_throughput", 1), ("sampling_duration", "0.4s"),
                       ("break_duration", "2d"), ("break_duration", "0.1s"), ("threshold", 0.5)]:
        with pytest.raises(ConfigError, match=f"policy.{key}"):
            build_policy({"kind": "circuit_breaker", "style": "polly", key: value})
