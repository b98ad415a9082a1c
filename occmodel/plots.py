"""Plots from a results directory: the figures a performance engineer reaches for first.

`occmodel plot DIR` must work from the saved files alone, long after the run, so every choice is
made from what the directory holds. The swept columns pick the axes: a numeric sweep gets line
plots (one line per policy, 95 % bands, log x across a decade, faceted over any other swept key),
a single point gets bar charts instead (a line through one point says nothing). Latency gets a
CCDF on log-log axes, because retry patterns differ in the tail, not the median. Faults, a rate
schedule or breaker/rejection activity get a time series, because averages hide the recovery.
A figure is only drawn when its data exist, so nothing comes out empty, and each policy keeps
its colour in every figure. `build_figures` returns the figures unsaved (tests inspect them);
`draw` saves them with an `index.md` that says what each one shows.
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
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullLocator  # noqa: E402

from occmodel.results import Row, read_csv, read_json, write_atomic, write_bytes_atomic  # noqa: E402

DPI = 110
MAX_PANELS = 6
LATENCY = (("p50_ms", "p50", "-"), ("p99_ms", "p99", "--"), ("p999_ms", "p99.9", ":"))
LABELS = {
    "throughput": "throughput (successful ops/s)", "attempts_per_op": "attempts per operation",
    "conflict_rate": "conflict rate (conflicted / all attempts)", "makespan_s": "makespan (s)",
    "success_rate": "success rate (fraction of operations)", "calls": "commit attempts (calls)",
    "latency": "latency of successful operations (ms)",
}
SERIES = (("starts", "tab:blue"), ("successes", "tab:green"), ("retries", "tab:orange"),
          ("rejections", "tab:red"), ("timeouts", "tab:purple"))
FAULT_COLOURS = {"down": "tab:red", "slow": "tab:orange", "error": "tab:purple"}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*(us|µs|ms|s|m|h)\s*")
_UNIT = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class Plot(NamedTuple):
    name: str          # file name, e.g. "throughput-vs-workload_clients.png"
    caption: str       # one line for index.md
    figure: Figure


class Results(NamedTuple):
    name: str
    config: dict[str, Any]
    keys: dict[str, list[Any]]      # swept columns except `policy` with ≥ 2 values, in order
    axes: list[str]                 # those of `keys` whose values are all numbers (or durations)
    policies: list[str | None]      # None: no policy column, one unlabelled series
    colours: dict[str | None, Any]
    replications: int
    summary: list[Row]
    timeseries: list[Row]
    latency: list[Row]


def _seconds(v: Any) -> float | None:
    """A number, or a duration string such as "250ms", in seconds; None for anything else."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    m = _DURATION.fullmatch(str(v))
    return float(m[1]) * _UNIT[m[2]] if m else None


def _policy(row: Row) -> str | None:
    return None if row.get("policy") is None else str(row["policy"])


def _distinct(rows: list[Row], key: str) -> list[Any]:
    return list(dict.fromkeys(r.get(key) for r in rows))


def _matches(row: Row, fixed: dict[str, Any]) -> bool:
    return all(row.get(k) == v for k, v in fixed.items())


def _describe(fixed: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in fixed.items()) or "the only point"


def load(results_dir: Path) -> Results:
    d = Path(results_dir)
    rows = {n: read_csv(d / f"{n}.csv") if (d / f"{n}.csv").exists() else []
            for n in ("summary", "timeseries", "latency")}
    manifest = read_json(d / "manifest.json") if (d / "manifest.json").exists() else {}
    swept = list(manifest.get("swept", []))
    base = rows["summary"] or rows["timeseries"] or rows["latency"]
    keys = {k: vs for k in swept if k != "policy" and len(vs := _distinct(base, k)) >= 2}
    axes = [k for k, vs in keys.items() if all(_seconds(v) is not None for v in vs)]
    policies = list(dict.fromkeys(_policy(r) for r in base)) if "policy" in swept else [None]
    cmap = plt.get_cmap("tab10" if len(policies) <= 10 else "tab20")
    reps = manifest.get("replications") or max((r.get("n") or 1 for r in rows["summary"]), default=1)
    return Results(manifest.get("name", d.name), manifest.get("config", {}), keys, axes, policies,
                   {p: cmap(i % cmap.N) for i, p in enumerate(policies)}, int(reps), **rows)


