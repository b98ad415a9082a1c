"""Sliding time windows kept as a ring of fixed slices, as the libraries keep theirs.

Finagle's `WindowedAdder` (10 slices of ttl / 10), Polly's rolling health metrics (10 windows of
sampling_duration / 10), resilience4j's TIME_BASED window (one bucket per epoch second) and the SRE
book's throttling counts all forget old events a slice at a time, not one event at a time: that is
what lets them run in constant memory, and it is what they mean by "the last ttl". A slice holds
`fields` running counts; `total(i)` is field i summed over the slices that overlap the last
`n × width` seconds (the current, partial slice included). Totals are kept incrementally, so an
update or a read costs O(1) amortised.
"""
from __future__ import annotations


class Slices:
    """`n` slices of `width` seconds, each with `fields` counters."""

    __slots__ = ("n", "width", "head", "ring", "totals")

    def __init__(self, n: int, width: float, fields: int = 1) -> None:
        self.n, self.width, self.head = n, width, 0
        self.ring = [[0] * fields for _ in range(n)]
        self.totals = [0] * fields

    def advance(self, now: float) -> list[int]:
        """Forget the slices that fell out of the window by `now`; the current slice's counters."""
        s = int(now // self.width)
        if s > self.head:
            n, totals = self.n, self.totals
            for k in range(max(self.head + 1, s - n + 1), s + 1):
                old = self.ring[k % n]
                for i, v in enumerate(old):
                    totals[i] -= v
                    old[i] = 0
            self.head = s
        return self.ring[s % self.n]

    def add(self, now: float, field: int, amount: int = 1) -> None:
        self.advance(now)[field] += amount
        self.totals[field] += amount

    def total(self, now: float, field: int = 0) -> int:
        self.advance(now)
        return self.totals[field]

    def clear(self) -> None:
        for row in self.ring:
            for i in range(len(row)):
                row[i] = 0
        self.totals = [0] * len(self.totals)
