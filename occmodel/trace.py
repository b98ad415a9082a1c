"""Operation traces: one operation, attempt by attempt, as a text timeline.

The model records `Span`s only for the traced operation (tracing is off otherwise and costs a
single `is None` test per request), in the spirit of the FoundationDB client's transaction log.

`render` answers "where did this operation's time go?": every request on one time scale (the
operation's own), so pipelined reads stack in the same columns while sequential ones march right;
requests that travelled in one message are marked as sharing a round trip; conflicts name the key
and show the store's current version against the attempted one (for `read_set`, the commit
version at which the key was written after the attempt's read version), and pauses show the
delay the policy chose.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import NamedTuple


class Span(NamedTuple):
    """One request or pause of a traced operation; times are absolute simulated seconds."""

    attempt: int            # 1-based attempt number
    kind: str               # read | history | commit | compute | backoff | rejected
    start: float            # when the client sent it (or the pause began)
    end: float              # when the reply reached the client (or the pause ended)
    key: int | None         # key read or written (None for pauses)
    message: int | None     # id of the network message carrying the request: equal ids shared one round trip
    outcome: str            # ok | conflict | error | timeout | too_old | down | rejected
    current: int | None = None    # store's version of the key when served (conflicts: the current version)
    attempted: int | None = None  # version the commit tried to write
    events: int | None = None     # history events replayed (history reads): the request's size
    breaker: str | None = None    # breaker state when the attempt was admitted: closed | open | half_open
    written_at: int | None = None    # read_set conflicts: commit sequence number of the write that conflicted
    read_version: int | None = None  # read_set conflicts: the attempt's read version (a commit sequence number)
    cached: bool = False             # the attempt used cached versions (value check) instead of reading


FILL = {"read": "=", "history": "=", "commit": "#", "compute": "~", "backoff": ".", "rejected": "x"}
REQUESTS = ("read", "history", "commit")


def _trips(spans: list[Span]) -> tuple[int, int]:
    """(requests, round trips): requests that share a message id shared one round trip."""
    reqs = [s for s in spans if s.kind in REQUESTS]
    messages = {s.message for s in reqs if s.message is not None}
    return len(reqs), len(messages) + sum(s.message is None for s in reqs)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _details(s: Span, shared: int, total: tuple[int, int] | None = None) -> str:
    """What a request carried and what came back, beyond its times; `total` is the message's
    (requests, operations) when it also carried other operations' requests (coalescing)."""
    if total is not None and (total[0] > shared or total[1] > 1):
        out = [f"msg#{s.message}: {_plural(total[0], 'request')} of {_plural(total[1], 'operation')}"]
    else:
        out = [f"msg#{s.message} (shared by {shared})"] if shared > 1 else []
    if s.events is not None:
        out.append(f"{s.events} events replayed")
    if s.kind == "backoff":
        out.append(f"delay chosen: {(s.end - s.start) * 1e3:.3f} ms")
    elif s.outcome == "conflict":
        out.append(_conflict(s))
    if s.outcome == "rejected":
        out.append(f"fast-failed (breaker {s.breaker})" if s.breaker else "fast-failed by the policy")
    return ", ".join(out)


def _conflict(s: Span) -> str:
    """Which key conflicted and why, with the version gap (the writes the attempt missed): for
    `read_set`, the write after the attempt's read version; otherwise the key's current version
    against the attempted one."""
    key = "" if s.key is None else f" on k{s.key}"
    cached = ", from a cached version (value check)" if s.cached else ""
    if s.current is None or s.attempted is None:
        return f"conflict{key}{cached}"
    gap = s.current - s.attempted + 1
    if s.written_at is not None:
        return (f"conflict{key}: written at version {s.written_at} after read version {s.read_version} "
                f"(now v{s.current}, read as v{s.attempted - 1}: version gap {gap}){cached}")
    return f"conflict{key}: current v{s.current} vs attempted v{s.attempted}, version gap {gap}{cached}"


