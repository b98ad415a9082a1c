"""Presets: each fit reproduces the figures its source gives, and configs accept them."""
import math

import numpy as np
import pytest
from click.testing import CliRunner
from pydantic import TypeAdapter
from scipy import stats

from occmodel.cli import main
from occmodel.config import ConfigError, validate_scenario
from occmodel.distributions import Distribution
from occmodel.presets import PRESETS, lognormal_through, table

DIST = TypeAdapter(Distribution)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_fit_reproduces_cited_figures(name):
    preset = PRESETS[name]
    dist = DIST.validate_python({"preset": name})
    assert preset.source.count("https://") >= 1 and preset.note
    for fig in preset.figures:
        if fig.quantile is None:            # one typical value, no published spread: a constant
            assert dist.dist == "constant" and dist.value == pytest.approx(fig.seconds, rel=1e-12)
        else:                               # closed form of the fitted lognormal, at the cited level
            q = stats.lognorm.ppf(fig.quantile, dist.shape, scale=dist.median)
            assert q == pytest.approx(fig.seconds, rel=1e-9), (name, fig)


@pytest.mark.parametrize("name", ["fdb-commit", "azure-cas"])
def test_sampled_quantiles_match_the_source(name):
    """The whole path (preset -> table -> block sampler) draws the cited quantiles."""
    sample = DIST.validate_python({"preset": name}).sampler(np.random.default_rng(5))
    x = np.array([sample() for _ in range(100_000)])
    for fig in PRESETS[name].figures:
        assert np.quantile(x, fig.quantile) == pytest.approx(fig.seconds, rel=0.03)


def test_lognormal_through_hand_case():
    # median 1, sigma 1: the 0.8413-quantile is e
    median, sigma = lognormal_through(0.5, 1.0, stats.norm.cdf(1), math.e)
    assert (median, sigma) == (pytest.approx(1.0), pytest.approx(1.0))
    with pytest.raises(ValueError):
        lognormal_through(0.9, 1.0, 0.5, 2.0)


def test_required_presets_exist():
    assert {"same-az", "cross-az", "cross-region", "fdb-read", "fdb-commit", "etcd-write", "s3-cas",
            "azure-cas"} <= set(PRESETS)
    # a heavier tail than S3's: azure's p99/p50 ratio is the larger
    assert PRESETS["azure-cas"].table["sigma"] > 3 * PRESETS["s3-cas"].table["sigma"]


def test_preset_in_a_scenario_and_bad_names():
    s = validate_scenario({"network": {"one_way": {"preset": "cross-az"}},
                           "store": {"commit": {"service": {"preset": "fdb-commit"}}}})
    assert s.network.one_way.dist == "lognormal" and s.store.commit.service.median == pytest.approx(table("fdb-commit")["median"])
    with pytest.raises(ConfigError, match=r"scenario\.network\.one_way.*unknown preset 'nope'.*same-az"):
        validate_scenario({"network": {"one_way": {"preset": "nope"}}})
    with pytest.raises(ConfigError, match="only the key 'preset'"):
        validate_scenario({"network": {"one_way": {"preset": "same-az", "sigma": 1}}})


def test_cli_lists_presets_with_sources():
    res = CliRunner().invoke(main, ["presets"])
    assert res.exit_code == 0
    for name, p in PRESETS.items():
        assert name in res.output
    assert "apple.github.io/foundationdb" in res.output and "etcd.io" in res.output
