"""Replication statistics: means with Student-t confidence intervals.

A single simulation run is one draw from a noisy process, so every number occmodel reports
about a sweep point is a mean over replications together with the half-width of its
confidence interval. Bounds (see `occmodel.bounds`) are judged against that interval rather
than the bare mean, and `replications_needed` tells a user how many more runs would likely
turn an undecided comparison into a decided one.

A metric that is undefined in a run (None or NaN, e.g. latency when nothing succeeded) is
*missing*: summaries average over the replications where it is defined.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy import stats as _sp

# below this success rate a point's success-only latency covers too few operations to compare:
# the run table, check's verdicts, index.md and the plots flag it (one threshold for all of them)
LOW_SUCCESS = 0.99

Row = dict[str, Any]


@lru_cache(maxsize=1024)
def t_quantile(confidence: float, df: int) -> float:
    """Two-sided Student-t critical value: the interval is mean ± this × sd/√n."""
    return float(_sp.t.ppf(0.5 + confidence / 2, df))


def is_missing(value: Any) -> bool:
    """None and NaN mark a metric that is undefined in a run."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def mean_ci95(values: Iterable[float], confidence: float = 0.95) -> tuple[float, float]:
    """Mean and confidence half-width (Student t with n − 1 degrees of freedom).

    One value gives no variance estimate, so its half-width is infinite; identical values
    give an exact mean and half-width 0 (no rounding noise from summing).
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        raise ValueError("mean_ci95 needs at least one value")
    if x.size == 1:
        return float(x[0]), math.inf
    if np.all(x == x[0]):
        return float(x[0]), 0.0
    sd = float(np.std(x, ddof=1))
    return float(np.mean(x)), t_quantile(confidence, x.size - 1) * sd / math.sqrt(x.size)


def replications_needed(
    values: Iterable[float], limit: float, confidence: float = 0.95
) -> int | None:
    """Total replications likely to put the confidence interval clear of `limit`.

    Assumes the current mean and standard deviation are what more replications would show.
    Starts from the normal approximation n ≈ (z·sd / |mean − limit|)², then steps n up until
    the Student-t half-width t(n−1)·sd/√n is below the gap (the t correction is a few runs at
    most). None when it cannot be estimated: fewer than two values (no sd) or mean == limit
    (no number of runs separates them).
    """
    x = np.asarray(list(values), dtype=float)
    if x.size < 2:
        return None
    mean, sd = float(np.mean(x)), float(np.std(x, ddof=1))
    gap = abs(mean - limit)
    if gap == 0:
        return None
    z = float(_sp.norm.ppf(0.5 + confidence / 2))
    n = max(2, math.ceil((z * sd / gap) ** 2))
    while t_quantile(confidence, n - 1) * sd / math.sqrt(n) >= gap:
        n += 1
    return n


def point_key(row: Mapping[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    """The values of `columns` in `row`: identifies a sweep point (64 and 64.0 are equal)."""
    return tuple(row.get(c) for c in columns)


def group_points(
    runs: Iterable[Mapping[str, Any]], columns: Sequence[str]
) -> dict[tuple[Any, ...], list[Mapping[str, Any]]]:
    """Rows grouped by their values of `columns`, points in first-appearance order."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in runs:
        groups.setdefault(point_key(row, columns), []).append(row)
    return groups


def by_replication(rows: Iterable[Mapping[str, Any]]) -> dict[Any, Mapping[str, Any]]:
    """One point's runs of one policy keyed by replication index: what pairs them with another's."""
    return {r.get("replication"): r for r in rows}


def paired_differences(a: Mapping[Any, Mapping[str, Any]], b: Mapping[Any, Mapping[str, Any]],
                       metric: str) -> list[float | None]:
    """`metric` of a minus that of b, one per replication both ran (in a's order), None where
    either is missing. Replication r of every policy shares its random streams (common random
    numbers), so the difference cancels the noise the two share: judge it, not two intervals."""
    out: list[float | None] = []
    for rep, row in a.items():
        if rep in b:
            x, y = row.get(metric), b[rep].get(metric)
            out.append(None if is_missing(x) or is_missing(y) else float(x) - float(y))
    return out


def summarize(
    runs: Iterable[Mapping[str, Any]], swept: Sequence[str], metrics: Sequence[str]
) -> list[Row]:
    """One row per sweep point: the swept values, `n`, then `<m>` and `<m>_ci95` per metric.

    `n` counts the point's replications; a metric's mean and half-width use the replications
    where it is defined, and are None where it is defined in none.
    """
    summary: list[Row] = []
    for key, rows in group_points(runs, swept).items():
        out: Row = dict(zip(swept, key))
        out["n"] = len(rows)
        for m in metrics:
            present = [float(r[m]) for r in rows if not is_missing(r.get(m))]
            mean, hw = mean_ci95(present) if present else (None, None)
            out[m], out[f"{m}_ci95"] = mean, hw
        summary.append(out)
    return summary
