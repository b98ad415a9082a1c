"""Plots are chosen from what a results directory holds: synthetic directories check the choice."""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any, Callable


import matplotlib.pyplot as plt
import numpy as np
import pytest

from occmodel import plots
from occmodel.plotbase import load
from occmodel.results import write_csv, write_json

METRICS = ["throughput", "offered", "success_rate", "attempts_per_op", "conflict_rate", "gave_up",
           "rejected", "timeouts", "mean_ms", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
           "breaker_open_fraction", "breaker_transitions", "store_utilization", "mean_version_gap",
           "makespan_s", "calls", "events", "wall_s"]
POLICIES = ["none", "expo", "full-jitter"]


def _metrics(load: float, p: int, batch: bool) -> dict[str, Any]:
    """Plausible numbers: contention grows with load, jitter (p=2) copes best."""
    attempts = 1.0 + load * (0.05 - 0.015 * p)
    p50 = 2.0 + load * 0.1 / (p + 1)
    return {
        "throughput": None if batch else 900.0 * (1 - math.exp(-load / 40)) / attempts,
        "offered": None if batch else 1000.0 * (1 - math.exp(-load / 40)),
        "success_rate": 1.0 if p else 0.8, "attempts_per_op": attempts,
        "conflict_rate": 1 - 1 / attempts, "gave_up": 0 if p else 12, "rejected": 0, "timeouts": 0,
        "mean_ms": p50 * 1.3, "p50_ms": p50, "p90_ms": p50 * 2, "p99_ms": p50 * 5, "p999_ms": p50 * 9,
        "max_ms": p50 * 12, "all_p99_ms": p50 * (5 if p else 3), "censored": 0, "breaker_open_fraction": 0.0, "breaker_transitions": 0,
        "store_utilization": min(1.0, load / 100), "mean_version_gap": 1.2,
        "makespan_s": 0.5 + load * 0.01 / (p + 1) if batch else None,
        "calls": int(load * attempts * 10) if batch else None, "events": 12345, "wall_s": 0.1,
    }


def make_results(root: Path, sweep: dict[str, list[Any]], *, reps: int = 3, kind: str = "closed",
                 faults: list[dict[str, Any]] | None = None, schedule: list[dict[str, Any]] | None = None,
                 breaker: bool = False, latency: bool = True, ci: float = 0.05,
                 extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> Path:
    """Write a results directory shaped like the runner's output for `sweep` (may be empty); `ci` is
    the CI half-width as a fraction of each mean, `extra(point)` overrides or adds metrics."""
    swept = list(sweep)
    exp = {"name": "synthetic", "seed": 7, "replications": reps, "duration": 20.0, "warmup": 2.0, "bin": 1.0}
    workload: dict[str, Any] = {"kind": kind, "clients": 16}
    if schedule:
        workload["schedule"] = schedule
    scenario = {"workload": workload, "store": {"faults": faults or []}, "policy": {"kind": "jitter"}}
    points = len(list(itertools.product(*sweep.values())))
    write_json(root / "manifest.json", {"name": "synthetic", "seed": 7, "replications": reps, "swept": swept,
                                        "points": points,
                                        "config": {"experiment": exp, "scenario": scenario, "sweep": sweep}})
    runs, summary, series, hist = [], [], [], []
    for values in itertools.product(*sweep.values()):
        point = dict(zip(swept, values))
        p = POLICIES.index(point["policy"]) if "policy" in point else 2
        first = next((v for k, v in point.items() if k != "policy"), 32)
        load = float(first) if isinstance(first, (int, float)) else 32.0
        m = {**_metrics(load, p, kind == "batch"), **(extra(point) if extra else {})}
        for r in range(reps):
            runs.append({**point, "replication": r, "seed": 7, **m})
            for b in range(22):
                down = bool(faults) and 8 <= b < 12
                series.append({**point, "replication": r, "t_s": float(b), "starts": 50 + r,
                               "successes": 5 if down else 48, "conflicts": 3, "retries": 40 if down else 4,
                               "rejections": 30 if down and breaker else 0, "timeouts": 0,
                               "breaker_open": 0.7 if down and breaker else 0.0})
        cis = {f"{k}_ci95": (ci * v if isinstance(v, (int, float)) else None) if reps > 1 else None
               for k, v in m.items()}
        summary.append({**point, "n": reps, **m, **cis})
        for i in range(12):
            edge = 0.5 * 1.5 ** i
            hist.append({**point, "le_ms": edge, "count": int(1000 * math.exp(-i * (0.9 - 0.2 * p)))})
    metrics = list(dict.fromkeys([*METRICS, *m]))                # with any metric `extra` adds
    stats = [c for m in metrics for c in (m, f"{m}_ci95")]
    write_csv(root / "runs.csv", [*swept, "replication", "seed", *metrics], runs)
    write_csv(root / "summary.csv", [*swept, "n", *stats], summary)
    write_csv(root / "timeseries.csv", [*swept, "replication", "t_s", "starts", "successes", "conflicts",
                                        "retries", "rejections", "timeouts", "breaker_open"], series)
    if latency:
        write_csv(root / "latency.csv", [*swept, "le_ms", "count"], [h for h in hist if h["count"] > 0])
    return root


def _names(root: Path) -> set[str]:
    """Which figures would be drawn (built, not saved: saving is checked once, below)."""
    figs = plots.build_figures(root)
    for p in figs:
        plt.close(p.figure)
    return {p.name for p in figs}


@pytest.fixture
def figures():
    """Build figures for inspection and close them afterwards."""
    made: list[plots.Plot] = []

    def build(root: Path) -> dict[str, plots.Plot]:
        made.extend(plots.build_figures(root))
        return {p.name: p for p in made}

    yield build
    for p in made:
        plt.close(p.figure)


def test_numeric_sweep_draws_line_plots_per_metric(tmp_path: Path) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 8, 32, 128], "policy": POLICIES})
    names = _names(root)
    for metric in ("throughput", "attempts_per_op", "latency", "conflict_rate", "success_rate"):
        assert f"{metric}-vs-workload_clients.png" in names
    assert "bars.png" not in names and "timeseries.png" not in names
    assert "latency-ccdf.png" in names
    assert not any(n.startswith("cache_hit_rate") for n in names)   # no such column: not drawn


