"""The paired-difference plot of `occmodel compare`: how far each policy is from the baseline.

One panel per metric, the sweep's points along x, a marker per policy (or value of `by`) with its
paired 95 % interval, and a line at zero: a bar that misses the line is a difference the
replications decide. Markers are hollow where a difference has no interval (fewer than two pairs
defined). Colours follow the sweep's order, as in the other plots.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from occmodel.compare import HEADLINE, Comparison
from occmodel.plotbase import DPI, save
from occmodel.plots_map import metric_label

NAME = "compare.png"


def plotted(comparison: Comparison, metrics: Sequence[str] | None) -> list[str]:
    """The metrics asked for (`metrics`, else the [compare] table's), or the headline metrics with a
    non-zero difference somewhere."""
    if metrics or comparison.metrics:
        return list(metrics or comparison.metrics or [])
    return [m for m in HEADLINE if any(r["metric"] == m and r["difference"] not in (None, 0) and
                                       math.isfinite(r["difference"]) for r in comparison.rows)]


def compare_plot(comparison: Comparison, metrics: Sequence[str]) -> Figure:
    c = comparison
    values = c.values
    points = list(dict.fromkeys(tuple(r.get(k) for k in c.others) for r in c.rows))
    shown = [v for v in values if v != c.baseline]
    cmap = plt.get_cmap("tab10" if len(values) <= 10 else "tab20")
    colour = {v: cmap(i % cmap.N) for i, v in enumerate(values)}
    width = min(13.0, max(2.8, 0.4 * len(points) * max(1, len(shown)) ** 0.5 + 1.8))
    ncols = min(3, len(metrics), max(1, int(15 // width)))       # many points: panels stacked
    nrows = math.ceil(len(metrics) / ncols)
    fig, axs = plt.subplots(nrows, ncols, squeeze=False, dpi=DPI, layout="constrained",
                            figsize=(width * ncols + 1.8, 3.3 * nrows + 0.9))
    for ax in axs.flat[len(metrics):]:
        ax.set_visible(False)
    step = 0.7 / max(1, len(shown))
    for ax, m in zip(axs.flat, metrics):
        for k, v in enumerate(shown):
            rows = [next((r for r in c.rows if r["metric"] == m and str(r[c.by]) == v and
                          tuple(r.get(o) for o in c.others) == p), None) for p in points]
            xs = np.arange(len(points)) + (k - (len(shown) - 1) / 2) * step
            ys = np.array([np.nan if r is None or r["difference"] is None else r["difference"] for r in rows])
            err = np.array([np.nan if r is None or r["ci95"] is None else r["ci95"] for r in rows])
            decided = np.isfinite(err)
            ax.errorbar(xs[decided], ys[decided], yerr=err[decided], fmt="o", ms=5, capsize=3, lw=1.2,
                        color=colour[v], label=v if m == metrics[0] else None)
            if (~decided & np.isfinite(ys)).any():
                ax.plot(xs[~decided], ys[~decided], "o", ms=6, mfc="white", color=colour[v])
        ax.axhline(0.0, color="0.3", lw=1, zorder=0)
        ax.set_xticks(range(len(points)), [", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in p)
                                           for p in points] if c.others else [""],
                      rotation=30 if len(points) > 6 else 0, fontsize=8, ha="right" if len(points) > 6 else "center")
        ax.set_xlim(-0.6, len(points) - 0.4)
        label = metric_label(m)
        unit = label[label.rindex("("):] if label.endswith(")") else ""
        unit = unit if len(unit) <= 20 else ""          # a unit, not an explanation (that is the title)
        ax.set(title=label, ylabel=f"difference from {c.baseline} {unit}".strip(), xlabel=", ".join(c.others))
        ax.grid(True, axis="y", alpha=0.3)
    key = "policy" if c.by == "policy" else c.by
    fig.legend(loc="outside right upper", fontsize=8, title=f"{key} − {c.baseline}", title_fontsize=8)
    fig.suptitle(f"{c.name}: paired differences from {c.baseline} (bars: 95 % interval over replications paired "
                 "by index, common random numbers)", fontsize=10, x=0.01, ha="left")
    if any(r["ci95"] is None and r["difference"] is not None for r in c.rows if r["metric"] in metrics):
        fig.supxlabel("hollow markers: fewer than two pairs where the metric is defined, no interval",
                      fontsize=7, x=0.01, ha="left")
    return fig


def draw_compare(directory: Path, comparison: Comparison, metrics: Sequence[str] | None,
                 fmt: str = "png") -> Path | None:
    """Write plots/compare.<fmt> (png, svg or pdf); None when no metric differs anywhere (nothing to draw)."""
    chosen = plotted(comparison, metrics)
    if not chosen:
        return None
    fig = compare_plot(comparison, chosen)
    try:
        return save(fig, Path(directory) / "plots" / f"{Path(NAME).stem}.{fmt}")
    finally:
        plt.close(fig)


__all__ = ["NAME", "compare_plot", "draw_compare", "plotted"]
