"""The conflict analysis as a picture: is it a hot-key problem, and how far behind are clients?

One row of panels per shown point (the values of the first numeric swept key, else of the first
swept key; the other keys at the focus point), one line per series (policy), from keys.csv and version_gaps.csv:
- share of all conflicts against key rank (log-log): a steep drop means a few keys cause most of
  the wasted work; the dotted line is an even spread over the keyspace;
- conflict rate (conflicted / all attempts on the key) against key rank (log-log);
- the version-gap distribution (how many writes a conflicting attempt had missed): bars per gap
  when gaps are small, else P(gap ≥ g) on log axes.
Keys that never conflicted have no place on a log axis; the caption counts them instead of
hiding them. The "other" row (keys a run did not list one by one) has no rank and is left out of
the rank panels but counted in every share.
"""
from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

from occmodel.plotbase import (DPI, Plot, Results, describe, focus_point, log_axis, matches,  # noqa: E402
                               seconds, section, series_label, series_of)

MAX_ROWS = 4     # points shown one below the other (evenly spread over the first numeric key)
FEW_GAPS = 12    # up to this largest gap, the gap distribution is drawn as bars


def _shown(res: Results) -> list[dict[str, Any]]:
    """The points drawn: each value of the first numeric swept key (else the first swept key; at
    most MAX_ROWS of them, the largest always among them), the other keys at the focus point."""
    focus = focus_point(res)
    if not res.keys:
        return [focus]
    x = res.axes[0] if res.axes else next(iter(res.keys))
    values = list(res.keys[x])
    if all(seconds(v) is not None for v in values):
        values.sort(key=seconds)
    if len(values) > MAX_ROWS:
        picks = np.linspace(0, len(values) - 1, MAX_ROWS).round().astype(int)
        values = [values[i] for i in dict.fromkeys(picks.tolist())]
    return [{**focus, x: v} for v in values]


def _gaps(ax: Axes, res: Results, drawn: list[tuple[str | None, np.ndarray]]) -> None:
    """Few distinct gaps (at most `FEW_GAPS`): grouped bars of each gap's share of conflicts, so
    equal series stay visible side by side; more: P(gap ≥ g) steps on log axes."""
    if not drawn:
        ax.set_axis_off()
        return
    top = max(int(g[:, 0].max()) for _, g in drawn)
    if top <= FEW_GAPS:
        width = 0.8 / len(drawn)
        for i, (s, g) in enumerate(drawn):
            ax.bar(g[:, 0] - 0.4 + width * (i + 0.5), g[:, 1] / g[:, 1].sum(), width, color=res.colours[s],
                   label=f"{series_label(res, s)} (n={int(g[:, 1].sum())})".strip())
        log_axis(ax.yaxis)
        ax.set_xticks(range(1, top + 1))
        ax.set(xlabel="version gap (writes the attempt missed)", ylabel="share of conflicts")
    else:
        for s, g in drawn:
            at_least = 1.0 - np.concatenate(([0.0], np.cumsum(g[:, 1])[:-1])) / g[:, 1].sum()   # P(gap >= g)
            ax.step(np.append(g[:, 0], g[-1, 0] + 1), np.append(at_least, at_least[-1]), where="post",
                    color=res.colours[s], lw=1.5,    # the max gap in the label: a short step can hide under another
                    label=f"{series_label(res, s)} (n={int(g[:, 1].sum())}, max gap {int(g[-1, 0])})".strip())
        log_axis(ax.xaxis)
        log_axis(ax.yaxis)
        ax.set(xlabel="version gap g (writes the attempt missed)", ylabel="P(gap ≥ g) over conflicts")
    ax.legend(fontsize=7)