def _section(res: Results, *path: str) -> Any:
    node: Any = res.config
    for p in path:
        node = node.get(p, {}) if isinstance(node, dict) else {}
    return node


def _batch(res: Results) -> bool:
    return _section(res, "scenario", "workload").get("kind") == "batch"


def _metrics(res: Results) -> list[str]:
    """What to plot: the workload's output measure, amplification, latency, conflicts, failures."""
    first = ["makespan_s", "calls"] if _batch(res) else ["throughput"]
    wanted = [*first, "attempts_per_op", "latency", "conflict_rate"]
    if any(r.get("success_rate") is not None and r["success_rate"] < 0.9995 for r in res.summary):
        wanted.append("success_rate")
    return [m for m in wanted if any(r.get(c) is not None for r in res.summary for c, _, _ in _cols(m))]


def _cols(metric: str) -> tuple[tuple[str, str, str], ...]:
    return LATENCY if metric == "latency" else ((metric, "", "-"),)


def _handles(res: Results, metric: str) -> list[Line2D]:
    h = [Line2D([], [], color=res.colours[p], lw=2, label=p) for p in res.policies if p is not None]
    if metric == "latency":
        h += [Line2D([], [], color="0.3", ls=ls, label=lab) for _, lab, ls in LATENCY]
    return h


def _focus(res: Results) -> dict[str, Any]:
    """The point shown where one point must be chosen: numeric keys at their largest value."""
    return {k: max(vs, key=_seconds) if k in res.axes else vs[0] for k, vs in res.keys.items()}


def _panels(n: int, width: float = 4.4, height: float = 3.3) -> tuple[Figure, list[Axes]]:
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axs = plt.subplots(nrows, ncols, figsize=(width * ncols + 1.8, height * nrows + 0.6),
                            dpi=DPI, squeeze=False, layout="constrained")
    for ax in axs.flat[n:]:
        ax.set_visible(False)
    return fig, list(axs.flat[:n])


def _contexts(res: Results, x: str) -> tuple[list[dict[str, Any]], str]:
    """Facets for a sweep over `x`: every combination of the other swept keys (the extremes of
    the numeric ones when there are too many to show)."""
    others = [k for k in res.keys if k != x]
    combos = list(dict.fromkeys(tuple(r.get(k) for k in others) for r in res.summary))
    if len(combos) <= MAX_PANELS:
        return [dict(zip(others, c)) for c in combos], ""
    ends = {k: {min(vs, key=_seconds), max(vs, key=_seconds)} if k in res.axes else set(vs)
            for k, vs in res.keys.items()}
    shown = [c for c in combos if all(v in ends[k] for k, v in zip(others, c))][:MAX_PANELS]
    return [dict(zip(others, c)) for c in shown], f"; {len(shown)} of {len(combos)} combinations, other keys at their extremes"


