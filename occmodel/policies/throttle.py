"""Client-side adaptive throttling (Google SRE book, chapter 21 "Handling Overload").

Modelled on https://sre.google/sre-book/handling-overload/ ("Client-side throttling"): each client
remembers, over a sliding `window` (the book: "the last two minutes"), `requests` (attempts the
application made, including those throttled locally) and `accepts` (attempts the backend
accepted), and rejects each new attempt locally with probability

    max(0, (requests − k × accepts) / (requests + 1)),     k = 2 by default ("a K of 2").

It applies to *every* attempt, first attempts included (unlike a retry budget): a throttled first
attempt ends the operation as rejected. The request being decided is counted in `requests` after
the draw (the formula's "+ 1" stands for it). What the backend "accepted": every outcome except
those in `rejects` (default error and timeout: a conflict or too-old is the store answering).
The window is 60 slices of window / 60 (see window.py). `inner` schedules the retries; `scope`:
`client` (the book's per-client history; the default) or `global`. Draws come from a `throttle`
stream of their own, so the inner policy's jitter is unchanged by adding a throttle.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..outcomes import RETRYABLE
from ..units import Duration
from .base import RetryOn, Wrapper, register
from .window import Slices

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

SLICES = 60
REQUESTS, ACCEPTS = 0, 1


@register("adaptive_throttle")
class AdaptiveThrottle(Wrapper):
    """Reject locally with probability max(0, (requests − k·accepts) / (requests + 1))."""

    k: float = Field(default=2.0, gt=0.0, description="accepts multiplier: throttling starts when requests "
                     "exceed k × accepts", json_schema_extra={"unit": "×"})
    window: Duration = Field(default=120.0, gt=0.0, description="history the counts cover (the book: two minutes)")
    scope: Literal["client", "global"] = Field("client", description="one history per client process, or one for all")
    rejects: list[RetryOn] = Field(default_factory=lambda: ["error", "timeout"],
                                   description="outcomes that count as not accepted by the backend")

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.refused = frozenset(RETRYABLE[name] for name in self.rejects)
        self.shared = self.counts()
        self.by_client: dict[int, Slices] = {}

    def counts(self) -> Slices:
        return Slices(SLICES, self.window / SLICES, fields=2)

    def history(self, op: "Op") -> Slices:
        if self.scope == "global":
            return self.shared
        h = self.by_client.get(op.client.id)
        if h is None:
            h = self.by_client[op.client.id] = self.counts()
        return h

    def probability(self, op: "Op") -> float:
        """The chance that an attempt of `op` starting now is throttled."""
        h, now = self.history(op), self.env.now
        requests = h.total(now, REQUESTS)
        return max(0.0, (requests - self.k * h.total(now, ACCEPTS)) / (requests + 1))

    def admit(self, op: "Op") -> bool:
        p = self.probability(op)
        self.history(op).add(self.env.now, REQUESTS)
        if p > 0 and op.client.jitter() < p:      # the client's own stream of policy draws
            return False
        return self.wrapped.admit(op)

    def record(self, op: "Op", outcome: int) -> None:
        if outcome not in self.refused:
            self.history(op).add(self.env.now, ACCEPTS)
        self.wrapped.record(op, outcome)