def test_sweep_figure_content(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 8, 32, 128], "policy": POLICIES})
    figs = figures(root)
    tput = figs["throughput-vs-workload_clients.png"].figure
    ax = tput.axes[0]
    assert ax.get_xlabel() == "workload.clients" and "ops/s" in ax.get_ylabel()
    assert ax.get_xscale() == "log"                      # 1..128 spans more than a decade
    assert [t.get_text() for t in tput.legends[0].get_texts()] == POLICIES
    assert len(ax.collections) == 3                      # one CI band per policy (3 replications)
    lat = figs["latency-vs-workload_clients.png"].figure.axes[0]
    assert lat.get_yscale() == "log" and "ms" in lat.get_ylabel()
    legend = [t.get_text() for t in figs["latency-vs-workload_clients.png"].figure.legends[0].get_texts()]
    assert legend == [*POLICIES, "p50", "p99", "p99.9", "p99, all outcomes\n(drawn where ≠ p99)"]
    colour = {p.name: p.figure.legends[0].legend_handles[1].get_color() for p in figs.values()
              if p.figure.legends}
    assert len(set(colour.values())) == 1                 # "expo" has one colour everywhere


def test_narrow_range_single_replication_linear_without_bands(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"workload.clients": [8, 16, 32], "policy": POLICIES}, reps=1)
    ax = figures(root)["throughput-vs-workload_clients.png"].figure.axes[0]
    assert ax.get_xscale() == "linear" and not ax.collections


def test_two_numeric_keys_facet_each(tmp_path: Path, figures) -> None:
    sweep = {"workload.clients": [4, 16, 64], "store.keys": [1, 4, 16], "policy": POLICIES[:2]}
    root = make_results(tmp_path, sweep)
    figs = figures(root)
    fig = figs["throughput-vs-workload_clients.png"].figure
    assert [a.get_title() for a in fig.axes if a.get_visible()] == ["store.keys=1", "store.keys=4", "store.keys=16"]
    assert "throughput-vs-store_keys.png" in figs


def test_a_numeric_key_with_two_values_is_a_facet_not_an_axis(tmp_path: Path, figures) -> None:
    figs = figures(make_results(tmp_path, {"workload.clients": [4, 16, 64], "store.keys": [1, 16],
                                           "policy": POLICIES[:2]}))
    assert not any("store_keys" in name for name in figs)               # no line from 1 to 16
    fig = figs["throughput-vs-workload_clients.png"].figure
    assert [a.get_title() for a in fig.axes] == ["store.keys=1", "store.keys=16"]
    assert "store.keys=16" in figs["latency-ccdf.png"].figure.axes[0].get_title()   # focus: the largest


def test_facets_share_the_y_axis(tmp_path: Path, figures) -> None:
    sweep = {"workload.clients": [4, 16, 64], "store.keys": [1, 4, 16], "policy": POLICIES[:2]}
    for name, plot in figures(make_results(tmp_path, sweep)).items():
        if "-vs-" in name:
            a, b = plot.figure.axes[:2]
            assert a.get_shared_y_axes().joined(a, b) and a.get_ylim() == b.get_ylim(), name


