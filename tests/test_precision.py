"""The sequential replication rule (Hoad–Robinson–Davies) on streams whose variance is known."""
from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats

from occmodel.precision import Rule, decide, relative_width

MU, SIGMA = 100.0, 20.0


def alternating(n: int) -> list[dict[str, float]]:
    """x_i = μ + σ(−1)^i, i = 1 … n: its sample mean and sd at every n are known in closed form."""
    return [{"m": MU + SIGMA * (-1) ** i} for i in range(1, n + 1)]


def closed_form(n: int) -> float:
    """Half-width / mean of the alternating stream: even n, mean μ and s² = nσ²/(n − 1);
    odd n, mean μ − σ/n and s² = σ²(n + 1)/n."""
    t = stats.t.ppf(0.975, n - 1)
    if n % 2 == 0:
        return t * SIGMA / math.sqrt(n - 1) / MU
    return t * SIGMA * math.sqrt(n + 1) / n / (MU - SIGMA / n)


def test_relative_width_matches_the_closed_form() -> None:
    for n in (2, 3, 10, 11, 64, 65):
        assert relative_width([r["m"] for r in alternating(n)]) == pytest.approx(closed_form(n), rel=1e-12)


@pytest.mark.parametrize("lookahead", [0, 5])
def test_stops_where_the_closed_form_first_meets_the_target(lookahead: int) -> None:
    first = next(n for n in range(5, 1000) if closed_form(n) <= 0.05)
    assert all(closed_form(n) <= 0.05 for n in range(first, first + 6))   # monotone after: no reset
    d = decide(Rule(("m",), 0.05, min=5, max=1000, lookahead=lookahead), alternating(1000))
    assert (d.n, d.first, d.reached) == (first + lookahead, first, True)
    # (tσ/(rμ))² = 64; the ±σ stream's sample sd is σ·√(n/(n − 1)), which costs it two more
    assert first == 66


def test_known_variance_stream_stops_near_the_closed_form() -> None:
    """Normal(μ, σ) streams: the stopping n clusters at n* = min n with t(n−1)·σ/(√n·r·μ) ≤ 1 = 64
    (a sequential rule stops a little early when the sd estimate happens to be low), and the
    interval it stops with covers μ about 95 % of the time."""
    rule = Rule(("m",), 0.05, min=5, max=1000, lookahead=0)
    target = next(n for n in range(5, 1000) if stats.t.ppf(0.975, n - 1) * SIGMA / math.sqrt(n) <= 0.05 * MU)
    assert target == 64
    ns, covered = [], 0
    for seed in range(400):
        x = np.random.default_rng(seed).normal(MU, SIGMA, 400)
        d = decide(rule, [{"m": v} for v in x])
        assert d.reached and d.widths["m"] <= 0.05 and (d.n == 5 or relative_width(x[: d.n - 1]) > 0.05)
        ns.append(d.n)
        covered += abs(x[: d.n].mean() - MU) <= 0.05 * MU
    assert abs(statistics.median(ns) - target) / target < 0.08
    assert covered / 400 >= 0.9


def test_batching_does_not_change_the_answer() -> None:
    """Running replications in whatever batches `more` asks for (or all at once) gives the same n."""
    rule = Rule(("a", "b"), 0.03, min=5, max=300, lookahead=5)
    rng = np.random.default_rng(3)
    stream = [{"a": rng.normal(10, 2), "b": rng.normal(50, 4)} for _ in range(300)]
    runs: list[dict[str, float]] = []
    while (d := decide(rule, runs)).n is None:
        assert d.more >= 1
        runs = stream[: len(runs) + d.more]
    assert decide(rule, stream) == d
    assert d.reached and all(w <= 0.03 for w in d.widths.values())


def test_max_stops_unconfirmed_and_min_is_respected() -> None:
    rule = Rule(("m",), 0.001, min=5, max=20, lookahead=5)
    d = decide(rule, alternating(50))
    assert (d.n, d.reached, d.first) == (20, False, None)
    assert decide(rule, alternating(19)).n is None and decide(rule, alternating(19)).more == 1
    exact = [{"m": 7.0}] * 30                 # no spread: precise at once, but not before min
    d = decide(Rule(("m",), 0.05, min=8, max=30, lookahead=2), exact)
    assert (d.n, d.first) == (10, 8)
    assert decide(Rule(("m",), 0.05, min=8, max=30, lookahead=2), exact[:3]).more == 5


def test_undefined_and_zero_mean_metrics() -> None:
    assert relative_width([None, math.nan, 3.0]) == math.inf        # one defined value: no interval
    assert relative_width([0.0, 0.0, 0.0]) == 0.0                   # exactly 0 every time: precise
    assert relative_width([-1.0, 1.0, 0.0]) == math.inf             # mean 0 with spread: never
    d = decide(Rule(("m",), 0.05, min=3, max=12, lookahead=0), [{"m": None}] * 12)
    assert (d.n, d.reached) == (12, False)
