"""Plots from a results directory: the figures a performance engineer reaches for first.

`occmodel plot DIR` works from the saved files alone, so every choice is made from what the
directory holds. What the experiment compares is the series (lines, colours, legend): the policy
when swept, else the first categorical swept key (e.g. `network.pipelining`), so the alternatives
share a panel. A numeric sweep gets line plots (95 % bands, log x across a decade, one panel per
combination of the remaining keys, one y scale for all); a single point gets bar charts. Latency
gets a CCDF on log-log axes (retry patterns differ in the tail); faults, a rate schedule or breaker
activity get a time series (`plots_timeseries`). A figure is drawn only when its data are not all
zero or missing; each series keeps its colour everywhere. `build_figures` returns the figures
unsaved (tests inspect them); `draw` saves them with an `index.md` saying what each one shows.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from occmodel.errors import ConfigError  # noqa: E402
from occmodel.plotbase import (DPI, FORMATS, LOW_SUCCESS, LOW_SUCCESS_NOTE, Plot, Results,  # noqa: E402
                               bound_metrics, describe, focus_point, is_batch, load, log_axis, low_success, matches,
                               number, replications_text, save, seconds, series_label)
from occmodel.plots_keys import keys_plot  # noqa: E402
from occmodel.plots_map import heatmap_plots  # noqa: E402
from occmodel.plots_timeseries import timeseries_plot  # noqa: E402
from occmodel.results import read_json, write_atomic  # noqa: E402

MAX_PANELS = 6
LOG_SPAN = 50          # a positive metric spanning this factor or more gets a log y axis
BAND_FLOOR = 0.25      # on log axes a CI band reaching 0 or below is cut at this fraction of the mean
LATENCY = (("p50_ms", "p50", "-"), ("p99_ms", "p99", "--"), ("p999_ms", "p99.9", ":"),
           ("all_p99_ms", "p99, all outcomes", "-."))
NAMES = {  # metric: (name in titles, axis label with unit)
    "throughput": ("throughput", "throughput (successful ops/s)"),
    "attempts_per_op": ("store calls per operation", "store calls per operation (attempts_per_op)"),
    "conflict_rate": ("conflict rate", "conflict rate (conflicted / all attempts)"),
    "success_rate": ("success rate", "success rate (fraction of operations)"),
    "cache_hit_rate": ("cache hit rate", "value-check cache hit rate (fraction)"),
    "makespan_s": ("makespan", "makespan (s)"), "calls": ("commit attempts", "commit attempts (calls)"),
    "latency": ("latency", "latency (ms); p50–p99.9: successes only"),
    "ccdf": ("", "latency of successful operations (ms)"),
    "errors": ("store errors", "store errors (failed calls per run)"),
    "rejected": ("rejected operations", "rejected operations (fast-failed, per run)"),
    "gave_up": ("operations given up", "operations given up (per run)"),
    "timeouts": ("timeouts", "timed-out attempts (per run)"),
    "breaker_open_fraction": ("breaker open", "breakers open (fraction of the window)"),
    "breaker_transitions": ("breaker transitions", "breaker state changes (per run)"),
    "store_utilization": ("store utilization", "commit server utilization (fraction busy)"),
    "collapsed": ("collapsed", "runs collapsed (fraction of replications)"),
    "recovery_s": ("recovery time", "recovery after the last disturbance (s)"),
    "offered": ("offered load", "offered load (operations started/s)"),
}
FRACTIONS = {"conflict_rate", "success_rate", "cache_hit_rate", "breaker_open_fraction", "store_utilization",
             "collapsed"}
CONFLICT_NOISE = 0.05  # conflicts on fewer attempts than this everywhere are not what an experiment is about


def _cols(metric: str) -> tuple[tuple[str, str, str], ...]:
    return LATENCY if metric == "latency" else ((metric, "", "-"),)


def _metrics(res: Results) -> list[str]:
    """What to plot: the workload's output measure, amplification, latency, conflicts (when more
    than CONFLICT_NOISE of attempts conflict somewhere), failures (success rate, store errors,
    rejections), the value-check cache, and every metric the experiment's bounds judge; only metrics with some non-zero value (an all-zero
    figure says nothing)."""
    claimed = ["latency" if any(m == c for c, _, _ in LATENCY) else m for m in bound_metrics(res)]
    wanted = [*(["makespan_s", "calls"] if is_batch(res) else ["throughput"]), "attempts_per_op", "latency"]
    if "conflict_rate" in claimed or any(np.nan_to_num(number(r, "conflict_rate")) >= CONFLICT_NOISE
                                         for r in res.summary):
        wanted.append("conflict_rate")
    if any(number(r, "success_rate") < 0.9995 for r in res.summary):
        wanted.append("success_rate")
    wanted += ["cache_hit_rate", "errors", "rejected", *(m for m in claimed if m in NAMES or m.endswith("_ms"))]
    return [m for m in dict.fromkeys(wanted)
            if any(np.nan_to_num(number(r, c)) != 0 for r in res.summary for c, _, _ in _cols(m))]


def _names(metric: str) -> tuple[str, str]:
    """A metric's title and axis label; a latency metric outside LATENCY (mean_ms, p90_ms) by its name."""
    return NAMES.get(metric) or (metric.replace("_", " "), f"{metric[:-3].replace('_', ' ')} latency (ms)")