def test_categorical_key_is_the_series_when_policy_not_swept(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"operation.reads": [1, 2, 4, 8], "network.pipelining": ["True", "False"]})
    figs = figures(root)
    assert not any("network_pipelining" in n for n in figs)
    for name in ("throughput-vs-operation_reads.png", "latency-vs-operation_reads.png"):
        fig = figs[name].figure
        assert len(fig.axes) == 1 and fig.axes[0].get_title() == ""   # one panel, not one per value
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
        assert labels[:2] == ["network.pipelining = True", "network.pipelining = False"]
    lines = figs["throughput-vs-operation_reads.png"].figure.axes[0].lines
    assert len(lines) == 2 and lines[0].get_color() != lines[1].get_color()
    assert "operation.reads=8" in figs["latency-ccdf.png"].figure.axes[0].get_title()
    ccdf = [t.get_text() for t in figs["latency-ccdf.png"].figure.axes[0].get_legend().get_texts()]
    assert [t.split(" (")[0] for t in ccdf] == ["network.pipelining = True", "network.pipelining = False"]
    assert "one line per network.pipelining" in figs["throughput-vs-operation_reads.png"].caption


def test_categorical_series_with_policy_swept_stays_a_facet(tmp_path: Path, figures) -> None:
    sweep = {"workload.clients": [1, 10, 100], "network.pipelining": ["True", "False"], "policy": POLICIES}
    fig = figures(make_results(tmp_path, sweep))["throughput-vs-workload_clients.png"].figure
    assert [a.get_title() for a in fig.axes] == ["network.pipelining=True", "network.pipelining=False"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == POLICIES


def test_categorical_series_single_point_bars(tmp_path: Path, figures) -> None:
    fig = figures(make_results(tmp_path, {"operation.kind": ["append", "value_check"]}))["bars.png"].figure
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "operation.kind = append", "operation.kind = value_check"]
    assert fig.axes[0].get_xlabel() == "operation.kind"


def test_log_axis_bands_stay_positive_and_visible(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 10, 100], "policy": POLICIES}, ci=1.5)
    figs = figures(root)
    for ax in figs["latency-vs-workload_clients.png"].figure.axes:     # small multiples: one policy each
        assert ax.get_yscale() == "log" and len(ax.collections) == 1
        p99 = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        for band, line in zip(ax.collections, p99):                     # p99 lines carry the bands
            low = band.get_paths()[0].vertices[:, 1].min()
            assert low >= plots.BAND_FLOOR * min(line.get_ydata()) * 0.999 and low >= ax.get_ylim()[0]
    lin = figs["throughput-vs-workload_clients.png"].figure.axes[0]      # linear: not below 0
    assert lin.get_yscale() == "linear"
    assert min(c.get_paths()[0].vertices[:, 1].min() for c in lin.collections) >= 0
    rate = figs["conflict_rate-vs-workload_clients.png"].figure.axes[0]   # a fraction: not above 1
    assert max(c.get_paths()[0].vertices[:, 1].max() for c in rate.collections) <= 1


def test_duration_strings_with_zero_are_numeric_and_linear(tmp_path: Path, figures) -> None:
    sweep = {"store.conflict": ["expected_version", "read_set"], "store.commit.batch_interval": ["0s", "1ms", "2ms"],
             "workload.clients": [8, 32, 128]}
    figs = figures(make_results(tmp_path, sweep))
    fig = figs["throughput-vs-store_commit_batch_interval.png"].figure
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and list(ax.lines[0].get_xdata()) == [0.0, 0.001, 0.002]
    assert ax.get_xlabel() == "store.commit.batch_interval (s)"
    assert [a.get_title() for a in fig.axes if a.get_visible()] == [
        "workload.clients=8", "workload.clients=32", "workload.clients=128"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "store.conflict = expected_version", "store.conflict = read_set"]
    by_clients = figs["throughput-vs-workload_clients.png"].figure
    assert [a.get_title() for a in by_clients.axes if a.get_visible()] == [
        "store.commit.batch_interval=0s", "store.commit.batch_interval=1ms", "store.commit.batch_interval=2ms"]
    assert by_clients.axes[0].get_xscale() == "log"


def test_two_durations_are_panels_titled_as_the_config_writes_them(tmp_path: Path, figures) -> None:
    sweep = {"store.conflict": ["expected_version", "read_set"], "store.commit.batch_interval": ["0s", "2ms"],
             "workload.clients": [8, 32, 128]}
    figs = figures(make_results(tmp_path, sweep))
    assert not any("batch_interval" in name for name in figs)         # not a line from 0 to "0.002 s"
    by_clients = figs["throughput-vs-workload_clients.png"].figure
    assert [a.get_title() for a in by_clients.axes] == [
        "store.commit.batch_interval=0s", "store.commit.batch_interval=2ms"]


