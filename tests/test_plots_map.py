"""Metastability maps (issue 16 part 4): cells where they belong, the collapse boundary on the right
edges, the choice of maps from [plot].heatmap, and the shipped map experiment."""
from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.collections import LineCollection, QuadMesh

from occmodel.cli import main
from occmodel.experiment import load_experiment
from occmodel.plotbase import load
from occmodel.plots import build_figures
from occmodel.plots_map import boundary, heatmap_plots
from occmodel.results import write_csv, write_json
from occmodel.stats import summarize

ROOT = Path(__file__).resolve().parents[1]
RATES = [60, 80, 100]                 # y, the first swept key
ENDS = ["17s", "19s", "23s", "27s"]   # x, the second
POLICIES = ["none", "budget"]
REPS = 3


def collapses(policy: str, rate: int, end: str, rep: int) -> float:
    """How many replications collapse, by cell: `none` more as the spike grows, `budget` never.
    none: rate 60 never; rate 80 from 23s (two of three at 23s, all at 27s); rate 100 from 19s."""
    if policy == "budget" or rate == 60:
        return 0.0
    k = {80: {"17s": 0, "19s": 0, "23s": 2, "27s": 3}, 100: {"17s": 1, "19s": 3, "23s": 3, "27s": 3}}[rate][end]
    return 1.0 if rep < k else 0.0


def recovery(policy: str, rate: int, end: str, rep: int) -> float:
    return math.nan if collapses(policy, rate, end, rep) else float(rate // 20 + rep)


def make(root: Path, plot: dict[str, Any] | None = None, collapse: bool = True) -> Path:
    sweep = {"workload.schedule.1.rate": RATES, "workload.schedule.1.until": ENDS, "policy": POLICIES}
    swept = list(sweep)
    runs = []
    for rate, end, policy in itertools.product(*sweep.values()):
        for rep in range(REPS):
            c = collapses(policy, rate, end, rep) if collapse else 0.0
            runs.append({"workload.schedule.1.rate": rate, "workload.schedule.1.until": end, "policy": policy,
                         "replication": rep, "collapsed": c, "recovery_s": recovery(policy, rate, end, rep),
                         "throughput": 40.0 - 30 * c, "success_rate": 1.0 - 0.9 * c, "p99_ms": 10.0 + 100 * c})
    metrics = ["collapsed", "recovery_s", "throughput", "success_rate", "p99_ms"]
    points = len(RATES) * len(ENDS) * len(POLICIES)
    config = {"experiment": {"name": "map"}, "scenario": {}, "sweep": {}, **({"plot": plot} if plot else {})}
    write_json(root / "manifest.json", {"name": "map", "swept": swept, "points": points, "replications": REPS,
                                        "config": config})
    write_csv(root / "runs.csv", [*swept, "replication", *metrics], runs)
    summary = summarize(runs, swept, metrics)
    write_csv(root / "summary.csv", [*swept, "n", *(c for m in metrics for c in (m, f"{m}_ci95"))], summary)
    return root


def _only(figure: plt.Figure, kind: type) -> list[Any]:
    return [c for ax in figure.axes for c in ax.collections if isinstance(c, kind)]


def test_boundary_edges_by_hand():
    # rows: y index; columns: x index.  >= 0.5 on the right of row 0 and everywhere in row 1 but (1, 0)
    grid = np.array([[0.0, 0.0, 0.6, 1.0],
                     [0.2, 0.5, 1.0, np.nan]])
    assert sorted(boundary(grid)) == sorted([
        ((1.5, -0.5), (1.5, 0.5)),     # row 0: between x=1 (0.0) and x=2 (0.6)
        ((0.5, 0.5), (0.5, 1.5)),      # row 1: between x=0 (0.2) and x=1 (0.5, on the collapsed side)
        ((0.5, 0.5), (1.5, 0.5)),      # column 1: 0.0 below, 0.5 above
    ])                                 # the NaN cell draws no edge; (2, 0)-(2, 1) and (3, 0) agree


def test_cells_land_where_they_belong_and_the_boundary_is_drawn(tmp_path):
    res = load(make(tmp_path, {"heatmap": {"metrics": ["collapsed", "recovery_s"]}}))
    plots = {p.name: p for p in heatmap_plots(res)}
    assert set(plots) == {"heatmap-collapsed.png", "heatmap-recovery_s.png"}
    fig = plots["heatmap-collapsed.png"].figure
    panels = [ax for ax in fig.axes if ax.get_title() in POLICIES]
    assert [ax.get_title() for ax in panels] == POLICIES                    # one panel per policy
    none, budget = panels
    mesh = next(c for c in none.collections if isinstance(c, QuadMesh))
    values = np.asarray(mesh.get_array()).reshape(len(RATES), len(ENDS))
    expected = np.array([[sum(collapses("none", r, e, k) for k in range(REPS)) / REPS for e in ENDS] for r in RATES])
    assert np.allclose(values, expected)
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in none.texts}
    assert texts[(2, 1)] == "2/3" and texts[(0, 2)] == "1/3" and texts[(3, 0)] == "0/3"   # (x: 23s, y: 80) ...
    assert [t.get_text() for t in none.get_xticklabels()] == ["17", "19", "23", "27"]
    assert [t.get_text() for t in none.get_yticklabels()] == ["60", "80", "100"]
    assert none.get_xlabel() == "workload.schedule.1.until (s)"                        # unit: durations in s
    assert "workload.schedule.1.rate (ops/s)" in [ax.get_ylabel() for ax in fig.axes]
    (lines,) = [c for c in none.collections if isinstance(c, LineCollection)]
    segs = sorted(tuple(map(tuple, np.round(s, 6))) for s in lines.get_segments())
    assert segs == sorted(boundary(expected))
    assert ((1.5, 0.5), (1.5, 1.5)) in segs and ((0.5, 1.5), (1.5, 1.5)) in segs
    assert not [c for c in budget.collections if isinstance(c, LineCollection)]       # never collapses
    assert any("colorbar" in ax.get_label() or ax.get_ylabel().startswith("probability of collapse")
               for ax in fig.axes)                                                     # a colour bar
    rec = next(ax for ax in plots["heatmap-recovery_s.png"].figure.axes if ax.get_title() == "none")
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in rec.texts}
    assert texts[(1, 2)] == "never"                       # rate 100, 19s: all three collapsed
    assert texts[(2, 1)] == "6\n(1/3)"                    # rate 80, 23s: only replication 2 recovered, at 4 + 2 s
    assert texts[(0, 0)].startswith("4\n±")               # 3, 4, 5 s: mean 4
    assert [c for c in rec.collections if isinstance(c, LineCollection)]               # boundary on every map
    plt.close("all")


