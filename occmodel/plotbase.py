"""What every plot module shares: the results directory as one `Results` value, and how to read it.

`load` decides once, from the saved files alone, what the experiment compares (the series), which
swept keys are numeric axes and which are facets, and each series' colour; the small readers below
(`seconds`, `number`, `matches`, `focus_point` ...) are how a plot module picks rows out of it. Plot
modules (`plots`, `plots_timeseries`) import from here and never from each other's private names.
"""
from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import LogFormatter  # noqa: E402

from occmodel.errors import ConfigError  # noqa: E402
from occmodel.results import Row, read_csv, read_json, write_bytes_atomic  # noqa: E402
from occmodel.stats import LOW_SUCCESS  # noqa: E402

DPI = 110
FORMATS = ("png", "svg", "pdf")   # --format: raster for a quick look, vector for papers and slides
# no creation date in vector files, fixed SVG ids: the same results draw byte-identical files
_UNDATED: dict[str, dict[str, Any]] = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}
_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*(us|µs|ms|s|m|h)\s*")
_UNIT = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def save(figure: Figure, path: Path) -> Path:
    """Write `figure` atomically in the format its suffix names (one of FORMATS)."""
    fmt = path.suffix.lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError("--format", fmt, f"expected one of: {', '.join(FORMATS)}")
    buf = io.BytesIO()
    with plt.rc_context({"svg.hashsalt": "occmodel"}):
        figure.savefig(buf, format=fmt, dpi=DPI, metadata=_UNDATED[fmt])
    write_bytes_atomic(path, buf.getvalue())
    return path


class Plot(NamedTuple):
    """One figure and the line `index.md` gives it."""

    name: str          # file name, e.g. "throughput-vs-workload_clients.png" (saved with the chosen format's suffix)
    caption: str       # its line in index.md
    figure: Figure


class Results(NamedTuple):
    """A results directory as plots see it."""

    name: str
    config: dict[str, Any]
    keys: dict[str, list[Any]]      # swept columns but `by` that take ≥ 2 values, in order: x axes, facets
    axes: list[str]                 # those of `keys` with ≥ AXIS_VALUES values, all numbers (or durations)
    by: str | None                  # the series column: `policy` if swept, else the first categorical key
    series: list[str | None]        # its values as strings; [None]: one unlabelled series
    colours: dict[str | None, Any]
    replications: int
    summary: list[Row]
    timeseries: list[Row]
    latency: list[Row]
    runs: list[Row] = []            # runs.csv: what a summary cell is over (e.g. replications where a metric is defined)
    key_rows: list[Row] = []        # keys.csv (per point: keys by conflicts, then "other")
    gap_rows: list[Row] = []        # version_gaps.csv (per point: conflicts per version gap)


class _Plain(LogFormatter):
    """Log-axis tick labels as plain numbers: 40 and 0.01, not 4×10¹ and 1e-02."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


def log_axis(axis: Axis) -> None:
    """A log scale on `axis` with plain-number tick labels."""
    getattr(axis.axes, f"set_{axis.axis_name}scale")("log")
    axis.set_major_formatter(_Plain())
    axis.set_minor_formatter(_Plain(minor_thresholds=(1, 0.4)))


def seconds(v: Any) -> float | None:
    """A number, or a duration string such as "250ms", in seconds; None for anything else."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    m = _DURATION.fullmatch(v) if isinstance(v, str) else None
    return float(m[1]) * _UNIT[m[2]] if m else None


def number(row: Row, col: str) -> float:
    """A cell as a float; NaN when missing (a metric that does not apply, e.g. makespan of an open run)."""
    return np.nan if row.get(col) is None else float(row[col])


def series_of(res: Results, row: Row) -> str | None:
    """The series (line, colour) a row belongs to."""
    return None if res.by is None or row.get(res.by) is None else str(row[res.by])


def series_label(res: Results, s: str | None) -> str:
    """A series' legend text: a policy label alone, another key as `key = value`."""
    return "" if s is None else s if res.by == "policy" else f"{res.by} = {s}"


def matches(res: Results, row: Row, fixed: dict[str, Any], s: str | None) -> bool:
    """Whether a row is series `s` at the point `fixed` (swept key -> value)."""
    return series_of(res, row) == s and all(row.get(k) == v for k, v in fixed.items())


def describe(fixed: dict[str, Any]) -> str:
    """A point as titles print it: `key=value, ...`."""
    return ", ".join(f"{k}={v}" for k, v in fixed.items()) or "the only point"


LOW_SUCCESS_NOTE = (f"hollow markers: success rate < {LOW_SUCCESS:g}, where success-only latency leaves out "
                    "the failed operations")


def low_success(row: Row) -> bool:
    """Whether a summary row's latency must be read beside its (low) success rate."""
    rate = number(row, "success_rate")
    return bool(np.isfinite(rate)) and rate < LOW_SUCCESS