def _line_plot(res: Results, x: str, metric: str) -> Plot:
    contexts, note = _contexts(res, x)
    fig, axs = _panels(len(contexts))
    xs_all = [_seconds(v) or 0.0 for v in res.keys[x]]
    log_x = min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 10
    log_y = metric == "latency"
    unit = " (s)" if any(isinstance(v, str) for v in res.keys[x]) else " (ops/s)" if x.endswith("rate") else ""
    for ax, fixed in zip(axs, contexts):
        lows: list[float] = []
        for pol in res.policies:
            pts = sorted((r for r in res.summary if _matches(r, fixed) and _policy(r) == pol),
                         key=lambda r: _seconds(r.get(x)) or 0.0)
            xs = np.array([_seconds(r.get(x)) or 0.0 for r in pts])
            for col, _, ls in _cols(metric):
                ys = np.array([np.nan if r.get(col) is None else float(r[col]) for r in pts])
                ax.plot(xs, ys, ls=ls, marker="o", ms=3, color=res.colours[pol])
                lows += [y for y in ys if y > 0]
                ci = np.array([np.nan if r.get(f"{col}_ci95") is None else float(r[f"{col}_ci95"]) for r in pts])
                if res.replications > 1 and np.isfinite(ci).any():
                    lo = np.maximum(ys - ci, 1e-12) if log_y else ys - ci
                    ax.fill_between(xs, lo, ys + ci, color=res.colours[pol], alpha=0.15, lw=0)
        ax.set_xlabel(x + unit)
        ax.set_ylabel(LABELS[metric])
        ax.set_xscale("log" if log_x else "linear")
        if len(xs_all) <= 8:                                # tick exactly the swept values
            ax.set_xticks(xs_all, [f"{v:g}" for v in xs_all])
            ax.xaxis.set_minor_locator(NullLocator())
        if log_y:
            ax.set_yscale("log")
            if lows:
                ax.set_ylim(bottom=min(lows) / 2)
        ax.grid(True, which="major", alpha=0.3)
        if fixed:
            ax.set_title(_describe(fixed), fontsize=9)
    if handles := _handles(res, metric):
        fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    bands = f", 95 % CI bands over {res.replications} replications" if res.replications > 1 else ""
    what = LABELS[metric].split(" (")[0]
    fig.suptitle(f"{res.name}: {what} vs {x}{note}", fontsize=11)
    series = "one line per policy" if res.policies != [None] else "one series"
    return Plot(f"{metric}-vs-{re.sub(r'[^A-Za-z0-9]+', '_', x)}.png",
                f"{LABELS[metric][0].upper()}{LABELS[metric][1:]} against {x}, {series}{bands}{note}.", fig)


def _bar_plot(res: Results) -> Plot:
    metrics = _metrics(res)
    fig, axs = _panels(len(metrics), width=4.0)
    contexts = [dict(zip(res.keys, c)) for c in dict.fromkeys(tuple(r.get(k) for k in res.keys) for r in res.summary)]
    bar = 0.8 / len(res.policies)
    for ax, metric in zip(axs, metrics):
        groups = [(f, col, lab) for f in contexts for col, lab, _ in _cols(metric)]
        for i, pol in enumerate(res.policies):
            rows = [next((r for r in res.summary if _matches(r, f) and _policy(r) == pol), {}) for f, _, _ in groups]
            vals = [np.nan if r.get(c) is None else float(r[c]) for r, (_, c, _) in zip(rows, groups)]
            errs = [np.nan if r.get(f"{c}_ci95") is None else float(r[f"{c}_ci95"]) for r, (_, c, _) in zip(rows, groups)]
            pos = np.arange(len(groups)) + (i - (len(res.policies) - 1) / 2) * bar
            ax.bar(pos, vals, bar * 0.9, yerr=errs if res.replications > 1 else None, capsize=3,
                   color=res.colours[pol], label=pol)
        if len(groups) == 1:
            centres = np.arange(len(res.policies)) * bar - (len(res.policies) - 1) / 2 * bar
            ax.set_xticks(centres, [str(p or "") for p in res.policies], rotation=20, fontsize=8)
        else:
            ax.set_xticks(range(len(groups)), ["\n".join(filter(None, (lab, _describe(f) if f else "")))
                                               for f, _, lab in groups], fontsize=7)
        ax.set_ylabel(LABELS[metric])
        ax.set_yscale("log" if metric == "latency" else "linear")
        ax.grid(True, axis="y", alpha=0.3)
    if res.policies != [None]:
        fig.legend(handles=_handles(res, ""), loc="outside right upper", fontsize=8)
    bars = f", error bars: 95 % CI over {res.replications} replications" if res.replications > 1 else ""
    fig.suptitle(f"{res.name}: policies compared at {_describe(_focus(res)) if not res.keys else 'each point'}{bars}", fontsize=11)
    shown = ", ".join(LABELS[m].split(" (")[0] for m in metrics)
    return Plot("bars.png", f"Bar chart per policy (no numeric sweep): {shown}{bars}.", fig)


