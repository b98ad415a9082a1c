"""Paired differences from a baseline (issue 16 part 5): a hand-computed interval, the same numbers
as a `compare` bound, the CLI end to end, and the plot's panels."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from click.testing import CliRunner

from occmodel.bounds import evaluate, parse_bounds
from occmodel.cli import main
from occmodel.compare import compare_directory, differences
from occmodel.plots_compare import compare_plot
from occmodel.results import read_csv, write_csv, write_json

T_975_2 = 4.302652729749464          # Student t, 97.5 % quantile, 2 degrees of freedom
SWEPT = ["workload.clients", "policy"]
# throughput per (clients, policy, replication): replication r is noisy in common (10, 20, 30), so
# side by side the intervals overlap, but b − a is 1, 2, 4 in the three pairs
THROUGHPUT = {(1, "a"): [10.0, 20.0, 30.0], (1, "b"): [11.0, 22.0, 34.0], (1, "c"): [10.0, 20.0, 30.0],
              (2, "a"): [50.0, 60.0, 70.0], (2, "b"): [49.0, 58.0, 70.0], (2, "c"): [52.0, 59.0, 70.0]}


def make(root: Path, reps: int = 3) -> Path:
    runs = []
    for (clients, policy), values in THROUGHPUT.items():
        for rep, value in enumerate(values[:reps]):
            recovery = math.nan if (policy, rep) == ("b", 0) else 1.0 + rep + (policy == "b")
            runs.append({"workload.clients": clients, "policy": policy, "replication": rep, "seed": 0,
                         "throughput": value, "recovery_s": recovery, "p99_ms": 100.0 - value})
    write_json(root / "manifest.json", {"name": "paired", "swept": SWEPT, "points": len(THROUGHPUT),
                                        "replications": reps, "config": {}})
    write_csv(root / "runs.csv", [*SWEPT, "replication", "seed", "throughput", "recovery_s", "p99_ms"], runs)
    return root


def _row(rows, clients, policy, metric):
    (row,) = [r for r in rows if r["workload.clients"] == clients and r["policy"] == policy and r["metric"] == metric]
    return row


def test_hand_computed_paired_interval(tmp_path):
    c = compare_directory(make(tmp_path), "a")
    row = _row(c.rows, 1, "b", "throughput")
    mean, sd = 7 / 3, math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    hw = T_975_2 * sd / math.sqrt(3)                          # 3.7946...
    assert row["difference"] == pytest.approx(mean)
    assert row["ci95"] == pytest.approx(hw) and hw == pytest.approx(3.7946, abs=1e-4)
    assert (row["low"], row["high"]) == pytest.approx((mean - hw, mean + hw))
    assert row["pairs"] == 3 and row["mean"] == pytest.approx(22 + 1 / 3) and row["baseline_mean"] == 20
    assert row["verdict"] == "no clear difference"            # -1.46 .. 6.13
    # side by side, a's own interval (20 ± 24.8) would swallow this difference: pairing narrows it
    assert _row(c.rows, 1, "c", "throughput")["verdict"] == "equal"       # identical in every pair
    assert _row(c.rows, 2, "b", "p99_ms")["difference"] == pytest.approx(1.0)
    rec = _row(c.rows, 1, "b", "recovery_s")                  # b's replication 0 undefined: two pairs, both +1
    assert rec["pairs"] == 2 and rec["difference"] == 1.0 and rec["ci95"] == 0.0 and rec["verdict"] == "higher"
    assert {r["policy"] for r in c.rows} == {"b", "c"} and c.values == ["a", "b", "c"]


def test_same_interval_as_a_compare_bound(tmp_path):
    """`check`'s a > b bound and compare.csv come from one statistics module: the same interval."""
    runs = read_csv(make(tmp_path) / "runs.csv")
    bounds = parse_bounds([{"compare": {"a": "b", "b": "a", "metric": "throughput", "expect": "a > b"}}],
                          SWEPT, ["throughput"], runs)
    (verdict,) = [v for v in evaluate(bounds, runs, SWEPT) if v.point == "workload.clients=1"]
    row = _row(differences(runs, SWEPT, "a", ["throughput"]), 1, "b", "throughput")
    assert (verdict.estimate, verdict.low, verdict.high, verdict.n) == pytest.approx(
        (row["difference"], row["low"], row["high"], row["pairs"]))


def test_plot_has_a_panel_per_metric_and_a_zero_line(tmp_path):
    c = compare_directory(make(tmp_path), "a")
    fig = compare_plot(c, ["throughput", "p99_ms", "recovery_s"])
    panels = [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["throughput (successful ops/s)", "p99 latency, successes only (ms)",
                                                 "recovery time after the last disturbance (s)"]
    for ax in panels:
        assert any(list(line.get_ydata()) == [0.0, 0.0] for line in ax.lines)          # the zero line
        assert ax.get_ylabel().startswith("difference from a")
    assert panels[1].get_ylabel() == "difference from a (ms)"
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert labels == ["b", "c"]                                                        # a marker per policy
    plt.close(fig)


CONFIG = """
[experiment]
name = "tiny-compare"
seed = 1
replications = 3
duration = "0.3s"
bin = "0.1s"

[scenario]
workload = {kind = "closed", clients = 4, think = "1ms", keys = {count = 2}}
network = {one_way = "1ms"}
store = {commit = {capacity = 1, service = "1ms"}}
operation = {kind = "append"}

[sweep]
policy = [{label = "immediate", kind = "immediate"}, {label = "expo", kind = "exponential", base = "5ms"}]
"""


def test_cli_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("OCCMODEL_NO_PROGRESS", "1")
    (tmp_path / "c.toml").write_text(CONFIG + '\n[compare]\nbaseline = "immediate"\nmetrics = ["p99_ms", "success_rate"]\n')
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(tmp_path / "c.toml"), "--out", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    rows = read_csv(out / "compare.csv")                     # [compare] in the config: run writes it
    assert (out / "plots" / "compare.png").stat().st_size > 10_000
    svg = CliRunner().invoke(main, ["compare", str(out), "--format", "svg"])
    assert svg.exit_code == 0 and (out / "plots" / "compare.svg").read_bytes().startswith(b"<?xml"), svg.output
    assert {r["policy"] for r in rows} == {"expo"} and {r["baseline"] for r in rows} == {"immediate"}
    runs = read_csv(out / "runs.csv")
    by = {(r["policy"], r["replication"]): r["attempts_per_op"] for r in runs}
    diffs = [by["expo", k] - by["immediate", k] for k in range(3)]
    row = next(r for r in rows if r["metric"] == "attempts_per_op")
    assert row["difference"] == pytest.approx(sum(diffs) / 3) and row["pairs"] == 3
    assert "p99_ms − immediate:" in result.output
    # the command itself, with another baseline and metric, rewrites it
    result = CliRunner().invoke(main, ["compare", str(out), "--baseline", "expo", "--metric", "throughput"])
    assert result.exit_code == 0, result.output
    assert {r["policy"] for r in read_csv(out / "compare.csv")} == {"immediate"}
    assert "throughput − expo:" in result.output and "p99_ms" not in result.output