def check_complete(d: Path, manifest: Any, summary: list[Row]) -> None:
    """Refuse to draw a directory whose files disagree with its manifest (truncated, edited): the
    manifest must be one occmodel wrote (name, swept, points, replications), summary.csv must have
    a row per point and runs.csv one per run, and each CSV as many rows as the manifest recorded."""
    where = str(d / "manifest.json")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("swept", []), list):
        raise ConfigError(where, {}, "is not a manifest occmodel wrote (expected an object with 'swept')")
    points, reps = manifest.get("points"), manifest.get("replications")
    if reps == "auto":       # replications until precise: each point's n is in the manifest's precision
        reps = None
        n = [p.get("n") for p in (manifest.get("precision") or {}).get("points", [])]
        if len(n) != points or not all(isinstance(k, int) for k in n):
            raise ConfigError(where, {}, "is not a manifest occmodel wrote (replications = \"auto\" without each "
                                         "point's n under 'precision'); rewrite it with occmodel run")
        if (d / "runs.csv").exists() and len(read_csv(d / "runs.csv")) != sum(n):
            raise ConfigError(str(d / "runs.csv"), {}, f"has {len(read_csv(d / 'runs.csv'))} rows but the manifest "
                                                       f"says {sum(n)} runs: truncated or from another run")
    elif manifest and not (isinstance(points, int) and isinstance(reps, int) and "swept" in manifest):
        raise ConfigError(where, {}, "is not a manifest occmodel wrote (expected 'swept', 'points' and "
                                     "'replications'); rewrite it with occmodel run")
    if isinstance(points, int) and (d / "summary.csv").exists() and len(summary) != points:
        raise ConfigError(str(d / "summary.csv"), {}, f"has {len(summary)} rows but the manifest says {points} "
                                                      "points: truncated or from another run")
    if isinstance(points, int) and isinstance(reps, int) and (d / "runs.csv").exists():
        runs = len(read_csv(d / "runs.csv"))
        if runs != points * reps:
            raise ConfigError(str(d / "runs.csv"), {}, f"has {runs} rows but the manifest says {points} points × "
                                                       f"{reps} replications: truncated or from another run")
    rows = manifest.get("rows")
    for name, n in (rows.items() if isinstance(rows, dict) else ()):
        if name in ("timeseries.csv", "latency.csv", "keys.csv", "version_gaps.csv") and (d / name).exists() and len(read_csv(d / name)) != n:
            raise ConfigError(str(d / name), {}, f"has {len(read_csv(d / name))} rows but the manifest says {n}: "
                                                 "truncated or edited (rewrite it with occmodel run)")


AXIS_VALUES = 3    # a numeric key with fewer values is a facet: a line from 0 to "0.002 s" says less than panels "0s" | "2ms"


def is_numeric(values: list[Any]) -> bool:
    return all(seconds(v) is not None for v in values)


def load(results_dir: Path) -> Results:
    """Read a results directory and decide series, axes and facets from what it holds."""
    d = Path(results_dir)
    rows = {n: read_csv(d / f"{n}.csv") if (d / f"{n}.csv").exists() else []
            for n in ("summary", "timeseries", "latency")}
    extra = {f: read_csv(d / f"{n}.csv") if (d / f"{n}.csv").exists() else []
             for f, n in (("key_rows", "keys"), ("gap_rows", "version_gaps"))}
    manifest = read_json(d / "manifest.json") if (d / "manifest.json").exists() else {}
    check_complete(d, manifest, rows["summary"])
    swept = manifest.get("swept", [])
    base = rows["summary"] or rows["timeseries"] or rows["latency"]
    values = {k: list(dict.fromkeys(r.get(k) for r in base)) for k in swept}
    numeric = {k for k, vs in values.items() if is_numeric(vs)}
    by = "policy" if "policy" in swept else next(
        (k for k, vs in values.items() if len(vs) >= 2 and k not in numeric), None)
    keys = {k: vs for k, vs in values.items() if len(vs) >= 2 and k not in (by, "policy")}
    series = [None if v is None else str(v) for v in values[by]] if by else [None]
    cmap = plt.get_cmap("tab10" if len(series) <= 10 else "tab20")
    reps = manifest.get("replications")
    if reps == "auto":       # n per point: the fewest any point has (bands need >= 2)
        reps = min((r.get("n") or 1 for r in rows["summary"]), default=1)
    elif not reps:
        reps = max((r.get("n") or 1 for r in rows["summary"]), default=1)
    return Results(manifest.get("name", d.name), manifest.get("config", {}), keys,
                   [k for k in keys if k in numeric and len(keys[k]) >= AXIS_VALUES], by, series,
                   {s: cmap(i % cmap.N) for i, s in enumerate(series)}, int(reps), **rows,
                   runs=read_csv(d / "runs.csv") if (d / "runs.csv").exists() else [], **extra)


def replications_text(res: Results) -> str:
    """How many replications the intervals are over, as captions say it: "5 replications", or
    with replications = "auto" "5–61 replications per point" (summary.csv n)."""
    ns = sorted({int(r["n"]) for r in res.summary if r.get("n") is not None}) or [res.replications]
    return f"{ns[0]} replications" if len(ns) == 1 else f"{ns[0]}–{ns[-1]} replications per point"


def section(res: Results, *path: str) -> dict[str, Any]:
    """A table of the resolved config in manifest.json, {} when absent."""
    node: Any = res.config
    for p in path:
        node = node.get(p) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def is_batch(res: Results) -> bool:
    """Batch runs are judged by makespan, not throughput."""
    return section(res, "scenario", "workload").get("kind") == "batch"


def focus_point(res: Results) -> dict[str, Any]:
    """The point shown where one must be chosen: numeric keys at their largest value."""
    return {k: max(vs, key=seconds) if is_numeric(vs) else vs[0] for k, vs in res.keys.items()}


def bound_metrics(res: Results) -> list[str]:
    """The metrics the experiment's own `[[bounds]]` judge (limits and compares), in order: what
    the experiment claims about, so its plots must show them."""
    found: list[str] = []
    for entry in res.config.get("bounds") or []:
        if isinstance(entry, dict):
            compare = entry.get("compare")
            found += [k for k in entry if k not in ("where", "name", "compare")]
            found += [compare["metric"]] if isinstance(compare, dict) and "metric" in compare else []
    return list(dict.fromkeys(found))
