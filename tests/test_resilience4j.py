"""resilience4j's circuit breaker, computed by hand from its documentation
(https://resilience4j.readme.io/docs/circuitbreaker) and the issues that pin its quirks
(#1731 count window judged only with minimum calls in it, #1349 minimum cut to the window size,
#1443 time window never tripping below the minimum, #1523 half-open judged at min(minimum, permitted),
#2383 Retry wrapping the breaker counts every attempt)."""
from __future__ import annotations

import pytest
from test_policies import REJECTED, Harness

from occmodel import ConfigError
from occmodel.outcomes import ERROR, OK
from occmodel.policies import REJECT, build_policy


def r4j(**kw) -> Harness:
    return Harness({"kind": "circuit_breaker", "style": "resilience4j", "inner": {"kind": "none"}, **kw})


def admit(h: Harness, op=None):
    op = op or h.op()
    return op if h.policy.admit(op) else None


def finish(h: Harness, op, outcome: int) -> None:
    op.attempts += 1
    op.tries += 1
    h.policy.record(op, outcome)
    if outcome != OK:
        h.policy.retry_delay(op, outcome)


def calls(h: Harness, outcomes: str, takes: float = 0.0) -> list:
    """One operation per letter (F = error, S = ok), each taking `takes` seconds; what each got."""
    got = []
    for c in outcomes:
        op = admit(h)
        if op is None:
            got.append(REJECTED)
            continue
        h.at(h.now + takes)
        finish(h, op, ERROR if c == "F" else OK)
        got.append(c)
    return got


def test_defaults_are_the_documented_ones():
    p = build_policy({"kind": "circuit_breaker", "style": "resilience4j"})
    assert (p.failure_rate_threshold, p.slow_call_rate_threshold, p.slow_call_duration) == (50, 100, 60)
    assert (p.window_type, p.window_size, p.minimum_calls) == ("count", 100, 100)
    assert (p.wait_in_open, p.half_open_calls) == (60, 10)
    assert p.failures == ["conflict", "error", "timeout", "too_old"]        # every exception is recorded


def test_default_count_window_trips_only_when_full():
    # minimum 100 = window 100: 99 failures in a row leave it closed, the 100th opens it (#1731)
    h = r4j()
    assert calls(h, "F" * 99) == ["F"] * 99 and h.state() == "closed"
    calls(h, "F")
    assert h.state() == "open"


def test_issue_1731_a_20_percent_threshold_still_waits_for_a_full_window():
    # window 10, threshold 20 %: two failures then seven successes (9 calls) stay closed however
    # high the rate; the 10th call makes the window full and 2/10 = 20 % >= 20 % opens it
    h = r4j(window_size=10, failure_rate_threshold=20)
    calls(h, "FFSSSSSSS")
    assert h.state() == "closed"
    calls(h, "S")
    assert h.state() == "open"


def test_minimum_calls_is_cut_to_a_count_windows_size():
    # minimum 10 > window 5 (#1349): judged from the 5th call, 5/5 failed → open
    h = r4j(window_size=5, minimum_calls=10)
    calls(h, "FFFF")
    assert h.state() == "closed"
    calls(h, "F")
    assert h.state() == "open"


def test_below_the_window_size_minimum_calls_start_the_judging():
    h = r4j(window_size=10, minimum_calls=4)
    calls(h, "FSF")                         # 3 calls: not judged
    assert h.state() == "closed"
    calls(h, "S")                           # 2/4 = 50 % >= 50 %
    assert h.state() == "open"


def test_count_window_slides_one_call_at_a_time():
    h = r4j(window_size=4, minimum_calls=4)
    calls(h, "SSSF")                        # 1/4
    assert h.state() == "closed"
    calls(h, "F")                           # S S F F: 2/4
    assert h.state() == "open"


def test_issue_1443_a_time_window_below_its_minimum_never_trips():
    # 2-second window, minimum 100 (the default): 10 failing calls a second for 30 s, never more
    # than 20 in the window, never judged
    h = r4j(window_type="time", window_size=2)
    for _ in range(300):
        h.at(h.now + 0.1)
        calls(h, "F")
    assert h.state() == "closed"


def test_time_window_forgets_whole_seconds():
    # window 2 s = buckets of epoch seconds; minimum 3
    h = r4j(window_type="time", window_size=2, minimum_calls=3)
    h.at(0.5)
    calls(h, "F")
    h.at(0.9)
    calls(h, "F")                           # second 0 holds 2 calls
    h.at(2.1)
    calls(h, "S")                           # window = seconds 1 and 2: second 0 is gone → 1 call
    assert h.state() == "closed"
    h.at(2.5)
    calls(h, "FF")                          # seconds 1-2: S F F, 3 calls, 2/3 → open
    assert h.state() == "open"


def test_slow_calls_trip_on_the_slow_rate_strictly_above_the_duration():
    # successes only; slow = longer than 1 s: 0.5 no, 1.5 yes, 1.0 no (strict), 2.0 yes → 2/4 >= 50 %
    h = r4j(window_size=4, minimum_calls=4, slow_call_duration="1s", slow_call_rate_threshold=50)
    for takes in (0.5, 1.5, 1.0):
        calls(h, "S", takes)
    assert h.state() == "closed"
    calls(h, "S", 2.0)
    assert h.state() == "open"