@pytest.mark.parametrize("values, log, labels", [
    ([0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0], False, ["0", "0.5", "0.8", "0.9", "", "", "1"]),
    ([1, 4, 16, 64], True, ["1", "4", "16", "64"]),
    ([1, 2, 100, 105], False, ["1", "", "", "105"]),           # the last value wins over its crowder
    ([10, 25, 50, 100], False, ["10", "25", "50", "100"]),
])
def testtick_labels_of_crowded_swept_values_are_thinned(values, log, labels) -> None:
    assert plots.tick_labels(values, log) == labels


def test_value_checks_axis_labels_do_not_overlap(tmp_path: Path, figures) -> None:
    """The shipped value-checks sweep: affinity 0.9, 0.95, 0.99, 1.0 once printed as "0.99.9591"."""
    sweep = {"workload.keys.affinity": [0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0], "operation.kind": ["append", "value_check"]}
    fig = figures(make_results(tmp_path, sweep))["throughput-vs-workload_keys_affinity.png"].figure
    fig.canvas.draw()
    ax = fig.axes[0]
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    assert len(ax.get_xticks()) == 7 and len(boxes) == 5
    assert all(a.x1 < b.x0 for a, b in zip(boxes, boxes[1:]))            # drawn apart, left to right


def test_all_zero_metric_not_drawn_nor_indexed(tmp_path: Path) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES},
                        extra=lambda point: {"conflict_rate": 0.0, "cache_hit_rate": None})
    paths = [p.name for p in plots.draw(root)]
    assert "throughput-vs-workload_clients.png" in paths
    assert not any(n.startswith(("conflict_rate", "cache_hit_rate")) for n in paths)
    index = (root / "index.md").read_text()
    assert "conflict_rate" not in index and "cache_hit_rate" not in index
    assert len([line for line in index.splitlines() if line.startswith("- ")]) == len(paths)


def test_cache_hit_rate_drawn_for_value_checks(tmp_path: Path, figures) -> None:
    def cache(point: dict[str, Any]) -> dict[str, Any]:
        value_check = point["operation.kind"] == "value_check"
        return {"cache_hit_rate": point["workload.keys.count"] / 2048 if value_check else None}
    sweep = {"workload.keys.count": [1, 16, 256, 1024], "operation.kind": ["append", "value_check"]}
    figs = figures(make_results(tmp_path, sweep, extra=cache))
    fig = figs["cache_hit_rate-vs-workload_keys_count.png"].figure
    assert len(fig.axes[0].lines) == 1                                 # `append` has no cache
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["operation.kind = value_check"]
    assert "cache hit rate" in fig.axes[0].get_ylabel()


def test_batch_sweep_plots_makespan_and_calls(tmp_path: Path) -> None:
    root = make_results(tmp_path, {"workload.clients": [2, 20, 200], "policy": POLICIES}, kind="batch")
    names = _names(root)
    assert {"makespan_s-vs-workload_clients.png", "calls-vs-workload_clients.png"} <= names
    assert "throughput-vs-workload_clients.png" not in names


def test_single_point_draws_bars_instead(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"policy": POLICIES})
    names = _names(root)
    assert "bars.png" in names and not any("-vs-" in n for n in names)
    fig = figures(root)["bars.png"].figure
    assert [a.get_ylabel() for a in fig.axes if a.get_visible()][:2] == [
        "throughput (successful ops/s)", "store calls per operation (attempts_per_op)"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == POLICIES


def test_categorical_sweep_groups_bars_by_point(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"network.pipelining": ["True", "False"], "policy": POLICIES})
    ax = figures(root)["bars.png"].figure.axes[0]
    assert ax.get_xlabel() == "network.pipelining"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["True", "False"]


def test_duration_sweep_is_numeric_in_seconds(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"policy.base": ["1ms", "10ms", "100ms"], "policy": POLICIES})
    ax = figures(root)["attempts_per_op-vs-policy_base.png"].figure.axes[0]
    assert ax.get_xlabel() == "policy.base (s)" and ax.get_xscale() == "log"
    assert list(ax.lines[0].get_xdata()) == [0.001, 0.01, 0.1]


def test_no_policy_column_single_series(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 10, 100]})
    fig = figures(root)["throughput-vs-workload_clients.png"].figure
    assert len(fig.axes[0].lines) == 1 and not fig.legends


