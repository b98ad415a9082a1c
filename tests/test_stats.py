"""Replication statistics: t intervals against scipy, their properties, and the summary table."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sp

from occmodel.stats import mean_ci95, replications_needed, summarize, t_quantile

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=2, max_size=30)


@pytest.mark.parametrize("n", [2, 3, 5, 10, 40])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_interval_matches_scipy_t_interval(n: int, confidence: float) -> None:
    x = np.random.default_rng(n).lognormal(3.0, 0.7, size=n)
    mean, hw = mean_ci95(x, confidence)
    low, high = sp.t.interval(confidence, n - 1, loc=x.mean(), scale=sp.sem(x))
    assert mean == pytest.approx(x.mean())
    assert (mean - hw, mean + hw) == pytest.approx((low, high))


def test_single_value_has_infinite_half_width() -> None:
    assert mean_ci95([42.0]) == (42.0, math.inf)


def test_identical_values_have_exact_mean_and_zero_width() -> None:
    assert mean_ci95([0.1] * 7) == (0.1, 0.0)  # summing would give 0.10000000000000002


def test_empty_sample_is_an_error() -> None:
    with pytest.raises(ValueError):
        mean_ci95([])


def test_coverage_is_about_95_percent() -> None:
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        mean, hw = mean_ci95(rng.normal(10.0, 3.0, size=8))
        hits += abs(mean - 10.0) <= hw
    assert 0.93 <= hits / 2000 <= 0.97


@settings(deadline=None)
@given(samples)
def test_interval_contains_the_mean_and_mean_is_within_the_data(xs: list[float]) -> None:
    mean, hw = mean_ci95(xs)
    assert hw >= 0
    assert min(xs) - 1e-6 <= mean <= max(xs) + 1e-6


@settings(deadline=None)
@given(samples.filter(lambda xs: max(xs) - min(xs) > 1e-3))
def test_more_data_from_the_same_distribution_shrinks_the_interval(xs: list[float]) -> None:
    # Doubling the sample keeps its empirical distribution: sd barely moves, √n and t improve.
    assert mean_ci95(xs + xs)[1] < mean_ci95(xs)[1]


@settings(deadline=None)
@given(samples, finite, st.floats(min_value=0.01, max_value=100))
def test_interval_shifts_and_scales_with_the_data(xs: list[float], shift: float, scale: float) -> None:
    _, hw = mean_ci95(xs)
    assert mean_ci95([x + shift for x in xs])[1] == pytest.approx(hw, rel=1e-6, abs=1e-3)
    assert mean_ci95([x * scale for x in xs])[1] == pytest.approx(hw * scale, rel=1e-6, abs=1e-6)


@settings(deadline=None)
@given(samples)
def test_higher_confidence_gives_a_wider_interval(xs: list[float]) -> None:
    assert mean_ci95(xs, 0.9)[1] <= mean_ci95(xs, 0.95)[1] <= mean_ci95(xs, 0.99)[1]


def test_replications_needed_worked_example() -> None:
    # mean 100, sd 10, limit 90: normal approx (1.96·10/10)² → 4; the t correction needs 7:
    # t(5)·10/√6 = 10.5 ≥ 10 but t(6)·10/√7 = 9.25 < 10.
    a = 10 / math.sqrt(2)
    assert replications_needed([100 - a, 100 + a], 90.0) == 7


@settings(deadline=None)
@given(samples.filter(lambda xs: max(xs) - min(xs) > 1e-3), finite)
def test_replications_needed_is_the_smallest_count_that_clears_the_limit(xs: list[float], limit: float) -> None:
    needed = replications_needed(xs, limit)
    mean, sd = float(np.mean(xs)), float(np.std(xs, ddof=1))
    if mean == limit:
        assert needed is None
        return
    assert needed is not None
    half_width = lambda n: t_quantile(0.95, n - 1) * sd / math.sqrt(n)  # noqa: E731
    assert half_width(needed) < abs(mean - limit)
    assert needed == 2 or half_width(needed - 1) >= abs(mean - limit)


def test_replications_needed_is_none_when_undecidable() -> None:
    assert replications_needed([1.0, 3.0], 2.0) is None  # mean sits on the limit
    assert replications_needed([5.0], 2.0) is None       # no sd from one value


def test_summarize_groups_points_in_first_appearance_order() -> None:
    runs = [
        {"workload.clients": 64, "policy": "expo", "replication": 0, "p99_ms": 10.0, "mean_ms": None},
        {"workload.clients": 8, "policy": "expo", "replication": 0, "p99_ms": 1.0, "mean_ms": None},
        {"workload.clients": 64.0, "policy": "expo", "replication": 1, "p99_ms": 14.0, "mean_ms": 3.0},
        {"workload.clients": 64, "policy": "expo", "replication": 2, "p99_ms": 12.0, "mean_ms": float("nan")},
    ]
    rows = summarize(runs, ["workload.clients", "policy"], ["p99_ms", "mean_ms"])
    assert [(r["workload.clients"], r["n"]) for r in rows] == [(64, 3), (8, 1)]
    big, small = rows
    assert list(big) == ["workload.clients", "policy", "n", "p99_ms", "p99_ms_ci95", "mean_ms", "mean_ms_ci95"]
    assert big["p99_ms"] == pytest.approx(12.0)
    assert big["p99_ms_ci95"] == pytest.approx(sp.t.ppf(0.975, 2) * 2.0 / math.sqrt(3))
    assert (big["mean_ms"], big["mean_ms_ci95"]) == (3.0, math.inf)  # missing values skipped
    assert (small["mean_ms"], small["mean_ms_ci95"]) == (None, None)  # undefined everywhere
    assert small["p99_ms_ci95"] == math.inf
