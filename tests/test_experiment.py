"""Experiments: config validation, grid expansion, CRN pairing, confidence intervals, resume, executors."""
import copy
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from occmodel.config import ConfigError
from occmodel.experiment import load_experiment, run_experiment, run_path
from occmodel.results import read_csv

SMALL = {
    "experiment": {"name": "small", "seed": 3, "replications": 3, "duration": "0.5s", "warmup": "0.1s", "bin": "0.1s"},
    "scenario": {"workload": {"kind": "closed", "clients": 4, "keys": {"count": 2}},
                 "network": {"one_way": {"dist": "exponential", "mean": "1ms"}},
                 "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "1ms"}}}},
    "sweep": {"workload.clients": [2, 8],
              "policy": [{"label": "imm", "kind": "immediate"}, {"label": "jit", "kind": "jitter", "base": "5ms"}]},
}


def config(**changes):
    c = copy.deepcopy(SMALL)
    for dotted, value in changes.items():
        node = c
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    return c


def test_grid_is_the_cartesian_product_first_key_slowest():
    exp = load_experiment(SMALL)
    assert exp.swept == ["workload.clients", "policy"]
    assert [(p.values["workload.clients"], p.values["policy"]["label"]) for p in exp.points] == [
        (2, "imm"), (2, "jit"), (8, "imm"), (8, "jit")]
    assert exp.points[3].scenario.workload.clients == 8 and exp.points[3].scenario.policy["kind"] == "jitter"


@pytest.mark.parametrize("changes,path,fragment", [
    ({"experiment__replications": 0}, "experiment.replications", "whole number from 1"),
    ({"experiment__duration": "-3s"}, "experiment.duration", ">= 0"),
    ({"experiment__nmae": "x"}, "experiment.nmae", "did you mean 'name'"),
    ({"scenario__workload__clients": "many"}, "scenario.workload.clients", "integer"),
    ({"scenario__store__conflict": "lww"}, "scenario.store.conflict", "'expected_version' or 'read_set'"),
    ({"sweep__workload.clinets": [1, 2]}, "scenario.workload.clinets", "sweep point"),
    ({"sweep__workload.clients": []}, "sweep.workload.clients", "non-empty list"),
    ({"sweep__policy": [{"kind": "immediate"}]}, "sweep.policy[0]", "label"),
    ({"sweep__policy": [{"label": "a", "kind": "warp"}]}, "scenario.policy.kind", "exponential"),
    ({"sweep__policy": [{"label": "a", "kind": "immediate"}, {"label": "a", "kind": "none"}]}, "sweep.policy", "unique"),
    ({"scenario__network__one_way": {"dist": "exponential"}}, "scenario.network.one_way.mean", "required"),
])
def test_bad_configs_name_key_value_and_what_is_allowed(changes, path, fragment):
    with pytest.raises(ConfigError) as err:
        load_experiment(config(**changes))
    assert err.value.path == path and fragment in str(err.value)


def test_unknown_top_level_table():
    with pytest.raises(ConfigError, match="allowed: experiment, scenario, sweep, bounds"):
        load_experiment({**SMALL, "sweeep": {}})


def test_outputs_summary_ci_matches_scipy_and_crn_pairs_points(tmp_path):
    exp = load_experiment(SMALL)
    runs = run_experiment(exp, tmp_path, workers=1)
    assert len(runs) == 4 * 3
    for name in ("runs.csv", "summary.csv", "timeseries.csv", "latency.csv", "manifest.json"):
        assert (tmp_path / name).stat().st_size > 0
    summary = read_csv(tmp_path / "summary.csv")
    x = [r["throughput"] for r in runs if r["workload.clients"] == 8 and r["policy"] == "jit"]
    row = next(r for r in summary if r["workload.clients"] == 8 and r["policy"] == "jit")
    low, high = stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))
    assert row["n"] == 3 and row["throughput"] == pytest.approx(np.mean(x))
    assert row["throughput_ci95"] == pytest.approx((high - low) / 2)


def test_common_random_numbers_across_points(tmp_path):
    """Replication r of every point sees the same arrivals; replications differ from each other."""
    cfg = config(scenario__workload={"kind": "open", "rate": 400, "keys": {"count": 2}}, experiment__replications=2)
    del cfg["sweep"]["workload.clients"]
    run_experiment(load_experiment(cfg), tmp_path, workers=1)
    ts = read_csv(tmp_path / "timeseries.csv")
    starts = lambda pol, rep: [r["starts"] for r in ts if r["policy"] == pol and r["replication"] == rep]
    assert starts("imm", 0) == starts("jit", 0) and starts("imm", 1) == starts("jit", 1)
    assert starts("imm", 0) != starts("imm", 1)
    runs = read_csv(tmp_path / "runs.csv")
    assert {r["seed"] for r in runs} == {3}


