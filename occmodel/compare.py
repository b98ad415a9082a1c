"""Paired differences from a baseline policy: `occmodel compare DIR --baseline LABEL` (DESIGN 6.4).

"Is the budget better than no backoff, and by how much?" is a question about a difference, and
replication r of every policy at a point runs on the same random streams (common random numbers),
so the per-replication difference cancels the noise the two runs share: its 95 % interval is far
narrower than the two policies' intervals side by side. The statistics are those `check` judges
`a < b` bounds with (`stats.paired_differences`, `stats.mean_ci95`); this module only lays them
out for every point, policy and metric, as `compare.csv`.

`[compare]` in the experiment file names the baseline (and the metrics plotted), so `occmodel run`
writes compare.csv itself; `--baseline` overrides it. As with `compare` bounds, `by` compares the
values of another swept key instead of policies (e.g. pipelined against sequential reads).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Sequence

from pydantic import Field

from .config import StrictModel
from .errors import ConfigError, validate
from .metrics import METRICS
from .results import Row, read_csv, read_json, write_csv
from .stats import by_replication, group_points, is_missing, mean_ci95, paired_differences

# plotted when neither [compare] nor --metric says: output, success, amplification, latency, collapse
HEADLINE = ("throughput", "makespan_s", "success_rate", "attempts_per_op", "p50_ms", "p99_ms", "all_p99_ms",
            "collapsed", "recovery_s")
COLUMNS = ("baseline", "metric", "difference", "ci95", "low", "high", "pairs", "mean",
           "baseline_mean", "verdict")
MIN_PAIRS = 2     # one pair has no variance, so no interval


class CompareTable(StrictModel):
    """Paired differences from a baseline policy, written by `occmodel run` and `occmodel compare` as compare.csv."""

    baseline: str | bool | int | float = Field(
        description="the policy label every other policy is compared with (with by: a value of that key)")
    by: str = Field("policy", description="the swept key whose values are compared, e.g. network.pipelining")
    metrics: list[Literal[METRICS]] | None = Field(
        None, min_length=1, description="the metrics plotted in plots/compare.png (compare.csv has every metric); "
        "default: the headline metrics that differ somewhere")


def parse_table(raw: Any, values: dict[str, list[Any]], replications: int) -> CompareTable:
    """Validate `[compare]` against the sweep (`values`: swept key -> its values, policy as labels)."""
    spec: CompareTable = validate(CompareTable, raw, "compare")
    if spec.by not in values:
        key = "compare.by" if "by" in raw else "compare.baseline"
        raise ConfigError(key, spec.by if "by" in raw else spec.baseline,
                          f"compares values of {spec.by}, which is not swept; swept keys: "
                          f"{', '.join(values) or 'none'}")
    check_baseline("compare.baseline", str(spec.baseline), _texts(values[spec.by]), spec.by)
    if replications < MIN_PAIRS:
        raise ConfigError("experiment.replications", replications,
                          f"[compare] needs >= {MIN_PAIRS} replications: a paired 95 % interval needs two pairs or more")
    return spec


def _texts(values: Sequence[Any]) -> list[str]:
    """Swept values as text, in order (a CSV reader may have made "64" 64, or a label a number)."""
    return list(dict.fromkeys(str(v) for v in values))


def check_baseline(option: str, baseline: str, labels: Sequence[str], by: str = "policy") -> None:
    what = "a policy of the sweep" if by == "policy" else f"a swept value of {by}"
    if baseline not in labels:
        raise ConfigError(option, baseline, f"not {what}; allowed: {', '.join(labels)}")
    if len(labels) < 2:
        raise ConfigError(option, baseline, f"is the only value of {by}: there is nothing to compare it with")


def read_results(directory: Path) -> tuple[dict[str, Any], list[Row]]:
    """The manifest and runs.csv of a results directory; `ConfigError` naming DIRECTORY when it is not one."""
    d = Path(directory)
    expected = "expected a results directory written by 'occmodel run' (manifest.json and runs.csv)"
    if not (d / "manifest.json").is_file() or not (d / "runs.csv").is_file():
        raise ConfigError("DIRECTORY", str(d), expected)
    manifest = read_json(d / "manifest.json")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("swept"), list):
        raise ConfigError("DIRECTORY", str(d), f"{d / 'manifest.json'} is not a manifest occmodel wrote; {expected}")
    runs = read_csv(d / "runs.csv")
    points, reps = manifest.get("points"), manifest.get("replications")
    if isinstance(points, int) and isinstance(reps, int) and len(runs) != points * reps:
        raise ConfigError(str(d / "runs.csv"), {}, f"has {len(runs)} rows but the manifest says {points} points × "
                                                   f"{reps} replications: truncated or from another run")
    return manifest, runs


def _verdict(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "undefined"
    if low == high == 0:
        return "equal"                   # every pair the same: no noise to judge
    return "higher" if low > 0 else "lower" if high < 0 else "no clear difference"


def differences(runs: Sequence[Row], swept: Sequence[str], baseline: str,
                metrics: Sequence[str] = METRICS, by: str = "policy") -> list[Row]:
    """One row per point (of the swept keys but `by`) × other value of `by` × metric: the mean
    paired difference value − baseline, its 95 % half-width and interval, the pairs it is over
    (replications where both ran and the metric is defined in both) and both means over them."""
    others = [k for k in swept if k != by]
    rows: list[Row] = []
    for key, group in group_points(runs, others).items():
        values = _by_value(group, by)
        base = values.get(baseline, {})
        for label, reps in values.items():
            if label == baseline:
                continue
            for m in metrics:
                diffs = [d for d in paired_differences(reps, base, m) if d is not None]
                shared = [rep for rep in reps if rep in base and not is_missing(reps[rep].get(m))
                          and not is_missing(base[rep].get(m))]
                mean, hw = mean_ci95(diffs) if diffs else (None, None)
                finite = hw is not None and math.isfinite(hw)
                low, high = (mean - hw, mean + hw) if finite and mean is not None else (None, None)
                rows.append({**dict(zip(others, key)), by: label, "baseline": baseline, "metric": m,
                             "difference": mean, "ci95": hw if finite else None, "low": low, "high": high,
                             "pairs": len(diffs),
                             "mean": _mean([float(reps[r][m]) for r in shared]),
                             "baseline_mean": _mean([float(base[r][m]) for r in shared]),
                             "verdict": _verdict(low, high)})
    return rows


def _by_value(rows: Sequence[Row], by: str) -> dict[str, dict[Any, Row]]:
    """One point's runs: value of `by` (as text) -> replication -> run."""
    return {str(k[0]): by_replication(rs) for k, rs in group_points(rows, [by]).items()}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class Comparison:
    """compare.csv's content: which key's values were compared with which baseline, at which points."""

    name: str                    # the experiment's
    by: str
    baseline: str
    others: list[str]            # the swept keys that make a point
    rows: list[Row]
    values: list[str]            # every value of `by` in sweep order, the baseline included
    metrics: list[str] | None    # what [compare] asks to plot (None: the headline metrics)

    @property
    def columns(self) -> list[str]:
        return [*self.others, self.by, *COLUMNS]


