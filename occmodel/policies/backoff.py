"""Delay schedules: the retry patterns that differ only in how long they wait.

`k` is `op.retries`, 0 for the first retry. Jittered delays draw from the run's `policy`
random stream, so they never disturb the arrival, key or latency streams (common random numbers).
Exponential backoff and the full, equal and decorrelated jitters are those of the AWS Architecture
Blog's "Exponential Backoff And Jitter" (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/);
`fdb` is `fdb_transaction_on_error` (https://apple.github.io/foundationdb/api-c.html#c.fdb_transaction_on_error)
with the client knobs DEFAULT_BACKOFF 0.01 s, DEFAULT_MAX_BACKOFF 1 s, BACKOFF_GROWTH_RATE 2.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..outcomes import TOO_OLD
from ..units import Duration
from .base import Policy, register

if TYPE_CHECKING:
    from ..client import Op


@register("none")
class NoRetry(Policy):
    """Fail on the first failure."""

    TIMELESS = True

    max_attempts: int = Field(default=1, ge=1, le=1, description="always 1: one attempt, no retry",
                              json_schema_extra={"unit": "attempts"})

    def backoff(self, op: "Op", outcome: int) -> float:
        return 0.0


@register("immediate")
class Immediate(Policy):
    """Retry at once: the fastest single retry, and the recipe for a retry storm."""

    TIMELESS = True

    def backoff(self, op: "Op", outcome: int) -> float:
        return 0.0


@register("exponential")
class Exponential(Policy):
    """delay_k = min(cap, base × multiplier^k): spreads retries in time, but in lock-step."""

    base: Duration = Field(0.01, description="delay before the first retry")
    cap: Duration = Field(1.0, description="longest delay")
    multiplier: float = Field(default=2.0, ge=1, description="growth factor of the delay per retry",
                              json_schema_extra={"unit": "×"})
    TIMELESS = True

    def exp(self, k: int) -> float:
        return min(self.cap, self.base * self.multiplier ** min(k, 1000))

    def backoff(self, op: "Op", outcome: int) -> float:
        return self.exp(op.retries)


@register("jitter")
class Jitter(Exponential):
    """Randomised exponential backoff: clients that collided once stop colliding in lock-step.

    full: U(0, exp_k); equal: exp_k/2 + U(0, exp_k/2); additive: exp_k + U(0, exp_k);
    decorrelated: d = min(cap, U(base, 3·d_prev)), d_0 = base (state kept per operation).
    """

    mode: Literal["full", "equal", "decorrelated", "additive"] = Field(
        "full", description="full: U(0, e); equal: e/2 + U(0, e/2); additive: e + U(0, e), with e the exponential "
        "delay; decorrelated: min(cap, U(base, 3 × previous delay))")

    def backoff(self, op: "Op", outcome: int) -> float:
        mode = self.mode
        if mode == "decorrelated":
            prev = op.prev_delay or self.base
            op.prev_delay = delay = min(self.cap, self.base + op.client.jitter() * (3 * prev - self.base))
            return delay
        e = min(self.cap, self.base * self.multiplier ** min(op.retries, 1000))    # self.exp, inlined
        if mode == "full":
            return op.client.jitter() * e
        if mode == "equal":
            return e / 2 + op.client.jitter() * e / 2
        return e + op.client.jitter() * e


@register("fdb")
class FoundationDB(Policy):
    """FoundationDB's `onError` loop: delay = U(0,1) × backoff, backoff doubling from 10 ms to
    `cap`; unlimited retries by default; transaction-too-old retried after a fixed 10 ms."""

    max_attempts: int = Field(default=0, ge=0, description="attempts in all; 0 = unlimited (FoundationDB's default)",
                              json_schema_extra={"unit": "attempts"})
    base: Duration = Field(0.01, description="first backoff before jitter (doubles per retry)")
    cap: Duration = Field(1.0, description="largest backoff before jitter")
    too_old_delay: Duration = Field(0.01, description="fixed delay before retrying a transaction-too-old")
    TIMELESS = True

    def backoff(self, op: "Op", outcome: int) -> float:
        if outcome == TOO_OLD:
            return self.too_old_delay
        backoff = min(self.cap, self.base * 2.0 ** min(op.retries, 1000))
        return op.client.jitter() * backoff


@register("reload")
class Reload(Policy):
    """On a conflict, re-read the whole history (state reload) and retry after base × (k + 1).

    The reload makes each retry dearer as the stream grows (`store.history.per_event`)."""

    base: Duration = Field(0.01, description="delay step: retry k waits base × (k + 1)")
    cap: Duration = Field(1.0, description="longest delay")
    TIMELESS = True

    def backoff(self, op: "Op", outcome: int) -> float:
        op.reload = True
        return min(self.cap, self.base * (op.retries + 1))