def test_faults_draw_time_series(tmp_path: Path, figures) -> None:
    faults = [{"kind": "down", "start": 8.0, "end": 12.0}, {"kind": "error", "probability": 0.01,
                                                           "start": None, "end": None}]
    root = make_results(tmp_path, {"policy": POLICIES}, faults=faults, breaker=True)
    assert "timeseries.png" in _names(root)
    fig = figures(root)["timeseries.png"].figure
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"starts/s", "successes/s", "retries/s", "rejections/s", "fault: down (fail_fast)",
            "warm-up (not measured)", "breakers open (right axis)"} <= set(labels)
    assert "fault: error p=0.01" not in labels            # a fault without a window is not shaded
    assert [a.get_title(loc="left") for a in fig.axes if a.get_title(loc="left")] == POLICIES


def test_schedule_draws_time_series(tmp_path: Path, figures) -> None:
    schedule = [{"until": 10.0, "rate": 40.0}, {"until": 14.0, "rate": 80.0}, {"rate": 40.0}]
    root = make_results(tmp_path, {"workload.rate": [10.0, 100.0], "policy": POLICIES}, kind="open",
                        schedule=schedule)
    fig = figures(root)["timeseries.png"].figure
    assert "scheduled arrivals/s" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert "workload.rate=100.0" in fig.get_suptitle()


def test_schedule_line_follows_the_point_shown_and_ramps(tmp_path: Path, figures) -> None:
    # a swept spike end moves the dashed line with the point shown (the largest, 28 s); a ramp is a slope
    schedule = [{"until": 0.01, "rate": 40.0}, {"until": 25.0, "rate": 80.0, "ramp": True},
                {"until": 28.0, "rate": 20.0}, {"rate": 40.0}]
    root = make_results(tmp_path, {"workload.schedule.2.until": [26.0, 28.0], "policy": POLICIES}, kind="open",
                        schedule=schedule)
    fig = figures(root)["timeseries.png"].figure
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "scheduled arrivals/s")
    assert list(zip(line.get_xdata(), line.get_ydata())) == [
        (0.0, 40.0), (0.01, 40.0), (0.01, 40.0), (25.0, 80.0),    # flat, then the ramp from 40 to 80
        (25.0, 20.0), (28.0, 20.0),                               # the swept step ends at the point's 28 s
        (28.0, 40.0), (28.0, 40.0)]                               # the open last step, past the plot's end


def test_no_faults_no_schedule_no_time_series(tmp_path: Path) -> None:
    names = _names(make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES}))
    assert "timeseries.png" not in names


def test_ccdf_from_latency_histogram(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES})
    ax = figures(root)["latency-ccdf.png"].figure.axes[0]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert len(ax.get_legend().get_texts()) == 3
    line = ax.lines[0]
    assert line.get_ydata()[0] == 1.0 and all(a >= b for a, b in zip(line.get_ydata(), line.get_ydata()[1:]))
    bare = make_results(tmp_path / "nolat", {"policy": POLICIES}, latency=False)
    assert not (bare / "latency.csv").exists() and "latency-ccdf.png" not in _names(bare)


def test_draw_writes_pngs_and_index_and_removes_stale_plots(tmp_path: Path) -> None:
    root = make_results(tmp_path, {"policy": POLICIES}, latency=False,
                        faults=[{"kind": "slow", "start": 8.0, "end": 12.0, "factor": 5}])
    paths = plots.draw(root)
    assert [p.name for p in paths] == ["bars.png", "timeseries.png"]
    assert sorted(paths) == sorted((root / "plots").glob("*.png"))
    index = (root / "index.md").read_text().splitlines()
    assert len([line for line in index if line.startswith("- ")]) == len(paths)
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
        assert sum(f"[{path.name}](plots/{path.name})" in line for line in index) == 1
    make_results(tmp_path, {"policy": POLICIES}, latency=False)     # redrawn without faults
    assert [p.name for p in plots.draw(root)] == ["bars.png"]
    assert not (root / "plots" / "timeseries.png").exists()
    assert "timeseries" not in (root / "index.md").read_text()


# --- damaged results directories (issue 13) ---------------------------------------------------------
def _cut_lines(path: Path, n: int) -> None:
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-n]))


