"""Performance bounds: limits on metrics, judged against confidence intervals.

A bound such as `p99_ms < 250` is a claim about the model, not about one noisy run, so it
holds only when the whole 95 % confidence interval of the replication mean is on the right
side of the limit and fails only when the whole interval is on the wrong side. Anything in
between is *inconclusive*, which counts as not holding: the note says roughly how many
replications would likely decide it, so a user can tell noise from regression.

A `compare` bound pits two values of one swept key against each other: two policies by
default, or (`by`) two values of any other swept key, such as pipelined against sequential reads.
Because replication r of every point shares its random streams (common random numbers), the
per-replication difference a − b cancels most of the noise, so it is judged as a paired
difference against 0.

Config form (the `[[bounds]]` tables, already parsed):
    {"where": {"policy": "full-jitter", "workload.clients": 64}, "p99_ms": "< 250"}
    {"compare": {"a": "full-jitter", "b": "expo", "metric": "calls", "expect": "a < b"}}
    {"compare": {"by": "network.pipelining", "a": true, "b": false, "metric": "p50_ms", "expect": "a < b"}}
"""
from __future__ import annotations

import io
import math
import operator
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from occmodel.stats import (LOW_SUCCESS, by_replication, group_points, is_missing, mean_ci95, paired_differences,
                            replications_needed)

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}
EXPECTS = {f"a {op} b": op for op in OPS}
LIMIT_PATTERN = r"^\s*(<=|>=|<|>)\s*(\S+)\s*$"     # a limit as a config writes it: "< 250"
_LIMIT = re.compile(LIMIT_PATTERN)
COMPARE_KEYS = ("a", "b", "metric", "expect", "by")
REQUIRED = COMPARE_KEYS[:4]
_STYLE = {"holds": "green", "fails": "red", "inconclusive": "yellow"}


class BoundsError(ValueError):
    """A `[[bounds]]` entry is invalid; the message names the key, the value and what is allowed."""


@dataclass(frozen=True)
class Limit:
    metric: str
    op: str
    value: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.op} {_fmt(self.value)}"


@dataclass(frozen=True)
class Compare:
    metric: str
    a: Any
    b: Any
    op: str                  # relation expected between a and b
    by: str = "policy"       # the swept key whose values a and b are

    def side(self, value: Any) -> str:
        """One side as messages name it: a policy label, else `key=value`."""
        return str(value) if self.by == "policy" else f"{self.by}={_fmt(value)}"

    @property
    def text(self) -> str:
        return f"{self.metric}: {self.side(self.a)} {self.op} {self.side(self.b)}"


@dataclass(frozen=True)
class Bound:
    index: int                     # position in the config, for messages
    where: dict[str, Any]
    limits: tuple[Limit, ...] = ()
    compare: Compare | None = None
    name: str | None = None

    def matches(self, row: Mapping[str, Any]) -> bool:
        return all(same(row.get(k), v) for k, v in self.where.items())


@dataclass(frozen=True)
class Verdict:
    bound: str                     # e.g. "p99_ms < 250" (prefixed by the bound's name if any)
    point: str                     # e.g. "policy=full-jitter workload.clients=64"
    estimate: float | None         # mean (compare: mean of paired differences a − b)
    low: float | None              # confidence interval; None when the metric is missing
    high: float | None
    n: int                         # replications (compare: pairs)
    verdict: str                   # holds | fails | inconclusive
    note: str = ""
    success: str = ""              # latency bounds: the point's mean success rate beside the latency


def same(a: Any, b: Any) -> bool:
    """Equality of swept values: numbers numerically (64 == 64.0), else by text, so a label
    that a CSV reader turned into a number still matches its string form."""
    return a == b or str(a) == str(b)


