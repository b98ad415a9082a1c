"""Unit tests of the retry policies: each driven by hand on a real SimPy clock and Recorder.

`Harness` plays the client's part of the retry loop (admit → attempt → record → retry_delay)
so a test states outcomes and times and checks exactly what the policy answers.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import simpy

from occmodel import ConfigError, simulate
from occmodel.client import Op
from occmodel.distributions import blocks
from occmodel.metrics import Recorder
from occmodel.outcomes import CONFLICT, ERROR, OK, TIMEOUT, TOO_OLD
from occmodel.policies import REJECT, build_policy

SEED = 12345
REJECTED = "rejected"


class FakeSim:
    """What `Policy.bind` uses of a Simulation: clock, metrics, breaker log, scenario, a stream."""

    def __init__(self, clients: int = 1, t0: float = 0.0, t1: float = 100.0, kind: str = "closed") -> None:
        self.env = simpy.Environment()
        self.metrics = Recorder(t0, t1, 1.0, 1)
        self.breaker_log: list[tuple[float, str, str]] = []
        self.scenario = SimpleNamespace(workload=SimpleNamespace(clients=clients, kind=kind))
        self.clients = [SimpleNamespace(id=i, jitter=self.uniform("jitter", i)) for i in range(clients)]

    def uniform(self, stream: str, *extra: int):
        rng = np.random.default_rng([SEED, *extra])
        return blocks(lambda n: rng.random(n))


class Harness:
    def __init__(self, table: dict, **sim) -> None:
        self.sim = FakeSim(**sim)
        self.policy = build_policy(table)
        self.policy.bind(self.sim)

    @property
    def now(self) -> float:
        return self.sim.env.now

    def at(self, t: float) -> None:
        if t > self.sim.env.now:
            self.sim.env.run(until=t)

    def op(self, client: int = 0) -> Op:
        return Op((0,), self.now, self.sim.clients[client])

    def attempt(self, op: Op, outcome: int):
        """One attempt as the client runs it: REJECTED if not admitted, None on success or give-up,
        else the retry delay (or REJECT)."""
        if not self.policy.admit(op):
            return REJECTED
        op.attempts += 1
        op.tries += 1
        self.policy.record(op, outcome)
        return None if outcome == OK else self.policy.retry_delay(op, outcome)

    def state(self, op: Op | None = None) -> str | None:
        return self.policy.state(op or self.op())

    def twin(self):
        """The same uniforms the policy draws, to predict jittered delays exactly."""
        return FakeSim().uniform("jitter", 0)


def delays(h: Harness, n: int, outcome: int = CONFLICT) -> list[float | None]:
    op = h.op()
    return [h.attempt(op, outcome) for _ in range(n)]


# --- delay schedules -------------------------------------------------------------------------
def test_exponential_schedule_starts_at_base_and_caps():
    h = Harness({"kind": "exponential", "base": "10ms", "cap": "100ms", "multiplier": 2, "max_attempts": 0})
    assert delays(h, 7) == pytest.approx([0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1])


def test_fdb_is_full_jitter_doubling_to_cap_and_fixed_too_old():
    h = Harness({"kind": "fdb", "base": "10ms", "cap": "80ms"})
    u = h.twin()
    expected = [u() * min(0.08, 0.01 * 2 ** k) for k in range(6)]
    assert delays(h, 6, ERROR) == pytest.approx(expected)
    assert h.policy.max_attempts == 0
    assert delays(h, 3, TOO_OLD) == pytest.approx([0.01] * 3)


def test_reload_grows_linearly_and_asks_for_a_history_read():
    h = Harness({"kind": "reload", "base": "10ms", "cap": "35ms"})
    op = h.op()
    got = []
    for _ in range(5):
        op.reload = False
        got.append(h.attempt(op, CONFLICT))
        assert op.reload
    assert got == pytest.approx([0.01, 0.02, 0.03, 0.035, 0.035])


@pytest.mark.parametrize("mode,lo,hi,mean", [("full", 0, 80, 40), ("equal", 40, 80, 60), ("additive", 80, 160, 120)])
def test_jitter_modes_bounds_and_means(mode, lo, hi, mean):
    h = Harness({"kind": "jitter", "mode": mode, "base": "10ms", "cap": "1s"})
    n, op = 20000, h.op()
    op.retries = 3                          # exp_3 = 80 ms
    draws = np.array([h.policy.backoff(op, CONFLICT) for _ in range(n)]) * 1e3
    assert lo <= draws.min() and draws.max() <= hi
    sd = (hi - lo) / math.sqrt(12)          # each mode is uniform over [lo, hi]
    assert abs(draws.mean() - mean) < 4 * sd / math.sqrt(n)


def test_decorrelated_jitter_recurrence():
    h = Harness({"kind": "jitter", "mode": "decorrelated", "base": "10ms", "cap": "200ms", "max_attempts": 0})
    u, prev, expected = h.twin(), 0.01, []
    for _ in range(30):
        prev = min(0.2, 0.01 + u() * (3 * prev - 0.01))     # d = min(cap, U(base, 3 d_prev)), d_0 = base
        expected.append(prev)
    got = delays(h, 30)
    assert got == pytest.approx(expected)
    assert all(0.01 <= d <= 0.2 for d in got)
    firsts = [h.attempt(h.op(), CONFLICT) for _ in range(5000)]   # first retries: U(base, 3 base)
    assert 0.01 <= min(firsts) and max(firsts) <= 0.03
    assert abs(np.mean(firsts) - 0.02) < 4 * (0.02 / math.sqrt(12)) / math.sqrt(5000)


# --- common limits ---------------------------------------------------------------------------
def test_none_never_retries():
    h = Harness({"kind": "none"})
    for outcome in (CONFLICT, ERROR, TIMEOUT, TOO_OLD):
        assert h.attempt(h.op(), outcome) is None
    with pytest.raises(ConfigError, match="max_attempts"):
        build_policy({"kind": "none", "max_attempts": 2})


def test_max_attempts_counts_attempts_in_all():
    h = Harness({"kind": "immediate", "max_attempts": 3})
    assert delays(h, 3) == [0.0, 0.0, None]
    unlimited = Harness({"kind": "immediate", "max_attempts": 0})
    assert delays(unlimited, 200) == [0.0] * 200


def test_deadline_refuses_a_retry_that_would_start_too_late():
    h = Harness({"kind": "exponential", "base": "100ms", "cap": "1s", "deadline": "250ms"})
    op = h.op()
    assert h.attempt(op, CONFLICT) == pytest.approx(0.1)
    h.at(0.1)
    assert h.attempt(op, CONFLICT) is None          # 0.1 + 0.2 >= 0.25
    assert h.policy.request_timeout(op, 0.0) == pytest.approx(0.15)


def test_retry_on_limits_what_is_retried():
    h = Harness({"kind": "immediate", "retry_on": ["conflict"]})
    assert h.attempt(h.op(), CONFLICT) == 0.0
    assert h.attempt(h.op(), ERROR) is None
    assert h.attempt(h.op(), TIMEOUT) is None


# --- circuit breaker -------------------------------------------------------------------------
def breaker(**kw) -> Harness:
    table = {"kind": "circuit_breaker", "inner": {"kind": "immediate", "max_attempts": 0}, "scope": "global",
             "cooldown": "1s", **kw}
    return Harness(table)


def test_breaker_closed_open_half_open_closed():
    h = breaker(threshold=3)
    op = h.op()
    assert [h.attempt(op, ERROR), h.attempt(op, ERROR), h.attempt(op, OK)] == [0.0, 0.0, None]
    assert h.state() == "closed"                          # a success resets the streak
    h.at(0.5)
    op = h.op()
    assert [h.attempt(op, ERROR), h.attempt(op, ERROR)] == [0.0, 0.0]
    assert h.attempt(op, ERROR) == REJECT                 # open at failure time: no point waiting
    assert h.state() == "open"
    assert h.attempt(h.op(), OK) == REJECTED               # fast-fail: first attempts too
    h.at(1.49)
    assert h.attempt(h.op(), OK) == REJECTED
    h.at(1.6)
    assert h.state() == "half_open"
    probe, other = h.op(), h.op()
    assert h.policy.admit(probe)                          # the probe...
    assert h.attempt(other, OK) == REJECTED                # ...is the only one in flight
    probe.attempts += 1
    h.policy.record(probe, OK)
    assert h.state() == "closed"
    assert h.sim.breaker_log == [(0.5, "global", "open"), (1.5, "global", "half_open"), (1.6, "global", "closed")]
    assert h.sim.metrics.breaker_transitions == 3
    assert h.sim.metrics.breaker_open_time == pytest.approx(1.0)
    assert h.sim.metrics.series["breaker_open"][0] == pytest.approx(0.5)


def test_breaker_failed_probe_reopens_for_a_new_cooldown():
    h = breaker(threshold=1, cooldown="2s")
    assert h.attempt(h.op(), ERROR) == REJECT
    h.at(3.0)
    assert h.attempt(h.op(), TIMEOUT) == REJECT           # probe fails at 3.0
    assert h.state() == "open"
    h.at(4.9)
    assert h.attempt(h.op(), OK) == REJECTED
    h.at(5.0)
    assert h.attempt(h.op(), OK) is None
    states = [s for _, _, s in h.sim.breaker_log]
    assert states == ["open", "half_open", "open", "half_open", "closed"]
    assert h.sim.breaker_log[2][0] == 3.0
    assert h.sim.metrics.breaker_open_time == pytest.approx(4.0)


def test_breaker_needs_every_probe_to_succeed():
    h = breaker(threshold=1, half_open_probes=2)
    h.attempt(h.op(), ERROR)
    h.at(1.0)
    a, b, c = h.op(), h.op(), h.op()
    assert h.policy.admit(a) and h.policy.admit(b) and not h.policy.admit(c)
    h.policy.record(a, OK)
    assert h.state() == "half_open"
    assert h.policy.admit(c)                              # a slot freed: another probe
    h.policy.record(b, OK)
    assert h.state() == "closed"
    h.policy.record(c, ERROR)                             # a stale probe of a finished episode
    assert h.state() == "closed"


def test_breaker_counts_conflicts_only_if_asked():
    h = breaker(threshold=2)
    assert delays(h, 5) == [0.0] * 5
    assert h.state() == "closed"
    h = breaker(threshold=2, failures=["conflict"])
    assert delays(h, 2) == [0.0, REJECT]


def test_rate_trip_waits_for_min_calls():
    h = breaker(trip="rate", threshold=0.5, window=10, min_calls=5)
    op = h.op()
    for outcome in (ERROR, ERROR, ERROR, ERROR):          # 4/4 failed, but only 4 calls
        assert h.attempt(op, outcome) == 0.0
    assert h.attempt(op, OK) is None                      # 5 calls, 4/5 >= 0.5
    assert h.state() == "open"


def test_rate_trip_uses_a_sliding_window():
    h = breaker(trip="rate", threshold=0.5, window=4)     # min_calls = window
    for outcome in (ERROR, OK, OK, OK, ERROR, OK):         # window never holds 2 failures
        assert h.attempt(h.op(), outcome) in (0.0, None)
    assert h.state() == "closed"
    assert h.attempt(h.op(), ERROR) == REJECT             # [OK, ERR, OK, ERR] = 0.5; 3/7 overall
    assert h.state() == "open"


def test_blocks_retries_lets_first_attempts_through():
    h = breaker(threshold=1, blocks="retries")
    assert h.attempt(h.op(), ERROR) == REJECT
    fresh, retry = h.op(), h.op()
    retry.tries = 1
    assert h.policy.admit(fresh) and not h.policy.admit(retry)
    h.at(1.0)
    assert h.attempt(h.op(), OK) is None                  # a first attempt probes
    assert h.state() == "closed"


def test_breaker_scopes():
    h = Harness({"kind": "circuit_breaker", "threshold": 1, "scope": "client", "cooldown": "1s"}, clients=4)
    assert h.attempt(h.op(0), ERROR) == REJECT
    assert h.policy.admit(h.op(1)) and not h.policy.admit(h.op(0))
    h.policy.finish(10.0)
    assert h.sim.breaker_log == [(0.0, "client-0", "open"), (1.0, "client-0", "half_open")]
    assert h.sim.metrics.breaker_open_time == pytest.approx(0.25)   # 1 s open, a quarter of the clients
    h = Harness({"kind": "circuit_breaker", "threshold": 2, "scope": "operation", "inner": {"kind": "immediate"}})
    assert delays(h, 2, ERROR) == [0.0, REJECT]           # caps one operation's retries...
    assert h.attempt(h.op(), ERROR) == 0.0                # ...and the next one starts afresh
    assert h.sim.breaker_log == [] and h.sim.metrics.breaker_transitions == 1
    assert h.sim.metrics.breaker_open_time == 0.0


def test_breaker_transitions_count_only_in_the_measurement_window_and_finish_settles():
    h = Harness({"kind": "circuit_breaker", "threshold": 1, "scope": "global", "cooldown": "10s"}, t0=2.0)
    h.at(1.0)
    h.attempt(h.op(), ERROR)
    h.policy.finish(6.0)
    assert h.sim.metrics.breaker_transitions == 0 and len(h.sim.breaker_log) == 1
    assert h.sim.metrics.breaker_open_time == pytest.approx(4.0)   # [2, 6) of [1, 11)


# --- retry budgets ---------------------------------------------------------------------------
def budget(**kw) -> Harness:
    return Harness({"kind": "retry_budget", "inner": {"kind": "immediate", "max_attempts": 0}, **kw}, clients=2)


def test_aws_bucket_edges_and_refunds():
    h = budget(style="aws", capacity=10, retry_cost=5, timeout_cost=10)
    op = h.op()
    assert [h.attempt(op, ERROR), h.attempt(op, ERROR)] == [0.0, 0.0]   # 10 -> 5 -> 0: exactly at cost
    assert h.attempt(op, ERROR) == REJECT                 # 0 < 5
    assert h.policy.tokens(op) == 0
    assert h.attempt(h.op(), OK) is None                  # a first-attempt success refunds 1
    assert h.policy.tokens(op) == 1
    op = h.op()
    assert h.attempt(op, ERROR) == REJECT                 # 1 < 5
    h = budget(style="aws", capacity=10, retry_cost=5, timeout_cost=10)
    op = h.op()
    assert h.attempt(op, TIMEOUT) == 0.0                  # timeout retry: 10, exactly at cost
    assert h.attempt(op, ERROR) == REJECT
    assert h.policy.tokens(h.op(1)) == 10                 # client scope: the other bucket is full
    h = budget(style="aws", capacity=20, retry_cost=5, timeout_cost=10)
    op = h.op()
    h.attempt(op, ERROR), h.attempt(op, TIMEOUT)          # 20 -> 15 -> 5
    assert h.attempt(op, OK) is None
    assert h.policy.tokens(op) == 15                      # the last retry's cost comes back
    for _ in range(10):
        h.attempt(h.op(), OK)
    assert h.policy.tokens(op) == 20                      # refunds stop at capacity


def test_grpc_throttles_at_exactly_half():
    h = budget(style="grpc", max_tokens=10, token_ratio=0.1)
    op = h.op()
    assert [h.attempt(op, ERROR) for _ in range(5)] == [0.0] * 4 + [REJECT]   # 6 > 5 retries; 5 does not
    for _ in range(10):
        h.attempt(h.op(), OK)                             # 5 + 10 × 0.1 = 6.0, exactly
    assert h.attempt(h.op(), ERROR) == REJECT             # 5.0 is not > 5
    for _ in range(11):
        h.attempt(h.op(), OK)                             # 5.0 + 1.1 = 6.1
    assert h.attempt(h.op(), ERROR) == 0.0                # 5.1 > 5
    for _ in range(30):
        h.attempt(h.op(), ERROR)
    assert h.policy.tokens(op) == 0                       # floor at 0
    for _ in range(200):
        h.attempt(h.op(), OK)
    assert h.policy.tokens(op) == 10                      # cap at max_tokens


def test_adaptive_bucket():
    h = budget(style="adaptive", capacity=3, per_call=0, retry_cost=1)
    assert delays(h, 3, ERROR) == [0.0, 0.0, REJECT]      # 3 -> 2 -> 1; 1 is not > 1
    h = budget(style="adaptive")                          # 5 tokens, +0.1 a call, capped at 5
    op = h.op()
    got = [h.attempt(op, ERROR) for _ in range(6)]
    assert got == [0.0] * 5 + [REJECT]                    # 5→4, 4.1→3.1, 3.2→2.2, 2.3→1.3, 1.4→0.4, 0.5
    assert h.policy.tokens(op) == pytest.approx(0.5)


def test_global_budget_is_shared():
    h = budget(style="aws", capacity=5, scope="global")
    assert h.attempt(h.op(0), ERROR) == 0.0
    assert h.attempt(h.op(1), ERROR) == REJECT


# --- configuration errors --------------------------------------------------------------------
@pytest.mark.parametrize("table,path", [
    ({"kind": "backoff"}, "policy.kind"),
    ({"kind": "exponential", "bse": "10ms"}, "policy.bse"),
    ({"kind": "retry_budget", "style": "aws", "max_tokens": 3}, "policy.max_tokens"),
    ({"kind": "retry_budget", "style": "grpc", "capacity": 3}, "policy.capacity"),
    ({"kind": "retry_budget", "style": "aws", "per_call": 0.2}, "policy.per_call"),
    ({"kind": "circuit_breaker", "cooldown": "-1s"}, "policy.cooldown"),
    ({"kind": "jitter", "base": -0.5}, "policy.base"),
    ({"kind": "circuit_breaker", "trip": "rate", "threshold": 1.5}, "policy.threshold"),
    ({"kind": "circuit_breaker", "threshold": 2.5}, "policy.threshold"),
    ({"kind": "circuit_breaker", "window": 10}, "policy.window"),
    ({"kind": "circuit_breaker", "trip": "rate", "window": 10, "min_calls": 11}, "policy.min_calls"),
    ({"kind": "circuit_breaker", "scope": "cluster"}, "policy.scope"),
    ({"kind": "circuit_breaker", "inner": {"kind": "circuit_breaker"}}, "policy.inner.kind"),
    ({"kind": "retry_budget", "inner": {"kind": "jitter", "mode": "half"}}, "policy.inner.mode"),
])
def test_bad_policy_configs_name_the_key(table, path):
    with pytest.raises(ConfigError) as err:
        build_policy(table)
    assert err.value.path == path
    assert path.rsplit(".", 1)[1] in str(err.value)


def test_simulate_rejects_a_bad_policy_before_running():
    with pytest.raises(ConfigError, match="max_tokens"):
        simulate({"network": {"one_way": "1ms"}, "policy": {"kind": "retry_budget", "max_tokens": 3}}, seed=1)


def test_adaptive_bucket_refilled_per_operation():
    """The 2022 study's bucket: +0.1 only when an operation starts; attempts add nothing."""
    h = budget(style="adaptive", refill="operation")
    op = h.op()
    got = [h.attempt(op, ERROR) for _ in range(5)]
    assert got == [0.0] * 4 + [REJECT]                    # start: 5 (capped); 5→4→3→2→1; 1 is not > 1
    assert h.policy.tokens(op) == pytest.approx(1.0)
    op = h.op()
    assert [h.attempt(op, ERROR) for _ in range(2)] == [0.0, REJECT]   # start: 1.1 → 0.1
    assert h.policy.tokens(op) == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="policy.refill"):
        build_policy({"kind": "retry_budget", "style": "aws", "refill": "operation"})