@pytest.mark.parametrize("damage,named", [
    (lambda d: (d / "summary.csv").write_text((d / "summary.csv").read_text()[:-40]), "summary.csv"),
    (lambda d: _cut_lines(d / "summary.csv", 1), "summary.csv"),
    (lambda d: _cut_lines(d / "runs.csv", 2), "runs.csv"),
    (lambda d: (d / "runs.csv").write_text((d / "runs.csv").read_text()[:-25]), "runs.csv"),
    (lambda d: (d / "manifest.json").write_text('{"name": "synth'), "manifest.json"),
    (lambda d: (d / "manifest.json").write_text('[1, 2, 3]'), "manifest.json"),
    (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe\x81" * 20), "manifest.json"),
    (lambda d: (d / "timeseries.csv").write_bytes(b"\xff\xfe\x81" * 20), "timeseries.csv"),
    (lambda d: (d / "latency.csv").write_text(""), "latency.csv"),
])
def test_plot_refuses_a_damaged_directory(tmp_path: Path, damage, named) -> None:
    from click.testing import CliRunner

    from occmodel.cli import main
    from occmodel.results import read_json

    root = make_results(tmp_path, {"workload.clients": [4, 8, 16]})
    manifest = read_json(root / "manifest.json")
    write_json(root / "manifest.json", {**manifest, "points": 3})
    assert CliRunner().invoke(main, ["plot", str(root)]).exit_code == 0
    damage(root)
    result = CliRunner().invoke(main, ["plot", str(root)])
    assert result.exit_code == 2 and named in result.output and "Traceback" not in result.output, result.output


REAL = {"experiment": {"name": "real", "replications": 2, "duration": "0.3s", "bin": "0.1s"},
        "scenario": {"workload": {"clients": 2}, "network": {"one_way": "1ms"}},
        "sweep": {"workload.clients": [1, 2]}}


def _header_only(path: Path) -> None:
    path.write_text(path.read_text().splitlines(keepends=True)[0])


@pytest.mark.parametrize("damage,named", [
    (lambda d: _header_only(d / "summary.csv"), "summary.csv"),                 # no row at all
    (lambda d: _cut_lines(d / "latency.csv", 3), "latency.csv"),                # cut at a line's end
    (lambda d: _cut_lines(d / "timeseries.csv", 1), "timeseries.csv"),
    (lambda d: (d / "runs.csv").write_text((d / "runs.csv").read_text()[:-3]), "runs.csv"),   # inside the last cell
    (lambda d: (d / "manifest.json").write_text('{"name": "real"}'), "manifest.json"),
])
def test_plot_refuses_a_damaged_real_run(tmp_path: Path, damage, named) -> None:
    """Damage that keeps every line whole (or cuts inside the very last cell) is still noticed:
    the manifest records each file's row count, and occmodel's CSVs end with a newline."""
    from click.testing import CliRunner

    from occmodel.cli import main
    from occmodel.experiment import load_experiment, run_experiment

    run_experiment(load_experiment(REAL), tmp_path, workers=1)
    load(tmp_path)                       # whole, it loads (drawing it is tested elsewhere)
    damage(tmp_path)
    result = CliRunner().invoke(main, ["plot", str(tmp_path)])
    assert result.exit_code == 2 and named in result.output and "Traceback" not in result.output, result.output


def test_low_success_points_are_hollow_and_noted(tmp_path: Path, figures) -> None:
    """Policy "none" succeeds 80 % of the time: its latency points are hollow, captioned, annotated
    with the success rate, and flagged in index.md; the others stay filled."""
    root = make_results(tmp_path, {"workload.clients": [1, 8, 32, 128], "policy": POLICIES})
    plot = figures(root)["latency-vs-workload_clients.png"]
    ax = plot.figure.axes[0]
    hollow = [ln for ln in ax.lines if ln.get_marker() == "o" and ln.get_markerfacecolor() == "white"
              and len(ln.get_xdata())]
    assert len(hollow) == 4                                     # p50, p99, p99.9, all-outcome p99 of "none"
    assert all(list(ln.get_xdata()) == [1, 8, 32, 128] for ln in hollow)
    assert {ln.get_color() for ln in hollow} == {plot.figure.legends[0].legend_handles[0].get_color()}
    assert "4 points with success rate < 0.99 drawn hollow" in plot.caption
    assert [t.get_text() for t in ax.texts] == ["0.80"] * 4      # success rate beside each hollow p50
    assert "hollow markers" in plot.figure.get_supxlabel()
    ccdf = figures(root)["latency-ccdf.png"]
    assert "success 0.800!" in ccdf.figure.axes[0].get_legend().get_texts()[0].get_text()
    plots.draw(root)
    index = (root / "index.md").read_text()
    assert "## Latency beside success rate" in index
    assert index.count("**!**") == 1 + 4                        # the explanation, then the 4 points of "none"


def test_bars_of_a_low_success_policy_are_hollow(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"policy": POLICIES})
    plot = figures(root)["bars.png"]
    lat = next(a for a in plot.figure.axes if a.get_ylabel().startswith("latency"))
    white = [p for p in lat.patches if p.get_facecolor()[:3] == (1.0, 1.0, 1.0)]
    assert len(white) == 4 and "hatched and hollow" in plot.caption


