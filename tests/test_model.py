"""The model's semantics on small cases computed by hand, and its determinism."""
import gc
import math

import pytest

import occmodel
from occmodel import ConfigError

D = 0.001  # a constant one-way hop


def one_op(reads=3, pipelining=True, **extra):
    sc = {"workload": {"kind": "batch", "clients": 1, "keys": {"count": 8}},
          "network": {"one_way": {"dist": "constant", "value": D}, "pipelining": pipelining},
          "operation": {"kind": "transaction", "reads": reads, "writes": 1}}
    for section, values in extra.items():
        sc.setdefault(section, {}).update(values)
    return occmodel.simulate(sc, seed=1, trace_op=0)


def test_pipelined_reads_cost_one_round_trip():
    r = one_op(pipelining=True)
    assert r.metrics["makespan_s"] == pytest.approx(2 * D + 2 * D, abs=1e-12)
    reads = [s for s in r.trace if s.kind == "read"]
    assert len(reads) == 3 and len({s.message for s in reads}) == 1


def test_sequential_reads_cost_one_round_trip_each():
    r = one_op(pipelining=False)
    assert r.metrics["makespan_s"] == pytest.approx(3 * 2 * D + 2 * D, abs=1e-12)
    assert len({s.message for s in r.trace if s.kind == "read"}) == 3


def test_pipelined_latency_is_the_slowest_read_not_the_sum():
    r = one_op(store={"read": {"service": {"dist": "uniform", "low": "1ms", "high": "5ms"}}})
    reads = [s for s in r.trace if s.kind == "read"]
    assert r.metrics["makespan_s"] == pytest.approx(max(s.end for s in reads) + 2 * D, abs=1e-12)
    assert max(s.end for s in reads) < sum(s.end - s.start for s in reads)


def test_history_read_cost_grows_with_events():
    r = one_op(reads=1, operation={"kind": "reload"},
               store={"history": {"initial_events": 100, "per_event": "10us"}})
    assert r.metrics["makespan_s"] == pytest.approx(4 * D + 100 * 10e-6)
    assert [s.events for s in r.trace if s.kind == "history"] == [100]


def contenders(clients=2, conflict="expected_version", policy=None, **operation):
    sc = {"workload": {"kind": "batch", "clients": clients, "keys": {"count": 1}},
          "network": {"one_way": {"dist": "constant", "value": D}},
          "store": {"conflict": conflict, "commit": {"capacity": 1, "service": {"dist": "constant", "value": "1ms"}}},
          "operation": {"kind": "append", **operation}, "policy": policy or {"kind": "none"}}
    return occmodel.simulate(sc, seed=1, trace_op=1)


def test_two_appends_on_one_key_one_wins_one_conflicts_with_gap_one():
    r = contenders()
    m = r.metrics
    assert m["successes"] == 1 and m["gave_up"] == 1 and m["conflict_rate"] == 0.5
    assert m["mean_version_gap"] == 1
    commit = [s for s in r.trace if s.kind == "commit"][0]
    assert (commit.outcome, commit.current, commit.attempted) == ("conflict", 1, 1)
    # the loser's commit queued behind the winner's and was checked when served (3 ms + 1 ms + 1 ms),
    # not when sent; its reply reaches the client one hop later
    assert commit.end == pytest.approx(2 * D + D + 2e-3 + D)


def test_retry_after_conflict_succeeds_and_gap_is_versions_missed():
    m = contenders(clients=3, policy={"kind": "immediate", "max_attempts": 5}).metrics
    assert m["successes"] == 3 and m["gave_up"] == 0
    # all three read v0; the first commit wins, the others see current 1 (gap 1); one more round later gap 1 again
    assert m["mean_version_gap"] == 1 and m["attempts_per_op"] == pytest.approx(6 / 3)