def _legend(fig: Figure, res: Results, shown: list[str | None], metric: str = "",
            relabel: dict[str, str] | None = None) -> None:
    h = [Line2D([], [], color=res.colours[s], lw=2, label=series_label(res, s)) for s in shown if s is not None]
    h += [Line2D([], [], color="0.3", ls=ls, label=(relabel or {}).get(col, lab)) for col, lab, ls in LATENCY
          if metric == "latency" and any(np.isfinite(number(r, col)) for r in res.summary)]
    if h:
        fig.legend(handles=h, loc="outside right upper", fontsize=8)


def _panels(n: int, width: float = 5.0, sharey: bool = False) -> tuple[Figure, list[Any]]:
    ncols = min(3, n)
    fig, axs = plt.subplots(math.ceil(n / ncols), ncols, squeeze=False, dpi=DPI, layout="constrained",
                            sharey=sharey, figsize=(width * ncols + 1.8, 3.4 * math.ceil(n / ncols) + 0.6))
    for ax in axs.flat[n:]:
        ax.set_visible(False)
    return fig, list(axs.flat[:n])


def _contexts(res: Results, x: str) -> tuple[list[dict[str, Any]], str]:
    """Panels for a sweep over `x`: each combination of the other swept keys but the series (the
    extremes of the numeric ones when there are too many to show)."""
    others = [k for k in res.keys if k != x]
    combos = list(dict.fromkeys(tuple(r.get(k) for k in others) for r in res.summary))
    if len(combos) <= MAX_PANELS:
        return [dict(zip(others, c)) for c in combos], ""
    ends = {k: {min(vs, key=seconds), max(vs, key=seconds)} if k in res.axes else set(vs)
            for k, vs in res.keys.items()}
    shown = [c for c in combos if all(v in ends[k] for k, v in zip(others, c))][:MAX_PANELS]
    return ([dict(zip(others, c)) for c in shown],
            f"; {len(shown)} of {len(combos)} panels, other keys at their extremes")


def _log_y(res: Results, metric: str) -> bool:
    """Latency always; another positive metric when it spans LOG_SPAN or more (one slow policy would
    otherwise flatten the rest against the axis)."""
    ys = [number(r, c) for r in res.summary for c, _, _ in _cols(metric)]
    ys = [y for y in ys if np.isfinite(y)]
    return metric == "latency" or (metric not in FRACTIONS and bool(ys) and min(ys) > 0
                                   and max(ys) / min(ys) >= LOG_SPAN)


