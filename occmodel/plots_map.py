"""Metastability maps: one metric over two swept keys, one panel per policy (DESIGN 6.4).

A line plot answers "how does p99 grow with the spike?"; the question a map answers is "which
spikes does this policy survive?", so the collapse boundary is drawn on every map: the cell edges
where the probability of collapse (the mean of `collapsed` over replications) crosses 0.5. Cells
are equal squares in sweep order (swept values are rarely evenly spaced), each printed with its
value, so the map reads as a table too: `collapsed` as "k/n" (k of n replications collapsed), other
metrics as mean ± 95 % half-width, with "(k/n)" when the metric is defined in only k of the n
replications (e.g. `recovery_s` in runs that never recovered), and "n/a" where it is defined in none.
One colour scale for all panels (log when the metric spans a factor of 50), so colours compare.
Which maps, and along which keys, is `[plot].heatmap` (`occmodel.plotspec`).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm, Normalize

from occmodel.plotbase import DPI, Plot, Results, describe, focus_point, number, seconds, series_label, series_of
from occmodel.plotspec import DEFAULT_HEATMAP, PlotTable, heatmap_axes
from occmodel.stats import LOW_SUCCESS, is_missing

COLLAPSE = "collapsed"
THRESHOLD = 0.5          # P(collapse) at the boundary
LOG_SPAN = 50
FRACTIONS = {"collapsed", "success_rate", "conflict_rate", "cache_hit_rate", "breaker_open_fraction",
             "store_utilization"}
LABELS = {
    "collapsed": "probability of collapse (fraction of replications)",
    "recovery_s": "recovery time after the last disturbance (s)",
    "throughput": "throughput (successful ops/s)", "offered": "offered load (ops/s)",
    "success_rate": "success rate (fraction of operations)",
    "attempts_per_op": "store calls per operation",
}
NA = "n/a"
UNDEFINED = {"recovery_s": ("never", "never recovered within the measured window")}   # what a missing value means


def metric_label(metric: str) -> str:
    """A metric's colour-bar label, with its unit."""
    if metric in LABELS:
        return LABELS[metric]
    if metric.startswith("all_") and metric.endswith("_ms"):
        return f"{metric[4:-3]} latency, every outcome (ms)"
    if metric.endswith("_ms"):
        return f"{metric[:-3].replace('_', ' ')} latency, successes only (ms)"
    if metric.endswith("_s"):
        return f"{metric[:-2].replace('_', ' ')} (s)"
    return metric.replace("_", " ") + (" (fraction)" if metric in FRACTIONS else "")


def key_label(res: Results, key: str, labels: dict[str, str]) -> str:
    """A swept key's axis label: the `[plot].labels` text, else the key with its unit."""
    if key in labels:
        return labels[key]
    if any(isinstance(v, str) for v in res.keys[key]):
        return f"{key} (s)"
    return key + (" (ops/s)" if key.endswith("rate") else "")


def _short(label: str) -> str:
    """A label without its parenthesis, for titles."""
    return label.split(" (")[0]


def spec_of(res: Results) -> PlotTable:
    """The `[plot]` table the directory ran with (manifest.json); checked when the config was loaded."""
    return PlotTable.model_validate(res.config.get("plot") or {})