# --- issue 19: output people can read ------------------------------------------------------------
def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Rewrite a CSV of a synthetic results directory row by row (same rows: the manifest still holds)."""
    from occmodel.results import read_csv

    rows = read_csv(path)
    columns = list(rows[0])
    for row in rows:
        change(row)
    write_csv(path, columns, rows)


def test_bars_show_the_bounds_metrics_and_failures_not_a_negligible_conflict_rate(tmp_path: Path, figures) -> None:
    from occmodel.results import read_json

    root = make_results(tmp_path, {"policy": POLICIES}, extra=lambda point: {
        "conflict_rate": 0.01, "errors": 100.0 * (point["policy"] != "expo"), "rejected": 50.0,
        "breaker_transitions": 7.0})
    manifest = read_json(root / "manifest.json")
    manifest["config"]["bounds"] = [{"where": {"policy": "expo"}, "breaker_transitions": "> 1"},
                                    {"compare": {"a": "expo", "b": "none", "metric": "all_p99_ms", "expect": "a < b"}}]
    write_json(root / "manifest.json", manifest)
    plot = figures(root)["bars.png"]
    labels = [ax.get_ylabel() for ax in plot.figure.axes]
    for wanted in ("store errors", "rejected operations", "breaker state changes"):
        assert any(label.startswith(wanted) for label in labels), (wanted, labels)
    assert not any(label.startswith("conflict rate") for label in labels)       # 1 % everywhere: noise here
    assert "store errors, rejected operations, breaker transitions" in plot.caption
    both = make_results(tmp_path / "c", {"policy": POLICIES}, extra=lambda point: {"conflict_rate": 0.2})
    assert any(ax.get_ylabel().startswith("conflict rate") for ax in figures(both)["bars.png"].figure.axes)


def test_latency_with_too_many_lines_becomes_small_multiples(tmp_path: Path, figures) -> None:
    three = figures(make_results(tmp_path / "3", {"workload.clients": [1, 8, 64], "policy": POLICIES}))
    plot = three["latency-vs-workload_clients.png"]
    assert [ax.get_title() for ax in plot.figure.axes] == POLICIES                   # 3 × 4 lines: one panel each
    assert [ax.title.get_color() for ax in plot.figure.axes] == [plot.figure.axes[0].lines[0].get_color(),
                                                                  plot.figure.axes[1].lines[0].get_color(),
                                                                  plot.figure.axes[2].lines[0].get_color()]
    assert "small multiples" in plot.caption
    assert len(three["throughput-vs-workload_clients.png"].figure.axes) == 1        # one line per policy: one panel
    two = figures(make_results(tmp_path / "2", {"workload.clients": [1, 8, 64], "policy": POLICIES[:2]}))
    assert len(two["latency-vs-workload_clients.png"].figure.axes) == 1             # 2 × 4 = 8 lines fit


def test_identical_ccdf_curves_are_both_visible_and_named(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"policy": POLICIES})
    from occmodel.results import read_csv

    none = {r["le_ms"]: r["count"] for r in read_csv(root / "latency.csv") if r["policy"] == "none"}
    _edit(root / "latency.csv", lambda r: r.update(count=none.get(r["le_ms"], 0)) if r["policy"] == "full-jitter"
          else None)
    plot = figures(root)["latency-ccdf.png"]
    ax = plot.figure.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "identical to none" in texts[2] and "identical" not in texts[0] + texts[1]
    first, _, twin = ax.lines[:3]
    assert first.get_linewidth() > twin.get_linewidth() and twin.get_zorder() > first.get_zorder()
    assert "full-jitter = none" in plot.caption and "exactly the latencies of none" in plot.figure.get_supxlabel()


def test_time_series_axis_holds_every_panel_and_the_fault_band_shows(tmp_path: Path, figures) -> None:
    faults = [{"kind": "down", "start": 8.0, "end": 12.0}]
    root = make_results(tmp_path, {"policy": POLICIES}, faults=faults, breaker=True)
    _edit(root / "timeseries.csv", lambda r: r.update(rejections=1600) if r["policy"] == "full-jitter"
          and 8 <= r["t_s"] < 12 else None)
    fig = figures(root)["timeseries.png"].figure
    rates = [ax for ax in fig.axes if ax.get_ylabel() == "per second"]
    assert all(ax.get_ylim()[1] >= 1600 for ax in rates)                          # the last panel's peak fits
    twins = [ax for ax in fig.axes if ax.get_ylabel().startswith("breakers open")]
    assert twins and all(not ax.collections and ax.lines for ax in twins)          # a line, not a fill over the band


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("pdf", b"%PDF"), ("png", b"\x89PNG")])
def test_draw_in_each_format_deterministically(tmp_path: Path, fmt: str, magic: bytes) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES[:2]})
    first = plots.draw(root, fmt)
    assert first and all(p.suffix == f".{fmt}" and p.read_bytes().startswith(magic) for p in first)
    index = (root / "index.md").read_text()
    assert all(f"](plots/{p.name})" in index for p in first) and f".{'svg' if fmt != 'svg' else 'pdf'})" not in index
    again = {p.name: p.read_bytes() for p in first}
    assert {p.name: p.read_bytes() for p in plots.draw(root, fmt)} == again      # same results, same bytes
    other = "png" if fmt != "png" else "svg"
    plots.draw(root, other)                                                        # the earlier drawing is replaced
    assert not any(p.exists() for p in first)


def test_plot_and_run_take_a_format_and_refuse_others(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from occmodel.cli import main

    root = make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES[:2]})
    result = CliRunner().invoke(main, ["plot", str(root), "--format", "pdf"])
    assert result.exit_code == 0 and any((root / "plots").glob("*.pdf")), result.output
    bad = CliRunner().invoke(main, ["plot", str(root), "--format", "gif"])
    assert bad.exit_code == 2 and "'gif' is not one of 'png', 'svg', 'pdf'" in bad.output
    for command in ("run", "tune", "compare"):
        assert "--format [png|svg|pdf]" in CliRunner().invoke(main, [command, "--help"]).output
    with pytest.raises(plots.ConfigError, match="--format.*png, svg, pdf"):
        plots.draw(root, "gif")


def test_all_outcome_p99_equal_to_p99_is_not_drawn_over_it(tmp_path: Path, figures) -> None:
    # synthetic data: all_p99 = p99 for every policy but "none" (whose failures make it differ)
    fig = figures(make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES[:2]}))[
        "latency-vs-workload_clients.png"].figure
    ax = fig.axes[0]
    assert [ln.get_color() for ln in ax.lines if ln.get_linestyle() == "-."] == [ax.lines[0].get_color()]
    assert "p99, all outcomes\n(drawn where ≠ p99)" in [t.get_text() for t in fig.legends[0].get_texts()]
    same = figures(make_results(tmp_path / "s", {"workload.clients": [1, 8, 64], "policy": POLICIES[1:]}))[
        "latency-vs-workload_clients.png"].figure
    assert not [ln for ln in same.axes[0].lines if ln.get_linestyle() == "-."]
    assert "p99, all outcomes:\n= p99 (all succeeded)" in [t.get_text() for t in same.legends[0].get_texts()]


def test_bars_name_undefined_values_and_keep_error_bars_above_zero(tmp_path: Path, figures) -> None:
    from occmodel.results import read_json

    root = make_results(tmp_path, {"policy": POLICIES}, ci=3.0, extra=lambda point: {
        "recovery_s": None if point["policy"] == "none" else 2.0})
    manifest = read_json(root / "manifest.json")
    manifest["config"]["bounds"] = [{"where": {"policy": "expo"}, "recovery_s": "< 10"}]
    write_json(root / "manifest.json", manifest)
    fig = figures(root)["bars.png"].figure
    [ax] = [a for a in fig.axes if a.get_ylabel().startswith("recovery")]
    assert [t.get_text() for t in ax.texts] == ["undefined"]                      # none never recovered
    assert "undefined: the metric has no value" in fig.get_supxlabel()
    lows = [np.asarray(seg)[:, 1].min() for c in ax.collections if hasattr(c, "get_segments")
            for seg in c.get_segments() if len(seg)]                              # error bar lines
    assert lows and min(lows) >= 0                                                # 2 ± 6 s drawn from 0


def test_identical_lines_in_a_panel_are_named(tmp_path: Path, figures) -> None:
    root = make_results(tmp_path, {"workload.clients": [1, 8, 64], "policy": POLICIES},
                        extra=lambda point: {"throughput": 500.0 if point["policy"] != "expo" else 400.0})
    figs = figures(root)
    plot = figs["throughput-vs-workload_clients.png"]
    assert [t.get_text() for t in plot.figure.axes[0].texts] == ["identical here: full-jitter = none"]
    assert "1 series identical to another" in plot.caption
    assert not figs["attempts_per_op-vs-workload_clients.png"].figure.axes[0].texts   # they differ there


def test_many_bars_get_steeper_labels(tmp_path: Path, figures) -> None:
    kinds = [f"kind-{i}" for i in range(7)]
    ax = figures(make_results(tmp_path, {"operation.kind": kinds}))["bars.png"].figure.axes[0]
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {45.0}
    few = figures(make_results(tmp_path / "few", {"policy": POLICIES}))["bars.png"].figure.axes[0]
    assert {t.get_rotation() for t in few.get_xticklabels()} == {20.0}