def _band(ys: np.ndarray, ci: np.ndarray, metric: str, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """A 95 % band kept where the metric can be: ≥ 0, ≤ 1 for fractions, and on log axes cut at
    BAND_FLOOR × mean rather than plunging to the bottom of the plot."""
    lo, hi = ys - ci, ys + ci
    lo = np.maximum(lo, ys * BAND_FLOOR) if log else np.maximum(lo, 0.0)
    return lo, np.minimum(hi, 1.0) if metric in FRACTIONS else hi


MAX_LINES = 8          # latency lines (series × percentiles) one panel holds before it splits per series
MAX_SPLIT = 12         # ... unless that would make more panels than this
MANY_BARS = 6          # more bars than this in a group: their labels are set at 45°
TICK_GAP = 0.07        # tick labels of swept values closer than this fraction of the axis would overlap


def tick_labels(values: list[float], log: bool) -> list[str]:
    """Labels for ticks at exactly the swept values, blank where one would run into its neighbour
    (0.95 and 0.99 beside 1.0 read "0.99.951"); the ends are always labelled."""
    pos = np.log10(values) if log else np.asarray(values, dtype=float)
    span = (pos.max() - pos.min()) or 1.0
    frac = (pos - pos.min()) / span
    keep = [0]
    for i in range(1, len(values)):
        if frac[i] - frac[keep[-1]] >= TICK_GAP:
            keep.append(i)
    if keep[-1] != len(values) - 1:                   # the last value wins over the one crowding it
        if len(keep) > 1 and frac[-1] - frac[keep[-1]] < TICK_GAP:
            keep.pop()
        keep.append(len(values) - 1)
    return [f"{v:g}" if i in keep else "" for i, v in enumerate(values)]


def _line_panels(res: Results, contexts: list[dict[str, Any]], metric: str) -> list[tuple[dict[str, Any], list[Any]]]:
    """(point, series) per panel: every series together, or small multiples (one panel per series)
    when latency's percentile lines would crowd one panel past MAX_LINES."""
    cols = [c for c, _, _ in _cols(metric) if any(np.isfinite(number(r, c)) for r in res.summary)]
    crowded = metric == "latency" and len(res.series) > 1 and len(res.series) * len(cols) > MAX_LINES
    if crowded and len(contexts) * len(res.series) <= MAX_SPLIT:
        return [(fixed, [s]) for fixed in contexts for s in res.series]
    return [(fixed, list(res.series)) for fixed in contexts]


def _line_plot(res: Results, x: str, metric: str) -> Plot:
    contexts, note = _contexts(res, x)
    panels = _line_panels(res, contexts, metric)
    split = len(panels) > len(contexts)
    fig, axs = _panels(len(panels), sharey=True)
    log_y, shown, lows, hollow, hidden, identical = _log_y(res, metric), set(), [], 0, 0, 0
    xs_all = [seconds(v) or 0.0 for v in res.keys[x]]
    unit = " (s)" if any(isinstance(v, str) for v in res.keys[x]) else " (ops/s)" * x.endswith("rate")
    for i, (ax, (fixed, series)) in enumerate(zip(axs, panels)):
        seen: dict[tuple[Any, ...], str | None] = {}               # a series' values -> the first with them
        hidden_by: list[str] = []
        for s in series:
            pts = sorted((r for r in res.summary if matches(res, r, fixed, s)), key=lambda r: seconds(r[x]))
            xs = np.array([seconds(r[x]) for r in pts])
            values = tuple(number(r, c) for r in pts for c, _, _ in _cols(metric))
            if len(series) > 1 and np.isfinite(values).any():
                if values in seen:                                  # drawn exactly over an earlier line
                    hidden_by.append(f"{series_label(res, s)} = {series_label(res, seen[values])}")
                seen.setdefault(values, s)
            for col, _, ls in _cols(metric):
                ys, ci = (np.array([number(r, c) for r in pts]) for c in (col, f"{col}_ci95"))
                if not np.isfinite(ys).any():
                    continue                                         # e.g. no cache for `append`
                if col == "all_p99_ms" and np.array_equal(ys, [number(r, "p99_ms") for r in pts], equal_nan=True):
                    hidden += 1                                      # every operation succeeded: the p99 line
                    continue
                shown.add(s)
                ax.plot(xs, ys, ls=ls, marker="o", ms=3, color=res.colours[s])
                low = np.array([metric == "latency" and low_success(r) for r in pts], dtype=bool)
                if low.any():                                        # hollow over the filled marker
                    ax.plot(xs[low], ys[low], ls="", marker="o", ms=6, mfc="white", mew=1.4, color=res.colours[s])
                if col == "p50_ms":                                  # the success rate beside the latency
                    hollow += int(low.sum())
                    for xv, yv, r in zip(xs[low], ys[low], [r for r, f in zip(pts, low) if f]):
                        ax.annotate(f"{number(r, 'success_rate'):.2f}", (xv, yv), xytext=(4, -9),
                                    textcoords="offset points", fontsize=6, color=res.colours[s])
                lo, hi = _band(ys, ci, metric, log_y)
                lows += [*ys, *lo]
                if res.replications > 1 and col not in ("p50_ms", "p999_ms", "all_p99_ms") and np.isfinite(ci).any():
                    ax.fill_between(xs, lo, hi, color=res.colours[s], alpha=0.15, lw=0)  # latency: p99 only
        if hidden_by:                                               # say which lines lie on which
            identical += len(hidden_by)
            ax.text(0.02, 0.98, "identical here: " + "; ".join(hidden_by), transform=ax.transAxes, fontsize=7,
                    va="top", ha="left", color="0.25", bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
        ax.set(xlabel=x + unit, ylabel=_names(metric)[1] if i % 3 == 0 else "")
        title = ", ".join(filter(None, [series_label(res, series[0]) if split else "", describe(fixed) if fixed else ""]))
        ax.set_title(title, fontsize=10, color=res.colours[series[0]] if split else "black")
        log_x = min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10  # never with a 0 among the values
        if log_x:
            log_axis(ax.xaxis)
        if len(xs_all) <= 8:                                         # tick exactly the swept values
            ax.set_xticks(xs_all, tick_labels(xs_all, log_x))
            ax.xaxis.set_minor_locator(NullLocator())
        ax.grid(True, alpha=0.3)
    if log_y:                                                        # one y axis shared by all panels
        log_axis(axs[0].yaxis)
        axs[0].set_ylim(bottom=min((y for y in lows if y > 0), default=1.0) / 1.5)
    drawn = sum(len(series) for _, series in panels)                 # series lines that could carry all_p99
    _legend(fig, res, [s for s in res.series if s in shown], metric,
            {"all_p99_ms": "p99, all outcomes:\n= p99 (all succeeded)" if hidden >= drawn else
             "p99, all outcomes\n(drawn where ≠ p99)"} if hidden else None)
    bands = f", 95 % CI bands over {replications_text(res)}" if res.replications > 1 else ""
    if log_y:
        bands = f", log y{bands}{f' (cut at {BAND_FLOOR:g}× the mean)' if bands else ''}"
    fig.suptitle(f"{res.name}: {_names(metric)[0]} vs {x}{note}", fontsize=10, x=0.01, ha="left")
    if metric == "latency":
        fig.supxlabel(LOW_SUCCESS_NOTE + "\nthe number beside a hollow p50 is the success rate" if hollow else
                      f"every point: success rate ≥ {LOW_SUCCESS:g}", fontsize=7, x=0.01, ha="left")
    series = (f"one panel per {res.by} (small multiples: too many lines for one panel)" if split else
              f"one line per {res.by}" if res.by else "one series")
    facets = ", panels share the y axis" if len(panels) > 1 else ""
    flagged = f"; {hollow} points with success rate < {LOW_SUCCESS:g} drawn hollow" if hollow else ""
    flagged += f"; {identical} series identical to another in a panel (named there: one line hides the other)" \
        if identical else ""
    return Plot(f"{metric}-vs-{re.sub(r'[^A-Za-z0-9]+', '_', x)}.png",
                f"{_names(metric)[1].capitalize()} against {x}, {series}{facets}{bands}"
                f"{' (p99 only)' if bands and metric == 'latency' else ''}{flagged}{note}.", fig)


def _bar_plot(res: Results) -> Plot:
    """One panel per metric; bars grouped by point (and percentile), one bar per series."""
    metrics = _metrics(res)
    fig, axs = _panels(len(metrics), width=4.0)
    points = [dict(zip(res.keys, c))
              for c in dict.fromkeys(tuple(r.get(k) for k in res.keys) for r in res.summary)]
    n = len(res.series)
    bar = 0.8 / max(n, 2)
    hollow = undefined = 0
    for ax, metric in zip(axs, metrics):
        groups = [(f, col, lab) for f in points for col, lab, _ in _cols(metric)]
        for i, s in enumerate(res.series):
            rows = [next((r for r in res.summary if matches(res, r, f, s)), {}) for f, _, _ in groups]
            vals, errs = ([number(r, c + sfx) for r, (_, c, _) in zip(rows, groups)] for sfx in ("", "_ci95"))
            at = np.arange(len(groups)) + (i - (n - 1) / 2) * bar
            v, e = np.array(vals), np.nan_to_num(errs)
            low = np.minimum(e, np.where(v >= 0, v, e))              # a count or time cannot go below 0
            bars = ax.bar(at, vals, bar * 0.9, yerr=np.vstack([low, e]) if res.replications > 1 else None,
                          capsize=3, color=res.colours[s])
            for x, value, r in zip(at, vals, rows):                  # say why a bar is missing
                if r and not np.isfinite(value):
                    undefined += 1
                    ax.annotate("undefined", (x, 0), xytext=(0, 3), textcoords="offset points", rotation=90,
                                ha="center", va="bottom", fontsize=7, color=res.colours[s])
            if metric == "latency":                                  # hollow: success rate < LOW_SUCCESS
                for patch, r, (_, col, _) in zip(bars, rows, groups):
                    if r and low_success(r):
                        hollow += 1
                        patch.set(facecolor="white", edgecolor=res.colours[s], hatch="//", lw=1.2)
                        if col == "p50_ms":
                            ax.annotate(f"{number(r, 'success_rate'):.2f}",
                                        (patch.get_x() + patch.get_width() / 2, patch.get_height()),
                                        xytext=(0, 2), textcoords="offset points", fontsize=6, rotation=90,
                                        ha="center", va="bottom")
        if len(groups) == 1:                                         # label the bars themselves
            steep = {"rotation": 45, "ha": "right", "rotation_mode": "anchor"} if n > MANY_BARS else {"rotation": 20}
            ax.set_xticks((np.arange(n) - (n - 1) / 2) * bar, [str(s or "") for s in res.series], fontsize=8,
                          **steep)                               # many labels: steeper, so they do not run together
        else:
            ax.set_xticks(range(len(groups)), [f"{lab}\n{', '.join(map(str, f.values()))}".strip()
                                               for f, _, lab in groups], fontsize=7)
        ax.set_xlim(-0.5, len(groups) - 0.5)                       # missing bars keep their place
        by = res.by if res.by != "policy" and len(groups) == 1 else ""
        ax.set(xlabel=", ".join(res.keys) or by, ylabel=_names(metric)[1])
        if metric == "latency":
            log_axis(ax.yaxis)
        ax.grid(True, axis="y", alpha=0.3)
    _legend(fig, res, res.series)
    errbars = f", error bars: 95 % CI over {replications_text(res)}" if res.replications > 1 else ""
    where = "each point" if res.keys else "the only point"
    fig.suptitle(f"{res.name}: {res.by or 'results'} compared at {where}{errbars}", fontsize=10, x=0.01,
                 ha="left")
    note = f"; latency bars hatched and hollow where success rate < {LOW_SUCCESS:g}" if hollow else ""
    notes = [f"hatched hollow latency bars: success rate < {LOW_SUCCESS:g} (the number above is the "
             "success rate)"] * bool(hollow)
    notes += ["undefined: the metric has no value there in any replication (e.g. recovery_s of a run that "
              "never recovered)"] * bool(undefined)
    if notes:
        fig.supxlabel("\n".join(notes), fontsize=7, x=0.01, ha="left")
    return Plot("bars.png", f"Bar chart per {res.by or 'point'} (no numeric sweep): "
                f"{', '.join(_names(m)[0] for m in metrics)}{errbars}{note}.", fig)


def _ccdf_plot(res: Results) -> Plot | None:
    focus = focus_point(res)
    fig, ax = plt.subplots(figsize=(10.0, 4.6), dpi=DPI, layout="constrained")
    floor, flagged = 1.0, 0
    first: dict[tuple[Any, ...], tuple[str | None, Line2D]] = {}   # histogram -> the series first drawn with it
    twins: list[tuple[str | None, str | None]] = []
    for s in res.series:
        pts = sorted((r["le_ms"], r["count"]) for r in res.latency if matches(res, r, focus, s))
        counts = np.array([c for _, c in pts], dtype=float)
        if counts.sum() <= 0:
            continue
        tail = 1.0 - np.cumsum(counts) / counts.sum()              # P(latency > upper edge of bucket i)
        ys = np.column_stack([np.concatenate(([1.0], tail[:-1])), tail]).ravel()   # drop at each edge
        row = next((r for r in res.summary if matches(res, r, focus, s)), {})
        low = low_success(row)
        flagged += low
        key = tuple((e, c) for e, c in pts if c)      # the histogram, empty buckets or not
        same = first.get(key)
        if same:                                     # an identical curve would hide the first: say so, show both
            twins.append((same[0], s))
            same[1].set(lw=4.5, alpha=0.6)
        [line] = ax.plot(np.repeat([e for e, _ in pts], 2), np.maximum(ys, 1e-12), color=res.colours[s],
                         lw=1.3 if same else 1.6, ls=(0, (4, 2)) if low else "-", zorder=3 if same else 2,
                         label=f"{series_label(res, s) + ' ' if s else ''}(n={int(counts.sum())}, "
                               f"success {number(row, 'success_rate'):.3f}{'!' if low else ''})"
                               + (f"\n  identical to {series_label(res, same[0])}" if same else ""))
        first.setdefault(key, (s, line))
        floor = min(floor, 0.5 / counts.sum())
    if not ax.lines:
        plt.close(fig)
        return None
    log_axis(ax.xaxis)
    log_axis(ax.yaxis)
    ax.set(ylim=(floor, 1.5), xlabel=NAMES["ccdf"][1], ylabel="P(latency > x)  (1 − CDF)")
    for p, lab in ((0.5, "p50"), (1e-2, "p99"), (1e-3, "p99.9")):
        if p > floor:
            ax.axhline(p, color="0.6", lw=0.7, ls=":")
            ax.annotate(lab, (1.0, p), xycoords=("axes fraction", "data"), fontsize=7, color="0.4",
                        ha="right", va="bottom")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))   # beside the curves, never over them
    ax.set_title(f"{res.name}: latency CCDF at {describe(focus)}", fontsize=10)
    note = (f"; dashed: success rate < {LOW_SUCCESS:g}, the curve leaves out the failed operations" if flagged
            else "")
    if twins:
        note += "; identical curves (" + ", ".join(f"{series_label(res, b)} = {series_label(res, a)}" for a, b in twins) + \
            ") drawn thin over thick"
    notes = [f"dashed lines: success rate < {LOW_SUCCESS:g} (a curve of the successes only)"] * bool(flagged)
    notes += [f"{series_label(res, b)} has exactly the latencies of {series_label(res, a)}: the thin line lies "
              "on the thick one" for a, b in twins]
    if notes:
        fig.supxlabel("\n".join(notes), fontsize=7, x=0.01, ha="left")
    return Plot("latency-ccdf.png", f"Complementary CDF of successful-operation latency per "
                f"{res.by or 'run'} at {describe(focus)}, log-log (replications pooled), success rate in the "
                f"legend{note}.", fig)