def keys_plot(res: Results) -> Plot | None:
    """keys.png, or None when no point had a conflict."""
    if not any((r.get("conflicts") or 0) > 0 for r in res.key_rows):
        return None
    points = [p for p in _shown(res)
              if any((r.get("conflicts") or 0) > 0 for r in res.key_rows if matches(res, r, p, series_of(res, r)))]
    if not points:
        return None
    keyspace = section(res, "scenario", "workload", "keys").get("count")
    fig, axs = plt.subplots(len(points), 3, squeeze=False, dpi=DPI, layout="constrained",
                            figsize=(15.5, 3.3 * len(points) + 0.8))
    silent = 0
    for row, point in zip(axs, points):
        share_ax, rate_ax, gap_ax = row
        drawn: list[tuple[str | None, np.ndarray]] = []
        seen: dict[tuple[Any, ...], str | None] = {}
        twins: list[str] = []
        for s in res.series:
            rows = [r for r in res.key_rows if matches(res, r, point, s) and r.get("rank") is not None]
            hot = [r for r in rows if (r.get("conflicts") or 0) > 0]
            silent += len(rows) - len(hot)
            if hot:
                curve = tuple((r["rank"], r["share"], r["conflict_rate"]) for r in hot)
                if curve in seen:      # drawn exactly under an earlier series' line: say so
                    twins.append(f"{series_label(res, s)} = {series_label(res, seen[curve])}")
                seen.setdefault(curve, s)
                rank = np.array([r["rank"] for r in hot], dtype=float)
                colour = res.colours[s]
                share = np.array([r["share"] for r in hot])
                ci = np.array([np.nan if r.get("share_ci95") is None else r["share_ci95"] for r in hot])
                share_ax.plot(rank, share, "-o", ms=3, color=colour, lw=1.5, label=series_label(res, s))
                ok = np.isfinite(ci)
                if ok.any():
                    share_ax.fill_between(rank[ok], np.maximum(share[ok] - ci[ok], share[ok] * 0.25),
                                          share[ok] + ci[ok], color=colour, alpha=0.15, lw=0)
                rate_ax.plot(rank, [r["conflict_rate"] for r in hot], "-o", ms=3, color=colour, lw=1.5)
            gaps = sorted((r["version_gap"], r["conflicts"]) for r in res.gap_rows if matches(res, r, point, s))
            if gaps:
                drawn.append((s, np.array(gaps, dtype=float)))
        _gaps(gap_ax, res, drawn)
        where = describe(point)
        if twins:
            share_ax.annotate("identical, drawn under each other: " + "; ".join(twins), (0.02, 0.02),
                              xycoords="axes fraction", fontsize=7, color="0.3")
        count = point.get("workload.keys.count", keyspace)
        if isinstance(count, (int, float)) and count > 1:
            share_ax.axhline(1.0 / count, color="0.5", ls=":", lw=1)
            share_ax.annotate(f"even spread over {int(count):,} keys", (1.0, 1.0 / count),
                              xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=7, color="0.4")
        for ax in (share_ax, rate_ax):
            log_axis(ax.xaxis)
            log_axis(ax.yaxis)
            ax.grid(True, which="both", alpha=0.25)
            ax.set_xlabel("key rank (1 = most conflicts)")
        share_ax.set(ylabel="share of all conflicts", title=f"share of conflicts by key at {where}")
        rate_ax.set(ylabel="conflict rate (conflicted / attempts)", title=f"conflict rate by key at {where}")
        share_ax.title.set_fontsize(9)
        rate_ax.title.set_fontsize(9)
        gap_ax.set_title(f"version-gap distribution at {where}", fontsize=9)
        gap_ax.grid(True, which="both", alpha=0.25)
    handles, labels = axs[0][0].get_legend_handles_labels()
    if any(labels):
        fig.legend(handles, labels, loc="outside right upper", fontsize=8)
    fig.suptitle(f"{res.name}: which keys conflict (bands: 95 % CI over {res.replications} replications)",
                 fontsize=10)
    note = f"; {silent} listed key-point pairs without conflicts are not drawn (log axes)" if silent else ""
    return Plot("keys.png", "Conflicts by key: share of all conflicts and conflict rate against key rank "
                f"(log-log; one line per {res.by or 'run'}), and the version-gap distribution, at "
                f"{', '.join(describe(p) for p in points)}{note}. Every key's counts: keys.csv.", fig)