def test_cumulative_breaker_by_hand():
    """Running totals since the start: a retry is refused while failures / operations > 0.1 (strict)."""
    h = Harness({"kind": "circuit_breaker", "trip": "cumulative", "threshold": 0.1,
                 "inner": {"kind": "immediate", "max_attempts": 4}})
    for _ in range(9):                           # 9 operations succeed at once: 0 failures / 9 ops
        assert h.attempt(h.op(), OK) is None
    op = h.op()                                  # 10th op: 1 failure / 10 ops = 0.1, not > 0.1: retry
    assert h.attempt(op, ERROR) == 0.0
    assert h.attempt(op, ERROR) == REJECT        # 2 / 10 > 0.1: refused
    op = h.op()                                  # a first attempt is never refused; 3 / 11 > 0.1
    assert h.attempt(op, ERROR) == REJECT
    h = Harness({"kind": "circuit_breaker", "trip": "cumulative", "threshold": 0.25, "per": "attempt",
                 "inner": {"kind": "immediate", "max_attempts": 4}})
    for _ in range(3):
        assert h.attempt(h.op(), OK) is None
    op = h.op()
    assert h.attempt(op, ERROR) == 0.0           # 1 failure / 4 attempts = 0.25: retry
    assert h.attempt(op, OK) is None             # 1 / 5
    op = h.op()
    assert h.attempt(op, ERROR) == REJECT        # 2 / 6 > 0.25
    with pytest.raises(ConfigError, match="policy.window"):
        build_policy({"kind": "circuit_breaker", "trip": "cumulative", "window": 10})


def test_an_unknown_style_names_every_style_of_its_kind():
    with pytest.raises(ConfigError) as exc:
        build_policy({"kind": "retry_budget", "style": "linkerd"})
    assert str(exc.value).startswith("policy.style: got 'linkerd'")
    for style in ("aws", "grpc", "adaptive", "finagle", "envoy"):
        assert repr(style) in str(exc.value)
    with pytest.raises(ConfigError, match="'polly', 'resilience4j' \\(or no style: the project's own\\)"):
        build_policy({"kind": "circuit_breaker", "style": "hystrix"})
    with pytest.raises(ConfigError, match="kind = 'jitter' has no styles"):
        build_policy({"kind": "jitter", "style": "full"})
    with pytest.raises(ConfigError, match="unknown key for kind = 'circuit_breaker', style = 'polly'"):
        build_policy({"kind": "circuit_breaker", "style": "polly", "cooldown": "1s"})