def _fmt(value: Any) -> str:
    """Numbers as written (64.0 as 64, 0.1 as 0.1), anything else as text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _key(path: str) -> str:
    return f'"{path}"' if "." in path else path


def _parse_limit(path: str, text: Any) -> tuple[str, float]:
    allowed = 'an operator <, <=, > or >= followed by a number, e.g. "< 250"'
    m = _LIMIT.match(text) if isinstance(text, str) else None
    if m is None:
        raise BoundsError(f"{path}: {text!r} is not a limit; expected {allowed}")
    try:
        value = float(m.group(2))
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise BoundsError(f"{path}: {m.group(2)!r} in {text!r} is not a finite number; expected {allowed}")
    return m.group(1), value


def _parse_compare(path: str, raw: Any, metrics: Sequence[str], swept: Sequence[str],
                   points: list[Mapping[str, Any]] | None) -> Compare:
    if not isinstance(raw, Mapping):
        raise BoundsError(f'{path}: expected a table {{a, b, metric, expect}} (and optionally by), got {raw!r}')
    for k in raw:
        if k not in COMPARE_KEYS:
            raise BoundsError(f"{path}.{_key(k)}: unknown key; allowed: {', '.join(COMPARE_KEYS)}")
    for k in REQUIRED:
        if k not in raw:
            raise BoundsError(f"{path}.{k}: missing; a compare needs {', '.join(REQUIRED)} (by is optional)")
    by = raw.get("by", "policy")
    if by not in swept:
        if "by" not in raw:
            raise BoundsError(f"{path}: compares policies, but the sweep does not vary policy; "
                              f"name the swept key to compare with by (one of: {', '.join(swept) or 'nothing is swept'})")
        raise BoundsError(f"{path}.by: {by!r} is not a swept key; allowed: {', '.join(swept) or 'nothing is swept'}")
    values = None if points is None else list(dict.fromkeys(p.get(by) for p in points))
    what = "a policy of the sweep" if by == "policy" else f"a swept value of {by}"
    for k in ("a", "b"):
        scalar = isinstance(raw[k], str) if by == "policy" else isinstance(raw[k], (str, int, float, bool))
        if not scalar or (values is not None and not any(same(v, raw[k]) for v in values)):
            allowed = ("a policy label" if by == "policy" else "a value") if values is None else \
                ("a policy label: " + ", ".join(sorted(map(str, values))) if by == "policy"
                 else "one of: " + ", ".join(map(_fmt, values)))
            raise BoundsError(f"{path}.{k}: {raw[k]!r} is not {what}; expected {allowed}")
    if same(raw["a"], raw["b"]):
        raise BoundsError(f"{path}.b: {raw['b']!r} is the same {'policy' if by == 'policy' else 'value'} as a; "
                          "compare two different ones")
    if raw["metric"] not in metrics:
        raise BoundsError(f"{path}.metric: unknown metric {raw['metric']!r}; allowed: {', '.join(metrics)}")
    op = {k.replace(" ", ""): v for k, v in EXPECTS.items()}.get("".join(str(raw["expect"]).split()))
    if op is None:
        raise BoundsError(f"{path}.expect: {raw['expect']!r} is not allowed; expected one of {', '.join(EXPECTS)}")
    return Compare(raw["metric"], raw["a"], raw["b"], op, by)


def _check_where(path: str, where: Any, swept: Sequence[str], points: list[Mapping[str, Any]] | None,
                 compare: str | None) -> dict[str, Any]:
    if not isinstance(where, Mapping):
        raise BoundsError(f"{path}: expected a table of swept keys and values, got {where!r}")
    for k, v in where.items():
        if k not in swept:
            allowed = ", ".join(swept) if swept else "nothing (no key is swept)"
            raise BoundsError(f"{path}.{_key(k)}: not a swept key (value {v!r}); allowed: {allowed}")
        if compare == k:
            what = "policies" if k == "policy" else f"values of {k}"
            raise BoundsError(f"{path}.{_key(k)}: a compare picks its {what} with compare.a and compare.b; "
                              f"remove {_key(k)} = {v!r} from where")
        if points is not None and not any(same(p.get(k), v) for p in points):
            values = ", ".join(dict.fromkeys(str(p.get(k)) for p in points))
            raise BoundsError(f"{path}.{_key(k)}: {v!r} matches no point; swept values: {values}")
    if points is not None and not any(all(same(p.get(k), v) for k, v in where.items()) for p in points):
        raise BoundsError(f"{path}: {dict(where)!r} matches no point (no point has this combination)")
    return dict(where)


def parse_bounds(
    raw: Sequence[Any],
    swept: Sequence[str],
    metrics: Sequence[str],
    points: Iterable[Mapping[str, Any]] | None = None,
) -> list[Bound]:
    """Validate `[[bounds]]` tables into `Bound`s, raising `BoundsError` on the first problem.

    `points` (grid points or runs rows: mappings holding the swept columns) lets `where`
    values and compare labels be checked against what the sweep contains; without it they
    are checked when the bounds are evaluated.
    """
    pts = None if points is None else list(points)
    bounds = []
    for i, entry in enumerate(raw):
        path = f"bounds[{i}]"
        if not isinstance(entry, Mapping):
            raise BoundsError(f"{path}: expected a table, got {entry!r}")
        name = entry.get("name")
        if name is not None and not isinstance(name, str):
            raise BoundsError(f"{path}.name: {name!r} is not a string; expected a label")
        compare = _parse_compare(f"{path}.compare", entry["compare"], metrics, swept, pts) if "compare" in entry else None
        where = _check_where(f"{path}.where", entry.get("where", {}), swept, pts, compare and compare.by)
        limits = []
        for k, v in entry.items():
            if k in ("where", "name", "compare"):
                continue
            if k not in metrics:
                raise BoundsError(f"{path}.{_key(k)}: unknown metric (value {v!r}); "
                                  f"allowed: where, name, compare, or a metric: {', '.join(metrics)}")
            limits.append(Limit(k, *_parse_limit(f"{path}.{_key(k)}", v)))
        if compare and limits:
            raise BoundsError(f"{path}: has both compare and metric limits ({', '.join(l.metric for l in limits)}); "
                              "put them in separate [[bounds]] entries")
        if not compare and not limits:
            raise BoundsError(f'{path}: states no limit; add a metric limit like p99_ms = "< 250" or a compare table')
        bounds.append(Bound(i, where, tuple(limits), compare, name))
    return bounds


def _judge(values: Sequence[float], op: str, limit: float) -> tuple[float, float, float, str, str]:
    """Estimate, interval and verdict of `mean op limit`, with a note when undecided."""
    mean, hw = mean_ci95(values)
    low, high = mean - hw, mean + hw
    worst, best = (high, low) if op in ("<", "<=") else (low, high)
    if OPS[op](worst, limit):
        return mean, low, high, "holds", ""
    if not OPS[op](best, limit):
        return mean, low, high, "fails", ""
    if len(values) < 2:
        note = "one replication gives no interval; run more replications"
    elif (needed := replications_needed(values, limit)) is None:
        note = "mean equals the limit; more replications are unlikely to decide it"
    else:
        note = f"~{needed} replications would likely decide it"
    return mean, low, high, "inconclusive", note


def _describe(columns: Sequence[str], key: tuple[Any, ...]) -> str:
    return " ".join(f"{c}={_fmt(v)}" for c, v in zip(columns, key)) or "(all)"


def _label(bound: Bound, text: str) -> str:
    return f"{bound.name}: {text}" if bound.name else text


def _verdict(label: str, point: str, values: list[Any], op: str, limit: float, metric: str) -> Verdict:
    """Judge per-replication `values` against `limit`; a missing value leaves it undecided."""
    present = [float(v) for v in values if not is_missing(v)]
    if len(present) < len(values):
        estimate = sum(present) / len(present) if present else None
        note = f"{metric} undefined in {len(values) - len(present)} of {len(values)} replications"
        return Verdict(label, point, estimate, None, None, len(values), "inconclusive", note)
    mean, low, high, verdict, note = _judge(present, op, limit)
    return Verdict(label, point, mean, low, high, len(present), verdict, note)


def _compare(bound: Bound, compare: Compare, rows: list[Mapping[str, Any]], others: list[str]) -> list[Verdict]:
    """Paired differences a − b, matched by replication, per point of the other swept columns."""
    verdicts = []
    for key, group in group_points(rows, others).items():
        point = _describe(others, key)
        a = by_replication(r for r in group if same(r.get(compare.by), compare.a))
        b = by_replication(r for r in group if same(r.get(compare.by), compare.b))
        reps = [rep for rep in a if rep in b]
        if not reps:
            note = f"no replication has both {compare.side(compare.a)} and {compare.side(compare.b)}"
            verdicts.append(Verdict(_label(bound, compare.text), point, None, None, None, 0, "inconclusive", note))
            continue
        diffs = paired_differences(a, b, compare.metric)
        v = _verdict(_label(bound, compare.text), point, diffs, compare.op, 0.0, compare.metric)
        unpaired = len(a) + len(b) - 2 * len(reps)
        if unpaired:
            v = replace(v, note="; ".join(filter(None, [v.note, f"{unpaired} unpaired runs ignored"])))
        if is_latency(compare.metric):
            v = replace(v, success=", ".join(f"{compare.side(value)} {success_text([r[rep] for rep in reps])}"
                                             for value, r in ((compare.a, a), (compare.b, b))))
        verdicts.append(v)
    return verdicts


def evaluate(bounds: Sequence[Bound], runs: Iterable[Mapping[str, Any]], swept: Sequence[str]) -> list[Verdict]:
    """One verdict per bound × matched point × limit (compare: per point of the other swept keys)."""
    table_rows = list(runs)
    verdicts: list[Verdict] = []
    for bound in bounds:
        rows = [r for r in table_rows if bound.matches(r)]
        if not rows:
            raise BoundsError(f"bounds[{bound.index}].where: {bound.where!r} matches no run")
        if bound.compare is not None:
            verdicts += _compare(bound, bound.compare, rows, [s for s in swept if s != bound.compare.by])
            continue
        for key, group in group_points(rows, swept).items():
            for lim in bound.limits:
                values = [r.get(lim.metric) for r in group]
                v = _verdict(_label(bound, lim.text), _describe(swept, key), values, lim.op, lim.value, lim.metric)
                verdicts.append(replace(v, success=success_text(group)) if is_latency(lim.metric) else v)
    return verdicts


def is_latency(metric: str) -> bool:
    return metric.endswith("_ms")


def success_text(runs: Sequence[Mapping[str, Any]]) -> str:
    """Mean success rate of a point's runs, flagged when below `LOW_SUCCESS`: a latency bound is
    only as good as the share of operations its latency covers."""
    values = [float(r["success_rate"]) for r in runs if not is_missing(r.get("success_rate"))]
    if not values:
        return "-"
    mean = sum(values) / len(values)
    return f"{mean:.3f}" + (f" (< {LOW_SUCCESS:g}!)" if mean < LOW_SUCCESS else "")


def all_hold(verdicts: Iterable[Verdict]) -> bool:
    return all(v.verdict == "holds" for v in verdicts)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def table(verdicts: Iterable[Verdict]) -> Table:
    """The verdicts as a rich table (verdicts coloured when printed to a terminal)."""
    t = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for col in ("bound", "point"):
        t.add_column(col)
    for col in ("estimate", "95 % interval", "n"):
        t.add_column(col, justify="right")
    verdicts = list(verdicts)
    success = any(v.success for v in verdicts)
    for col in ("verdict", *(["success rate"] * success), "note"):
        t.add_column(col)
    for v in verdicts:
        interval = "-" if v.low is None else f"[{_num(v.low)}, {_num(v.high)}]"
        cells = [v.bound, v.point, _num(v.estimate), interval, str(v.n)]
        t.add_row(*map(Text, cells), Text(v.verdict, style=_STYLE[v.verdict]),
                  *([Text(v.success)] * success), Text(v.note))
    return t


def render(verdicts: Iterable[Verdict]) -> str:
    """The verdict table as plain text at its natural width (no wrapping, no colour codes),
    for files, logs and test failures."""
    buf = io.StringIO()
    Console(file=buf, width=100_000, color_system=None, force_terminal=False).print(table(verdicts))
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
