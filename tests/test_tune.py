"""Tuning: the tuner finds a hand-computed optimum, repeats itself, and rejects bad [tune] tables."""
import copy
import tomllib

import pytest
from click.testing import CliRunner

from occmodel.bounds import evaluate, parse_bounds
from occmodel.cli import main
from occmodel.config import ConfigError
from occmodel.experiment import load_experiment, run_experiment
from occmodel.metrics import METRICS
from occmodel.results import read_csv
from occmodel.tune import best, parse_tune, run_tune, validate

# Closed loop, constant 1 ms hops and a 1 ms commit server, no think time, no conflicts ("call").
# N clients: unsaturated while N <= 3 (cycle 3 ms), so throughput = min(N / 3 ms, 1000/s) and the
# mean latency is max(3 ms, N ms). "Maximize throughput with mean_ms <= 3.5" is therefore N = 3:
# N < 3 is slower, N >= 4 queues (mean 4 ms and up).
HAND = {
    "experiment": {"name": "hand", "seed": 1, "replications": 2, "duration": "0.3s", "warmup": "0.05s", "bin": "0.05s"},
    "scenario": {"workload": {"kind": "closed", "clients": 1},
                 "network": {"one_way": {"dist": "constant", "value": "1ms"}},
                 "store": {"commit": {"capacity": 1, "service": {"dist": "constant", "value": "1ms"}},
                           "read": {"capacity": "inf", "service": {"dist": "constant", "value": "0s"}}},
                 "operation": {"kind": "call"}},
    "tune": {"params": {"workload.clients": {"low": 1, "high": 6}}, "maximize": "throughput",
             "constraints": ["mean_ms <= 3.5"], "trials": 12},
}


def tuned(raw, out):
    exp = load_experiment(raw)
    spec = parse_tune(raw["tune"])
    validate(raw, spec)
    return spec, run_tune(raw, out, spec, seed=exp.settings.seed, workers=1)


def test_finds_the_hand_computed_optimum_which_an_exhaustive_grid_confirms(tmp_path):
    spec, trials = tuned(HAND, tmp_path / "tune")
    chosen = best(spec, trials)
    assert chosen.values == {"workload.clients": 3}
    assert chosen.objective == pytest.approx(1000, rel=0.02)
    grid = copy.deepcopy(HAND)
    del grid["tune"]
    grid["sweep"] = {"workload.clients": list(range(1, 7))}
    exp = load_experiment(grid)
    runs = run_experiment(exp, tmp_path / "grid", workers=1)
    verdicts = evaluate(parse_bounds([{"mean_ms": "<= 3.5"}], ["workload.clients"], METRICS), runs,
                        ["workload.clients"])
    feasible = {int(v.point.split("=")[1]) for v in verdicts if v.verdict == "holds"}
    assert feasible == {1, 2, 3}
    throughput = {r["workload.clients"]: r["throughput"] for r in runs if r["replication"] == 0}
    assert max(feasible, key=throughput.get) == 3
    assert {t.values["workload.clients"] for t in trials if not t.feasible} <= {4, 5, 6}


def test_same_config_gives_the_same_trials_on_the_same_streams(tmp_path):
    raw = copy.deepcopy(HAND)
    raw["scenario"]["policy"] = {"kind": "jitter"}
    raw["tune"]["params"]["policy.base"] = {"low": "1ms", "high": "10ms", "log": True}
    raw["tune"]["trials"] = 4
    _, a = tuned(raw, tmp_path / "a")
    _, b = tuned(raw, tmp_path / "b")
    assert [t.values for t in a] == [t.values for t in b]
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("wall_s")} for r in rows]
    assert strip(read_csv(tmp_path / "a" / "tune.csv")) == strip(read_csv(tmp_path / "b" / "tune.csv"))
    seeds = {(r["replication"], r["seed"]) for t in range(4)
             for r in read_csv(tmp_path / "a" / "trials" / f"t{t:03d}" / "runs.csv")}
    assert seeds == {(0, 1), (1, 1)}        # every trial: the same replications' streams


