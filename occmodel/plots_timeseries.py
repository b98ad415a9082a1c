"""The time-series figure of `occmodel.plots`: activity per bin over simulated time, one panel per
series (policy, or the compared setting), drawn only when time matters for the experiment: fault
windows, an arrival-rate schedule, or, for a single point, breaker/rejection activity or a batch
draining. Averages hide the outage and the recovery; this figure shows them."""
from __future__ import annotations

import math
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from occmodel.plotbase import (DPI, Plot, Results, describe, focus_point, is_batch, section, seconds, series_label,
                               series_of)

SERIES = (("starts", "tab:blue"), ("successes", "tab:green"), ("retries", "tab:orange"),
          ("rejections", "tab:red"), ("timeouts", "tab:purple"))
FAULT_COLOURS = {"down": "tab:red", "slow": "tab:orange", "error": "tab:purple"}


def _windows(res: Results) -> list[dict[str, Any]]:
    faults = section(res, "scenario", "store").get("faults") or []
    return [f for f in faults if f.get("start") is not None or f.get("end") is not None]


def _dynamics(res: Results) -> str:
    """Why time matters for this experiment, or '' when a time series would show nothing new."""
    why = ["fault windows"] if _windows(res) else []
    if section(res, "scenario", "workload").get("schedule"):
        why.append("the arrival-rate schedule")
    if not res.keys and not why:
        if any(r.get("breaker_open") or r.get("rejections") or r.get("timeouts") for r in res.timeseries):
            why.append("breaker, rejection and timeout activity")
        elif is_batch(res):
            why.append("the batch draining")
    return " and ".join(why)


def timeseries_plot(res: Results) -> Plot | None:
    why, focus, exp = _dynamics(res), focus_point(res), section(res, "experiment")
    warmup = seconds(exp.get("warmup")) or 0.0
    # warmup "auto": each run's series already ends with its own window (warm-ups differ)
    auto = exp.get("warmup") == "auto"
    stop = math.inf if is_batch(res) or auto else warmup + (seconds(exp.get("duration")) or math.inf)
    rows = [r for r in res.timeseries                          # no empty bins after the run's end
            if all(r.get(k) == v for k, v in focus.items()) and r["t_s"] < stop]
    shown = [s for s in res.series if any(series_of(res, r) == s for r in rows)]
    if not why or not shown:
        return None
    times = sorted({float(r["t_s"]) for r in rows})
    width = seconds(exp.get("bin")) or (min(np.diff(times)) if len(times) > 1 else 1.0)
    end = min(stop, times[-1] + width)
    fig, axs = plt.subplots(len(shown), 1, sharex=True, sharey=True, figsize=(10, 0.9 + 2.3 * len(shown)),
                            dpi=DPI, squeeze=False, layout="constrained")
    edges, index = np.append(times, end), {t: i for i, t in enumerate(times)}
    top = max(_scheduled_peak(res), 1.0)                 # the shared y axis must hold every panel's peak
    for n, (ax, s) in enumerate(zip(axs[:, 0], shown)):
        srs = [r for r in rows if series_of(res, r) == s]
        reps = len({r.get("replication") for r in srs})
        mean = {col: np.zeros(len(times)) for col in (*dict(SERIES), "breaker_open")}
        for r in srs:                                    # missing bins count as 0 (batch runs end early)
            for col, v in mean.items():
                v[index[float(r["t_s"])]] += (r.get(col) or 0.0) / reps
        _shade(ax, res, warmup, end, labels=n == 0)
        for col, colour in SERIES:
            if mean[col].any() or col in ("starts", "successes"):
                ax.step(edges, np.append(mean[col], mean[col][-1]) / width, where="post", color=colour,
                        lw=1.3, label=f"{col}/s")
                top = max(top, float(mean[col].max()) / width)
        if (v := mean["breaker_open"]).any():            # a line, not a fill: the fault band stays visible
            twin = ax.twinx()
            twin.step(edges, np.append(v, v[-1]), where="post", color="tab:brown", lw=1.6, ls=(0, (1, 1.5)))
            twin.set(ylim=(0, 1.05), ylabel="breakers open\n(fraction of bin)")
            ax.set_zorder(twin.get_zorder() + 1)
            ax.patch.set_visible(False)
            ax.plot([], [], color="tab:brown", lw=1.6, ls=(0, (1, 1.5)), label="breakers open (right axis)")
        ax.set_title(series_label(res, s), color=res.colours[s], loc="left", fontsize=10)
        ax.set(ylabel="per second")
        ax.grid(True, alpha=0.3)
    axs[0, 0].set_ylim(0, top * 1.08)                    # set once, after every panel: shared by all
    axs[-1, 0].set(xlabel="simulated time (s)", xlim=(0, end))
    handles = {lab: h for ax in axs[:, 0] for h, lab in zip(*ax.get_legend_handles_labels())}
    order = sorted(handles, key=lambda lab: not isinstance(handles[lab], Line2D))  # lines, then shading
    fig.legend([handles[lab] for lab in order], order, loc="outside right upper", fontsize=8)
    fig.suptitle(f"{res.name}: activity over time at {describe(focus)} (mean of replications, "
                 f"{width:g} s bins)", fontsize=10, x=0.01, ha="left")
    per = f" per {res.by}" if res.by else ""
    return Plot("timeseries.png", f"Starts, successes, retries, rejections per second over time{per} "
                f"at {describe(focus)}, with breaker state, warm-up and {why} marked.", fig)


