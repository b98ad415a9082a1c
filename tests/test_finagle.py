"""Finagle's retry budget, computed by hand from the `RetryBudget.apply` scaladoc and TokenRetryBudget:
a deposit is 1000, a withdrawal 1000 / percent_can_retry, reserve = min_retries_per_sec × ttl withdrawals."""
from __future__ import annotations

from test_policies import Harness

from occmodel.outcomes import ERROR
from occmodel.policies import REJECT


def finagle(**kw) -> Harness:
    return Harness({"kind": "retry_budget", "style": "finagle",
                    "inner": {"kind": "immediate", "max_attempts": 0}, **kw}, clients=2)


def test_finagle_budget_reserve_plus_share_of_requests_over_ttl():
    # percent 0.5: withdrawal 2000; reserve 1 × 10 × 2000 = 20000; 4 requests deposit 4000 → 12 retries
    h = finagle(ttl="10s", min_retries_per_sec=1, percent_can_retry=0.5)
    ops = [h.op() for _ in range(4)]
    assert [h.attempt(op, ERROR) for op in ops] == [0.0] * 4          # each deposits, then withdraws
    assert [h.attempt(ops[0], ERROR) for _ in range(9)] == [0.0] * 8 + [REJECT]
    assert h.policy.balance(ops[0]) == 0.0
    assert h.policy.balance(h.op(1)) == 10.0                         # client scope: the other is untouched
    h.at(10.0)                                                       # every slice of t in [0, 1) expired
    op = h.op()                                                      # 20000 + 1000 → 10 retries
    assert [h.attempt(op, ERROR) for _ in range(11)] == [0.0] * 10 + [REJECT]


def test_finagle_defaults_allow_a_hundred_retries_and_a_fifth_of_requests():
    h = finagle()                          # ttl 10 s, 10 retries/s, 0.2: reserve 100 retries of 5000
    op = h.op()
    assert h.attempt(op, ERROR) == 0.0     # the deposit (1000) makes 100.2, the retry leaves 99.2
    assert h.policy.balance(op) == 99.2
    for _ in range(4):
        h.attempt(h.op(), ERROR)           # each deposits 0.2 and spends 1: 99.2 − 4 × 0.8 = 96
    assert [h.attempt(op, ERROR) for _ in range(97)] == [0.0] * 96 + [REJECT]


def test_finagle_zero_percent_spends_only_the_reserve():
    h = finagle(min_retries_per_sec=1, percent_can_retry=0, ttl="2s")   # deposits 0, reserve 2 retries
    op = h.op()
    assert [h.attempt(op, ERROR) for _ in range(3)] == [0.0, 0.0, REJECT]
