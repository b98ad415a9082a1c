"""`warmup = "auto"` (MSER-5 on each run's pilot) and the check of an explicit warm-up, on a scenario
with a known transient: the store is slowed eightfold for the first second."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from occmodel.cli import main
from occmodel.config import ConfigError, validate_scenario
from occmodel.experiment import load_experiment, run_experiment, run_path
from occmodel.metrics import SERIES
from occmodel.model import simulate
from occmodel.results import read_json
from occmodel.warmup import check, find, pilot_bin

SCENARIO: dict[str, Any] = {
    "workload": {"kind": "closed", "clients": 8, "think": {"dist": "exponential", "mean": "5ms"}, "keys": {"count": 8}},
    "network": {"one_way": "500us"},
    "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "1ms"}},
              "faults": [{"kind": "slow", "end": "1s", "factor": 8}]},
    "policy": {"kind": "exponential", "base": "2ms", "cap": "50ms"},
}
EXPERIMENT = {"name": "warm", "seed": 1, "replications": 2, "duration": "3s", "warmup": "auto", "bin": "0.1s"}


def config(**experiment: Any) -> dict[str, Any]:
    return {"experiment": {**EXPERIMENT, **experiment}, "scenario": copy.deepcopy(SCENARIO)}


def test_the_pilot_is_the_measured_runs_own_trajectory() -> None:
    """Where the window starts changes what is measured, not what happens: the pilot's series
    and the measured run's agree bin for bin (successes by start differ only where the pilot,
    with no drain, cuts operations off at its end)."""
    sc = validate_scenario(SCENARIO)
    width = pilot_bin(3.0, 0.1)
    pilot = simulate(sc, seed=1, replication=0, duration=3.0, warmup=0.0, bin=width, drain=0.0)
    run = simulate(sc, seed=1, replication=0, duration=3.0, warmup=1.2, bin=width)
    bins = int(2.5 / width)
    for name in SERIES:
        assert pilot.timeseries[name][:bins] == run.timeseries[name][:bins], name


def test_auto_finds_the_transient_and_each_run_measures_a_full_window(tmp_path: Path) -> None:
    exp = load_experiment(config())
    run_experiment(exp, tmp_path / "out", workers=1)
    manifest = read_json(tmp_path / "out" / "manifest.json")
    w = manifest["warmup"]
    assert (w["mode"], w["method"], w["pilot_s"], w["pilot_bin_s"]) == ("auto", "MSER-5", 3.0, 0.012)
    sc = exp.points[0].scenario
    for r, found in enumerate(w["points"][0]["s"]):
        again = find(sc, seed=1, replication=r, duration=3.0, bin_width=0.1, max_event_rate=exp.settings.max_event_rate)
        assert found == again.seconds and again.settled
        assert 1.0 <= found <= 1.5          # the slow second, and the backlog it leaves, cut off; no more
        measured = simulate(sc, seed=1, replication=r, duration=3.0, warmup=found, bin=0.1).metrics
        saved = read_json(run_path(tmp_path / "out", 0, r))["metrics"]
        assert {k: v for k, v in saved.items() if k != "wall_s"} == pytest.approx(
            {k: v for k, v in measured.items() if k != "wall_s"}, nan_ok=True)
    assert w["points"][0]["unsettled"] == []
    ts = read_json(run_path(tmp_path / "out", 0, 0))["timeseries"]
    assert ts["t_s"][-1] >= w["points"][0]["s"][0] + 2.9          # the series runs to the end of its window


def test_an_explicit_warmup_shorter_than_mser5_finds_is_warned_about(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    base = """
[experiment]
name = "short"
seed = 1
replications = 1
duration = "2.7s"
warmup = "{warmup}"
bin = "0.05s"
[scenario.workload]
kind = "closed"
clients = 8
think = {{dist = "exponential", mean = "5ms"}}
keys = {{count = 8}}
[scenario.network]
one_way = "500us"
[scenario.store]
commit = {{capacity = 1, service = {{dist = "exponential", mean = "1ms"}}}}
faults = [{{kind = "slow", end = "1s", factor = 8}}]
[scenario.policy]
kind = "exponential"
base = "2ms"
cap = "50ms"
"""
    cfg.write_text(base.format(warmup="0.3s"))
    result = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "a"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    found = check(read_json(run_path(tmp_path / "a", 0, 0))["timeseries"], 0.05)
    assert found is not None and 1.0 <= found.seconds <= 1.5
    text = " ".join(result.output.split())
    assert ("warning: experiment.warmup = 0.3 s is shorter than the warm-up MSER-5 finds on the first replication"
            in text) and f"the only point: {found.seconds:.3g} s" in text
    entry = read_json(tmp_path / "a" / "manifest.json")["warmup"]
    assert (entry["mode"], entry["explicit"], entry["points"][0]["mser5_s"], entry["points"][0]["shorter"]) == \
        ("fixed", True, found.seconds, True)
    assert "is shorter than the warm-up MSER-5 finds" in (tmp_path / "a" / "index.md").read_text()
    cfg.write_text(base.format(warmup="2s").replace('"2.7s"', '"1s"'))    # long enough: no warning
    result = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "b"), "--workers", "1", "--no-plots"])
    assert result.exit_code == 0 and "shorter than" not in result.output, result.output


def test_auto_needs_a_window_and_the_model() -> None:
    with pytest.raises(ConfigError, match="batch run measures every operation") as err:
        load_experiment({"experiment": {"name": "b", "warmup": "auto"},
                         "scenario": {"workload": {"kind": "batch", "clients": 2}}})
    assert err.value.path == "experiment.warmup"
    with pytest.raises(ConfigError, match="needs the model") as err:
        run_experiment(load_experiment(config()), Path("/nonexistent/never-written"), store=object())  # type: ignore[arg-type]
    assert err.value.path == "experiment.warmup"


def test_trace_runs_the_pilot_first(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[experiment]\nname = "t"\nduration = "1s"\nwarmup = "auto"\n'
                   '[scenario.workload]\nkind = "closed"\nclients = 2\nthink = "1ms"\n')
    result = CliRunner().invoke(main, ["trace", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "warm-up by MSER-5 on replication 0" in result.output and "operation #" in result.output
