"""Finagle's (and Linkerd 1's) retry budget: retries as a share of recent requests, plus a reserve.

Modelled on `com.twitter.finagle.service.RetryBudget` (scaladoc of `RetryBudget.apply`,
https://twitter.github.io/finagle/docs/com/twitter/finagle/service/RetryBudget$.html): every
request *deposits*, every retry *withdraws*, and deposits "expire after approximately ttl".
`RetryBudget()` defaults: `ttl` 10 s (1–60 s allowed), `min_retries_per_sec` 10, `percent_can_retry`
0.2 (0–1000). As in its `TokenRetryBudget`, amounts are integers: a deposit is 1000, a withdrawal
1000 / percent_can_retry (5000 at 0.2), both go into one windowed counter of 10 slices of ttl / 10
(`WindowedAdder`), and a retry is allowed while counter + reserve >= a withdrawal, where the
constant reserve is min_retries_per_sec × ttl (whole seconds) withdrawals. So over any ttl, about
min_retries_per_sec × ttl + percent_can_retry × requests retries go through. With
percent_can_retry = 0 a deposit is 0 and a withdrawal 1 (only the reserve is spent).
Only an operation's first attempt deposits (Finagle's `RetryFilter` deposits once per request and
withdraws per retry); first attempts are never refused. `scope`: `client` (one budget per client
process, as a Finagle client has; the default) or `global`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..units import Duration
from .base import REJECT, Wrapper, register
from .window import Slices

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

SLICES = 10     # WindowedAdder(ttl, 10, ...)


@register("retry_budget", style="finagle")
class FinagleBudget(Wrapper):
    """Retries allowed while min_retries_per_sec × ttl + percent_can_retry × recent requests last."""

    style: Literal["finagle"] = Field("finagle", description="Finagle's (and Linkerd 1's) RetryBudget")
    scope: Literal["client", "global"] = Field("client", description="one budget per client process, or one for all")
    ttl: Duration = Field(default=10.0, ge=1.0, le=60.0, description="how long a deposit lasts (1 s to 60 s)")
    min_retries_per_sec: int = Field(default=10, ge=0, description="reserve: retries per second always allowed",
                                     json_schema_extra={"unit": "retries/s"})
    percent_can_retry: float = Field(default=0.2, ge=0.0, le=1000.0, json_schema_extra={"unit": "retries/request"},
                                     description="retries allowed per recent request, on top of the reserve")

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        pct = self.percent_can_retry
        self.deposit = 1000 if pct else 0
        self.withdrawal = int(1000 / pct) if pct else 1
        self.reserve = self.min_retries_per_sec * int(self.ttl) * self.withdrawal
        self.shared = self.counter()
        self.by_client: dict[int, Slices] = {}

    def counter(self) -> Slices:
        return Slices(SLICES, self.ttl / SLICES)

    def budget(self, op: "Op") -> Slices:
        if self.scope == "global":
            return self.shared
        b = self.by_client.get(op.client.id)
        if b is None:
            b = self.by_client[op.client.id] = self.counter()
        return b

    def balance(self, op: "Op") -> float:
        """Retries the budget `op` answers to would allow now (Finagle's `balance`)."""
        return (self.budget(op).total(self.env.now) + self.reserve) / self.withdrawal

    def admit(self, op: "Op") -> bool:
        if not self.wrapped.admit(op):
            return False
        if not op.tries:
            self.budget(op).add(self.env.now, 0, self.deposit)
        return True

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        delay = super().retry_delay(op, outcome)
        if delay is None or delay < 0:
            return delay
        b, now = self.budget(op), self.env.now
        if b.total(now) + self.reserve < self.withdrawal:
            return REJECT
        b.add(now, 0, -self.withdrawal)
        return delay
