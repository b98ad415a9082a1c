"""The lean path (`Client.lean_operation`) gives the general path's results, number for number.

It is taken automatically where a scenario allows it; every case here runs both ways and compares
every metric (but the simulator's own `events` and `wall_s`), the time series and the per-key
table. The cases cover what the lean path inlines: queueing servers, history reads, sequential
reads, compute and think time, value checks, read sets, blind calls, open arrivals, slow stores
and load-dependent service, policies that admit and record (breakers, budgets)."""
import json
import math

import pytest

from occmodel import simulate
from occmodel.model import Simulation
from occmodel.config import validate_scenario

EXP = {"dist": "exponential", "mean": "300us"}
BASE = {"workload": {"kind": "closed", "clients": 12, "keys": {"count": 8}},
        "network": {"one_way": EXP},
        "store": {"read": {"capacity": 2, "service": {"dist": "exponential", "mean": "100us"}},
                  "commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "200us"}}},
        "operation": {"kind": "append"},
        "policy": {"kind": "jitter", "mode": "full", "base": "1ms", "cap": "20ms"}}


def case(**tables):
    return {**BASE, **{k: ({**BASE[k], **v} if k in BASE and k != "policy" else v) for k, v in tables.items()}}


CASES = {
    "queueing": case(),
    "no network, zero think": case(network={"one_way": {"dist": "constant", "value": 0}}),
    "think and compute": case(workload={"think": {"dist": "exponential", "mean": "1ms"}},
                              operation={"kind": "append", "compute": {"dist": "uniform", "low": "0s", "high": "1ms"}}),
    "reload history": case(operation={"kind": "reload"}, store={"history": {"initial_events": 5, "per_event": "10us"}}),
    "sequential transaction": case(network={"one_way": EXP, "pipelining": False},
                                   operation={"kind": "transaction", "reads": 3, "writes": 2}),
    "read set": case(store={"conflict": "read_set", "mvcc_window": "2ms"},
                     operation={"kind": "transaction", "reads": 1, "writes": 1}),
    "value check": case(operation={"kind": "value_check"}),
    "blind call": case(operation={"kind": "call"}),
    "open arrivals": case(workload={"kind": "open", "rate": 3000.0, "clients": 4, "keys": {"count": 8}}),
    "batch, unlimited retries": case(workload={"kind": "batch", "clients": 30, "ops_per_client": 2, "keys": {"count": 2}},
                                     policy={"kind": "exponential", "base": "1ms", "max_attempts": 0}),
    "batch, no retry, think": case(workload={"kind": "batch", "clients": 30, "ops_per_client": 3, "keys": {"count": 3},
                                             "think": {"dist": "exponential", "mean": "1ms"}},
                                   policy={"kind": "none"}),
    "batch, value checks, jitter": case(workload={"kind": "batch", "clients": 25, "ops_per_client": 4,
                                                  "keys": {"count": 4}},
                                        operation={"kind": "value_check"}, policy={"kind": "jitter", "max_attempts": 0}),
    "slow store, load-dependent": case(store={"faults": [{"kind": "slow", "start": "0.1s", "end": "0.2s", "factor": 4}],
                                              "commit": {"capacity": 2, "service": EXP, "per_inflight": "50us"}}),
    "breaker": case(policy={"kind": "circuit_breaker", "threshold": 3, "cooldown": "5ms", "scope": "global"}),
    "retry budget": case(policy={"kind": "retry_budget", "style": "aws", "inner": {"kind": "immediate"}}),
    "zipf keys, hot": case(workload={"clients": 20, "keys": {"count": 50, "choice": "zipf", "s": 1.3}}),
}


def outcome(result):
    metrics = {k: None if isinstance(v, float) and math.isnan(v) else v
               for k, v in result.metrics.items() if k not in ("events", "wall_s")}
    return json.dumps([metrics, result.timeseries, result.keys], sort_keys=True, default=str)


@pytest.mark.parametrize("name", list(CASES))
def test_lean_path_gives_the_general_paths_results(name):
    scenario = CASES[name]
    run = dict(seed=5, replication=1, duration=0.3, warmup=0.05, bin=0.05)
    lean, general = simulate(scenario, **run), simulate(scenario, **run, lean=False)
    assert outcome(lean) == outcome(general)
    assert lean.metrics["operations"] > 20
    assert lean.metrics["events"] <= general.metrics["events"]


def clients(scenario, **kwargs):
    sim = Simulation(validate_scenario(scenario), seed=1, replication=0, duration=0.1, warmup=0.0, bin_width=0.1,
                     **kwargs)
    sim.run()
    return sim.clients


def test_the_lean_path_is_chosen_only_where_it_applies():
    assert all(c.lean and not c.early for c in clients(case()))
    assert all(c.early for c in clients(CASES["batch, unlimited retries"]))
    assert not any(c.early for c in clients(case(workload={"kind": "batch", "clients": 3, "keys": {"count": 2}},
                                                  policy={"kind": "circuit_breaker"})))
    assert not any(c.lean for c in clients(case(), lean=False))
    assert not any(c.lean for c in clients(case(), trace_op=3))
    ineligible = [case(operation={"kind": "append", "timeout": "5ms"}),
                  case(policy={"kind": "jitter", "deadline": "50ms"}),
                  case(policy={"kind": "hedge", "delay": "1ms", "max_attempts": 2}),
                  case(network={"one_way": EXP, "loss": 0.01}, operation={"kind": "append", "timeout": "5ms"}),
                  case(network={"one_way": EXP, "coalesce": "1ms"}),
                  case(store={"faults": [{"kind": "error", "probability": 0.1}]}),
                  case(store={"commit": {"capacity": 1, "batch_interval": "1ms"}}),
                  case(operation={"kind": "transaction", "reads": 2, "writes": 1})]     # pipelined reads
    for scenario in ineligible:
        assert not any(c.lean for c in clients(scenario)), scenario