def _grid(res: Results, x: str, y: str, metric: str, s: str | None, fixed: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """Mean, half-width, replications defined and replications in all, as arrays [y index, x index]."""
    xs, ys = (sorted(res.keys[k], key=seconds) for k in (x, y))
    shape = (len(ys), len(xs))
    mean, ci, defined, total = (np.full(shape, np.nan) for _ in range(4))
    where = {k: v for k, v in fixed.items() if k not in (x, y)}
    runs = [r for r in res.runs if series_of(res, r) == s and all(r.get(k) == v for k, v in where.items())]
    for row in res.summary:
        if series_of(res, row) != s or any(row.get(k) != v for k, v in where.items()):
            continue
        i, j = xs.index(row[x]), ys.index(row[y])
        mean[j, i], ci[j, i] = number(row, metric), number(row, f"{metric}_ci95")
        cell = [r for r in runs if r.get(x) == row[x] and r.get(y) == row[y]]
        total[j, i] = len(cell) or number(row, "n")
        defined[j, i] = sum(not is_missing(r.get(metric)) for r in cell) if cell else np.nan
    return mean, ci, defined, total


def boundary(collapse: np.ndarray) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """Cell edges (in index coordinates, cell (j, i) centred at (i, j)) between neighbours on either
    side of P(collapse) = 0.5; cells without a value draw no edge."""
    side = collapse >= THRESHOLD
    known = np.isfinite(collapse)
    segs = []
    rows, cols = collapse.shape
    for j in range(rows):
        for i in range(cols):
            if i + 1 < cols and known[j, i] and known[j, i + 1] and side[j, i] != side[j, i + 1]:
                segs.append(((i + 0.5, j - 0.5), (i + 0.5, j + 0.5)))
            if j + 1 < rows and known[j, i] and known[j + 1, i] and side[j, i] != side[j + 1, i]:
                segs.append(((i - 0.5, j + 0.5), (i + 0.5, j + 0.5)))
    return segs


def _text(metric: str, mean: float, ci: float, defined: float, total: float) -> str:
    if not np.isfinite(mean):
        return UNDEFINED.get(metric, (NA,))[0]
    if metric == COLLAPSE:
        n = defined if np.isfinite(defined) else total
        return f"{round(mean * n)}/{int(n)}" if np.isfinite(n) else f"{mean:.2f}"
    text = f"{mean:.3g}" + (f"\n±{ci:.2g}" if np.isfinite(ci) and ci > 0 else "")
    partial = np.isfinite(defined) and np.isfinite(total) and defined < total
    return text + (f"\n({int(defined)}/{int(total)})" if partial else "")


def _norm(metric: str, values: np.ndarray) -> Normalize:
    finite = values[np.isfinite(values)]
    if metric in FRACTIONS:
        return Normalize(0.0, 1.0)
    if finite.size == 0:
        return Normalize(0.0, 1.0)
    lo, hi = float(finite.min()), float(finite.max())
    if lo > 0 and hi / lo >= LOG_SPAN:
        return LogNorm(lo, hi)
    return Normalize(lo, hi if hi > lo else lo + 1.0)


def heatmap_plot(res: Results, x: str, y: str, metric: str, labels: dict[str, str] | None = None) -> Plot:
    labels = labels or {}
    fixed = focus_point(res)
    others = {k: v for k, v in fixed.items() if k not in (x, y)}
    xs, ys = (sorted(res.keys[k], key=seconds) for k in (x, y))
    grids = {s: _grid(res, x, y, metric, s, fixed) for s in res.series}
    collapse = {s: _grid(res, x, y, COLLAPSE, s, fixed)[0] for s in res.series}
    # a latency map shows each cell's success rate where it is low (issue 12: never latency alone)
    success = {s: _grid(res, x, y, "success_rate", s, fixed)[0] for s in res.series} if metric.endswith("_ms") else {}
    flagged = 0
    has_boundary = any(np.isfinite(c).any() for c in collapse.values())
    norm = _norm(metric, np.concatenate([g[0].ravel() for g in grids.values()]))
    cmap = plt.get_cmap("Reds" if metric == COLLAPSE else "viridis").with_extremes(bad="0.88")
    n = len(res.series)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    width = max(3.0, 0.75 * len(xs) + 1.2)
    fig, axs = plt.subplots(nrows, ncols, squeeze=False, dpi=DPI, layout="constrained", sharex=True, sharey=True,
                            figsize=(width * ncols + 2.2, max(2.6, 0.62 * len(ys) + 1.3) * nrows + 0.9))
    for ax in axs.flat[n:]:
        ax.set_visible(False)
    mesh = None
    drawn = 0
    for ax, s in zip(axs.flat, res.series):
        mean, ci, defined, total = grids[s]
        mesh = ax.pcolormesh(np.arange(len(xs) + 1) - 0.5, np.arange(len(ys) + 1) - 0.5,
                             np.ma.masked_invalid(mean), cmap=cmap, norm=norm, edgecolors="white", linewidth=0.8)
        for j in range(len(ys)):
            for i in range(len(xs)):
                v = mean[j, i]
                dark = np.isfinite(v) and sum(cmap(norm(v))[:3]) < 1.5
                text = _text(metric, v, ci[j, i], defined[j, i], total[j, i])
                rate = success[s][j, i] if success else math.nan
                if np.isfinite(v) and np.isfinite(rate) and rate < LOW_SUCCESS:
                    text, flagged = f"{text}\nsuccess {rate:.2f}!", flagged + 1
                ax.text(i, j, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
        segs = boundary(collapse[s])
        if segs:
            drawn += 1
            ax.add_collection(LineCollection(segs, colors="tab:cyan" if metric == COLLAPSE else "black",
                                             linewidths=3.0, capstyle="round", label="collapse boundary"))
        ax.set_xticks(range(len(xs)), [f"{seconds(v):g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{seconds(v):g}" for v in ys])
        ax.set(xlim=(-0.5, len(xs) - 0.5), ylim=(-0.5, len(ys) - 0.5), title=series_label(res, s) or res.name)
        ax.tick_params(length=0)
    for ax in axs[-1, :]:
        ax.set_xlabel(key_label(res, x, labels))
    for ax in axs[:, 0]:
        ax.set_ylabel(key_label(res, y, labels))
    fig.colorbar(mesh, ax=axs.ravel().tolist(), label=metric_label(metric), shrink=0.9)
    where = f" ({describe(others)})" if others else ""
    title = f"{_short(metric_label(metric))} by {_short(key_label(res, x, labels))} × {_short(key_label(res, y, labels))}"
    fig.suptitle(f"{res.name}: {title}{where}, {res.replications} replications per cell",
                 fontsize=10, x=0.01, ha="left")
    notes = []
    if has_boundary:
        notes.append(f"thick line: collapse boundary, where the probability of collapse crosses {THRESHOLD:g} "
                     "(a run collapsed: successes / arrivals < 0.5 over the last half of the measured window)")
        if not drawn:
            notes.append("no panel crosses it: every cell is on one side")
    if flagged:
        notes.append(f"success r!: success rate r < {LOW_SUCCESS:g}, where a success-only latency leaves out the "
                     "failed operations (compare all_* latencies)")
    if metric == COLLAPSE:
        notes.append("k/n: k of n replications collapsed")
    else:
        na, meaning = UNDEFINED.get(metric, (NA, "defined in no replication"))
        notes.append(f"± 95 % half-width; (k/n): {metric} defined in k of n replications, the mean is over those; "
                     f"{na}: {meaning}")
    if notes:
        fig.supxlabel("\n".join(notes), fontsize=7, x=0.01, ha="left")
    per = f"one panel per {res.by}" if res.by else "one panel"
    return Plot(f"heatmap-{metric}.png",
                f"Metastability map of {metric} ({metric_label(metric)}) over {x} (across) × {y} (up), {per}, "
                f"cell values printed{'; collapse boundary drawn' if has_boundary else ''}{where}"
                f"{f'; {flagged} cells with success rate < {LOW_SUCCESS:g} flagged' if flagged else ''}.", fig)


def heatmap_plots(res: Results) -> list[Plot]:
    """The maps `[plot].heatmap` asks for; without it, the collapse map when a sweep of two numeric
    keys has a run that collapsed."""
    spec = spec_of(res)
    axes = heatmap_axes(res.axes, spec.heatmap)
    if axes is None or not res.summary or any(k not in res.keys for k in axes):
        return []
    metrics: Sequence[str] = spec.heatmap.metrics if spec.heatmap else (
        [DEFAULT_HEATMAP] if any(number(r, COLLAPSE) > 0 for r in res.summary) else [])
    return [heatmap_plot(res, *axes, m, spec.labels) for m in metrics]


__all__ = ["boundary", "heatmap_plot", "heatmap_plots", "metric_label"]
