"""`python -m occmodel.reality DIR`: the model's and the store's summaries of one config, paired.

A tiny sweep runs on the model and against the session's Redis; the comparison must carry both
sides' numbers unchanged, pair them by swept values, flag overlapping intervals by the rule
|a − b| <= half-width a + half-width b, and refuse two sides that are not the same grid."""
import math

import pytest

from occmodel.backends import plan
from occmodel.errors import ConfigError
from occmodel.experiment import load_experiment, run_experiment
from occmodel.reality import COMPARED, compare, main, overlap
from occmodel.results import read_csv


def config(clients):
    return {"experiment": {"name": "tiny-reality", "seed": 3, "replications": 2, "duration": "0.3s", "warmup": "0.05s",
                           "bin": "0.1s"},
            "scenario": {"workload": {"kind": "closed", "clients": 1, "keys": {"count": 2}},
                         "store": {"read": {"service": "100us"}, "commit": {"service": "100us"}},
                         "policy": {"kind": "jitter", "base": "1ms", "cap": "10ms", "max_attempts": 0}},
            "sweep": {"workload.clients": clients}}


def test_the_comparison_pairs_both_sides_unchanged(redis_url, tmp_path):
    exp = load_experiment(config([1, 3]))
    run_experiment(exp, tmp_path / "model", workers=1)
    run_experiment(exp, tmp_path / "measured", store=plan(redis_url, exp))
    rows = compare(tmp_path)
    assert len(rows) == 2 * len(COMPARED)
    sides = {s: {r["workload.clients"]: r for r in read_csv(tmp_path / s / "summary.csv")} for s in ("model", "measured")}
    for row in rows:
        m, r = sides["model"][row["workload.clients"]], sides["measured"][row["workload.clients"]]
        metric = row["metric"]
        assert row["model"] == pytest.approx(m[metric]) and row["measured"] == pytest.approx(r[metric])
        if r[metric]:
            assert row["ratio"] == pytest.approx(m[metric] / r[metric])
    assert read_csv(tmp_path / "comparison.csv")[0]["metric"] == COMPARED[0]
    table = (tmp_path / "comparison.md").read_text().splitlines()
    assert len(table) == 2 + 2 and "redis CPU" in table[0]
    assert (tmp_path / "reality.png").stat().st_size > 10_000


def test_overlap_is_the_sum_of_half_widths():
    assert overlap((1.0, 0.2), (1.5, 0.3)) and not overlap((1.0, 0.2), (1.51, 0.3))
    assert not overlap((math.nan, 0.0), (1.0, 1.0))


def test_two_different_grids_or_sides_are_refused(redis_url, tmp_path, capsys):
    run_experiment(load_experiment(config([1])), tmp_path / "model", workers=1)
    run_experiment(load_experiment(config([2])), tmp_path / "other", workers=1)
    (tmp_path / "other").rename(tmp_path / "measured")
    with pytest.raises(ConfigError, match="holds results of 'model'"):
        compare(tmp_path)
    assert main([str(tmp_path)]) == 2 and "error" in capsys.readouterr().err
    assert main([]) == 2
    import shutil

    shutil.rmtree(tmp_path / "measured")
    exp = load_experiment(config([2]))
    run_experiment(exp, tmp_path / "measured", store=plan(redis_url, exp))
    with pytest.raises(ConfigError, match="sweep points differ"):
        compare(tmp_path)
