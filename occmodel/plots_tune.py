"""The tuning plot: what the objective costs in amplification, trial by trial.

Each trial is a point at (attempts per operation, objective) with 95 % interval bars on both
axes; feasible trials (every constraint holds on its interval) are filled, the others hollow
grey. Constraints on amplification or on the objective are drawn as lines with the infeasible
side shaded, so the feasible region is visible; the Pareto front of the feasible trials (less
amplification and a better objective) is a step line, the chosen best a star.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from occmodel.plotbase import DPI, save  # noqa: E402
from occmodel.plots import NAMES  # noqa: E402
from occmodel.stats import LOW_SUCCESS  # noqa: E402
from occmodel.tune import Trial, TuneSpec  # noqa: E402

X = "attempts_per_op"


def axis_label(metric: str) -> str:
    """A metric's axis label with its unit."""
    if metric in NAMES:
        return NAMES[metric][1]
    if metric.endswith("_ms"):
        return f"{metric[:-3].replace('_', ' ')} latency of successful operations (ms)"
    return metric.replace("_", " ") + (" (s)" if metric.endswith("_s") else "")


def _front(spec: TuneSpec, trials: Sequence[Trial]) -> list[tuple[float, float]]:
    """Feasible trials no other feasible trial beats on both amplification and objective."""
    sign = 1.0 if spec.direction == "minimize" else -1.0
    pts = sorted((t.summary[X], t.objective) for t in trials
                 if t.feasible and t.objective is not None and t.summary.get(X) is not None)
    front, best = [], math.inf
    for x, y in pts:
        if sign * y < best:
            front.append((x, y))
            best = sign * y
    return front


def pareto_plot(spec: TuneSpec, trials: Sequence[Trial], chosen: Trial | None, title: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=DPI, layout="constrained")
    y = spec.objective
    for feasible in (False, True):
        group = [t for t in trials if t.feasible == feasible and t.objective is not None and t.summary.get(X) is not None]
        if not group:
            continue
        xs, ys = [t.summary[X] for t in group], [t.objective for t in group]
        xe = [t.summary[f"{X}_ci95"] or 0.0 for t in group]
        ye = [t.summary[f"{y}_ci95"] or 0.0 for t in group]
        ax.errorbar(xs, ys, xerr=xe, yerr=ye, fmt="o", ms=5, capsize=2, lw=0.8,
                    color="tab:blue" if feasible else "0.6", mfc="tab:blue" if feasible else "none",
                    label=f"feasible trials ({len(group)})" if feasible else f"infeasible trials ({len(group)})")
    front = _front(spec, trials)
    if len(front) > 1:
        ax.step(*zip(*front), where="post", color="tab:blue", lw=1, alpha=0.6, label="Pareto front (feasible)")
    if chosen is not None:
        ax.plot(chosen.summary[X], chosen.objective, "*", ms=16, color="tab:red", mec="k",
                label=f"best: trial {chosen.number}")
    shaded = False
    for b in spec.constraints:
        lim = b.limits[0]
        if lim.metric not in (X, y):
            continue
        vertical = lim.metric == X
        (ax.axvline if vertical else ax.axhline)(lim.value, color="tab:red", ls="--", lw=1)
        lo, hi = (ax.get_xlim() if vertical else ax.get_ylim())
        span = (lim.value, max(hi, lim.value)) if lim.op in ("<", "<=") else (min(lo, lim.value), lim.value)
        (ax.axvspan if vertical else ax.axhspan)(*span, color="tab:red", alpha=0.08, lw=0,
                                                   label=None if shaded else "infeasible side of a constraint")
        (ax.set_xlim if vertical else ax.set_ylim)(lo, hi)
        shaded = True
    low = [t for t in trials if y.endswith("_ms") and t.objective is not None and t.summary.get(X) is not None
           and isinstance(t.summary.get("success_rate"), float) and t.summary["success_rate"] < LOW_SUCCESS]
    for t in low:      # success-only latency of a trial that often fails: never read without its success rate
        ax.annotate(f"{t.summary['success_rate']:.2f}!", (t.summary[X], t.objective), xytext=(4, 4),
                    textcoords="offset points", fontsize=7, color="tab:red")
    if low:
        ax.text(0.01, 0.01, f"r!: success rate r < {LOW_SUCCESS:g}: that trial's {y} leaves out its failed "
                "operations", transform=ax.transAxes, fontsize=7, color="tab:red")
    others = [b.limits[0].text for b in spec.constraints if b.limits[0].metric not in (X, y)]
    ax.set(xlabel=axis_label(X) + " (amplification)", ylabel=f"{axis_label(y)} — {spec.direction}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, title=("also required: " + ", ".join(others)) if others else None, title_fontsize=8)
    ax.set_title(f"{title}: {y} vs amplification over {len(trials)} trials (bars: 95 % CI)", fontsize=10)
    return fig


def draw_pareto(path: Path, spec: TuneSpec, trials: Sequence[Trial], chosen: Trial | None, title: str) -> Path:
    """Save the tuning plot at `path`, in the format its suffix names (png, svg or pdf)."""
    fig = pareto_plot(spec, trials, chosen, title)
    try:
        return save(fig, path)
    finally:
        plt.close(fig)
