"""The Python API: `occmodel.sweep` runs a sweep in memory, `help(occmodel.simulate)` says what a run is."""
from __future__ import annotations

import pydoc
import sys
from pathlib import Path

import pytest

import occmodel
from occmodel.config import Scenario
from occmodel.experiment import TABLES, load_experiment, run_experiment
from occmodel.results import csv_text, read_csv


def same_text(columns: list[str], rows: list[dict]) -> str:
    """A table as its CSV text, without the run's own wall-clock time (the one thing that varies)."""
    kept = [c for c in columns if not c.startswith("wall_s")]
    return csv_text(kept, rows)

SMALL = {"experiment": {"name": "api", "seed": 3, "replications": 2, "duration": "1s", "warmup": "0.2s", "bin": "0.5s"},
         "scenario": {"workload": {"kind": "closed", "clients": 4, "think": "5ms", "keys": {"count": 2}},
                      "network": {"one_way": {"dist": "exponential", "mean": "1ms"}},
                      "store": {"commit": {"capacity": 1, "service": {"dist": "exponential", "mean": "1ms"}}}},
         "sweep": {"workload.clients": [2, 8],
                   "policy": [{"label": "immediate", "kind": "immediate", "max_attempts": 5},
                              {"label": "jitter", "kind": "jitter", "base": "1ms", "cap": "20ms"}]}}


def test_in_memory_sweep_is_what_run_writes_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = occmodel.sweep(SMALL)
    assert list(tmp_path.iterdir()) == []                             # no files, no results/ directory
    out = tmp_path.parent / f"{tmp_path.name}-run"
    run_experiment(load_experiment(SMALL), out, workers=1)
    for name in TABLES:
        table, written = getattr(result, name), read_csv(out / f"{name}.csv")
        assert list(written[0]) == table.columns, name
        assert same_text(table.columns, table) == same_text(table.columns, written), name
    assert (result.name, result.swept) == ("api", ["workload.clients", "policy"])
    assert len(result.runs) == 2 * 2 * 2 and len(result.summary) == 4
    assert {r["policy"] for r in result.runs} == {"immediate", "jitter"}   # the label, as in runs.csv


def test_workers_and_the_ways_to_name_an_experiment_give_the_same_tables(tmp_path: Path) -> None:
    path = tmp_path / "api.toml"
    path.write_text('[experiment]\nname = "api"\nseed = 3\nreplications = 2\nduration = "1s"\nwarmup = "0.2s"\n'
                    'bin = "0.5s"\n[scenario.workload]\nkind = "closed"\nclients = 4\nthink = "5ms"\n'
                    'keys = {count = 2}\n[scenario.network]\none_way = {dist = "exponential", mean = "1ms"}\n'
                    '[scenario.store]\ncommit = {capacity = 1, service = {dist = "exponential", mean = "1ms"}}\n'
                    '[sweep]\n"workload.clients" = [2, 8]\npolicy = [\n'
                    '  {label = "immediate", kind = "immediate", max_attempts = 5},\n'
                    '  {label = "jitter", kind = "jitter", base = "1ms", cap = "20ms"},\n]\n')
    one = occmodel.sweep(SMALL)
    for other in (occmodel.sweep(SMALL, workers=2), occmodel.sweep(str(path)), occmodel.sweep(load_experiment(path))):
        for name in TABLES:
            a, b = getattr(one, name), getattr(other, name)
            assert same_text(a.columns, a) == same_text(b.columns, b), name


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_bad_workers_is_a_config_error_before_anything_runs(workers: object) -> None:
    with pytest.raises(occmodel.ConfigError, match=r"workers.*whole number >= 1"):
        occmodel.sweep(SMALL, workers=workers)  # type: ignore[arg-type]


def test_bad_experiment_names_key_and_value() -> None:
    with pytest.raises(occmodel.ConfigError, match=r"sweep\.workload\.clients.*non-empty list"):
        occmodel.sweep({**SMALL, "sweep": {"workload.clients": []}})
    with pytest.raises(occmodel.ConfigError, match="CONFIG.*existing TOML file"):
        occmodel.sweep("no-such-file.toml")


def test_tables_become_dataframes_with_the_csv_columns() -> None:
    pandas = pytest.importorskip("pandas")
    result = occmodel.sweep({**SMALL, "sweep": {"workload.clients": [2, 8]}})
    frame = result.summary.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == result.summary.columns and len(frame) == 2
    assert frame["throughput"].tolist() == [r["throughput"] for r in result.summary]


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    table = occmodel.Table(["a"], [{"a": 1}])
    monkeypatch.setitem(sys.modules, "pandas", None)                   # as if not installed
    with pytest.raises(ImportError, match="pip install pandas"):
        table.to_pandas()
    assert table == [{"a": 1}] and table.columns == ["a"]             # the rows need no pandas


def test_help_of_simulate_lists_every_scenario_table_and_key_bin_trace_op_and_the_window() -> None:
    text = pydoc.render_doc(occmodel.simulate, renderer=pydoc.plaintext)
    for name, field in Scenario.model_fields.items():
        assert f"  {name} " in text, name
        for key in getattr(field.annotation, "model_fields", {}):
            assert key in text, f"{name}.{key}"
    for part in ("`bin`", "`trace_op`", "warm-up + duration", "`warmup`", "`duration`", "`drain`"):
        assert part in text, part
