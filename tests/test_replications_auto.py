"""`replications = "auto"`: the precision rule driving real sweeps — what it records, that it is
deterministic whatever the workers, that it resumes from saved runs, and how a point that hits
`max` is flagged."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import occmodel.experiment as experiment
from occmodel.cli import main
from occmodel.experiment import load_experiment, run_experiment, run_path, saved_metrics, saved_runs
from occmodel.precision import decide
from occmodel.results import read_csv, read_json

PRECISION = {"metrics": ["p99_ms", "throughput"], "relative": 0.08, "min": 3, "max": 30, "lookahead": 2}
AUTO: dict[str, Any] = {
    "experiment": {"name": "auto", "seed": 5, "replications": "auto", "precision": PRECISION,
                   "duration": "0.3s", "warmup": "0.05s", "bin": "0.05s"},
    "scenario": {"workload": {"kind": "closed", "clients": 4, "think": {"dist": "exponential", "mean": "2ms"},
                              "keys": {"count": 4}},
                 "network": {"one_way": "500us"},
                 "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "1ms"}}}},
    "sweep": {"policy": [{"label": "imm", "kind": "immediate", "max_attempts": 20},
                         {"label": "expo", "kind": "exponential", "base": "2ms", "cap": "50ms", "max_attempts": 20}]},
}


def config(**precision: Any) -> dict[str, Any]:
    c = copy.deepcopy(AUTO)
    c["experiment"]["precision"].update(precision)
    return c


def stable(d: Path) -> list[dict[str, Any]]:
    """summary.csv without the one column that differs between identical runs (wall time)."""
    return [{k: v for k, v in r.items() if not k.startswith("wall_s")} for r in read_csv(d / "summary.csv")]


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("auto") / "serial"
    run_experiment(load_experiment(config()), out, workers=1)
    return out


def test_each_point_stops_at_the_precision_and_records_it(serial: Path) -> None:
    exp = load_experiment(config())
    manifest = read_json(serial / "manifest.json")
    assert manifest["replications"] == "auto"
    entries = manifest["precision"]["points"]
    summary = read_csv(serial / "summary.csv")
    runs = read_csv(serial / "runs.csv")
    assert len(runs) == sum(e["n"] for e in entries) == manifest["rows"]["runs.csv"]
    for p, e, row in zip(exp.points, entries, summary):
        assert e["point"] == {"policy": p.values["policy"]["label"]} and row["n"] == e["n"]
        assert [r["replication"] for r in runs if r["policy"] == row["policy"]] == list(range(e["n"]))
        # the rule replayed from the saved runs gives the recorded answer
        d = decide(exp.settings.precision.rule(), saved_metrics(serial, p.index))
        assert (d.n, d.reached, d.first) == (e["n"], e["reached"], e["first"])
        if e["reached"]:
            assert e["n"] == e["first"] + 2 and e["first"] >= 3
            for m in PRECISION["metrics"]:      # summary.csv's own interval meets the target
                assert row[f"{m}_ci95"] <= 0.08 * abs(row[m]) + 1e-12
    assert any(e["reached"] for e in entries)
    assert len({e["n"] for e in entries}) > 1      # the points really got different counts
    assert saved_runs(exp, serial) == runs         # `check` judges these runs without running again


def test_workers_do_not_change_the_result(serial: Path, tmp_path: Path) -> None:
    """Two workers run batches of replications across points in parallel: same n, same numbers."""
    run_experiment(load_experiment(config()), tmp_path / "parallel", workers=2)
    assert stable(tmp_path / "parallel") == stable(serial)
    assert read_json(tmp_path / "parallel" / "manifest.json")["precision"] == read_json(serial / "manifest.json")["precision"]


def test_resume_reuses_saved_runs(serial: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interrupted sweep (some saved runs, no CSVs) and one that ran a fixed count first both
    finish with the serial answer, running only what is missing."""
    exp = load_experiment(config())
    entries = read_json(serial / "manifest.json")["precision"]["points"]
    ran: list[int] = []
    real = experiment.run_task

    def counting(task: Any) -> Any:
        ran.append(task[2])
        return real(task)

    monkeypatch.setattr(experiment, "run_task", counting)
    out = tmp_path / "resumed"
    run_experiment(load_experiment(config(), replications=4), out, workers=1)     # a fixed count first
    assert len(ran) == 4 * len(exp.points)
    for f in ("summary.csv", "runs.csv", "manifest.json"):
        (out / f).unlink()
    run_path(out, 0, 3).unlink()                    # as if killed before it was saved
    ran.clear()
    run_experiment(exp, out, workers=1)
    assert stable(out) == stable(serial)
    saved = {p: len(saved_metrics(out, p)) for p in range(len(exp.points))}
    assert len(ran) == sum(saved.values()) - 4 * len(exp.points) + 1
    assert all(saved[i] >= e["n"] for i, e in enumerate(entries))
    ran.clear()
    run_experiment(exp, out, workers=1)            # finished: nothing runs again
    assert ran == []


def test_a_point_at_max_is_flagged_in_output_and_index(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"""
[experiment]
name = "tight"
seed = 5
replications = "auto"
precision = {{metrics = ["p99_ms"], relative = 0.001, min = 3, max = 4}}
duration = "0.2s"
bin = "0.05s"
[scenario.workload]
kind = "closed"
clients = 4
think = "2ms"
[scenario.store]
commit = {{capacity = 1, service = {{dist = "exponential", mean = "1ms"}}}}
[scenario.policy]
kind = "immediate"
""")
    result = CliRunner().invoke(main, ["run", str(cfg), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "1 point(s) stopped at experiment.precision.max = 4 replications without the precision asked" in text
    assert "n = 4–4 per point" in text
    entry = read_json(tmp_path / "out" / "manifest.json")["precision"]["points"][0]
    assert (entry["n"], entry["reached"], entry["first"]) == (4, False, None) and entry["relative_ci95"]["p99_ms"] > 0.001
    index = (tmp_path / "out" / "index.md").read_text()
    assert "## Replications until precise" in index and "| the only point | 4 |" in index and "**max**" in index
    check = CliRunner().invoke(main, ["plot", str(tmp_path / "out")])     # plot accepts an auto manifest
    assert check.exit_code == 0, check.output


def test_replications_option_replaces_the_rule() -> None:
    exp = load_experiment(config(), replications=3)
    assert exp.settings.replications == 3 and exp.settings.precision is None
    assert exp.identity() == load_experiment(config()).identity()     # same runs: a results directory is shared
    assert exp.digest() != load_experiment(config()).digest()


def test_the_in_memory_sweep_applies_the_same_rule(serial: Path) -> None:
    import occmodel

    result = occmodel.sweep(config(), workers=1)
    rows = read_csv(serial / "summary.csv")
    assert [r["n"] for r in result.summary] == [r["n"] for r in rows]
    for mine, saved in zip(result.summary, rows):
        assert mine["p99_ms"] == saved["p99_ms"] and mine["throughput_ci95"] == saved["throughput_ci95"]
