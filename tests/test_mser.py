"""MSER-5 against a hand computation, and its edge cases."""
from __future__ import annotations

import numpy as np
import pytest

from occmodel.mser import mser5, mser_statistic, truncate

# six batches of five whose means are 10, 6, 5, 4, 6, 5 (spread inside a batch must not matter),
# then three observations of a partial batch that MSER-5 drops
SERIES = [9, 11, 10, 10, 10,  6, 6, 6, 6, 6,  4, 6, 5, 5, 5,  4, 4, 4, 4, 4,  7, 5, 6, 6, 6,  5, 5, 5, 5, 5,
          100, 100, 100]


def test_statistic_matches_the_hand_computation() -> None:
    # d = 0: mean 6, squared deviations 16 0 1 4 0 1 = 22, / 6² ; d = 1: mean 5.2, 2.8 / 5² ;
    # d = 2: mean 5, 2 / 4² ; d = 3: mean 5, 2 / 3² ; d = 4: mean 5.5, 0.5 / 2²
    assert mser_statistic(SERIES) == pytest.approx([22 / 36, 2.8 / 25, 2 / 16, 2 / 9, 0.5 / 4])


def test_truncation_point_is_the_minimum() -> None:
    t = mser5(SERIES)
    assert (t.batches, t.observations, t.settled) == (1, 5, True)


def test_stationary_series_is_not_truncated_and_constant_ties_go_to_zero() -> None:
    assert mser5([3.0] * 40) == (0, 0, True)
    assert mser5([0.1] * 40).batches == 0        # rounding noise in the means is not variance
    noise = np.random.default_rng(1).normal(50, 5, 500)
    assert mser5(noise).batches <= 5


def test_a_transient_is_found_and_a_late_minimum_is_not_settled() -> None:
    ramp = np.concatenate([np.linspace(0, 50, 100), np.full(400, 50.0)])
    assert mser5(ramp).observations == 100      # the last transient batch ends at observation 100
    rising = np.arange(100.0)                    # never settles: the minimum is at the search limit, m/2
    assert mser5(rising).settled is False


def test_too_short_and_several_series() -> None:
    assert mser5([1, 2, 3, 4, 5, 6]) == (0, 0, False)     # one batch: nothing to judge
    flat, late = [5.0] * 50, [0.0] * 15 + [5.0] * 35
    both = truncate([flat, late])
    assert both.observations == 15 and both.settled


def test_a_chance_late_minimum_is_not_chosen() -> None:
    """Poisson counts of a stationary run (250 bins, 50 batches): the statistic's minimum over the
    whole series lands in its second half for about a quarter of the seeds (two last batches that
    happen to agree); the rule, searching the first half, truncates little and always settles."""
    late, cut = 0, []
    for seed in range(100):
        counts = np.random.default_rng(seed).poisson(2.0, 250)
        late += int(np.argmin(mser_statistic(counts))) >= 25
        t = mser5(counts)
        assert t.settled
        cut.append(t.observations)
    assert late >= 10
    assert np.median(cut) == 0 and np.mean(np.array(cut) > 25) <= 0.15