def _outcome(s: Span) -> str:
    """The outcome column, with the version a successful request saw or wrote."""
    if s.outcome == "ok" and s.kind == "commit" and s.attempted is not None:
        return f"ok, wrote v{s.attempted}"
    if s.outcome == "ok" and s.kind in ("read", "history") and s.current is not None:
        return f"ok, v{s.current}"
    return s.outcome


def render(spans: list[Span], *, width: int = 60, messages: dict[int, tuple[int, int]] | None = None) -> str:
    """One operation as a text timeline, attempt by attempt: each request's start, end and
    duration in ms from the operation's start, a bar on the operation's time scale, the key,
    size, shared round trips, versions, chosen delays and breaker state, then a total line.
    `messages` (`Result.messages`): each message's total (requests, operations), shown where a
    coalesced message also carried other operations' requests."""
    if not spans:
        return "(no spans recorded for this operation)\n"
    spans = sorted(spans, key=lambda s: (s.attempt, s.start, s.end))
    t0 = min(s.start for s in spans)
    total = max(s.end for s in spans) - t0
    scale = width / total if total > 0 else 0.0
    tw = max(5, len(f"{total * 1e3:.3f}"))                       # width of the time columns
    shared = Counter(s.message for s in spans if s.kind in REQUESTS and s.message is not None)
    indent = " " * (3 * tw + 4)
    axis = f"{total * 1e3:.3f} ms"
    head = (f"{'start':>{tw}} {'end':>{tw}} {'dur':>{tw}}  {'kind':<8} {'key':<6} "
            f"|0{axis:>{max(width - 1, len(axis))}}| outcome")
    attempts = list(dict.fromkeys(s.attempt for s in spans))
    outcomes = {a: next((s.outcome for s in spans if s.attempt == a and s.outcome != "ok"), "ok")
                for a in attempts}
    lines = [f"operation: {_plural(len(attempts), 'attempt')}, {total * 1e3:.3f} ms; times in ms from its "
             f"first request, timeline 1 column = {total * 1e3 / width:.3f} ms",
             "bars: = read/history   # commit   ~ compute   . backoff   x rejected", "", head]
    for a in attempts:
        group = [s for s in spans if s.attempt == a]
        breaker = next((s.breaker for s in group if s.breaker is not None), None)
        n, trips = _trips(group)
        title = (f"-- attempt {a}{f' (breaker {breaker})' if breaker else ''}: {_plural(n, 'request')} "
                 f"in {_plural(trips, 'round trip')} -> {outcomes[a]} ")
        lines.append(title.ljust(len(head), "-"))
        for s in group:
            start, end = (s.start - t0) * 1e3, (s.end - t0) * 1e3
            lo = min(width - 1, math.floor(round((s.start - t0) * scale, 6)))
            hi = min(width, max(lo + 1, math.ceil(round((s.end - t0) * scale, 6))))
            bar = " " * lo + FILL.get(s.kind, "?") * (hi - lo) + " " * (width - hi)
            key = "-" if s.key is None else f"k{s.key}"
            lines.append(f"{start:>{tw}.3f} {end:>{tw}.3f} {end - start:>{tw}.3f}  {s.kind:<8} {key:<6} "
                         f"|{bar}| {_outcome(s)}")
            if detail := _details(s, shared[s.message] if s.kind in REQUESTS else 0,
                                  (messages or {}).get(s.message) if s.kind in REQUESTS else None):
                lines.append(f"{indent}`- {detail}")
    n, trips = _trips(spans)
    lines.append("=" * len(head))
    lines.append(f"total {total * 1e3:.3f} ms, {_plural(len(attempts), 'attempt')}, {_plural(n, 'request')} "
                 f"in {_plural(trips, 'round trip')}, final outcome: {outcomes[attempts[-1]]}")
    return "\n".join(lines) + "\n"