def _ccdf_plot(res: Results) -> Plot | None:
    focus = _focus(res)
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=DPI, layout="constrained")
    floor = 1.0
    for pol in res.policies:
        pts = sorted((r["le_ms"], r["count"]) for r in res.latency if _matches(r, focus) and _policy(r) == pol)
        counts = np.array([c for _, c in pts], dtype=float)
        if not pts or counts.sum() <= 0:
            continue
        tail = 1.0 - np.cumsum(counts) / counts.sum()      # P(latency > upper edge of bucket i)
        edges = np.array([e for e, _ in pts], dtype=float)
        ys = np.column_stack([np.concatenate(([1.0], tail[:-1])), tail]).ravel()
        ax.plot(np.repeat(edges, 2), np.maximum(ys, 1e-12), color=res.colours[pol], lw=1.6,
                label=f"{pol + ' ' if pol else ''}(n={int(counts.sum())})")
        floor = min(floor, 0.5 / counts.sum())
    if not ax.lines:
        plt.close(fig)
        return None
    ax.set(xscale="log", yscale="log", ylim=(floor, 1.5), xlabel=LABELS["latency"],
           ylabel="P(latency > x)  (1 − CDF)")
    for p, lab in ((0.5, "p50"), (1e-2, "p99"), (1e-3, "p99.9")):
        if p > floor:
            ax.axhline(p, color="0.6", lw=0.7, ls=":")
            ax.annotate(lab, (1.0, p), xycoords=("axes fraction", "data"), fontsize=7, color="0.4", ha="right", va="bottom")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{res.name}: latency CCDF at {_describe(focus)}", fontsize=11)
    return Plot("latency-ccdf.png", f"Complementary CDF of successful-operation latency per policy at "
                f"{_describe(focus)}, log-log (all replications pooled).", fig)


def _dynamics(res: Results) -> str:
    """Why time matters for this experiment, or '' when a time series would show nothing."""
    faults = _section(res, "scenario", "store").get("faults") or []
    why = ["fault windows"] if any(f.get("start") is not None or f.get("end") is not None for f in faults) else []
    if _section(res, "scenario", "workload").get("schedule"):
        why.append("the arrival-rate schedule")
    if not res.keys and not why:
        if any(r.get("breaker_open") or r.get("rejections") or r.get("timeouts") for r in res.timeseries):
            why.append("breaker, rejection and timeout activity")
        elif _batch(res) and res.timeseries:
            why.append("the batch draining")
    return " and ".join(why)


def _timeseries_plot(res: Results) -> Plot | None:
    why, focus = _dynamics(res), _focus(res)
    rows = [r for r in res.timeseries if _matches(r, focus)]
    pols = [p for p in res.policies if any(_policy(r) == p for r in rows)]
    if not why or not pols:
        return None
    exp = _section(res, "experiment")
    times = sorted({float(r["t_s"]) for r in rows})
    width = _seconds(exp.get("bin")) or (min(np.diff(times)) if len(times) > 1 else 1.0)
    warmup = _seconds(exp.get("warmup")) or 0.0
    end = max(times[-1] + width, warmup + (_seconds(exp.get("duration")) or 0.0))
    fig, axs = plt.subplots(len(pols), 1, sharex=True, sharey=True, figsize=(10, 0.9 + 2.3 * len(pols)),
                            dpi=DPI, squeeze=False, layout="constrained")
    edges = np.append(times, end)
    index = {t: i for i, t in enumerate(times)}
    for n, (ax, pol) in enumerate(zip(axs[:, 0], pols)):
        prs = [r for r in rows if _policy(r) == pol]
        reps = len({r.get("replication") for r in prs})
        _shade(ax, res, warmup, end, labels=n == 0)
        mean = {col: np.zeros(len(times)) for col in (*dict(SERIES), "breaker_open")}
        for r in prs:
            for col, v in mean.items():
                v[index[float(r["t_s"])]] += (r.get(col) or 0.0) / reps
        for col, colour in SERIES:
            if mean[col].any() or col in ("starts", "successes"):
                ax.step(edges, np.append(mean[col], mean[col][-1]) / width, where="post", color=colour,
                        lw=1.3, label=f"{col}/s")
        if (v := mean["breaker_open"]).any():
            twin = ax.twinx()
            twin.fill_between(edges, np.append(v, v[-1]), step="post", color="0.2", alpha=0.18, lw=0)
            twin.set(ylim=(0, 1), ylabel="breakers open\n(fraction of bin)")
            ax.plot([], [], color="0.2", alpha=0.3, lw=6, label="breakers open (right axis)")
        ax.set_title(str(pol or ""), color=res.colours[pol], loc="left", fontsize=10)
        ax.set_ylabel("per second")
        ax.grid(True, alpha=0.3)
    axs[-1, 0].set(xlabel="simulated time (s)", xlim=(0, end))
    handles = {lab: h for ax in axs[:, 0] for h, lab in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(handles.values()), list(handles.keys()), loc="outside right upper", fontsize=8)
    fig.suptitle(f"{res.name}: activity over time at {_describe(focus)} (mean of replications, {width:g} s bins)", fontsize=11)
    return Plot("timeseries.png", f"Starts, successes, retries, rejections per second over time per policy at "
                f"{_describe(focus)}, with breaker state, warm-up and {why} marked.", fig)