def _scheduled_peak(res: Results) -> float:
    """The highest scheduled arrival rate (0 without a schedule)."""
    return max((float(step["rate"]) for step in section(res, "scenario", "workload").get("schedule") or []), default=0.0)


def _shade(ax: Axes, res: Results, warmup: float, end: float, labels: bool) -> None:
    """Warm-up, fault windows and the scheduled arrival rate behind one time-series panel.
    Schedule `until` times are read on the same clock as `t_s` (from t = 0, warm-up included)."""
    if warmup > 0:
        ax.axvspan(0, warmup, color="0.8", alpha=0.4, lw=0, label="warm-up (not measured)")
    for f in _windows(res):
        start, stop, kind = seconds(f.get("start")) or 0.0, seconds(f.get("end")) or end, str(f.get("kind"))
        text = {"down": f"down ({f.get('mode', 'fail_fast')})", "slow": f"slow ×{f.get('factor')}",
                "error": f"error p={f.get('probability')}"}.get(kind, kind)
        colour = FAULT_COLOURS.get(kind, "0.5")
        ax.axvspan(start, stop, color=colour, alpha=0.12, lw=0, label=f"fault: {text}")
        if labels:
            ax.annotate(text, ((start + stop) / 2, 1.0), xycoords=("data", "axes fraction"), ha="center",
                        va="bottom", fontsize=8, color=colour)
    times, rates = schedule_line(res, focus_point(res), end)
    if rates:
        ax.plot(times, rates, color="black", ls="--", lw=1, label="scheduled arrivals/s")


def schedule_line(res: Results, focus: dict[str, Any], end: float) -> tuple[list[float], list[float]]:
    """The arrival-rate schedule at the point shown, as a polyline: a swept step (say
    `workload.schedule.1.until`) takes the point's value, a `ramp = true` step is a slope from the
    previous step's rate, any other step is flat with a jump at its start."""
    steps = [dict(s) for s in section(res, "scenario", "workload").get("schedule") or []]
    for key, value in focus.items():
        if key == "workload.schedule":
            steps = [dict(s) for s in value]
        elif key.startswith("workload.schedule."):
            index, field = key.split(".")[2:4]
            steps[int(index)][field] = value
    times: list[float] = []
    rates: list[float] = []
    t = before = 0.0
    for step in steps:
        until, rate = seconds(step.get("until")) or max(end, t), float(step["rate"])
        times += [t, until]
        rates += [before if step.get("ramp") else rate, rate]
        t, before = until, rate
    return times, rates