def test_open_then_half_open_permits_and_verdicts():
    h = r4j(window_size=2, wait_in_open="10s", half_open_calls=3)     # closed: minimum cut to 2
    calls(h, "FF")                          # opens at t = 0, until 10 s
    assert calls(h, "S") == [REJECTED]
    h.at(10.0)
    assert calls(h, "S") == [REJECTED]      # strictly after the wait (isAfter)
    h.at(10.001)
    probes = [admit(h) for _ in range(4)]   # 3 permits in all, none given back
    assert [p is not None for p in probes] == [True, True, True, False] and h.state() == "half_open"
    finish(h, probes[0], ERROR)
    finish(h, probes[1], OK)                # 2 outcomes < min(100, 3): no verdict yet
    assert h.state() == "half_open"
    finish(h, probes[2], OK)                # 1/3 = 33 % < 50 %: closed, with a fresh window
    assert h.state() == "closed"
    calls(h, "F")
    assert h.state() == "closed"            # 1 call in the fresh window: below the minimum (2)


def test_half_open_reopens_over_the_threshold_and_is_judged_at_min_of_minimum_and_permits():
    # minimum 2 < 5 permits (#1523): the verdict comes after 2 outcomes
    h = r4j(window_size=2, minimum_calls=2, wait_in_open="1s", half_open_calls=5)
    calls(h, "FF")
    h.at(1.5)
    a, b = admit(h), admit(h)
    finish(h, a, ERROR)
    finish(h, b, OK)                        # 1/2 = 50 % >= 50 %: open again, for another 1 s
    assert h.state() == "open" and h.policy.breaker(h.op()).until == 2.5


def test_a_late_outcome_counts_toward_the_half_open_verdict():
    # admitted while closed, answered after the breaker went half-open: recorded there (#1523 style)
    h = r4j(window_size=2, minimum_calls=2, wait_in_open="1s", half_open_calls=2)
    late = admit(h)
    calls(h, "FF")                          # opens at 0
    h.at(1.5)
    probe = admit(h)
    finish(h, late, OK)
    finish(h, probe, OK)                    # 0/2 failed: closed
    assert h.state() == "closed"


def test_open_breaker_rejects_a_retry_at_once():
    h = Harness({"kind": "circuit_breaker", "style": "resilience4j", "window_size": 2, "minimum_calls": 2,
                 "inner": {"kind": "immediate", "max_attempts": 5}})
    op = h.op()
    assert h.attempt(op, ERROR) == 0.0
    assert h.attempt(op, ERROR) == REJECT   # the second failure opens it: no point waiting


@pytest.mark.parametrize("style", [{}, {"style": "resilience4j", "window_size": 3, "minimum_calls": 3,
                                        "failure_rate_threshold": 100}])
def test_issue_2383_retry_around_the_breaker_counts_every_attempt(style):
    # one operation, three failing attempts: with counts = "attempts" (Retry(CircuitBreaker)) the
    # breaker sees 3 failures and opens; with "operations" (CircuitBreaker(Retry)) it sees one
    base = {"kind": "circuit_breaker", "threshold": 3} if not style else {"kind": "circuit_breaker", **style}
    inner = {"kind": "immediate", "max_attempts": 3}
    h = Harness({**base, "inner": inner})
    op = h.op()
    assert [h.attempt(op, ERROR) for _ in range(3)] == [0.0, 0.0, None]   # the 3rd attempt opens it
    assert h.state() == "open"
    h = Harness({**base, "counts": "operations", "inner": inner})
    for n in range(3):
        op = h.op()
        assert [h.attempt(op, ERROR) for _ in range(3)] == [0.0, 0.0, None]   # retries never asked
        assert h.state() == ("open" if n == 2 else "closed")


def test_counts_operations_measures_the_whole_operation_for_slow_calls():
    # slow = over 1 s; each attempt takes 0.6 s, two attempts: 1.2 s per operation
    table = {"kind": "circuit_breaker", "style": "resilience4j", "window_size": 1, "minimum_calls": 1,
             "slow_call_duration": "1s", "slow_call_rate_threshold": 100, "failures": ["timeout"],
             "inner": {"kind": "immediate", "max_attempts": 2}}
    for counts, state in (("attempts", "closed"), ("operations", "open")):
        h = Harness({**table, "counts": counts})
        op = h.op()
        for outcome in (ERROR, OK):
            assert h.policy.admit(op)
            h.at(h.now + 0.6)
            finish(h, op, outcome)
        assert h.state() == state, counts


def test_bad_resilience4j_keys():
    for key, value in [("failure_rate_threshold", 0), ("failure_rate_threshold", 101), ("window_size", 0),
                       ("minimum_calls", 0), ("half_open_calls", 0), ("window_type", "sliding"),
                       ("wait_in_open", "0s"), ("slow_call_duration", "0s"), ("cooldown", "1s")]:
        with pytest.raises(ConfigError, match=f"policy.{key}"):
            build_policy({"kind": "circuit_breaker", "style": "resilience4j", key: value})
    with pytest.raises(ConfigError, match="counts"):
        build_policy({"kind": "circuit_breaker", "trip": "cumulative", "counts": "operations"})