def _shade(ax: Axes, res: Results, warmup: float, end: float, labels: bool) -> None:
    """Warm-up, fault windows and the scheduled arrival rate behind one time-series panel."""
    if warmup > 0:
        ax.axvspan(0, warmup, color="0.8", alpha=0.4, lw=0, label="warm-up (not measured)")
    for f in _section(res, "scenario", "store").get("faults") or []:
        if f.get("start") is None and f.get("end") is None:
            continue
        start, stop = _seconds(f.get("start")) or 0.0, _seconds(f.get("end")) or end
        kind = str(f.get("kind"))
        text = {"slow": f"slow ×{f.get('factor', '?')}", "error": f"error p={f.get('probability', '?')}"}.get(kind, kind)
        ax.axvspan(start, stop, color=FAULT_COLOURS.get(kind, "0.5"), alpha=0.12, lw=0, label=f"fault: {text}")
        if labels:
            ax.annotate(text, ((start + stop) / 2, 1.0), xycoords=("data", "axes fraction"), ha="center",
                        va="bottom", fontsize=8, color=FAULT_COLOURS.get(kind, "0.3"))
    schedule = _section(res, "scenario", "workload").get("schedule") or []
    if schedule:
        ts, rates, t = [], [], 0.0
        for step in schedule:
            ts.append(t)
            rates.append(float(step["rate"]))
            t = _seconds(step.get("until")) or end
        ax.step([*ts, max(t, ts[-1])], [*rates, rates[-1]], where="post", color="black", ls="--", lw=1,
                label="scheduled arrivals/s")


def build_figures(results_dir: Path | Results) -> list[Plot]:
    """Every figure that fits the results in `results_dir`, unsaved (the caller closes them)."""
    res = results_dir if isinstance(results_dir, Results) else load(results_dir)
    plots: list[Plot | None] = []
    if res.summary and res.axes:
        plots += [_line_plot(res, x, m) for x in res.axes for m in _metrics(res)]
    elif res.summary and _metrics(res):
        plots.append(_bar_plot(res))
    if res.latency:
        plots.append(_ccdf_plot(res))
    if res.timeseries:
        plots.append(_timeseries_plot(res))
    return [p for p in plots if p is not None]


def draw(results_dir: Path) -> list[Path]:
    """Write `plots/*.png` and `plots/index.md` for a results directory; return the PNG paths.
    PNGs left over from an earlier drawing that no longer apply are removed."""
    out, res = Path(results_dir) / "plots", load(results_dir)
    paths, lines = [], [f"# Plots for {res.name}", ""]
    for plot in build_figures(res):
        buf = io.BytesIO()
        plot.figure.savefig(buf, format="png", dpi=DPI)
        plt.close(plot.figure)
        write_bytes_atomic(out / plot.name, buf.getvalue())
        paths.append(out / plot.name)
        lines.append(f"- [{plot.name}]({plot.name}): {plot.caption}")
    for stale in set(out.glob("*.png")) - set(paths):
        stale.unlink()
    write_atomic(out / "index.md", "\n".join(lines) + "\n")
    return paths
