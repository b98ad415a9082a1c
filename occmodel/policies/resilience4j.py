"""resilience4j's circuit breaker (`circuit_breaker`, `style = "resilience4j"`), with its defaults.

Modelled on the CircuitBreaker documentation (https://resilience4j.readme.io/docs/circuitbreaker,
"Create and configure a CircuitBreaker") and the code it describes (`CircuitBreakerConfig`,
`CircuitBreakerMetrics`, `CircuitBreakerStateMachine`). Keys and the library's defaults:
`window_type` ("count" = COUNT_BASED, the default; "time" = TIME_BASED), `window_size`
(slidingWindowSize 100: calls, or seconds), `minimum_calls` (minimumNumberOfCalls 100),
`failure_rate_threshold` (50 %), `slow_call_rate_threshold` (100 %), `slow_call_duration`
(slowCallDurationThreshold 60 s), `wait_in_open` (waitDurationInOpenState 60 s), `half_open_calls`
(permittedNumberOfCallsInHalfOpenState 10). Every exception counts as a failure by default
(recordExceptions: all), so `failures` defaults to every retryable outcome, conflicts included.

- Closed: each call's outcome goes into the window (the last `window_size` calls, or the calls of
  the last `window_size` epoch seconds: one bucket per second). Once the window holds at least
  `minimum_calls` calls, the breaker opens when failed / calls >= the failure threshold or slow /
  calls >= the slow threshold (slow: took longer than `slow_call_duration`, strictly; failed or
  not). The quirks users hit, as the library has them: a count window is judged only once
  `minimum_calls` calls are in it, and with the defaults (100 and 100) that is a full window — from
  start-up, and again after every close, a breaker at a 20 % threshold needs 100 calls before it can
  trip (resilience4j#1731); `minimum_calls` above `window_size` is cut to `window_size` for a count
  window (`CircuitBreakerMetrics`; resilience4j#1349) but not for a time window, where a window that
  never holds `minimum_calls` calls never trips however many fail (resilience4j#1443).
- Open: calls are refused (CallNotPermittedException) until `wait_in_open` has passed — strictly
  after (`isAfter`); the move to half-open is made by the first call after it (no automatic
  transition, the default).
- Half-open: `half_open_calls` calls are let through in all (permits are not given back when one
  ends); their outcomes fill a count window of that size judged from min(`minimum_calls`,
  `half_open_calls`) outcomes on: over a threshold → open again, below → closed with a fresh window.
Outcomes are recorded against the breaker's state when they arrive, whichever state admitted the
call (the state machine hands them to its current state), so a late call from before the break
counts toward the half-open verdict. Rates are compared exactly (integers), not in Java floats.
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..units import Duration
from .base import RetryOn, register
from .breaker import CLOSED, EVERY_FAILURE, HALF_OPEN, OPEN, BreakerBase
from .window import Slices

if TYPE_CHECKING:
    from ..client import Op

CALLS, FAILED, SLOW = 0, 1, 2


class CountWindow:
    """FixedSizeSlidingWindowMetrics: the last `size` calls."""

    __slots__ = ("calls", "totals")

    def __init__(self, size: int) -> None:
        self.calls: deque[tuple[bool, bool]] = deque(maxlen=size)
        self.totals = [0, 0, 0]

    def record(self, now: float, failed: bool, slow: bool) -> list[int]:
        t = self.totals
        if len(self.calls) == self.calls.maxlen:
            old_failed, old_slow = self.calls[0]
            t[CALLS] -= 1
            t[FAILED] -= old_failed
            t[SLOW] -= old_slow
        self.calls.append((failed, slow))
        t[CALLS] += 1
        t[FAILED] += failed
        t[SLOW] += slow
        return t


class TimeWindow:
    """SlidingTimeWindowMetrics: the calls of the last `seconds` epoch seconds, a bucket each."""

    __slots__ = ("slices",)

    def __init__(self, seconds: int) -> None:
        self.slices = Slices(seconds, 1.0, fields=3)

    def record(self, now: float, failed: bool, slow: bool) -> list[int]:
        s = self.slices
        s.add(now, CALLS)
        if failed:
            s.add(now, FAILED)
        if slow:
            s.add(now, SLOW)
        return s.totals


class R4jBreaker:
    __slots__ = ("name", "state", "opened", "until", "window", "permits")

    def __init__(self, name: str | None, window: CountWindow | TimeWindow) -> None:
        self.name, self.state, self.window = name, CLOSED, window
        self.opened = self.until = 0.0
        self.permits = 0


@register("circuit_breaker", style="resilience4j")
class Resilience4jBreaker(BreakerBase):
    """Failure-rate and slow-call-rate breaker over a count or time window, resilience4j's defaults."""

    style: Literal["resilience4j"] = Field("resilience4j", description="resilience4j's CircuitBreaker")
    window_type: Literal["count", "time"] = Field(
        "count", description="slidingWindowType: the last window_size calls (COUNT_BASED) or the calls of the last "
        "window_size seconds (TIME_BASED)")
    window_size: int = Field(default=100, ge=1, description="slidingWindowSize: calls (count) or seconds (time)",
                             json_schema_extra={"unit": "calls or s"})
    minimum_calls: int = Field(default=100, ge=1, description="minimumNumberOfCalls in the window before it judges "
                               "(cut to window_size for a count window)", json_schema_extra={"unit": "calls"})
    failure_rate_threshold: float = Field(default=50.0, gt=0.0, le=100.0, json_schema_extra={"unit": "%"},
                                          description="open when failed / calls reaches this")
    slow_call_rate_threshold: float = Field(default=100.0, gt=0.0, le=100.0, json_schema_extra={"unit": "%"},
                                            description="open when slow / calls reaches this")
    slow_call_duration: Duration = Field(default=60.0, gt=0.0, description="slowCallDurationThreshold: a call "
                                         "longer than this is slow")
    wait_in_open: Duration = Field(default=60.0, ge=0.001, description="waitDurationInOpenState: time open before "
                                   "the next call goes half-open (at least 1 ms)")
    half_open_calls: int = Field(default=10, ge=1, description="permittedNumberOfCallsInHalfOpenState: calls let "
                                 "through when half-open, in all", json_schema_extra={"unit": "calls"})
    failures: list[RetryOn] = Field(default_factory=lambda: list(EVERY_FAILURE),
                                    description="outcomes that count as failures (resilience4j records every "
                                    "exception: conflicts too)")

    def __post_init__(self) -> None:
        super().__post_init__()
        count = self.window_type == "count"
        # CircuitBreakerMetrics: a count window's minimum is cut to its size, a time window's is not
        self.minimum = min(self.minimum_calls, self.window_size) if count else self.minimum_calls
        self.probe_minimum = min(self.minimum_calls, self.half_open_calls)
        f, s = Fraction(str(self.failure_rate_threshold)), Fraction(str(self.slow_call_rate_threshold))
        self.fail_limit, self.slow_limit = (f.numerator, f.denominator * 100), (s.numerator, s.denominator * 100)

    def fresh(self, name: str | None) -> R4jBreaker:
        return R4jBreaker(name, self.closed_window())

    def closed_window(self) -> CountWindow | TimeWindow:
        return CountWindow(self.window_size) if self.window_type == "count" else TimeWindow(self.window_size)

    def due(self, b: R4jBreaker) -> bool:
        return self.env.now > b.until          # OpenState: clock.instant().isAfter(retryAfterWaitDuration)

    def permit(self, b: R4jBreaker, op: "Op") -> bool:
        if b.state is OPEN:
            if not self.due(b):
                return False
            self.half_open(b)
        if b.state is HALF_OPEN:
            if b.permits <= 0 or not self.wrapped.admit(op):
                return False
            b.permits -= 1
            return True
        return self.wrapped.admit(op)

    def over(self, totals: list[int], minimum: int) -> bool | None:
        """None below the minimum number of calls, else whether a rate reached its threshold."""
        n = totals[CALLS]
        if n == 0 or n < minimum:
            return None
        (fn, fd), (sn, sd) = self.fail_limit, self.slow_limit
        return totals[FAILED] * fd >= fn * n or totals[SLOW] * sd >= sn * n

    def observe(self, b: R4jBreaker, op: "Op", failed: bool, duration: float) -> None:
        if b.state is OPEN:
            return                          # recorded into metrics the half-open state discards
        now = self.env.now
        totals = b.window.record(now, failed, duration > self.slow_call_duration)
        if b.state is CLOSED:
            if self.over(totals, self.minimum):
                self.open(b, now)
        else:
            verdict = self.over(totals, self.probe_minimum)
            if verdict:
                self.open(b, now)
            elif verdict is False:
                b.window = self.closed_window()
                self.to_closed(b, now)

    def open(self, b: R4jBreaker, now: float) -> None:
        self.to_open(b, now, now + self.wait_in_open)

    def half_open(self, b: R4jBreaker) -> None:
        b.window = CountWindow(self.half_open_calls)     # CircuitBreakerMetrics.forHalfOpen
        b.permits = self.half_open_calls
        self.to_half_open(b)