@pytest.mark.parametrize("change,path", [
    ({"params": {}}, "tune.params"),
    ({"params": {"policy.base": {"low": "5ms", "high": "1ms"}}}, "tune.params.policy.base.high"),
    ({"params": {"policy.base": {"low": 0, "high": 1, "log": True}}}, "tune.params.policy.base.low"),
    ({"params": {"policy.base": {"low": 1, "hgh": 2}}}, "tune.params.policy.base.hgh"),
    ({"params": {"policy.mode": {"choices": []}}}, "tune.params.policy.mode.choices"),
    ({"maximize": "speed"}, "tune.maximize"),
    ({"minimize": "p99_ms"}, "tune"),
    ({"constraints": ["attempts_per_op about 1.5"]}, "tune.constraints[0]"),
    ({"constraints": ["speed < 3"]}, "tune.constraints[0]"),
    ({"trials": 0}, "tune.trials"),
    ({"budget": 3}, "tune.budget"),
])
def test_bad_tune_tables_name_the_key(change, path):
    with pytest.raises(ConfigError) as exc:
        parse_tune({**HAND["tune"], **change})
    assert exc.value.path == path


def test_a_range_end_that_makes_an_invalid_scenario_is_rejected_before_running(tmp_path):
    raw = copy.deepcopy(HAND)
    raw["tune"]["params"] = {"workload.clients": {"low": 0, "high": 3}}
    with pytest.raises(ConfigError, match="workload.clients"):
        validate(raw, parse_tune(raw["tune"]))
    assert not (tmp_path / "tune").exists()


def test_cli_writes_a_ready_policy_table_and_fails_when_nothing_is_feasible(tmp_path, monkeypatch):
    monkeypatch.setenv("OCCMODEL_NO_PROGRESS", "1")
    text = """
[experiment]
name = "hand"
seed = 1
replications = 2
duration = "0.3s"
warmup = "0.05s"
bin = "0.05s"
[scenario.workload]
kind = "closed"
clients = 3
[scenario.network]
one_way = {dist = "constant", value = "1ms"}
[scenario.store]
commit = {capacity = 1, service = {dist = "constant", value = "1ms"}}
[scenario.operation]
kind = "call"
[scenario.policy]
kind = "jitter"
base = "2ms"
[tune]
params = {"policy.base" = {low = "1ms", high = "20ms", log = true}, "policy.mode" = {choices = ["full", "equal"]}}
minimize = "p99_ms"
constraints = ["success_rate >= 0.99"]
trials = 3
"""
    cfg = tmp_path / "t.toml"
    cfg.write_text(text)
    res = CliRunner().invoke(main, ["tune", str(cfg), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert "best (trial" in res.output and "p99_ms =" in res.output
    table = tomllib.loads((tmp_path / "o" / "best.toml").read_text())["scenario"]["policy"]
    assert table["kind"] == "jitter" and table["mode"] in ("full", "equal") and 0.001 <= table["base"] <= 0.02
    assert (tmp_path / "o" / "plots" / "pareto.png").stat().st_size > 0
    cfg.write_text(text.replace('"success_rate >= 0.99"', '"success_rate >= 1.5"'))
    res = CliRunner().invoke(main, ["tune", str(cfg), "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "no feasible setting" in res.output
    assert not (tmp_path / "x" / "best.toml").exists()
    res = CliRunner().invoke(main, ["tune", str(cfg), "--trials", "0"])
    assert res.exit_code == 2


def test_pareto_flags_trials_whose_latency_covers_few_operations():
    """A latency objective is success-only: a trial at success 0.80 carries "0.80!" beside its
    point and the plot says what that means; a trial at 0.995 carries nothing."""
    from occmodel.plots_tune import pareto_plot
    from occmodel.tune import Trial, parse_tune

    spec = parse_tune({"params": {"policy.base": {"low": "1ms", "high": "20ms"}}, "minimize": "p99_ms", "trials": 2})
    trials = [Trial(i, {"policy.base": 0.001 * (i + 1)},
                    {"n": 2, "attempts_per_op": 1.0 + i, "attempts_per_op_ci95": 0.0, "p99_ms": 5.0 - i,
                     "p99_ms_ci95": 0.0, "success_rate": rate}, [], 5.0 - i)
              for i, rate in enumerate([0.995, 0.80])]
    ax = pareto_plot(spec, trials, trials[0], "t").axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "0.80!" in texts and "0.99!" not in texts and "0.995!" not in texts
    assert any(t.startswith("r!: success rate r < 0.99") for t in texts)
    flat = pareto_plot(spec, trials[:1], trials[0], "t").axes[0]
    assert not flat.texts
