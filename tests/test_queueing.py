"""The store's servers against queueing theory: M/M/1, M/M/c (Erlang C) and Little's law."""
import numpy as np
import pytest

import occmodel
from oracles import mm1_response, mmc_response


def queue(lam, c, duration, reps=3, seed=11):
    """Open Poisson arrivals, one store call each, exponential service (mean 1 s), no network."""
    sc = {"workload": {"kind": "open", "rate": lam}, "operation": {"kind": "call"},
          "store": {"commit": {"capacity": c, "service": {"dist": "exponential", "mean": 1.0}}}}
    return [occmodel.simulate(sc, seed=seed, duration=duration, warmup=200, replication=r).metrics for r in range(reps)]


def test_mm1_mean_response_at_half_load():
    runs = queue(0.5, 1, 40_000)
    mean = np.mean([m["mean_ms"] / 1e3 for m in runs])
    assert mean == pytest.approx(mm1_response(0.5, 1.0), rel=0.03)
    assert np.mean([m["store_utilization"] for m in runs]) == pytest.approx(0.5, rel=0.02)


def test_littles_law_on_the_runs_own_numbers():
    for m in queue(0.7, 1, 20_000, reps=2):
        assert m["concurrency"] == pytest.approx(m["throughput"] * m["mean_ms"] / 1e3, rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.8, 0.9])
def test_mm1_mean_response_at_high_load(rho):
    runs = queue(rho, 1, 150_000, reps=4)
    assert np.mean([m["mean_ms"] / 1e3 for m in runs]) == pytest.approx(mm1_response(rho, 1.0), rel=0.04)


@pytest.mark.slow
@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_mmc_mean_response_erlang_c(rho):
    c = 4
    runs = queue(rho * c, c, 40_000, reps=3)
    assert np.mean([m["mean_ms"] / 1e3 for m in runs]) == pytest.approx(mmc_response(rho * c, 1.0, c), rel=0.03)
    assert np.mean([m["store_utilization"] for m in runs]) == pytest.approx(rho, rel=0.02)
