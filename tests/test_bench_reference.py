"""The hand-written models `occmodel bench` compares against do the same work as occmodel: they
reproduce its results exactly (same streams, same order of events), so a speed ratio between
them compares identical work."""
import tomllib
from pathlib import Path

import pytest

from occmodel import simulate
from occmodel import bench_reference as ref

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, grid", [("aws-backoff", ref.FULL_GRID), ("aws-backoff-quick", ref.REDUCED_GRID)])
def test_the_study_is_the_validation_files(name, grid):
    cfg = tomllib.loads((ROOT / f"experiments/validation/{name}.toml").read_text())
    clients = cfg["scenario"]["workload"]["clients"]
    assert ref.study_scenario(clients, "no backoff") | {"policy": None} == cfg["scenario"] | {"policy": None}
    assert {p["label"]: {k: v for k, v in p.items() if k != "label"} for p in cfg["sweep"]["policy"]} == ref.STRATEGIES
    assert cfg["sweep"]["workload.clients"] == grid
    assert ref.FULL_GRID == list(range(10, 191, 10))


@pytest.mark.parametrize("strategy", list(ref.STRATEGIES))
@pytest.mark.parametrize("clients, replication", [(10, 0), (60, 1), (100, 2)])   # both block sizes (<= 64, > 64)
def test_heapq_loop_reproduces_occmodel_exactly(strategy, clients, replication):
    m = simulate(ref.study_scenario(clients, strategy), seed=2015, replication=replication).metrics
    writes, makespan, events = ref.backoff_study(clients, strategy, 2015, replication)
    assert (writes, makespan) == (m["calls"], m["makespan_s"])
    assert writes > clients          # contention: retries happened
    assert events >= 4 * writes      # four hops per write, plus backoffs


@pytest.mark.parametrize("warmup, seed", [(0.0, 1), (0.05, 3)])
def test_hand_written_simpy_reproduces_occmodel_exactly(warmup, seed):
    m = simulate(ref.closed_scenario(), seed=seed, duration=0.2, warmup=warmup).metrics
    h = ref.closed_append(0.2, warmup, seed)
    assert (h["finished"], h["succeeded"]) == (m["operations"], m["successes"])
    assert h["attempts"] == round(m["attempts_per_op"] * m["operations"])
    assert h["conflicts"] / h["attempts"] == pytest.approx(m["conflict_rate"], rel=1e-12)
    assert h["mean_ms"] == pytest.approx(m["mean_ms"], rel=1e-12)
    assert 0.05 < m["conflict_rate"] < 0.5             # the workload does conflict and retry
    assert h["started"] == h["finished"] and m["censored"] == 0
