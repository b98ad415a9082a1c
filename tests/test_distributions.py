"""Distributions: parsing with units, sampling moments, shape parameters."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from pydantic import TypeAdapter, ValidationError

from occmodel.distributions import Distribution, Z99
from occmodel.units import parse_duration

DIST = TypeAdapter(Distribution)


def draws(table, n=200_000, seed=3):
    sample = DIST.validate_python(table).sampler(np.random.default_rng(seed))
    return np.array([sample() for _ in range(n)])


@pytest.mark.parametrize("text,seconds", [("250us", 250e-6), ("2ms", 2e-3), ("1.5s", 1.5), (3, 3.0), ("1e-3s", 1e-3),
                                          ("2min", 120.0), ("0", 0.0)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["-1ms", "2 parsecs", "fast", True, None, [1]])
def test_bad_durations_rejected(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_duration_round_trip_in_ms(x):
    assert parse_duration(f"{x!r}ms") == pytest.approx(x * 1e-3)


def test_bare_duration_is_constant():
    d = DIST.validate_python("2ms")
    assert d.dist == "constant" and d.value == 0.002 and d.sampler(None)() == 0.002


def test_exponential_mean():
    x = draws({"dist": "exponential", "mean": "1ms"})
    assert x.mean() == pytest.approx(1e-3, rel=0.01)


def test_uniform_bounds_and_mean():
    x = draws({"dist": "uniform", "low": "1ms", "high": "3ms"})
    assert x.min() >= 1e-3 and x.max() <= 3e-3 and x.mean() == pytest.approx(2e-3, rel=0.01)


def test_normal_is_folded_at_zero():
    d = DIST.validate_python({"dist": "normal", "mean": "1ms", "sd": "2ms"})
    x = draws({"dist": "normal", "mean": "1ms", "sd": "2ms"})
    assert x.min() >= 0
    assert x.mean() == pytest.approx(d.mean, rel=0.01)   # folded-normal mean, not 1 ms


def test_lognormal_median_sigma_and_p99():
    x = draws({"dist": "lognormal", "median": "500us", "sigma": 0.4})
    assert np.median(x) == pytest.approx(5e-4, rel=0.01)
    y = draws({"dist": "lognormal", "median": "1ms", "p99": "10ms"})
    assert np.quantile(y, 0.99) == pytest.approx(1e-2, rel=0.05)
    assert DIST.validate_python({"dist": "lognormal", "median": "1ms", "p99": "10ms"}).shape == pytest.approx(
        math.log(10) / Z99)


def test_lognormal_needs_exactly_one_shape():
    with pytest.raises(ValidationError):
        DIST.validate_python({"dist": "lognormal", "median": "1ms"})
    with pytest.raises(ValidationError):
        DIST.validate_python({"dist": "lognormal", "median": "1ms", "sigma": 1, "p99": "5ms"})


def test_empirical_inline_and_csv(tmp_path):
    x = draws({"dist": "empirical", "samples": ["1ms", "2ms", "4ms"]}, n=30_000)
    assert set(np.round(x * 1e3, 9)) == {1.0, 2.0, 4.0}
    path = tmp_path / "lat.csv"
    path.write_text("latency_ms\n1\n2\n4\n")
    d = DIST.validate_python({"dist": "empirical", "csv": str(path), "column": "latency_ms", "unit": "ms"})
    assert sorted(d.samples) == pytest.approx([1e-3, 2e-3, 4e-3])
    assert d.mean == pytest.approx(7e-3 / 3)


def test_blocks_are_deterministic():
    assert (draws({"dist": "exponential", "mean": 1}, n=5000, seed=9) ==
            draws({"dist": "exponential", "mean": 1}, n=5000, seed=9)).all()
