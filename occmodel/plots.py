"""Plots from a results directory: the figures a performance engineer reaches for first.

`occmodel plot DIR` must work from the saved files alone, long after the run, so every choice is
made from what the directory holds. The swept columns pick the axes: a numeric sweep gets line
plots (one line per policy, 95 % bands, log x across a decade, one panel per combination of the
other swept keys); a single point gets bar charts instead, since a line through one point says
nothing. Latency gets a CCDF on log-log axes, because retry patterns differ in the tail, not the
median. Faults, a rate schedule or breaker/rejection activity get a time series, because averages
hide the outage and the recovery. A figure is drawn only when its data exist, so none comes out
empty, and each policy keeps its colour in every figure. `build_figures` returns the figures
unsaved (tests inspect them); `draw` saves them with an `index.md` saying what each one shows.
"""
from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import LogFormatter, NullLocator  # noqa: E402

from occmodel.results import Row, read_csv, read_json, write_atomic, write_bytes_atomic  # noqa: E402

DPI = 110
MAX_PANELS = 6
LATENCY = (("p50_ms", "p50", "-"), ("p99_ms", "p99", "--"), ("p999_ms", "p99.9", ":"))
NAMES = {  # metric: (name in titles, axis label with unit)
    "throughput": ("throughput", "throughput (successful ops/s)"),
    "attempts_per_op": ("attempts per operation", "attempts per operation"),
    "conflict_rate": ("conflict rate", "conflict rate (conflicted / all attempts)"),
    "success_rate": ("success rate", "success rate (fraction of operations)"),
    "makespan_s": ("makespan", "makespan (s)"), "calls": ("commit attempts", "commit attempts (calls)"),
    "latency": ("latency p50/p99/p99.9", "latency of successful operations (ms)"),
}
SERIES = (("starts", "tab:blue"), ("successes", "tab:green"), ("retries", "tab:orange"),
          ("rejections", "tab:red"), ("timeouts", "tab:purple"))
FAULT_COLOURS = {"down": "tab:red", "slow": "tab:orange", "error": "tab:purple"}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*(us|µs|ms|s|m|h)\s*")
_UNIT = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class Plot(NamedTuple):
    name: str          # file name, e.g. "throughput-vs-workload_clients.png"
    caption: str       # its line in index.md
    figure: Figure


class Results(NamedTuple):
    name: str
    config: dict[str, Any]
    keys: dict[str, list[Any]]      # swept columns but `policy` that take ≥ 2 values, in order
    axes: list[str]                 # those of `keys` whose values are all numbers (or durations)
    policies: list[str | None]      # [None]: no policy column, one unlabelled series
    colours: dict[str | None, Any]
    replications: int
    summary: list[Row]
    timeseries: list[Row]
    latency: list[Row]


def _seconds(v: Any) -> float | None:
    """A number, or a duration string such as "250ms", in seconds; None for anything else."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    m = _DURATION.fullmatch(v) if isinstance(v, str) else None
    return float(m[1]) * _UNIT[m[2]] if m else None


def _value(row: Row, col: str) -> float:
    return np.nan if row.get(col) is None else float(row[col])


def _policy(row: Row) -> str | None:
    return None if row.get("policy") is None else str(row["policy"])


def _matches(row: Row, fixed: dict[str, Any], policy: str | None) -> bool:
    return _policy(row) == policy and all(row.get(k) == v for k, v in fixed.items())


def _describe(fixed: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fixed.items()) or "the only point"


def load(results_dir: Path) -> Results:
    d = Path(results_dir)
    rows = {n: read_csv(d / f"{n}.csv") if (d / f"{n}.csv").exists() else []
            for n in ("summary", "timeseries", "latency")}
    manifest = read_json(d / "manifest.json") if (d / "manifest.json").exists() else {}
    swept = manifest.get("swept", [])
    base = rows["summary"] or rows["timeseries"] or rows["latency"]
    values = {k: list(dict.fromkeys(r.get(k) for r in base)) for k in swept if k != "policy"}
    keys = {k: vs for k, vs in values.items() if len(vs) >= 2}
    axes = [k for k, vs in keys.items() if all(_seconds(v) is not None for v in vs)]
    policies = list(dict.fromkeys(_policy(r) for r in base)) if "policy" in swept else [None]
    cmap = plt.get_cmap("tab10" if len(policies) <= 10 else "tab20")
    reps = manifest.get("replications") or max((r.get("n") or 1 for r in rows["summary"]), default=1)
    return Results(manifest.get("name", d.name), manifest.get("config", {}), keys, axes, policies,
                   {p: cmap(i % cmap.N) for i, p in enumerate(policies)}, int(reps), **rows)


def _section(res: Results, *path: str) -> dict[str, Any]:
    node: Any = res.config
    for p in path:
        node = node.get(p) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _batch(res: Results) -> bool:
    return _section(res, "scenario", "workload").get("kind") == "batch"


def _cols(metric: str) -> tuple[tuple[str, str, str], ...]:
    return LATENCY if metric == "latency" else ((metric, "", "-"),)


def _metrics(res: Results) -> list[str]:
    """What to plot: the workload's output measure, amplification, latency, conflicts, failures."""
    wanted = [*(["makespan_s", "calls"] if _batch(res) else ["throughput"]), "attempts_per_op",
              "latency", "conflict_rate"]
    if any(_value(r, "success_rate") < 0.9995 for r in res.summary):
        wanted.append("success_rate")
    return [m for m in wanted if any(r.get(c) is not None for r in res.summary for c, _, _ in _cols(m))]