def test_read_set_conflict_and_too_old():
    m = contenders(conflict="read_set", kind="transaction").metrics
    assert m["successes"] == 1 and m["conflict_rate"] == 0.5
    sc = {"workload": {"kind": "batch", "clients": 1}, "operation": {"kind": "transaction", "compute": "6s"},
          "store": {"conflict": "read_set", "mvcc_window": "5s"}}
    r = occmodel.simulate(sc, seed=1, trace_op=0)
    assert r.metrics["successes"] == 0 and [s.outcome for s in r.trace if s.kind == "commit"] == ["too_old"]
    sc["operation"]["compute"] = "4s"
    assert occmodel.simulate(sc, seed=1).metrics["successes"] == 1


def test_commit_batching_resolves_in_arrival_order_after_the_interval():
    sc = {"workload": {"kind": "batch", "clients": 3, "keys": {"count": 1}},
          "store": {"commit": {"batch_interval": "10ms", "service": "1ms", "capacity": 1}},
          "operation": {"kind": "append"}}
    m = occmodel.simulate(sc, seed=1).metrics
    assert m["successes"] == 1 and m["makespan_s"] == pytest.approx(0.011)


def test_load_dependent_latency_slows_everyone():
    base = {"workload": {"kind": "batch", "clients": 10, "keys": {"count": 10}}, "operation": {"kind": "call"},
            "store": {"commit": {"service": "1s"}}}
    assert occmodel.simulate(base, seed=1).metrics["makespan_s"] == pytest.approx(1.0)
    base["store"]["commit"]["per_inflight"] = "10ms"
    # the i-th request finds i others in service: the last one takes 1 s + 9 × 10 ms
    assert occmodel.simulate(base, seed=1).metrics["makespan_s"] == pytest.approx(1.09)


def test_timed_out_request_is_still_served():
    sc = {"workload": {"kind": "batch", "clients": 1, "keys": {"count": 1}},
          "store": {"commit": {"service": "50ms"}}, "operation": {"kind": "append", "timeout": "20ms"},
          "policy": {"kind": "immediate", "max_attempts": 3}}
    m = occmodel.simulate(sc, seed=1).metrics
    # attempt 1 times out but its commit lands at 50 ms; attempt 2 reads v0 at 20 ms... every attempt times
    # out, yet the store applied each abandoned commit that was still valid
    assert m["timeouts"] == 3 and m["successes"] == 0


def test_faults_down_window_fails_fast_and_slow_multiplies():
    sc = {"workload": {"kind": "closed", "clients": 1}, "operation": {"kind": "call"},
          "network": {"one_way": "1ms"}, "store": {"commit": {"service": "1ms"},
                                                   "faults": [{"kind": "down", "start": "2s", "end": "4s"}]}}
    r = occmodel.simulate(sc, seed=1, duration=6)
    ts = r.timeseries
    # (a call that reached the store just before 2 s may still succeed just after it)
    assert ts["successes"][2] <= 1 and ts["successes"][3] == 0 and ts["successes"][5] > 300
    sc["store"]["faults"] = [{"kind": "slow", "factor": 10}]
    assert occmodel.simulate(sc, seed=1, duration=2).metrics["mean_ms"] == pytest.approx(12.0)


def test_lost_messages_are_found_by_the_timeout():
    sc = {"workload": {"kind": "closed", "clients": 4}, "operation": {"kind": "call", "timeout": "50ms"},
          "network": {"one_way": "1ms", "loss": 0.1}, "policy": {"kind": "immediate", "max_attempts": 10}}
    m = occmodel.simulate(sc, seed=2, duration=5).metrics
    assert m["timeouts"] / (m["attempts_per_op"] * m["operations"]) == pytest.approx(1 - 0.9**2, abs=0.03)
    assert m["success_rate"] == pytest.approx(1.0, abs=1e-3)


CLOSED = {"workload": {"kind": "closed", "clients": 16, "keys": {"count": 4, "choice": "zipf", "s": 1.1},
                       "think": {"dist": "exponential", "mean": "5ms"}},
          "network": {"one_way": {"dist": "lognormal", "median": "500us", "sigma": 0.4}},
          "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "500us"}}},
          "policy": {"kind": "jitter", "mode": "full", "base": "2ms"}}


