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

from .keystats import FIELDS, GAP_MAX
from .stats import t_quantile

Row = dict[str, Any]
COLUMNS = ("rank", "key", "operations", "attempts", "conflicts", "conflict_rate", "conflict_rate_ci95",
           "share", "share_ci95", "mean_version_gap", "max_version_gap", "stale_conflicts", "fresh_conflicts")
GAP_COLUMNS = ("version_gap", "conflicts", "share")
DOMINANT_SHARE = 0.25     # the hottest key's share of conflicts that `run` reports ...
DOMINANT_FACTOR = 2.0     # ... if it is also this many times its share under an even spread
_OPS, _ATT, _CONF = (FIELDS.index(f) for f in ("operations", "attempts", "conflicts"))


def ratio_columns(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`ratio_ci95` of every column of (replications, k) arrays at once. The squared residuals
    are summed replication by replication, so a column's result does not depend on its
    neighbours (one key's interval is the same whether computed alone or with 7,000 others)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = xs.shape[0]
    sx, sy = xs.sum(axis=0), ys.sum(axis=0)      # counts: exact in any order
    with np.errstate(divide="ignore", invalid="ignore"):
        r = sx / sy
        resid = xs - r * ys
        ss = np.zeros(xs.shape[1])
        for row in resid:
            ss += row * row
        hw = t_quantile(0.95, n - 1) * np.sqrt(ss / (n - 1)) / (math.sqrt(n) * (sy / n)) if n > 1 \
            else np.full(xs.shape[1], math.inf)
    hw = np.where(np.any(resid != 0, axis=0) | (n < 2), hw, 0.0)
    none = sy <= 0
    return np.where(none, math.nan, r), np.where(none, math.nan, hw)


def ratio_ci95(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """R = Σx / Σy and the 95 % half-width of the ratio estimator over paired replications
    (x_r, y_r); NaN without a denominator, inf with one replication."""
    r, hw = ratio_columns(np.asarray(x, dtype=float)[:, None], np.asarray(y, dtype=float)[:, None])
    return float(r[0]), float(hw[0])


def merge_point(saved: Sequence[Mapping[str, Any]]) -> tuple[list[Row], list[Row]]:
    """keys.csv and version_gaps.csv rows (without the point's columns) from the `keys` parts of
    one point's runs. Array work throughout: a point of 200 replications of a million-key run
    lists up to 200,000 keys."""
    n, width = len(saved), 1 + len(FIELDS)
    tables = [np.asarray(s["rows"], dtype=np.int64).reshape(-1, width) for s in saved]
    rep_of = np.repeat(np.arange(n), [len(t) for t in tables])
    listed = np.concatenate(tables) if tables else np.zeros((0, width), dtype=np.int64)
    keys, which = np.unique(listed[:, 0], return_inverse=True)
    acc = np.zeros((len(keys), len(FIELDS)), dtype=np.int64)
    np.add.at(acc, which, listed[:, 1:])
    deepest = np.zeros(len(keys), dtype=np.int64)
    np.maximum.at(deepest, which, listed[:, 1 + GAP_MAX])
    acc[:, GAP_MAX] = deepest                      # the one field merged by max, not by sum
    others = np.asarray([s["other"] for s in saved], dtype=np.int64).reshape(n, len(FIELDS))
    other = others.sum(axis=0)
    other[GAP_MAX] = others[:, GAP_MAX].max(initial=0)
    all_conflicts = int(acc[:, _CONF].sum() + other[_CONF])
    rep_conflicts = np.bincount(rep_of, listed[:, 1 + _CONF], minlength=n) + others[:, _CONF]
    # a key's intervals need its count in every replication: listed there, or the replication
    # listed every key it touched (nothing in its "other" row), so an absent key's count is 0
    incomplete = np.any(others[:, [_OPS, _ATT, _CONF]] != 0, axis=1)
    exact = np.bincount(which[incomplete[rep_of]], minlength=len(keys)) == incomplete.sum()
    column = np.full(len(keys), -1)
    column[exact] = np.arange(int(exact.sum()))
    mine = exact[which]
    x, y = np.zeros((n, int(exact.sum()))), np.zeros((n, int(exact.sum())))
    x[rep_of[mine], column[which[mine]]] = listed[mine, 1 + _CONF]
    y[rep_of[mine], column[which[mine]]] = listed[mine, 1 + _ATT]
    rate = np.full((2, len(keys)), math.nan)
    share = np.full((2, len(keys)), math.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate[0] = np.where(acc[:, _ATT] > 0, acc[:, _CONF] / acc[:, _ATT], math.nan)
        share[0] = acc[:, _CONF] / all_conflicts if all_conflicts else math.nan
    if exact.any():
        rate[:, exact] = ratio_columns(x, y)
        share[:, exact] = ratio_columns(x, np.broadcast_to(rep_conflicts[:, None], x.shape))
    order = np.lexsort((keys, -acc[:, _OPS], -acc[:, _CONF]))
    out = [_row(rank, int(keys[k]), acc[k], all_conflicts, (rate[0, k], rate[1, k]), (share[0, k], share[1, k]))
           for rank, k in enumerate(order.tolist(), 1)]
    if other[_OPS] or other[_ATT] or other[_CONF]:
        out.append(_row(None, "other", other, all_conflicts,
                        (other[_CONF] / other[_ATT] if other[_ATT] else math.nan, math.nan),
                        (other[_CONF] / all_conflicts if all_conflicts else math.nan, math.nan)))
    gaps: dict[int, int] = {}
    for s in saved:
        for g, count in s["gaps"]:
            gaps[int(g)] = gaps.get(int(g), 0) + int(count)
    total_gaps = sum(gaps.values())
    return out, [{"version_gap": g, "conflicts": gaps[g], "share": gaps[g] / total_gaps} for g in sorted(gaps)]


def _row(rank: int | None, key: int | str, v: np.ndarray, all_conflicts: int,
         rate: tuple[float, float], share: tuple[float, float]) -> Row:
    f = dict(zip(FIELDS, v.tolist()))
    ops, attempts, conflicts, stale, gap_sum, gap_max = (f[k] for k in ("operations", "attempts", "conflicts",
                                                                        "stale", "gap_sum", "gap_max"))
    return {"rank": rank, "key": key, "operations": ops, "attempts": attempts, "conflicts": conflicts,
            "conflict_rate": float(rate[0]), "conflict_rate_ci95": float(rate[1]),
            "share": float(share[0]), "share_ci95": float(share[1]),
            "mean_version_gap": gap_sum / conflicts if conflicts else math.nan,
            "max_version_gap": gap_max if conflicts else None,
            "stale_conflicts": stale, "fresh_conflicts": conflicts - stale}


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
