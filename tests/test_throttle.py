"""Client-side adaptive throttling by hand from the SRE book's formula
max(0, (requests − K × accepts) / (requests + 1)), K = 2, over a sliding window."""
from __future__ import annotations

from test_policies import Harness

from occmodel.outcomes import CONFLICT, ERROR, OK
from occmodel.policies.throttle import ACCEPTS, REQUESTS


def throttle(**kw) -> Harness:
    return Harness({"kind": "adaptive_throttle", "inner": {"kind": "immediate", "max_attempts": 0}, **kw})


def test_throttle_probability_follows_the_formula_and_forgets_after_the_window():
    h = throttle(window="60s")
    op = h.op()
    assert h.policy.probability(op) == 0.0
    assert h.attempt(h.op(), OK) is None            # requests 1, accepts 1
    assert h.attempt(h.op(), CONFLICT) == 0.0       # the store answered: accepted (2, 2)
    for _ in range(3):
        assert h.attempt(op, ERROR) == 0.0          # p before each: 0, 0, (4 − 4) / 5 = 0
    assert h.policy.probability(op) == (5 - 2 * 2) / 6
    h.at(60.0)                                      # the slice of t in [0, 1) is gone
    assert h.policy.probability(op) == 0.0


def test_throttle_rejects_first_attempts_with_that_probability():
    h = throttle()
    op = h.op()
    trials, rejected = 4000, 0
    for _ in range(trials):
        h.policy.by_client.clear()
        history = h.policy.history(op)
        history.add(0.0, REQUESTS, 3)
        history.add(0.0, ACCEPTS, 1)                 # p = (3 − 2) / 4 = 0.25
        rejected += not h.policy.admit(h.op())      # a first attempt
    assert abs(rejected / trials - 0.25) < 4 * (0.25 * 0.75 / trials) ** 0.5
