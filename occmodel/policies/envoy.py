"""Envoy's retry budget: retries *in flight* capped at a share of the requests in flight.

Modelled on the cluster circuit-breaker `retry_budget` (envoy.config.cluster.v3.CircuitBreakers.
Thresholds.RetryBudget,
https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/circuit_breaker.proto): "the limit on concurrent retries as a percentage of the sum of active
requests and active pending requests", `budget_percent` default 20 %, and "the limit on the number
of active retries may never go below" `min_retry_concurrency`, default 3. Envoy's
`RetryBudgetImpl::max()` is max(min_retry_concurrency, uint64(budget_percent / 100 × active)); a
retry may be created while active retries < max (checked when the retry is decided, before its
backoff). Active requests here are attempts in flight (sent, not yet answered: first attempts and
retries); the model has no connection-pool queue, so nothing is pending.

The quirk (envoy#30205, "Circuit breaker retry budgets count retries inconsistently"; the fix
proposed in envoy#30738 counts scheduled retries): a retry waiting out its backoff is neither an
active request nor an active retry, so a burst of failures can schedule any number of retries
at once, all of which are admitted. That is the default here (`count_backoff = false`);
`count_backoff = true` counts retries in backoff as active retries. First attempts are never
refused. `scope`: `client` (one Envoy per client process, a sidecar; the default) or `global`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from .base import REJECT, Wrapper, register

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation


class Gauges:
    """One Envoy's gauges: attempts in flight, retries in flight, retries in backoff."""

    __slots__ = ("active", "retries", "scheduled")

    def __init__(self) -> None:
        self.active = self.retries = self.scheduled = 0


@register("retry_budget", style="envoy")
class EnvoyBudget(Wrapper):
    """Retries in flight < max(min_retry_concurrency, budget_percent % of attempts in flight)."""

    style: Literal["envoy"] = Field("envoy", description="Envoy's cluster retry_budget")
    scope: Literal["client", "global"] = Field("client", description="one Envoy per client process (a sidecar), "
                                               "or one for all")
    budget_percent: float = Field(default=20.0, ge=0.0, le=100.0, json_schema_extra={"unit": "%"},
                                  description="retries in flight allowed as a percentage of attempts in flight")
    min_retry_concurrency: int = Field(default=3, ge=0, description="retries in flight always allowed",
                                       json_schema_extra={"unit": "retries"})
    count_backoff: bool = Field(False, description="count retries waiting out their backoff as active "
                                "(Envoy does not: envoy#30205)")

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.shared = Gauges()
        self.by_client: dict[int, Gauges] = {}

    def gauges(self, op: "Op") -> Gauges:
        if self.scope == "global":
            return self.shared
        g = self.by_client.get(op.client.id)
        if g is None:
            g = self.by_client[op.client.id] = Gauges()
        return g

    def limit(self, g: Gauges) -> int:
        return max(self.min_retry_concurrency, int(self.budget_percent / 100 * g.active))

    def admit(self, op: "Op") -> bool:
        g = self.gauges(op)
        if op.hold:                 # the backoff is over: the retry is being sent (or refused)
            op.hold = False
            g.scheduled -= 1
        if not self.wrapped.admit(op):
            return False
        g.active += 1
        if op.tries:
            g.retries += 1
        return True

    def record(self, op: "Op", outcome: int) -> None:
        g = self.gauges(op)
        g.active -= 1
        if op.tries > 1:
            g.retries -= 1
        self.wrapped.record(op, outcome)

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        delay = super().retry_delay(op, outcome)
        if delay is None or delay < 0:
            return delay
        g = self.gauges(op)
        if g.retries + (g.scheduled if self.count_backoff else 0) >= self.limit(g):
            return REJECT
        op.hold = True
        g.scheduled += 1
        return delay