def compare_directory(directory: Path, baseline: str | None, by: str | None = None) -> Comparison:
    """Check a results directory, a baseline and `by` (None: from the `[compare]` table it ran
    with, else policy) and return (columns, rows) of compare.csv; `ConfigError` before anything
    is written."""
    manifest, runs = read_results(directory)
    table = manifest.get("config", {}).get("compare") or {}
    option = "--by" if by is not None else "compare.by" if "by" in table else None
    by = by or table.get("by", "policy")
    if by not in manifest["swept"]:
        swept = ", ".join(manifest["swept"]) or "nothing is swept"
        if option is None:
            raise ConfigError("DIRECTORY", str(directory), "its sweep does not vary policy: there is no baseline "
                                                           f"policy to compare with (swept: {swept}; --by KEY compares "
                                                           "the values of another swept key)")
        raise ConfigError(option, by, f"not a swept key of {directory}; allowed: {swept}")
    labels = _texts([r.get(by) for r in runs])
    if baseline is None and by == table.get("by", "policy") and table.get("baseline") is not None:
        baseline = str(table["baseline"])
    if baseline is None:
        raise ConfigError("--baseline", None, f"needed: the baseline {'policy' if by == 'policy' else 'value'}, "
                                              f"one of: {', '.join(labels)} (or a [compare] table with baseline "
                                              "in the config)")
    check_baseline("--baseline", baseline, labels, by)
    if "replication" not in (runs[0] if runs else {}):
        raise ConfigError("DIRECTORY", str(directory), "runs.csv has no replication column: runs cannot be paired")
    others = [k for k in manifest["swept"] if k != by]
    pairs = 0
    for group in group_points(runs, others).values():
        reps = _by_value(group, by)
        base = set(reps.get(baseline, {}))
        pairs = max([pairs, *(len(set(v) & base) for k, v in reps.items() if k != baseline)])
    if pairs < MIN_PAIRS:
        other = "policy" if by == "policy" else f"value of {by}"
        raise ConfigError("DIRECTORY", str(directory), f"pairs at most {pairs} replication(s) of {baseline!r} with another "
                                                       f"{other} at a point: a paired 95 % interval needs {MIN_PAIRS} or "
                                                       f"more (re-run with --replications {MIN_PAIRS} or more)")
    return Comparison(str(manifest.get("name", Path(directory).name)), by, baseline, others, differences(runs, manifest["swept"], baseline, METRICS, by), labels,
                      table.get("metrics"))


def write(directory: Path, comparison: Comparison) -> Path:
    path = Path(directory) / "compare.csv"
    write_csv(path, comparison.columns, comparison.rows)
    return path


__all__ = ["COLUMNS", "CompareTable", "Comparison", "HEADLINE", "check_baseline", "compare_directory", "differences",
           "parse_table", "read_results", "write"]
