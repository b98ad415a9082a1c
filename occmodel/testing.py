"""Performance bounds as test assertions.

A test suite that pins the model's behaviour (say, "full jitter keeps p99 under 250 ms at
64 clients") should judge it exactly as `occmodel check` does — against the confidence
interval, not a lucky mean — and, when it fails, show the same table. `assert_bounds` does
that with a plain AssertionError, so it needs no pytest import and reads well in pytest's
failure report.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from occmodel.bounds import Verdict, evaluate, parse_bounds, render
from occmodel.results import read_csv

_NOT_METRICS = ("replication", "seed")


def assert_bounds(
    runs: Iterable[Mapping[str, Any]] | str | Path,
    bounds: Sequence[Mapping[str, Any]],
    swept: Sequence[str],
) -> list[Verdict]:
    """Evaluate `[[bounds]]`-style tables on a runs table (or a saved runs.csv).

    Every non-swept column of the runs is a metric a bound may name. Returns the verdicts
    when all hold; otherwise raises AssertionError with the table of those that do not.
    An invalid bound raises `BoundsError`: a broken test, not a failed one.
    """
    rows = read_csv(Path(runs)) if isinstance(runs, (str, Path)) else list(runs)
    columns = dict.fromkeys(k for row in rows for k in row)
    metrics = [c for c in columns if c not in swept and c not in _NOT_METRICS]
    verdicts = evaluate(parse_bounds(bounds, swept, metrics, points=rows), rows, swept)
    bad = [v for v in verdicts if v.verdict != "holds"]
    if bad:
        raise AssertionError(f"{len(bad)} of {len(verdicts)} bound checks do not hold:\n{render(bad)}")
    return verdicts