def test_identical_results_for_identical_configs(tmp_path):
    exp = load_experiment(SMALL)
    run_experiment(exp, tmp_path / "a", workers=1)
    run_experiment(exp, tmp_path / "b", workers=2)
    assert strip_wall(tmp_path / "a" / "runs.csv") == strip_wall(tmp_path / "b" / "runs.csv")
    assert (tmp_path / "a" / "timeseries.csv").read_text() == (tmp_path / "b" / "timeseries.csv").read_text()


def strip_wall(path: Path) -> list[list[str]]:
    lines = [line.split(",") for line in path.read_text().splitlines()]
    wall = lines[0].index("wall_s")
    return [line[:wall] + line[wall + 1:] for line in lines]


def test_resume_after_a_killed_sweep(tmp_path):
    cfg = tmp_path / "slowish.toml"
    cfg.write_text("""
[experiment]
name = "slowish"
seed = 1
replications = 4
duration = "1s"
[scenario.workload]
clients = 8
keys = {count = 4}
[scenario.network]
one_way = {dist = "exponential", mean = "1ms"}
[scenario.store]
commit = {capacity = 1, service = {dist = "exponential", mean = "500us"}}
[sweep]
policy = [{label = "imm", kind = "immediate"}, {label = "expo", kind = "exponential", base = "1ms"}]
""")
    out = tmp_path / "out"
    env = {**os.environ, "OCCMODEL_NO_PROGRESS": "1"}
    cmd = [sys.executable, "-m", "occmodel.cli", "run", str(cfg), "--out", str(out), "--workers", "1", "--no-plots"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((out / "runs").glob("p*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = sorted(p.name for p in (out / "runs").glob("p*.json"))
    assert 2 <= len(finished) < 8 and not (out / "runs.csv").exists()
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("p*.json")}
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    assert all((out / "runs" / n).stat().st_mtime_ns == t for n, t in mtimes.items())   # not redone
    run_experiment(load_experiment(cfg), tmp_path / "fresh", workers=1)
    assert strip_wall(out / "runs.csv") == strip_wall(tmp_path / "fresh" / "runs.csv")


def test_changed_config_invalidates_saved_runs(tmp_path):
    run_experiment(load_experiment(SMALL), tmp_path, workers=1)
    stale = run_path(tmp_path, 0, 0).read_text()
    run_experiment(load_experiment(config(scenario__network__one_way="2ms")), tmp_path, workers=1)
    assert run_path(tmp_path, 0, 0).read_text() != stale


def test_another_experiment_is_refused_unless_forced(tmp_path):
    run_experiment(load_experiment(SMALL), tmp_path, workers=1)
    saved = run_path(tmp_path, 0, 0).read_text()
    other = load_experiment(config(experiment__name="other", scenario__network__one_way="2ms"))
    with pytest.raises(ConfigError, match="'small', not 'other'.*--force"):
        run_experiment(other, tmp_path, workers=1)
    assert run_path(tmp_path, 0, 0).read_text() == saved
    run_experiment(other, tmp_path, workers=1, force=True)
    assert run_path(tmp_path, 0, 0).read_text() != saved


def test_dask_executor_gives_identical_runs(tmp_path):
    pytest.importorskip("dask.distributed")
    exp = load_experiment(config(experiment__replications=2))
    run_experiment(exp, tmp_path / "local", workers=1)
    run_experiment(exp, tmp_path / "dask", workers=2, executor="dask")
    assert strip_wall(tmp_path / "local" / "runs.csv") == strip_wall(tmp_path / "dask" / "runs.csv")


def test_sweep_keys_can_index_lists():
    base = {"experiment": {"name": "x"}, "scenario": {"network": {"one_way": "1ms"},
                                                       "store": {"faults": [{"kind": "error", "probability": 0.1}]}}}
    exp = load_experiment({**base, "sweep": {"store.faults.0.probability": [0.2, 0.5]}})
    assert [p.scenario.store.faults[0].probability for p in exp.points] == [0.2, 0.5]
    with pytest.raises(ConfigError, match="not an index"):
        load_experiment({**base, "sweep": {"store.faults.3.probability": [0.2]}})


def test_editing_bounds_keeps_saved_runs(tmp_path):
    from occmodel.experiment import saved_runs
    run_experiment(load_experiment(SMALL), tmp_path, workers=1)
    with_bounds = {**SMALL, "bounds": [{"where": {"policy": "imm"}, "success_rate": "> 0.5"}]}
    assert saved_runs(load_experiment(with_bounds), tmp_path) is not None


# --- results directories (issue 13) -------------------------------------------------------------
def test_fewer_replications_keep_the_saved_runs(tmp_path):
    run_experiment(load_experiment(SMALL), tmp_path, workers=1)
    saved = sorted(p.name for p in (tmp_path / "runs").glob("p*.json"))
    assert len(saved) == 4 * 3
    rows = run_experiment(load_experiment(SMALL, replications=1), tmp_path, workers=1)
    assert len(rows) == 4 and sorted(p.name for p in (tmp_path / "runs").glob("p*.json")) == saved
    assert len(run_experiment(load_experiment(SMALL), tmp_path, workers=1)) == 12


def test_user_files_are_never_deleted(tmp_path):
    from occmodel.plots import draw

    run_experiment(load_experiment(SMALL), tmp_path, workers=1)
    (tmp_path / "plots").mkdir(exist_ok=True)
    keep, note = tmp_path / "plots" / "keep.png", tmp_path / "runs" / "notes.txt"
    keep.write_bytes(b"mine")
    note.write_text("mine")
    draw(tmp_path)
    other = load_experiment(config(experiment__name="other"))
    run_experiment(other, tmp_path, workers=1, force=True)
    draw(tmp_path)
    assert keep.read_bytes() == b"mine" and note.read_text() == "mine"


def test_concurrent_runs_into_one_directory_refuse(tmp_path):
    from occmodel.results import locked

    with locked(tmp_path, "--out"):
        with pytest.raises(ConfigError, match="--out.*another occmodel process is writing"):
            run_experiment(load_experiment(SMALL), tmp_path, workers=1)
    assert not (tmp_path / "runs").exists()


def test_two_cli_runs_at_once_never_mix(tmp_path):
    """Configs A and B into one --out at once: one refuses, the other's files are all its own."""
    env = {**os.environ, "OCCMODEL_NO_PROGRESS": "1"}
    procs = []
    for name in ("aaa", "bbb"):
        cfg = tmp_path / f"{name}.toml"
        cfg.write_text(f'[experiment]\nname = "{name}"\nreplications = 6\nduration = "2s"\n'
                       '[scenario.workload]\nclients = 4\nthink = "1ms"\n[scenario.network]\none_way = "1ms"\n')
        procs.append(subprocess.Popen([sys.executable, "-m", "occmodel.cli", "run", str(cfg), "--out",
                                       str(tmp_path / "out"), "--workers", "1", "--no-plots"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    codes = sorted(p.wait(timeout=120) for p in procs)
    assert codes == [0, 2]
    name = read_json_file(tmp_path / "out" / "manifest.json")["name"]
    assert len(read_csv(tmp_path / "out" / "runs.csv")) == 6 and name in ("aaa", "bbb")


def read_json_file(path):
    import json
    return json.loads(Path(path).read_text())


def test_edited_csv_changes_the_run_identity_and_relative_paths_follow_the_config(tmp_path, monkeypatch):
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "lat.csv").write_text("ms\n1\n2\n")
    cfg = folder / "e.toml"
    cfg.write_text('[experiment]\nname = "e"\nduration = "1s"\n[scenario.workload]\nclients = 2\n'
                   '[scenario.network]\none_way = {dist = "empirical", csv = "lat.csv", column = "ms", unit = "ms"}\n')
    monkeypatch.chdir(tmp_path)      # not the config's folder
    exp = load_experiment(cfg)
    assert exp.points[0].scenario.network.one_way.samples == [0.001, 0.002]
    first = run_experiment(exp, tmp_path / "out", workers=1)[0]["mean_ms"]
    (folder / "lat.csv").write_text("ms\n10\n20\n")
    edited = load_experiment(cfg)
    assert edited.identity() != exp.identity() and edited.digest() != exp.digest()
    second = run_experiment(edited, tmp_path / "out", workers=1)[0]["mean_ms"]
    assert second > 5 * first


def test_result_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run_experiment(load_experiment(SMALL), tmp_path / "a", workers=1)
        os.umask(0o077)
        run_experiment(load_experiment(SMALL), tmp_path / "b", workers=1)
    finally:
        os.umask(old)
    assert (tmp_path / "a" / "runs.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a" / "runs" / "p0000-r000.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b" / "summary.csv").stat().st_mode & 0o777 == 0o600


def test_capacity_inf_as_a_toml_float_is_infinite_capacity(tmp_path):
    """`capacity = inf` (a TOML float, an OverflowError once) means what `capacity = "inf"` means."""
    text = ('[experiment]\nname = "c"\nduration = "0.2s"\n[scenario.workload]\nclients = 3\n'
            '[scenario.network]\none_way = "1ms"\n[scenario.store]\ncommit = {capacity = CAP, service = "5ms"}\n')
    runs = []
    for cap in ("inf", '"inf"'):
        (tmp_path / "c.toml").write_text(text.replace("CAP", cap))
        exp = load_experiment(tmp_path / "c.toml")
        assert exp.points[0].scenario.store.commit.capacity == math.inf
        runs.append({k: v for k, v in run_experiment(exp, tmp_path / cap.strip('"') / "x", workers=1)[0].items()
                     if k != "wall_s"})
    assert runs[0] == pytest.approx(runs[1], nan_ok=True)
