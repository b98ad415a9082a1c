"""Polly v8's circuit breaker (`circuit_breaker`, `style = "polly"`), with its defaults.

Modelled on the circuit breaker strategy (https://www.pollydocs.org/strategies/circuit-breaker,
"Defaults"; API page of `CircuitBreakerStrategyOptions`) and the Polly.Core code it describes
(`CircuitStateController`, `AdvancedCircuitBehavior`, `RollingHealthMetrics`). Keys and defaults:
`failure_ratio` (FailureRatio 0.1), `minimum_throughput` (MinimumThroughput 100, at least 2),
`sampling_duration` (SamplingDuration 30 s, 0.5 s to 1 day), `break_duration` (BreakDuration 5 s,
0.5 s to 1 day). The default ShouldHandle handles every exception (but a cancellation), so
`failures` defaults to every retryable outcome, conflicts included.

- Closed: successes and failures are counted in a rolling window of 10 sub-windows of
  sampling_duration / 10; a sub-window starts at the first outcome after the previous one's span
  ended, and falls out once sampling_duration has passed since its start. The break is decided on
  a *failure* only: throughput (outcomes in the window) >= minimum_throughput and failures /
  throughput >= failure_ratio → open for break_duration.
- Open: calls are refused (BrokenCircuitException) until break_duration has passed (>=); the first
  call after it moves the breaker to half-open and is the one probe. Outcomes that arrive while
  open (calls placed before the break) are counted, nothing more.
- Half-open: every other call is refused while the probe is out. The next outcome to arrive decides
  — the probe's or a late one's: a success closes the breaker (the window is reset), a failure
  opens it for another break_duration (failures are not counted while half-open).
Ratios are compared exactly (integers), not in doubles.
"""
from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..units import Duration
from .base import RetryOn, register
from .breaker import CLOSED, EVERY_FAILURE, HALF_OPEN, OPEN, BreakerBase

if TYPE_CHECKING:
    from ..client import Op

WINDOWS = 10            # HealthMetrics.NumberOfWindows
DAY = 86400.0


class Health:
    """RollingHealthMetrics: sub-windows [start, successes, failures] and their running sums."""

    __slots__ = ("windows", "span", "sampling", "successes", "failures")

    def __init__(self, sampling: float) -> None:
        self.windows: deque[list] = deque()
        self.sampling, self.span = sampling, sampling / WINDOWS
        self.successes = self.failures = 0

    def current(self, now: float) -> list:
        w = self.windows
        if not w or now - w[-1][0] >= self.span:
            w.append([now, 0, 0])
        while now - w[0][0] >= self.sampling:
            _, successes, failures = w.popleft()
            self.successes -= successes
            self.failures -= failures
        return w[-1]

    def add(self, now: float, failed: bool) -> None:
        self.current(now)[1 + failed] += 1
        if failed:
            self.failures += 1
        else:
            self.successes += 1

    def reset(self) -> None:
        self.windows.clear()
        self.successes = self.failures = 0


class PollyBreaker:
    __slots__ = ("name", "state", "opened", "until", "health")

    def __init__(self, name: str | None, sampling: float) -> None:
        self.name, self.state, self.health = name, CLOSED, Health(sampling)
        self.opened = self.until = 0.0


@register("circuit_breaker", style="polly")
class PollyCircuitBreaker(BreakerBase):
    """Failure ratio over a rolling sampling window, one probe after each break; Polly v8's defaults."""

    style: Literal["polly"] = Field("polly", description="Polly v8's circuit breaker strategy")
    failure_ratio: float = Field(default=0.1, ge=0.0, le=1.0, description="FailureRatio: break when failures / "
                                 "outcomes in the sampling window reaches this (judged on a failure)")
    minimum_throughput: int = Field(default=100, ge=2, description="MinimumThroughput: outcomes in the sampling "
                                    "window before it judges (at least 2)", json_schema_extra={"unit": "calls"})
    sampling_duration: Duration = Field(default=30.0, ge=0.5, le=DAY, description="SamplingDuration: the rolling "
                                        "window, 10 sub-windows (0.5 s to 1 day)")
    break_duration: Duration = Field(default=5.0, ge=0.5, le=DAY, description="BreakDuration: time open before "
                                     "the next call is the one probe (0.5 s to 1 day)")
    failures: list[RetryOn] = Field(default_factory=lambda: list(EVERY_FAILURE),
                                    description="outcomes that count as failures (Polly's default ShouldHandle "
                                    "handles every exception: conflicts too)")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.ratio = Fraction(str(self.failure_ratio))

    def fresh(self, name: str | None) -> PollyBreaker:
        return PollyBreaker(name, self.sampling_duration)

    def permit(self, b: PollyBreaker, op: "Op") -> bool:
        if b.state is CLOSED:
            return self.wrapped.admit(op)
        if b.state is HALF_OPEN or not self.due(b) or not self.wrapped.admit(op):
            return False
        self.to_half_open(b)                # this call is the probe
        return True

    def observe(self, b: PollyBreaker, op: "Op", failed: bool, duration: float) -> None:
        now, h = self.env.now, b.health
        if not failed:
            h.add(now, False)
            if b.state is HALF_OPEN:
                h.reset()
                self.to_closed(b, now)
        elif b.state is HALF_OPEN:
            self.open(b, now)
        else:
            h.add(now, True)
            if b.state is CLOSED:
                h.current(now)             # GetHealthInfo brings the window up to date
                total, r = h.successes + h.failures, self.ratio
                if total >= self.minimum_throughput and h.failures * r.denominator >= r.numerator * total:
                    self.open(b, now)

    def open(self, b: PollyBreaker, now: float) -> None:
        self.to_open(b, now, now + self.break_duration)

    def half_open(self, b: PollyBreaker) -> None:
        self.to_half_open(b)
