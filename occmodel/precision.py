"""Replications until precise: the sequential rule of `replications = "auto"`.

Hoad, Robinson & Davies' replication algorithm (J. Oper. Res. Soc. 61, 2010): after each
replication n, every listed metric's 95 % Student-t half-width over replications 0 … n − 1 is
compared with `relative` × |mean|. The first n ≥ `min` where all are within the target is a
candidate; it is confirmed only if the target still holds at each of the next f(n) replications
(the look-ahead, f(n) = `lookahead` for n ≤ 100, else ⌊lookahead · n / 100⌋), which guards against
an interval that is narrow by chance after few runs. Then the point uses every replication run so
far (candidate + look-ahead). At `max` the point stops unconfirmed (`reached` False).

The decision at n reads replications 0 … n − 1 only, and replication r's random streams depend on
(seed, r) alone, so the n a point gets does not depend on how its replications were batched,
which executor ran them, or whether the sweep was interrupted and resumed. `decide` also says how
many replications to run next (a projection from the current variance, at most doubling the
count); running more than needed costs time, never changes the answer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from .stats import is_missing, mean_ci95, t_quantile

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Rule:
    """The `[experiment] precision` table."""

    metrics: tuple[str, ...]
    relative: float
    min: int = 5
    max: int = 200
    lookahead: int = 5

    def horizon(self, n: int) -> int:
        """f(n): the replications after candidate n that must keep the precision."""
        return self.lookahead if n <= 100 else self.lookahead * n // 100


@dataclass(frozen=True)
class Decision:
    """A point's verdict from its replications so far.

    `n`: the replications it uses (None: not decided, run `more`); `first`: the candidate the
    look-ahead confirmed (None when `max` stopped it); `widths`: each metric's half-width /
    |mean| at `n` (or at the replications so far)."""

    n: int | None
    reached: bool
    first: int | None
    more: int
    widths: dict[str, float]


def relative_width(values: Sequence[Any]) -> float:
    """95 % half-width / |mean| of the defined values: 0 when they are all equal, inf when there
    is no interval (fewer than 2) or the mean is 0 with spread (no relative target can be met)."""
    present = [float(v) for v in values if not is_missing(v)]
    if len(present) < 2:
        return math.inf
    mean, hw = mean_ci95(present, CONFIDENCE)
    if hw == 0:
        return 0.0
    return math.inf if mean == 0 else hw / abs(mean)


def widths(rule: Rule, runs: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    return {m: relative_width([r.get(m) for r in runs]) for m in rule.metrics}


def decide(rule: Rule, runs: Sequence[Mapping[str, Any]]) -> Decision:
    """The rule applied to a point's replications 0, 1, … in order (`runs`: their metrics)."""
    have = len(runs)
    candidate = None
    for n in range(max(rule.min, 2), min(have, rule.max) + 1):
        at = widths(rule, runs[:n])
        if all(w <= rule.relative for w in at.values()):
            candidate = n if candidate is None else candidate
        else:
            candidate = None
        if candidate is not None and n == candidate + rule.horizon(candidate):
            return Decision(n, True, candidate, 0, at)
        if n == rule.max:
            return Decision(n, False, None, 0, at)
    return Decision(None, False, None, _more(rule, runs, candidate), widths(rule, runs))


def _more(rule: Rule, runs: Sequence[Mapping[str, Any]], candidate: int | None) -> int:
    """Replications to run next: to `min`, to the end of a candidate's look-ahead, or to where the
    current variance projects the target (at most doubling the count); never past `max`."""
    have = len(runs)
    if have < rule.min:
        more = rule.min - have
    elif candidate is not None:
        more = candidate + rule.horizon(candidate) - have
    else:
        target = 2 * have
        projected = [_projection(rule, [r.get(m) for r in runs]) for m in rule.metrics]
        if all(p is not None for p in projected):
            target = max(p for p in projected if p is not None)
        more = min(max(target + rule.horizon(target) - have, 1), have)
    return max(1, min(more, rule.max - have))


def _projection(rule: Rule, values: Sequence[Any]) -> int | None:
    """n at which t · sd / √n would meet relative × |mean| if mean and sd stay as they are."""
    present = [float(v) for v in values if not is_missing(v)]
    if len(present) < 2:
        return None
    mean = sum(present) / len(present)
    sd = math.sqrt(sum((v - mean) ** 2 for v in present) / (len(present) - 1))
    if mean == 0:
        return None if sd else len(present)
    return math.ceil((t_quantile(CONFIDENCE, len(present) - 1) * sd / (rule.relative * abs(mean))) ** 2)
