"""Random edits of a valid scenario through `simulate` (issue 13: "600 fuzzed simulate calls").

Each case sets one to three keys of a small valid scenario to values a careless caller might pass
(negative, zero, huge, NaN, infinite, a bool, a string, a list, a table, None) or plausible other
ones (other kinds, policies, distributions). Whatever the edit, `simulate` must end within a time
limit and either return a result or raise a one-line `ConfigError`: never a TypeError, an
OverflowError, a MemoryError or a hang. The cases are drawn from a seeded generator (the same
600 every time, about a second; `--slow` adds 10,000 more) and a share of them must run, so the
test cannot pass by refusing everything. Found on its first run: `policy.kind = {}` (TypeError).
"""
from __future__ import annotations

import collections
import copy
import math
import random
import signal
from typing import Any

import pytest

import occmodel
from occmodel.errors import ConfigError

BASE: dict[str, Any] = {
    "workload": {"kind": "closed", "clients": 2, "think": "1ms", "keys": {"count": 4}},
    "network": {"one_way": "1ms"},
    "store": {"commit": {"capacity": 1, "service": "1ms"}, "read": {"service": "0.5ms"}},
    "operation": {"kind": "transaction", "reads": 2, "writes": 1, "timeout": "20ms"},
    "policy": {"kind": "jitter", "base": "1ms", "cap": "10ms", "max_attempts": 5},
}
KEYS = ["workload.kind", "workload.clients", "workload.think", "workload.rate", "workload.ops_per_client",
        "workload.keys", "workload.keys.count", "workload.keys.choice", "workload.keys.s", "workload.keys.hot_keys",
        "workload.keys.hot_fraction", "workload.keys.affinity", "workload.schedule", "network.one_way",
        "network.loss", "network.pipelining", "network.coalesce", "store.conflict", "store.mvcc_window",
        "store.commit.capacity", "store.commit.service", "store.commit.per_inflight", "store.commit.batch_interval",
        "store.read", "store.faults", "store.history", "operation.kind", "operation.reads", "operation.writes",
        "operation.compute", "operation.timeout", "operation.value_check_retries", "policy", "policy.kind",
        "policy.base", "policy.cap", "policy.multiplier", "policy.max_attempts", "policy.deadline", "policy.mode",
        "policy.inner", "policy.threshold", "policy.cooldown", "policy.scope", "policy.style", "policy.delay"]
NASTY = [-1, 0, 1, 2, 0.5, 1e30, 2**63, -(2**63), math.nan, math.inf, -math.inf, True, False, None, "", "x",
         "0s", "1ms", "-1s", "inf", "1e400s", "nan", [], [1, 2], {}, {"dist": "exponential"},
         {"dist": "exponential", "mean": "1ms"}, {"dist": "empirical", "samples": []},
         {"dist": "empirical", "samples": [0.001, math.inf]}, {"kind": "error", "probability": 1.0},
         [{"kind": "error", "probability": 1.0}], [{"kind": "down", "start": "5ms", "end": "10ms"}],
         [{"until": "10ms", "rate": 100}, {"rate": 10}], {"kind": "immediate", "max_attempts": 0},
         {"kind": "circuit_breaker"}, {"kind": "hedge", "max_attempts": 2}, "open", "batch", "call", "zipf"]
PLAUSIBLE = ["5ms", 0.1, 3, 8, "uniform", "hotspot", "read_set", "expected_version", "append", "value_check", "reload",
             "client", "global", "operation", 0.99, 1.0, 100, 1000, "50ms", {"count": 1}, {"count": 1000, "choice": "zipf"},
             {"dist": "lognormal", "median": "1ms", "sigma": 2}, {"dist": "uniform", "low": "0s", "high": "2ms"},
             {"dist": "constant", "value": "0s"}, [{"kind": "slow", "factor": 10, "start": "5ms", "end": "15ms"}],
             {"kind": "retry_budget", "inner": {"kind": "immediate"}}, {"kind": "adaptive_throttle"}, {"kind": "fdb"},
             {"kind": "exponential", "base": "0s", "cap": "0s"}, {"kind": "hedge", "max_attempts": 5, "delay": "0s"},
             {"kind": "circuit_breaker", "style": "polly"}, {"kind": "circuit_breaker", "style": "resilience4j"},
             {"kind": "retry_budget", "style": "finagle"}, {"kind": "retry_budget", "style": "envoy"}]
POOL = NASTY + 3 * PLAUSIBLE
LIMIT_S = 30


def edited(edits: list[tuple[str, Any]]) -> dict[str, Any]:
    scenario = copy.deepcopy(BASE)
    for dotted, value in edits:
        node, *parents = scenario, *dotted.split(".")[:-1]
        for p in parents:
            child = node.get(p) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                child = node[p] = {}
            node = child
        node[dotted.split(".")[-1]] = copy.deepcopy(value)
    return scenario


class TimeLimit(Exception):
    pass


def run(scenario: dict[str, Any]) -> str:
    """"ran" or "refused"; anything else (a crash, the time limit) propagates."""
    def alarm(signum: int, frame: Any) -> None:
        raise TimeLimit(f"still running after {LIMIT_S} s: {scenario}")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(LIMIT_S)
    try:
        occmodel.simulate(scenario, seed=1, duration="20ms", bin="5ms", max_time="10s")
        return "ran"
    except ConfigError as exc:
        assert str(exc).strip() and "\n" not in str(exc), exc        # one line
        return "refused"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fuzz(n: int, seed: int) -> collections.Counter:
    rnd, seen = random.Random(seed), collections.Counter()
    for _ in range(n):
        changes = [(rnd.choice(KEYS), rnd.choice(POOL)) for _ in range(rnd.randint(1, 3))]
        try:
            seen[run(edited(changes))] += 1
        except Exception as exc:
            raise AssertionError(f"{changes}: {exc!r}") from exc
    return seen


def test_600_random_edits_run_or_are_refused():
    seen = fuzz(600, seed=1)
    assert sum(seen.values()) == 600 and seen["ran"] >= 15, seen     # 37 of these 600 run


@pytest.mark.slow
def test_10000_more_random_edits_run_or_are_refused():
    seen = fuzz(10_000, seed=2)
    assert seen["ran"] >= 250, seen       # 429 of these run
