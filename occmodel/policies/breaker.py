"""Circuit breakers: stop calling a store that keeps failing, and find out when it is back.

A breaker wraps another policy (`inner`, which still schedules the retries) and watches outcomes.
*Closed*, it counts failures (`failures`, by default error / timeout / too_old: a conflict means the
store answered, so it counts as a success) and trips *open* after `threshold` consecutive failures
(`trip = "consecutive"`) or when the failure rate over the last `window` calls reaches `threshold`
(`trip = "rate"`, judged only once `min_calls` calls are in the window; `>=`, as resilience4j).
*Open*, `admit` refuses attempts (the client counts the operation as rejected and never calls the
store) and a failure that would be retried is rejected at once (`REJECT`: no point waiting to be
refused). With `blocks = "retries"` first attempts still go through and only retries are refused:
the retry-amplification study's breaker that stops *retrying* when failures/calls exceed 10 %.
After `cooldown` the breaker is *half-open*: the next admitted attempts are probes, at most
`half_open_probes` in flight; that many successful probes close it, one failed probe re-opens it
for a new cooldown. Other attempts are refused meanwhile (with `blocks = "retries"`: other retries).

`scope` says who shares a breaker: `operation` (a fresh breaker per operation, kept in `op.breaker`,
as naive example code does: it caps one operation's retries and never protects the store),
`client` (one per client process, the usual library setup; the default) or `global` (one for all).
Open → half-open happens lazily, on the first look after the cooldown, but is stamped with the
cooldown's end, so logs and open time are exact. Bookkeeping, per run:
- `metrics.breaker_transitions` counts transitions whose time lies in the measurement window;
- `sim.breaker_log` gets (time, "global" | "client-<id>", new state), sorted by time at the end;
  operation-scope breakers are not logged (one per operation would grow without bound);
- open intervals go to `metrics.breaker_open(opened, closed, share)` with share = 1 / breakers
  (global 1, client 1 / clients, in every workload kind). Operation-scope breakers
  report no open time (`breaker_open_fraction` = 0): the operation whose breaker trips ends right
  there, so no one else is ever held off by it; their transitions are still counted.
`trip = "cumulative"` (DESIGN 6.2, the 2022 retry-limiter study's breaker): per scope, running totals
since the run's start; a retry is refused while failed attempts / `per` (`"operation"`: operations
started, the default; `"attempt"`: attempts) exceeds `threshold` (strict >, compared exactly in
integers). It has no open state, cooldown or probes; first attempts always go through.
Nesting a breaker inside another is refused: they would share the `op.breaker`/`op.probe` slots.
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..errors import ConfigError
from ..outcomes import RETRYABLE
from ..units import Duration
from .base import REJECT, RetryOn, Wrapper, register

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    """One breaker's state. `epoch` numbers half-open episodes, so a late probe is recognised."""

    __slots__ = ("name", "state", "streak", "window", "fails", "opened", "until", "epoch", "probes", "passed", "ops", "tried")

    def __init__(self, name: str | None, window: int) -> None:
        self.name, self.state = name, CLOSED
        self.streak = self.fails = self.epoch = self.probes = self.passed = self.ops = self.tried = 0
        self.window: deque[bool] = deque(maxlen=window or 1)
        self.opened = self.until = 0.0


