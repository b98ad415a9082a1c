"""A point's conflict analysis across its replications: keys.csv, version_gaps.csv, the dominant key.

Each run saves its hottest keys' counts and an "other" row for the rest (`KeyStats.saved`). A
point's keys.csv sums them over the replications, one row per key sorted by conflicts, with the
"other" row last: every count in a column therefore sums to the point's totals over its runs.

The rates are ratios of sums (conflicts / attempts of the key; its conflicts / all conflicts), and
their 95 % intervals are the ratio estimator's across replications (each replication one draw of
numerator and denominator): half-width t(n−1) · s(X − R·Y) / (√n · mean(Y)) for R = ΣX / ΣY. An
interval needs the key's own counts in every replication; a replication that folded the key into
its "other" row (it saved only its `SAVED` hottest) leaves it unknown, so the cell stays empty.

`dominant` is the line `run` prints when one key holds a large share of the conflicts: at least a
quarter of them and at least twice what an even spread over the keyspace would give it.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .keystats import FIELDS
from .stats import t_quantile

Row = dict[str, Any]
COLUMNS = ("rank", "key", "operations", "attempts", "conflicts", "conflict_rate", "conflict_rate_ci95",
           "share", "share_ci95", "mean_version_gap", "max_version_gap", "stale_conflicts", "fresh_conflicts")
GAP_COLUMNS = ("version_gap", "conflicts", "share")
DOMINANT_SHARE = 0.25     # the hottest key's share of conflicts that `run` reports ...
DOMINANT_FACTOR = 2.0     # ... if it is also this many times its share under an even spread
_OPS, _ATT, _CONF, _STALE, _GSUM, _GMAX = range(len(FIELDS))


def ratio_ci95(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """R = Σx / Σy and the 95 % half-width of the ratio estimator over paired replications
    (x_r, y_r); NaN without a denominator, inf with one replication."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if ys.sum() <= 0:
        return math.nan, math.nan
    r = float(xs.sum() / ys.sum())
    n = xs.size
    if n < 2:
        return r, math.inf
    resid = xs - r * ys
    if not np.any(resid):
        return r, 0.0
    s = math.sqrt(float(resid @ resid) / (n - 1))
    return r, t_quantile(0.95, n - 1) * s / (math.sqrt(n) * float(ys.mean()))


def merge_point(saved: Sequence[Mapping[str, Any]]) -> tuple[list[Row], list[Row]]:
    """keys.csv and version_gaps.csv rows (without the point's columns) from the `keys` parts of
    one point's runs."""
    per_rep: list[dict[int, list[int]]] = [{int(r[0]): [int(v) for v in r[1:]] for r in s["rows"]} for s in saved]
    complete = [not any(s["other"][i] for i in (_OPS, _ATT, _CONF)) for s in saved]   # listed every key it touched
    totals = np.zeros(len(FIELDS), dtype=np.int64)
    keys: dict[int, np.ndarray] = {}
    for rows in per_rep:
        for k, v in rows.items():
            acc = keys.setdefault(k, np.zeros(len(FIELDS), dtype=np.int64))
            deepest = max(int(acc[_GMAX]), v[_GMAX])   # the one field merged by max, not by sum
            acc += v
            acc[_GMAX] = deepest
    other = np.zeros(len(FIELDS), dtype=np.int64)
    for s in saved:
        o = np.asarray(s["other"], dtype=np.int64)
        other[_GMAX] = max(other[_GMAX], o[_GMAX])
        other[:_GMAX] += o[:_GMAX]
    for acc in [*keys.values(), other]:
        totals[:_GMAX] += acc[:_GMAX]
    rep_conflicts = [sum(v[_CONF] for v in rows.values()) + s["other"][_CONF] for rows, s in zip(per_rep, saved)]
    order = sorted(keys, key=lambda k: (-keys[k][_CONF], -keys[k][_OPS], k))
    out: list[Row] = []
    for rank, k in enumerate(order, 1):
        exact = all(k in rows or full for rows, full in zip(per_rep, complete))
        out.append(_row(rank, k, keys[k], int(totals[_CONF]),
                        [rows.get(k, [0] * len(FIELDS)) for rows in per_rep] if exact else None, rep_conflicts))
    if other[_OPS] or other[_ATT] or other[_CONF]:
        out.append(_row(None, "other", other, int(totals[_CONF]), None, rep_conflicts))
    gaps: dict[int, int] = {}
    for s in saved:
        for g, count in s["gaps"]:
            gaps[int(g)] = gaps.get(int(g), 0) + int(count)
    total_gaps = sum(gaps.values())
    return out, [{"version_gap": g, "conflicts": gaps[g], "share": gaps[g] / total_gaps} for g in sorted(gaps)]


def _row(rank: int | None, key: int | str, v: np.ndarray, all_conflicts: int,
         reps: list[list[int]] | None, rep_conflicts: list[int]) -> Row:
    conflicts = int(v[_CONF])
    rate, share = (ratio_ci95([r[_CONF] for r in reps], [r[_ATT] for r in reps]),
                   ratio_ci95([r[_CONF] for r in reps], rep_conflicts)) if reps is not None else (
        (v[_CONF] / v[_ATT] if v[_ATT] else math.nan, math.nan),
        (conflicts / all_conflicts if all_conflicts else math.nan, math.nan))
    return {"rank": rank, "key": key, "operations": int(v[_OPS]), "attempts": int(v[_ATT]), "conflicts": conflicts,
            "conflict_rate": float(rate[0]), "conflict_rate_ci95": float(rate[1]),
            "share": float(share[0]), "share_ci95": float(share[1]),
            "mean_version_gap": float(v[_GSUM]) / conflicts if conflicts else math.nan,
            "max_version_gap": int(v[_GMAX]) if conflicts else None,
            "stale_conflicts": int(v[_STALE]), "fresh_conflicts": conflicts - int(v[_STALE])}


def dominant(points: Sequence[tuple[str, Sequence[Mapping[str, Any]], int]]) -> str | None:
    """The line `run` prints when a few keys dominate the conflicts, e.g. "key 0: 61 % of
    conflicts at workload.clients=64, policy=immediate (8 keys, 12 % each if even)": the point
    where the hottest key's share is largest, if it is at least `DOMINANT_SHARE` and
    `DOMINANT_FACTOR` × the share an even spread would give it. `points`: (where, keys.csv rows
    of the point, its key count)."""
    best: tuple[float, str] | None = None
    for where, rows, keyspace in points:
        ranked = [r for r in rows if r.get("rank") is not None]
        total = sum(r["conflicts"] for r in rows)
        if not ranked or not total or keyspace < 2:
            continue
        first = ranked[0]["conflicts"] / total
        if first >= max(DOMINANT_SHARE, DOMINANT_FACTOR / keyspace) and (best is None or first > best[0]):
            best = (first, f"key {ranked[0]['key']}: {100 * first:.0f} % of conflicts at {where} "
                           f"({keyspace:,} keys, {100 / keyspace:.2g} % each if even; keys.csv has every key)")
    return None if best is None else best[1]