def _focus(res: Results) -> dict[str, Any]:
    """The point shown where one must be chosen: numeric keys at their largest value."""
    return {k: max(vs, key=_seconds) if k in res.axes else vs[0] for k, vs in res.keys.items()}


def _legend(fig: Figure, res: Results, metric: str = "") -> None:
    h = [Line2D([], [], color=res.colours[p], lw=2, label=p) for p in res.policies if p is not None]
    h += [Line2D([], [], color="0.3", ls=ls, label=lab) for _, lab, ls in LATENCY if metric == "latency"]
    if h:
        fig.legend(handles=h, loc="outside right upper", fontsize=8)


class _Plain(LogFormatter):
    """Log-axis tick labels as plain numbers: 40 and 0.01, not 4×10¹ and 1e-02."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


def _log(axis: Axis) -> None:
    getattr(axis.axes, f"set_{axis.axis_name}scale")("log")
    axis.set_major_formatter(_Plain())
    axis.set_minor_formatter(_Plain(minor_thresholds=(1, 0.4)))


def _panels(n: int, width: float = 5.0) -> tuple[Figure, list[Axes]]:
    ncols = min(3, n)
    fig, axs = plt.subplots(math.ceil(n / ncols), ncols, squeeze=False, dpi=DPI, layout="constrained",
                            figsize=(width * ncols + 1.8, 3.4 * math.ceil(n / ncols) + 0.6))
    for ax in axs.flat[n:]:
        ax.set_visible(False)
    return fig, list(axs.flat[:n])


def _contexts(res: Results, x: str) -> tuple[list[dict[str, Any]], str]:
    """Panels for a sweep over `x`: each combination of the other swept keys (the extremes of the
    numeric ones when there are too many to show)."""
    others = [k for k in res.keys if k != x]
    combos = list(dict.fromkeys(tuple(r.get(k) for k in others) for r in res.summary))
    if len(combos) <= MAX_PANELS:
        return [dict(zip(others, c)) for c in combos], ""
    ends = {k: {min(vs, key=_seconds), max(vs, key=_seconds)} if k in res.axes else set(vs)
            for k, vs in res.keys.items()}
    shown = [c for c in combos if all(v in ends[k] for k, v in zip(others, c))][:MAX_PANELS]
    return ([dict(zip(others, c)) for c in shown],
            f"; {len(shown)} of {len(combos)} panels, other keys at their extremes")


def _line_plot(res: Results, x: str, metric: str) -> Plot:
    contexts, note = _contexts(res, x)
    fig, axs = _panels(len(contexts))
    xs_all = [_seconds(v) or 0.0 for v in res.keys[x]]
    unit = " (s)" if any(isinstance(v, str) for v in res.keys[x]) else " (ops/s)" * x.endswith("rate")
    for ax, fixed in zip(axs, contexts):
        for pol in res.policies:
            pts = sorted((r for r in res.summary if _matches(r, fixed, pol)), key=lambda r: _seconds(r[x]))
            xs = np.array([_seconds(r[x]) for r in pts])
            for col, _, ls in _cols(metric):
                ys, ci = (np.array([_value(r, c) for r in pts]) for c in (col, f"{col}_ci95"))
                ax.plot(xs, ys, ls=ls, marker="o", ms=3, color=res.colours[pol])
                banded = col not in ("p50_ms", "p999_ms")          # latency: the p99 band alone stays legible
                if res.replications > 1 and banded and np.isfinite(ci).any():
                    lo = np.maximum(ys - ci, 1e-12) if metric == "latency" else ys - ci  # log axes: clip at 0
                    ax.fill_between(xs, lo, ys + ci, color=res.colours[pol], alpha=0.15, lw=0)
        ax.set(xlabel=x + unit, ylabel=NAMES[metric][1], title=_describe(fixed) if fixed else "")
        if min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10:
            _log(ax.xaxis)
        if len(xs_all) <= 8:                                         # tick exactly the swept values
            ax.set_xticks(xs_all, [f"{v:g}" for v in xs_all])
            ax.xaxis.set_minor_locator(NullLocator())
        if metric == "latency":
            _log(ax.yaxis)
            lows = [y for line in ax.lines for y in line.get_ydata() if y > 0]
            ax.set_ylim(bottom=min(lows, default=1.0) / 2)
        ax.grid(True, alpha=0.3)
    _legend(fig, res, metric)
    bands = f", 95 % CI bands over {res.replications} replications" if res.replications > 1 else ""
    fig.suptitle(f"{res.name}: {NAMES[metric][0]} vs {x}{note}", fontsize=10, x=0.01, ha="left")
    series = "one line per policy" if res.policies != [None] else "one series"
    return Plot(f"{metric}-vs-{re.sub(r'[^A-Za-z0-9]+', '_', x)}.png",
                f"{NAMES[metric][1].capitalize()} against {x}, {series}{bands}"
                f"{' (p99 only)' if bands and metric == 'latency' else ''}{note}.", fig)


def _bar_plot(res: Results) -> Plot:
    """One panel per metric; bars grouped by point (and percentile), one bar per policy."""
    metrics = _metrics(res)
    fig, axs = _panels(len(metrics), width=4.0)
    points = [dict(zip(res.keys, c))
              for c in dict.fromkeys(tuple(r.get(k) for k in res.keys) for r in res.summary)]
    npol = len(res.policies)
    bar = 0.8 / max(npol, 2)
    for ax, metric in zip(axs, metrics):
        groups = [(f, col, lab) for f in points for col, lab, _ in _cols(metric)]
        for i, pol in enumerate(res.policies):
            rows = [next((r for r in res.summary if _matches(r, f, pol)), {}) for f, _, _ in groups]
            vals, errs = ([_value(r, c + sfx) for r, (_, c, _) in zip(rows, groups)] for sfx in ("", "_ci95"))
            ax.bar(np.arange(len(groups)) + (i - (npol - 1) / 2) * bar, vals, bar * 0.9,
                   yerr=errs if res.replications > 1 else None, capsize=3, color=res.colours[pol])
        if len(groups) == 1:                                         # label the bars themselves
            ax.set_xticks((np.arange(npol) - (npol - 1) / 2) * bar, [str(p or "") for p in res.policies],
                          rotation=20, fontsize=8)
        else:
            ax.set_xticks(range(len(groups)), [f"{lab}\n{', '.join(map(str, f.values()))}".strip()
                                               for f, _, lab in groups], fontsize=7)
        ax.set(xlabel=", ".join(res.keys), ylabel=NAMES[metric][1])
        if metric == "latency":
            _log(ax.yaxis)
        ax.grid(True, axis="y", alpha=0.3)
    _legend(fig, res)
    bars = f", error bars: 95 % CI over {res.replications} replications" if res.replications > 1 else ""
    where = "each point" if res.keys else "the only point"
    fig.suptitle(f"{res.name}: policies compared at {where}{bars}", fontsize=10, x=0.01, ha="left")
    return Plot("bars.png", f"Bar chart per policy (no numeric sweep): "
                f"{', '.join(NAMES[m][0] for m in metrics)}{bars}.", fig)


def _ccdf_plot(res: Results) -> Plot | None:
    focus = _focus(res)
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=DPI, layout="constrained")
    floor = 1.0
    for pol in res.policies:
        pts = sorted((r["le_ms"], r["count"]) for r in res.latency if _matches(r, focus, pol))
        counts = np.array([c for _, c in pts], dtype=float)
        if counts.sum() <= 0:
            continue
        tail = 1.0 - np.cumsum(counts) / counts.sum()              # P(latency > upper edge of bucket i)
        ys = np.column_stack([np.concatenate(([1.0], tail[:-1])), tail]).ravel()   # drop at each edge
        ax.plot(np.repeat([e for e, _ in pts], 2), np.maximum(ys, 1e-12), color=res.colours[pol], lw=1.6,
                label=f"{pol + ' ' if pol else ''}(n={int(counts.sum())})")
        floor = min(floor, 0.5 / counts.sum())
    if not ax.lines:
        plt.close(fig)
        return None
    _log(ax.xaxis)
    _log(ax.yaxis)
    ax.set(ylim=(floor, 1.5), xlabel=NAMES["latency"][1], ylabel="P(latency > x)  (1 − CDF)")
    for p, lab in ((0.5, "p50"), (1e-2, "p99"), (1e-3, "p99.9")):
        if p > floor:
            ax.axhline(p, color="0.6", lw=0.7, ls=":")
            ax.annotate(lab, (1.0, p), xycoords=("axes fraction", "data"), fontsize=7, color="0.4",
                        ha="right", va="bottom")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{res.name}: latency CCDF at {_describe(focus)}", fontsize=10)
    return Plot("latency-ccdf.png", f"Complementary CDF of successful-operation latency per policy at "
                f"{_describe(focus)}, log-log (replications pooled).", fig)


def _windows(res: Results) -> list[dict[str, Any]]:
    faults = _section(res, "scenario", "store").get("faults") or []
    return [f for f in faults if f.get("start") is not None or f.get("end") is not None]


def _dynamics(res: Results) -> str:
    """Why time matters for this experiment, or '' when a time series would show nothing new."""
    why = ["fault windows"] if _windows(res) else []
    if _section(res, "scenario", "workload").get("schedule"):
        why.append("the arrival-rate schedule")
    if not res.keys and not why:
        if any(r.get("breaker_open") or r.get("rejections") or r.get("timeouts") for r in res.timeseries):
            why.append("breaker, rejection and timeout activity")
        elif _batch(res):
            why.append("the batch draining")
    return " and ".join(why)


def _timeseries_plot(res: Results) -> Plot | None:
    why, focus, exp = _dynamics(res), _focus(res), _section(res, "experiment")
    warmup = _seconds(exp.get("warmup")) or 0.0
    stop = math.inf if _batch(res) else warmup + (_seconds(exp.get("duration")) or math.inf)
    rows = [r for r in res.timeseries                          # no empty bins after the run's end
            if all(r.get(k) == v for k, v in focus.items()) and r["t_s"] < stop]
    pols = [p for p in res.policies if any(_policy(r) == p for r in rows)]
    if not why or not pols:
        return None
    times = sorted({float(r["t_s"]) for r in rows})
    width = _seconds(exp.get("bin")) or (min(np.diff(times)) if len(times) > 1 else 1.0)
    end = min(stop, times[-1] + width)
    fig, axs = plt.subplots(len(pols), 1, sharex=True, sharey=True, figsize=(10, 0.9 + 2.3 * len(pols)),
                            dpi=DPI, squeeze=False, layout="constrained")
    edges, index = np.append(times, end), {t: i for i, t in enumerate(times)}
    for n, (ax, pol) in enumerate(zip(axs[:, 0], pols)):
        prs = [r for r in rows if _policy(r) == pol]
        reps = len({r.get("replication") for r in prs})
        mean = {col: np.zeros(len(times)) for col in (*dict(SERIES), "breaker_open")}
        for r in prs:                                    # missing bins count as 0 (batch runs end early)
            for col, v in mean.items():
                v[index[float(r["t_s"])]] += (r.get(col) or 0.0) / reps
        _shade(ax, res, warmup, end, labels=n == 0)
        for col, colour in SERIES:
            if mean[col].any() or col in ("starts", "successes"):
                ax.step(edges, np.append(mean[col], mean[col][-1]) / width, where="post", color=colour,
                        lw=1.3, label=f"{col}/s")
        if (v := mean["breaker_open"]).any():
            twin = ax.twinx()                            # drawn behind the rates
            twin.fill_between(edges, np.append(v, v[-1]), step="post", color="tab:brown", alpha=0.25, lw=0)
            twin.set(ylim=(0, 1), ylabel="breakers open\n(fraction of bin)")
            ax.set_zorder(twin.get_zorder() + 1)
            ax.patch.set_visible(False)
            ax.plot([], [], color="tab:brown", alpha=0.25, lw=6, label="breakers open (right axis)")
        ax.set_title(str(pol or ""), color=res.colours[pol], loc="left", fontsize=10)
        ax.set(ylabel="per second", ylim=(0, None))
        ax.grid(True, alpha=0.3)
    axs[-1, 0].set(xlabel="simulated time (s)", xlim=(0, end))
    handles = {lab: h for ax in axs[:, 0] for h, lab in zip(*ax.get_legend_handles_labels())}
    order = sorted(handles, key=lambda lab: not isinstance(handles[lab], Line2D))  # lines, then shading
    fig.legend([handles[lab] for lab in order], order, loc="outside right upper", fontsize=8)
    fig.suptitle(f"{res.name}: activity over time at {_describe(focus)} (mean of replications, "
                 f"{width:g} s bins)", fontsize=10, x=0.01, ha="left")
    return Plot("timeseries.png", f"Starts, successes, retries, rejections per second over time per policy "
                f"at {_describe(focus)}, with breaker state, warm-up and {why} marked.", fig)


def _shade(ax: Axes, res: Results, warmup: float, end: float, labels: bool) -> None:
    """Warm-up, fault windows and the scheduled arrival rate behind one time-series panel.
    Schedule `until` times are read on the same clock as `t_s` (from t = 0, warm-up included)."""
    if warmup > 0:
        ax.axvspan(0, warmup, color="0.8", alpha=0.4, lw=0, label="warm-up (not measured)")
    for f in _windows(res):
        start, stop, kind = _seconds(f.get("start")) or 0.0, _seconds(f.get("end")) or end, str(f.get("kind"))
        text = {"down": f"down ({f.get('mode', 'fail_fast')})", "slow": f"slow ×{f.get('factor')}",
                "error": f"error p={f.get('probability')}"}.get(kind, kind)
        colour = FAULT_COLOURS.get(kind, "0.5")
        ax.axvspan(start, stop, color=colour, alpha=0.12, lw=0, label=f"fault: {text}")
        if labels:
            ax.annotate(text, ((start + stop) / 2, 1.0), xycoords=("data", "axes fraction"), ha="center",
                        va="bottom", fontsize=8, color=colour)
    starts, rates, t = [], [], 0.0
    for step in _section(res, "scenario", "workload").get("schedule") or []:
        starts.append(t)
        rates.append(float(step["rate"]))
        t = _seconds(step.get("until")) or end
    if rates:
        ax.step([*starts, max(t, starts[-1])], [*rates, rates[-1]], where="post", color="black", ls="--",
                lw=1, label="scheduled arrivals/s")


def build_figures(results: Path | Results) -> list[Plot]:
    """Every figure that fits the results, unsaved (the caller closes them)."""
    res = results if isinstance(results, Results) else load(results)
    plots: list[Plot | None] = []
    if res.summary and res.axes:
        plots += [_line_plot(res, x, m) for x in res.axes for m in _metrics(res)]
    elif _metrics(res):
        plots.append(_bar_plot(res))
    if res.latency:
        plots.append(_ccdf_plot(res))
    if res.timeseries:
        plots.append(_timeseries_plot(res))
    return [p for p in plots if p is not None]


def draw(results_dir: Path) -> list[Path]:
    """Write `plots/*.png` and `index.md` (one line per plot) into a results directory; return the
    PNG paths. PNGs of an earlier drawing that no longer apply are removed: the index lists them all."""
    out, res = Path(results_dir) / "plots", load(results_dir)
    paths, lines = [], [f"# Plots for {res.name}", ""]
    for plot in build_figures(res):
        buf = io.BytesIO()
        plot.figure.savefig(buf, format="png", dpi=DPI)
        plt.close(plot.figure)
        write_bytes_atomic(out / plot.name, buf.getvalue())
        paths.append(out / plot.name)
        lines.append(f"- [{plot.name}](plots/{plot.name}): {plot.caption}")
    for stale in set(out.glob("*.png")) - set(paths):
        stale.unlink()
    write_atomic(Path(results_dir) / "index.md", "\n".join(lines) + "\n")
    return paths