def test_latency_cells_carry_a_low_success_rate(tmp_path):
    """A latency map flags each cell whose mean success rate is below 0.99 (issue 12): `none` at
    rate 80, 23s has success (1 - 0.9 · 2/3) = 0.40; cells where nothing collapsed stay unflagged."""
    res = load(make(tmp_path, {"heatmap": {"metrics": ["p99_ms", "throughput"]}}))
    plots = {p.name: p for p in heatmap_plots(res)}
    none = next(ax for ax in plots["heatmap-p99_ms.png"].figure.axes if ax.get_title() == "none")
    texts = {(round(t.get_position()[0]), round(t.get_position()[1])): t.get_text() for t in none.texts}
    assert texts[(2, 1)].endswith("\nsuccess 0.40!") and "success" not in texts[(0, 0)]
    flagged = sum(collapses("none", r, e, 0) > 0 or collapses("none", r, e, 1) > 0 for r in RATES for e in ENDS)
    assert sum(t.endswith("!") for t in texts.values()) == flagged == 6
    assert f"{flagged} cells with success rate < 0.99 flagged" in plots["heatmap-p99_ms.png"].caption
    assert "success r!" in plots["heatmap-p99_ms.png"].figure.get_supxlabel()
    tput = next(ax for ax in plots["heatmap-throughput.png"].figure.axes if ax.get_title() == "none")
    assert not any("success" in t.get_text() for t in tput.texts)               # not a latency: nothing beside it
    plt.close("all")


def test_axes_labels_from_the_plot_table(tmp_path):
    labels = {"workload.schedule.1.until": "spike end (s)", "workload.schedule.1.rate": "spike rate (ops/s)"}
    res = load(make(tmp_path, {"heatmap": {"metrics": ["throughput"], "x": "workload.schedule.1.rate",
                                           "y": "workload.schedule.1.until"}, "labels": labels}))
    (plot,) = heatmap_plots(res)
    ax = plot.figure.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("spike rate (ops/s)", "spike end (s)")   # x and y swapped
    mesh = next(c for c in ax.collections if isinstance(c, QuadMesh))
    assert np.asarray(mesh.get_array()).size == len(ENDS) * len(RATES)
    assert np.asarray(mesh.get_array()).reshape(len(ENDS), len(RATES))[3, 2] == pytest.approx(40 - 30 * 1.0)
    plt.close("all")


def test_default_map_only_where_something_collapsed(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    drawn = {p.name for p in build_figures(make(tmp_path / "a"))}
    assert "heatmap-collapsed.png" in drawn and "heatmap-recovery_s.png" not in drawn
    assert not {p.name for p in build_figures(make(tmp_path / "b", collapse=False))} & {"heatmap-collapsed.png"}
    plt.close("all")


@pytest.mark.parametrize("plot,named", [
    ({"heatmap": {"x": "workload.clients"}}, "plot.heatmap.x"),
    ({"heatmap": {"x": "policy"}}, "plot.heatmap.x"),
    ({"heatmap": {"x": "workload.schedule.1.rate", "y": "workload.schedule.1.rate"}}, "plot.heatmap.y"),
    ({"heatmap": {"metrics": ["colapsed"]}}, "plot.heatmap.metrics"),
    ({"heatmap": {"metrics": []}}, "plot.heatmap.metrics"),
    ({"labels": {"workload.rate": "rate"}}, "plot.labels.workload.rate"),
    ({"heatmaps": {}}, "plot.heatmaps"),
])
def test_bad_plot_tables_name_the_key(plot, named):
    raw = load_experiment(ROOT / "experiments" / "metastability-map.toml").raw
    raw["plot"] = plot
    with pytest.raises(Exception) as info:
        load_experiment(raw)
    assert named in str(info.value)


def test_the_map_experiment_is_valid_and_claims_what_its_header_says():
    exp = load_experiment(ROOT / "experiments" / "metastability-map.toml")
    assert [k for k in exp.swept if k != "policy"] == ["workload.schedule.1.rate", "workload.schedule.1.until"]
    assert len(exp.points) * exp.settings.replications <= 200            # a few minutes on 2 cores
    assert exp.bounds and exp.raw["plot"]["heatmap"]["metrics"][0] == "collapsed"


@pytest.mark.slow
def test_the_map_experiment_passes_check(tmp_path):
    result = CliRunner().invoke(main, ["check", str(ROOT / "experiments" / "metastability-map.toml"),
                                       "--results", str(tmp_path / "map"), "--workers", "2"])
    assert result.exit_code == 0, result.output