def build_figures(results: Path | Results) -> list[Plot]:
    """Every figure that fits the results, unsaved (the caller closes them)."""
    res = results if isinstance(results, Results) else load(results)
    plots: list[Plot | None] = []
    if res.summary and res.axes:
        plots += [_line_plot(res, x, m) for x in res.axes for m in _metrics(res)]
        plots += heatmap_plots(res)
    elif _metrics(res):
        plots.append(_bar_plot(res))
    if res.latency:
        plots.append(_ccdf_plot(res))
    if res.timeseries:
        plots.append(timeseries_plot(res))
    if res.key_rows:
        plots.append(keys_plot(res))
    return [p for p in plots if p is not None]


def latency_table(res: Results) -> list[str]:
    """index.md's table of latency beside success rate, one row per point, low success flagged."""
    if not any(np.isfinite(number(r, "success_rate")) for r in res.summary):
        return []
    cols = [*([res.by] if res.by else []), *(k for k in res.keys if k != res.by)]
    head = [*cols, "success rate", "p50 ms", "p99 ms", "all-outcome p99 ms", "censored"]
    lines = ["", "## Latency beside success rate", "",
             f"p50 and p99 cover successful operations only, all-outcome p99 every finished one; "
             f"**!** marks a success rate below {LOW_SUCCESS:g}, where the success-only latency leaves out "
             "the failures (means over replications).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in res.summary:
        rate = number(r, "success_rate")
        cells = [str(r.get(c, "")) for c in cols] + [f"{rate:.3f}" + (" **!**" if low_success(r) else "")]
        cells += [f"{number(r, m):.4g}" for m in ("p50_ms", "p99_ms", "all_p99_ms")]
        cells.append(f"{number(r, 'censored'):.4g}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def precision_table(manifest: dict[str, Any]) -> list[str]:
    """index.md's table of `replications = "auto"`: per point n and each metric's half-width /
    |mean|; **max** marks a point stopped at the limit without the precision asked."""
    rule = manifest.get("precision")
    if not rule:
        return []
    head = ["point", "n", *(f"{m} ±" for m in rule["metrics"]), "reached"]
    lines = ["", "## Replications until precise", "",
             f"Each point ran replications until the 95 % half-width of {', '.join(rule['metrics'])} was within "
             f"{rule['relative']:.3g} × |mean| (then {rule['lookahead']} more to confirm; min {rule['min']}, "
             f"max {rule['max']}); **max** marks a point stopped at the limit without it.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for p in rule["points"]:
        widths = ["—" if w is None else f"{w:.1%}" for w in p["relative_ci95"].values()]
        where = ", ".join(f"{k}={v}" for k, v in p["point"].items()) or "the only point"
        lines.append("| " + " | ".join([where, str(p["n"]), *widths, "yes" if p["reached"] else "**max**"]) + " |")
    return lines


def warmup_lines(manifest: dict[str, Any]) -> list[str]:
    """index.md's note of the warm-up: what MSER-5 found per run ("auto"), or the points where an
    explicit warm-up is shorter than what it finds on the first replication."""
    w = manifest.get("warmup") or {}
    points = w.get("points", [])
    if w.get("mode") == "auto":
        found = [s for p in points for s in p["s"]]
        unsettled = sum(len(p["unsettled"]) for p in points)
        note = f"; in {unsettled} run(s) the transient had not ended by half the pilot" if unsettled else ""
        return ["", "## Warm-up", "", f"warmup = \"auto\": MSER-5 on each run's {w['pilot_s']:g} s pilot "
                f"({', '.join(w['series'])} per {w['pilot_bin_s']:g} s bin) truncated {min(found):.3g}–"
                f"{max(found):.3g} s{note}; each run measured a full window after its own warm-up."]
    short = [p for p in points if p.get("shorter")] if w.get("explicit") else []
    if not short:
        return []
    return ["", "## Warm-up", "", f"**warning**: warmup = {w['s']:g} s is shorter than the warm-up MSER-5 finds on "
            "the first replication at " + "; ".join(f"{', '.join(f'{k}={v}' for k, v in p['point'].items()) or 'the only point'}"
                                                     f" ({p['mser5_s']:.3g} s)" for p in short) + "."]


def draw(results_dir: Path, fmt: str = "png") -> list[Path]:
    """Write `plots/*.<fmt>` (png, svg or pdf) and `index.md` (one line per plot) into a results
    directory; return the plot paths. Plots of an earlier drawing that no longer apply (or were
    drawn in another format) are removed, but only those the earlier index lists: a file occmodel
    did not write is never deleted."""
    if fmt not in FORMATS:
        raise ConfigError("--format", fmt, f"expected one of: {', '.join(FORMATS)}")
    out, res = Path(results_dir) / "plots", load(results_dir)
    index = Path(results_dir) / "index.md"
    suffixes = "|".join(FORMATS)
    ours = set(re.findall(rf"\]\(plots/([^)]+\.(?:{suffixes}))\)", index.read_text(errors="replace"))) \
        if index.exists() else set()
    paths, lines = [], [f"# Plots for {res.name}", ""]
    for plot in build_figures(res):
        name = f"{Path(plot.name).stem}.{fmt}"
        paths.append(save(plot.figure, out / name))
        plt.close(plot.figure)
        lines.append(f"- [{name}](plots/{name}): {plot.caption}")
    lines += latency_table(res)
    manifest = read_json(Path(results_dir) / "manifest.json") if (Path(results_dir) / "manifest.json").exists() else {}
    lines += precision_table(manifest) + warmup_lines(manifest)
    for stale in {f for f in out.glob("*") if f.suffix.lstrip(".") in FORMATS} - set(paths):
        if stale.name in ours:
            stale.unlink()
    write_atomic(Path(results_dir) / "index.md", "\n".join(lines) + "\n")
    return paths
