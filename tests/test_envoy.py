"""Envoy's retry budget by hand from the circuit_breaker.proto docs (20 %, never below 3) and envoy#30205
(retries in backoff are not counted)."""
from __future__ import annotations

from test_policies import Harness

from occmodel.client import Op
from occmodel.outcomes import ERROR, OK
from occmodel.policies import REJECT


def envoy(**kw) -> Harness:
    return Harness({"kind": "retry_budget", "style": "envoy",
                    "inner": {"kind": "immediate", "max_attempts": 0}, **kw})


def send(h: Harness, op: Op) -> None:
    """Send the next attempt and leave it in flight."""
    assert h.policy.admit(op)
    op.attempts += 1
    op.tries += 1


def test_envoy_retries_in_backoff_are_not_counted_unless_asked():
    h = envoy()                                   # min_retry_concurrency 3: yet 10 retries in backoff
    assert [h.attempt(h.op(), ERROR) for _ in range(10)] == [0.0] * 10
    h = envoy(count_backoff=True)
    assert [h.attempt(h.op(), ERROR) for _ in range(4)] == [0.0] * 3 + [REJECT]


def test_envoy_budget_is_a_share_of_attempts_in_flight():
    h = envoy()
    for _ in range(20):
        send(h, h.op())                           # 20 first attempts in flight
    failing = [h.op() for _ in range(5)]
    for op in failing[:4]:
        assert h.attempt(op, ERROR) == 0.0        # max(3, int(0.2 × 20)) = 4 > retries in flight
        send(h, op)                               # its retry is in flight: 1, 2, 3, 4
    assert h.attempt(failing[4], ERROR) == REJECT  # 4 retries in flight, max(3, int(0.2 × 24)) = 4
    h.policy.record(failing[0], OK)               # a retry answers: 3 in flight, 23 active
    assert h.attempt(h.op(), ERROR) == 0.0        # max(3, int(4.6)) = 4 > 3
