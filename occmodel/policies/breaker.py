"""Circuit breakers: stop calling a store that keeps failing, and find out when it is back.

A breaker wraps another policy (`inner`, which still schedules the retries) and watches outcomes
(the closed / open / half-open machine of https://martinfowler.com/bliki/CircuitBreaker.html).
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
`trip = "cumulative"` (DESIGN 6.2, the breaker of the 2022 retry-limiter study,
https://brooker.co.za/blog/2022/02/28/retries.html): per scope, running totals
since the run's start; a retry is refused while failed attempts / `per` (`"operation"`: operations
started, the default; `"attempt"`: attempts) exceeds `threshold` (strict >, compared exactly in
integers). It has no open state, cooldown or probes; first attempts always go through.
Nesting a breaker inside another is refused: they would share the `op.breaker`/`op.probe` slots.

`counts` says what a breaker sees (every style): `"attempts"` (the default) every attempt, as when
a retry wraps the breaker (Spring Boot's default aspect order for resilience4j, resilience4j#2383:
one failing operation is several breaker failures); `"operations"` each operation once, its final
outcome, as when the breaker wraps the retries (retries then go through without asking it).
`BreakerBase` holds what every style shares (scope, counts, bookkeeping); the libraries' own
breakers are styles of this kind: `style = "resilience4j"` (resilience4j.py), `"polly"` (polly.py).
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..errors import ConfigError
from ..outcomes import OK, RETRYABLE
from ..units import Duration
from .base import REJECT, RetryOn, Wrapper, register, validated

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
EVERY_FAILURE: list[RetryOn] = ["conflict", "error", "timeout", "too_old"]


@validated
class BreakerBase(Wrapper):
    """What every breaker style shares: who shares a breaker (`scope`), which outcomes are failures,
    whether it sees each attempt or each operation (`counts`), open-time and transition bookkeeping.

    A style writes `fresh` (a breaker's state, with `name`, `state`, `opened`, `until`), `permit`
    (may this attempt start), `observe` (a call's outcome and duration), `refuse` (a retry's delay,
    or `REJECT`) and `half_open`. `counts = "operations"` puts the breaker outside the retries
    (resilience4j's CircuitBreaker(Retry(call)), the order Spring Boot's defaults do *not* give,
    resilience4j#2383): it is asked once per operation, retries go through without it, and it
    observes the operation's final outcome, its duration measured from the operation's start.
    `"attempts"` (the default) is Retry(CircuitBreaker(call)): every attempt is a call."""

    scope: Literal["operation", "client", "global"] = Field(
        "client", description="who shares a breaker: a fresh one per operation, one per client process, or one for all")
    failures: list[RetryOn] = Field(default_factory=lambda: ["error", "timeout", "too_old"],
                                    description="outcomes that count as failures (a conflict means the store "
                                    "answered: by default a success)")
    counts: Literal["attempts", "operations"] = Field(
        "attempts", description="what the breaker sees: every attempt (a retry wraps the breaker, Spring Boot's "
        "default order) or each operation once, its final outcome (the breaker wraps the retries)")

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.failing = frozenset(RETRYABLE[name] for name in self.failures)
        self.per_op = self.counts == "operations"
        self.metrics, self.log = sim.metrics, sim.breaker_log
        self.shared = self.fresh("global")
        self.by_client: dict[int, Any] = {}
        w = sim.scenario.workload
        self.share = {"global": 1.0, "operation": 0.0}.get(self.scope, 1.0 / w.clients)

    # --- the style's part ----------------------------------------------------------------------
    def fresh(self, name: str | None) -> Any:
        raise NotImplementedError

    def permit(self, b: Any, op: "Op") -> bool:
        raise NotImplementedError

    def observe(self, b: Any, op: "Op", failed: bool, duration: float) -> None:
        raise NotImplementedError

    def refuse(self, b: Any, op: "Op", delay: float) -> float:
        """A retry is due after `delay`: `REJECT` while open, else the delay."""
        return REJECT if b.state is OPEN and not self.due(b) else delay

    def half_open(self, b: Any) -> None:
        raise NotImplementedError

    def due(self, b: Any) -> bool:
        """The open breaker `b` may let a call through now (its wait is over)."""
        return self.env.now >= b.until

    # --- which breaker an operation answers to ------------------------------------------------
    def breaker(self, op: "Op") -> Any:
        b = op.breaker
        if b is None:
            if self.scope == "global":
                b = self.shared
            elif self.scope == "client":
                cid = op.client.id
                b = self.by_client.get(cid) or self.by_client.setdefault(cid, self.fresh(f"client-{cid}"))
            else:
                b = self.fresh(None)
            op.breaker = b
        return b

    # --- the policy contract -------------------------------------------------------------------
    def admit(self, op: "Op") -> bool:
        b = self.breaker(op)
        if self.per_op and op.tries:        # a retry runs inside the breaker's one call
            if self.wrapped.admit(op):
                return True
            self.observe(b, op, True, self.env.now - op.start)   # the call ends with the inner's refusal
            return False
        op.began = self.env.now
        return self.permit(b, op)

    def record(self, op: "Op", outcome: int) -> None:
        if not self.per_op:
            self.observe(self.breaker(op), op, outcome in self.failing, self.env.now - op.began)
        elif outcome == OK:
            self.observe(self.breaker(op), op, False, self.env.now - op.start)
        self.wrapped.record(op, outcome)

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        delay = super().retry_delay(op, outcome)
        if self.per_op:
            if delay is None or delay < 0:      # the operation ends here: the breaker's call fails
                self.observe(self.breaker(op), op, outcome in self.failing, self.env.now - op.start)
            return delay
        if delay is None or delay < 0:
            return delay
        return self.refuse(self.breaker(op), op, delay)

    def state(self, op: "Op") -> str | None:
        b = op.breaker if op.breaker is not None or self.scope == "operation" else self.breaker(op)
        if b is None:
            return CLOSED
        return HALF_OPEN if b.state is OPEN and self.due(b) else b.state

    def finish(self, end: float) -> None:
        for b in (self.shared, *self.by_client.values()):
            if b.state is OPEN:
                if b.until <= end:
                    self.half_open(b)
                else:
                    self.report(b.opened, end)
        self.log.sort(key=lambda entry: entry[0])
        super().finish(end)

    # --- transitions ---------------------------------------------------------------------------
    def to_open(self, b: Any, now: float, until: float) -> None:
        b.state, b.opened, b.until = OPEN, now, until
        self.transition(b, now)

    def to_half_open(self, b: Any) -> None:
        """Open → half-open, stamped when the wait ended (the transition itself is made lazily)."""
        self.report(b.opened, b.until)
        b.state = HALF_OPEN
        self.transition(b, b.until)

    def to_closed(self, b: Any, now: float) -> None:
        b.state = CLOSED
        self.transition(b, now)

    def transition(self, b: Any, t: float) -> None:
        m = self.metrics
        if m.t0 <= t < m.t1:
            m.breaker_transitions += 1
        if b.name is not None:
            self.log.append((t, b.name, b.state))

    def report(self, opened: float, closed: float) -> None:
        if self.share:
            self.metrics.breaker_open(opened, closed, self.share)


class Breaker:
    """One breaker's state. `epoch` numbers half-open episodes, so a late probe is recognised."""

    __slots__ = ("name", "state", "streak", "window", "fails", "opened", "until", "epoch", "probes", "passed", "ops", "tried")

    def __init__(self, name: str | None, window: int) -> None:
        self.name, self.state = name, CLOSED
        self.streak = self.fails = self.epoch = self.probes = self.passed = self.ops = self.tried = 0
        self.window: deque[bool] = deque(maxlen=window or 1)
        self.opened = self.until = 0.0


@register("circuit_breaker")
class CircuitBreaker(BreakerBase):
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
    blocks: Literal["all", "retries"] = Field("all", description="what an open breaker refuses: every attempt, "
                                              "or retries only (first attempts pass)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.counts == "operations" and (self.trip == "cumulative" or self.blocks == "retries"):
            bad = "trip" if self.trip == "cumulative" else "blocks"
            raise ConfigError("policy.counts", self.counts, f'needs counts = "attempts" with {bad} = '
                              f'{getattr(self, bad)!r} (it judges retries, which an operation-counting breaker never sees)')
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

    def fresh(self, name: str | None) -> Breaker:
        return Breaker(name, self.window if self.trip == "rate" else 0)

    def permit(self, b: Breaker, op: "Op") -> bool:
        if self.trip == "cumulative":
            b.ops += not op.tries
            return self.wrapped.admit(op)
        if b.state is OPEN and self.env.now >= b.until:
            self.half_open(b)
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

    def observe(self, b: Breaker, op: "Op", failed: bool, duration: float) -> None:
        now = self.env.now
        if self.trip == "cumulative":
            b.fails += failed
            b.tried += 1
        elif op.probe:
            epoch, op.probe = op.probe, False
            if b.state is HALF_OPEN and epoch == b.epoch:   # else a stale probe: ignore
                b.probes -= 1
                if failed:
                    self.open(b, now)
                else:
                    b.passed += 1
                    if b.passed >= self.half_open_probes:
                        self.close(b, now)
        elif b.state is CLOSED:
            if self.trip == "consecutive":
                b.streak = b.streak + 1 if failed else 0
                if b.streak >= self.threshold:
                    self.open(b, now)
            else:
                w = b.window
                if len(w) == w.maxlen:
                    b.fails -= w[0]
                w.append(failed)
                b.fails += failed
                if len(w) >= self.min_calls and b.fails >= self.threshold * len(w) - 1e-9:
                    self.open(b, now)

    def refuse(self, b: Breaker, op: "Op", delay: float) -> float:
        if self.trip == "cumulative":
            per = b.ops if self.per == "operation" else b.tried
            r = self.ratio
            return REJECT if per and b.fails * r.denominator > r.numerator * per else delay
        return super().refuse(b, op, delay)

    # --- transitions ---------------------------------------------------------------------------
    def open(self, b: Breaker, now: float) -> None:
        b.streak = b.fails = b.probes = b.passed = 0
        b.window.clear()
        self.to_open(b, now, now + self.cooldown)

    def half_open(self, b: Breaker) -> None:
        b.probes, b.passed = 0, 0
        b.epoch += 1
        self.to_half_open(b)

    def close(self, b: Breaker, now: float) -> None:
        b.streak, b.fails = 0, 0
        b.window.clear()
        self.to_closed(b, now)