@register("circuit_breaker")
class CircuitBreaker(Wrapper):
    """Closed → open on a failure threshold, fast-fail while open, half-open probes after `cooldown`."""

    trip: Literal["consecutive", "rate", "cumulative"] = Field(
        "consecutive", description="consecutive: open after threshold failures in a row; rate: when the failure "
        "rate over the last window calls reaches threshold; cumulative: refuse retries while failures / per "
        "since the start exceed threshold (no open state)")
    per: Literal["operation", "attempt"] = Field("operation", description="cumulative: the ratio's denominator "
                                                 "(operations started or attempts)")
    threshold: float | None = Field(default=None, gt=0, description="consecutive: failures (default 5); rate: "
                                    "failure rate in (0, 1] (default 0.5); cumulative: ratio (default 0.1)")
    window: int | None = Field(default=None, ge=1, description="rate: calls in the sliding window (default 20)",
                               json_schema_extra={"unit": "calls"})
    min_calls: int | None = Field(default=None, ge=1, description="rate: calls in the window before it judges "
                                  "(default = window)", json_schema_extra={"unit": "calls"})
    cooldown: Duration = Field(1.0, description="time open before half-open probes")
    half_open_probes: int = Field(default=1, ge=1, description="probes in flight when half-open; that many "
                                  "successes close it", json_schema_extra={"unit": "calls"})
    scope: Literal["operation", "client", "global"] = Field(
        "client", description="who shares a breaker: a fresh one per operation, one per client process, or one for all")
    failures: list[RetryOn] = Field(default_factory=lambda: ["error", "timeout", "too_old"],
                                    description="outcomes that count as failures (a conflict means the store "
                                    "answered: by default a success)")
    blocks: Literal["all", "retries"] = Field("all", description="what an open breaker refuses: every attempt, "
                                              "or retries only (first attempts pass)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.trip == "cumulative":
            for key in ("window", "min_calls"):
                if getattr(self, key) is not None:
                    raise ConfigError(f"policy.{key}", getattr(self, key), 'does not apply to trip = "cumulative"')
            self.threshold = 0.1 if self.threshold is None else self.threshold
            self.ratio = Fraction(str(self.threshold))
        elif self.trip == "consecutive":
            for key in ("window", "min_calls"):
                if getattr(self, key) is not None:
                    raise ConfigError(f"policy.{key}", getattr(self, key), 'applies to trip = "rate" only')
            self.threshold = 5 if self.threshold is None else self.threshold
            if self.threshold != int(self.threshold):
                raise ConfigError("policy.threshold", self.threshold, 'trip = "consecutive" needs a whole number of failures >= 1')
        else:
            self.threshold = 0.5 if self.threshold is None else self.threshold
            if self.threshold > 1:
                raise ConfigError("policy.threshold", self.threshold, 'trip = "rate" needs a failure rate in (0, 1]')
            self.window = self.window or 20
            self.min_calls = self.window if self.min_calls is None else self.min_calls
            if self.min_calls > self.window:
                raise ConfigError("policy.min_calls", self.min_calls, f"must be <= window ({self.window})")

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.failing = frozenset(RETRYABLE[name] for name in self.failures)
        self.metrics, self.log = sim.metrics, sim.breaker_log
        self.size = self.window if self.trip == "rate" else 0
        self.shared = Breaker("global", self.size)
        self.by_client: dict[int, Breaker] = {}
        w = sim.scenario.workload
        self.share = {"global": 1.0, "operation": 0.0}.get(self.scope, 1.0 / w.clients)

    # --- which breaker an operation answers to ------------------------------------------------
    def breaker(self, op: "Op") -> Breaker:
        b = op.breaker
        if b is None:
            if self.scope == "global":
                b = self.shared
            elif self.scope == "client":
                cid = op.client.id
                b = self.by_client.get(cid) or self.by_client.setdefault(cid, Breaker(f"client-{cid}", self.size))
            else:
                b = Breaker(None, self.size)
            op.breaker = b
        return b

    # --- the policy contract -------------------------------------------------------------------
    def admit(self, op: "Op") -> bool:
        b = self.breaker(op)
        if self.trip == "cumulative":
            b.ops += not op.tries
            return self.wrapped.admit(op)
        if b.state is OPEN and self.env.now >= b.until:
            self._half_open(b)
        state = b.state
        probe = state is HALF_OPEN and b.probes < self.half_open_probes
        if state is not CLOSED and not probe and (self.blocks == "all" or op.tries):
            return False
        if not self.wrapped.admit(op):
            return False
        if probe:
            b.probes += 1
            op.probe = b.epoch
        return True

    def record(self, op: "Op", outcome: int) -> None:
        b = self.breaker(op)
        failed = outcome in self.failing
        now = self.env.now
        if self.trip == "cumulative":
            b.fails += failed
            b.tried += 1
        elif op.probe:
            epoch, op.probe = op.probe, False
            if b.state is HALF_OPEN and epoch == b.epoch:   # else a stale probe: ignore
                b.probes -= 1
                if failed:
                    self._open(b, now)
                else:
                    b.passed += 1
                    if b.passed >= self.half_open_probes:
                        self._close(b, now)
        elif b.state is CLOSED:
            if self.trip == "consecutive":
                b.streak = b.streak + 1 if failed else 0
                if b.streak >= self.threshold:
                    self._open(b, now)
            else:
                w = b.window
                if len(w) == w.maxlen:
                    b.fails -= w[0]
                w.append(failed)
                b.fails += failed
                if len(w) >= self.min_calls and b.fails >= self.threshold * len(w) - 1e-9:
                    self._open(b, now)
        self.wrapped.record(op, outcome)

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        delay = super().retry_delay(op, outcome)
        if delay is None or delay < 0:
            return delay
        b = self.breaker(op)
        if self.trip == "cumulative":
            per = b.ops if self.per == "operation" else b.tried
            r = self.ratio
            return REJECT if per and b.fails * r.denominator > r.numerator * per else delay
        return REJECT if b.state is OPEN and self.env.now < b.until else delay

    def state(self, op: "Op") -> str | None:
        b = op.breaker if op.breaker is not None or self.scope == "operation" else self.breaker(op)
        if b is None:
            return CLOSED
        return HALF_OPEN if b.state is OPEN and self.env.now >= b.until else b.state

    def finish(self, end: float) -> None:
        for b in (self.shared, *self.by_client.values()):
            if b.state is OPEN:
                if b.until <= end:
                    self._half_open(b)
                else:
                    self._report(b.opened, end)
        self.log.sort(key=lambda entry: entry[0])
        super().finish(end)

    # --- transitions ---------------------------------------------------------------------------
    def _open(self, b: Breaker, now: float) -> None:
        b.state, b.opened, b.until = OPEN, now, now + self.cooldown
        b.streak = b.fails = b.probes = b.passed = 0
        b.window.clear()
        self._transition(b, now)

    def _half_open(self, b: Breaker) -> None:
        self._report(b.opened, b.until)
        b.state, b.probes, b.passed = HALF_OPEN, 0, 0
        b.epoch += 1
        self._transition(b, b.until)

    def _close(self, b: Breaker, now: float) -> None:
        b.state, b.streak, b.fails = CLOSED, 0, 0
        b.window.clear()
        self._transition(b, now)

    def _transition(self, b: Breaker, t: float) -> None:
        m = self.metrics
        if m.t0 <= t < m.t1:
            m.breaker_transitions += 1
        if b.name is not None:
            self.log.append((t, b.name, b.state))

    def _report(self, opened: float, closed: float) -> None:
        if self.share:
            self.metrics.breaker_open(opened, closed, self.share)