def without_wall(m):
    return {k: v for k, v in m.items() if k != "wall_s"}


def test_same_seed_same_results_different_seed_different():
    a = occmodel.simulate(CLOSED, seed=5, duration=2, warmup=0.5)
    b = occmodel.simulate(CLOSED, seed=5, duration=2, warmup=0.5)
    c = occmodel.simulate(CLOSED, seed=6, duration=2, warmup=0.5)
    assert repr(without_wall(a.metrics)) == repr(without_wall(b.metrics)) and a.timeseries == b.timeseries
    assert without_wall(a.metrics) != without_wall(c.metrics)
    assert occmodel.simulate(CLOSED, seed=5, duration=2, warmup=0.5, replication=1).metrics != a.metrics


def test_common_random_numbers_pair_policies():
    open_ = {"workload": {"kind": "open", "rate": 500, "keys": {"count": 2}}, "network": {"one_way": "1ms"},
             "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "1ms"}}}}
    a = occmodel.simulate({**open_, "policy": {"kind": "immediate"}}, seed=3, duration=3)
    b = occmodel.simulate({**open_, "policy": {"kind": "jitter", "base": "20ms"}}, seed=3, duration=3)
    assert a.timeseries["starts"] == b.timeseries["starts"]          # the same arrivals...
    assert a.metrics["conflict_rate"] != b.metrics["conflict_rate"]  # ...treated differently


@pytest.mark.parametrize("scenario,path", [
    ({"workload": {"clinets": 3}}, "scenario.workload.clinets"),
    ({"operation": {"timeout": "-5ms"}}, "scenario.operation.timeout"),
    ({"network": {"one_way": {"dist": "gamma", "mean": 1}}}, "scenario.network.one_way"),
    ({"policy": {"kind": "sometimes"}}, "scenario.policy.kind"),
    ({"policy": {"kind": "exponential", "bsae": "1ms"}}, "scenario.policy.bsae"),
    ({"network": {"one_way": "1ms", "loss": 0.1}}, "scenario"),
    ({"network": {"one_way": "0s"}}, "scenario"),                  # nothing ever advances the clock
    ({"operation": {"kind": "value_check", "value_check_retries": 2}},   # only 0 or 1 means anything
     "scenario.operation.value_check_retries"),
    ({"policy": {"kind": "circuit_breaker", "inner": {"kind": "jitter", "mode": "fuller"}}},
     "scenario.policy.inner.mode"),
])
def test_bad_scenarios_name_the_key(scenario, path):
    with pytest.raises(ConfigError) as err:
        occmodel.simulate({"network": {"one_way": "1ms"}, **scenario}, seed=1)
    assert err.value.path == path and str(err.value).startswith(path)


def test_throughput_rises_with_clients_until_the_store_saturates():
    def tput(n):
        sc = {"workload": {"kind": "closed", "clients": n, "keys": {"count": 1000}}, "operation": {"kind": "call"},
              "network": {"one_way": "1ms"}, "store": {"commit": {"capacity": 1, "service": "1ms"}}}
        return occmodel.simulate(sc, seed=1, duration=2, warmup=0.2).metrics["throughput"]
    t = [tput(n) for n in (1, 2, 4, 8)]
    assert t[0] == pytest.approx(1 / 0.003, rel=0.01) and t[0] < t[1] < t[2] <= t[3] <= 1000 * 1.001
    assert math.isclose(t[3], 1000, rel_tol=0.01)


def test_key_affinity_keeps_clients_on_their_own_keys():
    sc = {"workload": {"kind": "closed", "clients": 4, "keys": {"count": 16, "affinity": 1.0}},
          "network": {"one_way": "1ms"}, "operation": {"kind": "append"}}
    m = occmodel.simulate(sc, seed=1, duration=1).metrics
    assert m["conflict_rate"] == 0                       # disjoint keys: nobody else writes them
    sc["workload"]["keys"]["affinity"] = 0.0
    assert occmodel.simulate(sc, seed=1, duration=1).metrics["conflict_rate"] > 0
    sc["workload"]["keys"] = {"count": 4, "affinity": 1.0}
    sc["operation"] = {"kind": "transaction", "reads": 2}
    with pytest.raises(ConfigError, match="affinity"):
        occmodel.simulate(sc, seed=1)


def test_ramp_arrivals_match_the_integrated_rate():
    """Rate 100/s to 10 s, then linear to 300/s at 20 s, then 50/s: E[count in a bin] = ∫ λ."""
    import numpy as np
    from occmodel import simulate
    from occmodel.workload import ramp_gap
    assert ramp_gap(1.0, 2.0, 0.0) == pytest.approx(0.5)
    assert ramp_gap(1.5, 1.0, 1.0) == pytest.approx(1.0)            # u + u²/2 = 1.5 at u = 1
    assert ramp_gap(1.0, 1.0, -1.0) == math.inf                      # falls to 0 having integrated 0.5
    sc = {"workload": {"kind": "open", "schedule": [{"until": "10s", "rate": 100},
                                                    {"until": "20s", "rate": 300, "ramp": True}, {"rate": 50}]},
          "operation": {"kind": "call"}, "network": {"one_way": "1ms"}}
    totals = np.zeros(25)
    reps = 8
    for r in range(reps):
        totals += np.array(simulate(sc, seed=3, replication=r, duration="25s").timeseries["starts"][:25])
    expect = np.array([100.0] * 10 + [100 + 20 * (i + 0.5) for i in range(10)] + [50.0] * 5) * reps
    z = (totals - expect) / np.sqrt(expect)
    assert np.abs(z).max() < 4.5
    ramp = slice(10, 20)
    assert abs(totals[ramp].sum() - 2000 * reps) < 4 * math.sqrt(2000 * reps)
    with pytest.raises(ConfigError, match="ramp"):
        simulate({"workload": {"kind": "open", "schedule": [{"until": "1s", "rate": 1, "ramp": True}, {"rate": 2}]}},
                 seed=1)
# --- independent clients, common random numbers (issue 12) -----------------------------------
def test_batch_clients_are_not_in_lock_step():
    """The issue's reproducer: two clients on their own keys, exponential compute. With one shared
    compute stream every latency occurred exactly twice (each histogram bucket held an even count)."""
    sc = {"workload": {"kind": "batch", "clients": 2, "ops_per_client": 200, "keys": {"count": 2, "affinity": 1.0}},
          "operation": {"kind": "append", "compute": {"dist": "exponential", "mean": "10ms"}},
          "policy": {"kind": "none"}}
    edges, counts = occmodel.simulate(sc, seed=1).latency
    assert counts.sum() == 400
    assert (counts % 2 == 1).sum() > 0.5 * len(counts)


def per_client_draws(sc, clients, n=64):
    from occmodel.model import Simulation
    from occmodel.config import validate_scenario

    sim = Simulation(validate_scenario(sc), seed=7, replication=3, duration=1.0, warmup=0.0, bin_width=1.0)
    occmodel.workload.start(sim)
    return [{name: [getattr(c, name)() for _ in range(n)] for name in ("compute", "jitter", "lost", "hop")}
            for c in sim.clients[:clients]]


def test_per_client_streams_are_independent_and_the_same_at_every_sweep_point():
    base = {"workload": {"kind": "closed", "clients": 4, "keys": {"count": 8}},
            "network": {"one_way": {"dist": "exponential", "mean": "1ms"}, "loss": 0.01},
            "operation": {"kind": "append", "compute": {"dist": "exponential", "mean": "2ms"}, "timeout": "50ms"},
            "policy": {"kind": "jitter"}}
    a = per_client_draws(base, 4)
    for name in ("compute", "jitter", "lost", "hop"):       # no two clients draw the same values
        values = [x for client in a for x in client[name]]
        assert len(set(values)) == len(values), name
    other = {**base, "workload": {"kind": "closed", "clients": 9, "keys": {"count": 8}},
             "store": {"commit": {"capacity": 1, "service": "3ms"}}, "policy": {"kind": "fdb"}}
    assert per_client_draws(other, 4) == a        # another sweep point, the same replication: same draws
    from occmodel.model import Simulation
    from occmodel.config import validate_scenario
    sim = Simulation(validate_scenario(base), seed=7, replication=4, duration=1.0, warmup=0.0, bin_width=1.0)
    occmodel.workload.start(sim)
    assert [sim.clients[0].compute() for _ in range(64)] != a[0]["compute"]   # another replication: not


def key_and_think_draws(clients: int, keys: dict, n: int = 600) -> list[tuple[list, list]]:
    """Clients 0-2's keys and think times, drawn as workload.start draws them (its block size)."""
    from occmodel.config import validate_scenario
    from occmodel.model import Simulation
    from occmodel.workload import key_sampler

    sc = {"workload": {"kind": "closed", "clients": clients, "keys": keys,
                       "think": {"dist": "exponential", "mean": "1ms"}}, "network": {"one_way": "1ms"}}
    sim = Simulation(validate_scenario(sc), seed=7, replication=3, duration=1.0, warmup=0.0, bin_width=1.0)
    w, size = sim.scenario.workload, occmodel.client.block_size(clients)
    out = []
    for cid in range(3):
        draw = key_sampler(w.keys, sim.rng("keys", cid), 1, size, (cid, clients))
        think = sim.sampler(w.think, "think", cid, size=size)
        out.append(([draw() for _ in range(n)], [think() for _ in range(n)]))
    return out


@pytest.mark.parametrize("keys", [{"count": 50}, {"count": 50, "choice": "zipf"},
                                  {"count": 50, "choice": "hotspot", "hot_keys": 5, "hot_fraction": 0.5},
                                  {"count": 50, "affinity": 0.7}, {"count": 50, "choice": "hotspot", "affinity": 0.5}])
def test_key_and_think_draws_are_per_client_and_the_same_at_every_sweep_point(keys):
    """64 clients draw in blocks of 256, 65 in blocks of 32 (with 50 keys, clients 0-2 own key
    `id` at both points): clients 0-2 must see the same keys and think times at both (hotspot and
    affinity drew two arrays per block, so their keys changed with the block size), and no two
    clients the same think times."""
    few, many = key_and_think_draws(64, keys), key_and_think_draws(65, keys)
    assert few == many
    thinks = [x for _, think in few for x in think]
    assert len(set(thinks)) == len(thinks)
    assert few[0][0] != few[1][0]


# --- measuring by start, the drain, censoring (issue 12) -------------------------------------
SLOW = {"workload": {"kind": "closed", "clients": 1}, "operation": {"kind": "call"},
        "store": {"commit": {"service": "3s"}}}


def test_an_operation_running_past_the_window_is_measured_through_the_drain():
    # the client's ops run [0, 3) and [3, 6): the second starts inside the 4 s window
    m = occmodel.simulate(SLOW, seed=1, duration=4).metrics
    assert m["operations"] == 2 and m["censored"] == 0 and m["max_ms"] == pytest.approx(3000)
    assert m["throughput"] == pytest.approx(2 / 4) and m["offered"] == pytest.approx(2 / 4)
    cut = occmodel.simulate(SLOW, seed=1, duration=4, drain=0).metrics
    assert cut["operations"] == 1 and cut["censored"] == 1
    short = occmodel.simulate(SLOW, seed=1, duration=4, drain="1s").metrics
    assert short["operations"] == 1 and short["censored"] == 1


def test_the_drain_keeps_the_load_running():
    """An open workload's arrivals go on during the drain, so a measured operation still queues
    behind later ones' service as it would in a run that never stopped."""
    sc = {"workload": {"kind": "open", "rate": 50}, "operation": {"kind": "call"},
          "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "15ms"}}}}
    long = occmodel.simulate(sc, seed=3, duration=20).metrics
    window = occmodel.simulate(sc, seed=3, duration=20, drain=0).metrics
    assert long["censored"] == 0 and window["censored"] > 0
    assert long["operations"] == window["operations"] + window["censored"]
    assert long["offered"] == window["offered"]            # rates: per second of the window


def test_auto_drain_is_ten_windows_and_stops_at_the_last_measured_operation():
    from occmodel.model import DRAIN_WINDOWS, auto_drain

    assert DRAIN_WINDOWS == 10 and auto_drain(4.0) == 40.0
    # ops of 3 s in a 1 s window: the one started at 0 ends at 3 s, within 10 windows, and the run
    # stops right there (the next op, started at 3 s, is load, not population)
    r = occmodel.simulate(SLOW, seed=1, duration=1)
    assert r.metrics["censored"] == 0 and r.metrics["operations"] == 1 and r.timeseries["t_s"] == [0.0]
    cut = occmodel.simulate({**SLOW, "store": {"commit": {"service": "12s"}}}, seed=1, duration=1).metrics
    assert cut["censored"] == 1 and cut["operations"] == 0          # 12 s > 1 s window + 10 s drain


@pytest.mark.parametrize("value", ["forever", "-1s", "inf", True])
def test_bad_drain_is_a_config_error(value):
    from occmodel.experiment import load_experiment

    with pytest.raises(ConfigError, match="experiment.drain"):
        load_experiment({"experiment": {"name": "x", "drain": value}})


def test_store_utilization_counts_busy_time_inside_the_window_only():
    # the case: service starts at 0, 30, 60 and 90 ms; the last one runs to 120 ms
    sc = {"workload": {"kind": "closed", "clients": 4}, "operation": {"kind": "call"},
          "store": {"commit": {"capacity": 1, "service": "30ms"}}}
    m = occmodel.simulate(sc, seed=1, duration=0.1).metrics
    assert m["store_utilization"] == pytest.approx(1.0)
    m = occmodel.simulate(sc, seed=1, duration=0.1, warmup=0.015).metrics
    assert m["store_utilization"] == pytest.approx(1.0)
    sc["workload"]["clients"] = 1
    sc["workload"]["think"] = "30ms"        # busy 30 ms of every 60: [0,30) [60,90) in a 100 ms window
    assert occmodel.simulate(sc, seed=1, duration=0.1).metrics["store_utilization"] == pytest.approx(0.6)


def test_batch_runs_have_no_window_and_no_drain():
    """Every batch operation is measured, however long it runs, and `drain` changes nothing. Two
    clients share one 2 s server, so all but the first operation also wait 2 s for the other's:
    makespan 6 × 2 s, every latency ≤ 4 s, far past the 1 s `duration` (ignored)."""
    sc = {"workload": {"kind": "batch", "clients": 2, "ops_per_client": 3}, "operation": {"kind": "call"},
          "store": {"commit": {"capacity": 1, "service": "2s"}}}
    runs = [occmodel.simulate(sc, seed=1, duration="1s", drain=d).metrics for d in ("auto", 0, "10s")]
    assert all(m["operations"] == 6 and m["censored"] == 0 for m in runs)
    assert runs[0]["makespan_s"] == pytest.approx(12.0) and runs[0]["max_ms"] == pytest.approx(4000)
    strip = [{k: v for k, v in m.items() if k != "wall_s"} for m in runs]
    assert strip[0] == strip[1] == strip[2]


def test_a_run_keeps_the_collector_off_older_objects(monkeypatch):
    """While a run goes, everything older than the run is frozen (occmodel.heap); after it, not."""
    from occmodel import workload

    seen, start = [], workload.start
    monkeypatch.setattr(workload, "start", lambda sim: (seen.append(gc.get_freeze_count()), start(sim))[1])
    occmodel.simulate({"workload": {"kind": "batch", "clients": 2}}, seed=1)
    assert seen and seen[0] > 0 and gc.get_freeze_count() == 0
