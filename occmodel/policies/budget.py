"""Retry budgets: token buckets that let retries through only while most calls succeed.

Exponential backoff spreads retries out in time but still multiplies load by the number of
attempts when the store is failing; a budget caps that amplification. It wraps another policy
(`inner` schedules the delays) and refuses a retry (`REJECT`: the operation ends as rejected)
when its bucket is short. First attempts are never refused: a budget limits *retries*.
Three styles, each with its own keys (a key of another style is a config error):

- `aws`, the AWS SDKs' standard retry mode (botocore `retries/standard.py`, SDK reference
  "Retry behavior", https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html): the bucket starts full at `capacity` (500). A retry acquires `retry_cost`
  (5), or `timeout_cost` (10) after a timeout, and is refused when fewer tokens are left than
  that (exactly the cost is enough). A successful attempt gives back what that operation's last
  retry acquired, or `success_refund` (1) if it was a first attempt; never above `capacity`.
- `grpc`, gRPC retry throttling (gRFC A6, https://github.com/grpc/proposal/blob/master/A6-client-retries.md,
  `retryThrottling`; A6 requires both fields and has no defaults: 10 and 0.1 are its example's): `max_tokens` (10) to start with; every failed attempt
  (an outcome in this wrapper's `retry_on`) takes 1 (not below 0), every success adds
  `token_ratio` (0.1, capped at `max_tokens`); a retry is allowed only while tokens > max_tokens/2.
- `adaptive`, the per-client bucket of the 2022 retry-amplification study (Marc Brooker, "Fixing retries
  with token buckets and circuit breakers", https://brooker.co.za/blog/2022/02/28/retries.html): `capacity` (5) to
  start with, every attempt adds `per_call` (0.1, capped at `capacity`), a retry costs
  `retry_cost` (1) and is allowed only while tokens > retry_cost. With `refill = "operation"`
  (DESIGN 6.2) the `per_call` tokens are added only when an operation starts (the study's bucket),
  not per attempt (`refill = "attempt"`, the default).

`scope`: `client` (one bucket per client process, as the SDKs do; the default; an open
workload has a single client) or `global`. Tokens are integers in thousandths (gRPC's "three
decimal places"), so the edges (exactly at cost, exactly half full) are exact, never float noise.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from ..errors import ConfigError
from ..outcomes import OK, TIMEOUT
from .base import REJECT, Wrapper, register

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

SCALE = 1000    # tokens are kept in thousandths
STYLES: dict[str, dict[str, float]] = {
    "aws": {"capacity": 500, "retry_cost": 5, "timeout_cost": 10, "success_refund": 1},
    "grpc": {"max_tokens": 10, "token_ratio": 0.1},
    "adaptive": {"capacity": 5, "per_call": 0.1, "retry_cost": 1},
}
STYLE_KEYS = ("capacity", "retry_cost", "timeout_cost", "success_refund", "max_tokens", "token_ratio", "per_call")


def _milli(value: float) -> int:
    return round(value * SCALE)


class Bucket:
    __slots__ = ("tokens",)

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens


@register("retry_budget")
class RetryBudget(Wrapper):
    """A token bucket in front of the inner policy's retries (AWS standard, gRPC or adaptive style)."""

    style: Literal["aws", "grpc", "adaptive"] = Field(
        "aws", description="aws: the AWS SDKs' standard retry bucket; grpc: gRPC retry throttling; adaptive: the "
        "2022 retry-amplification study's per-client bucket (styles envoy, finagle: their own sections)")
    scope: Literal["client", "global"] = Field("client", description="one bucket per client process, or one for all")
    capacity: float | None = Field(default=None, gt=0, description="aws, adaptive: tokens the bucket starts with and "
                                   "holds at most (aws 500, adaptive 5)", json_schema_extra={"unit": "tokens"})
    retry_cost: float | None = Field(default=None, ge=0, description="aws, adaptive: tokens a retry takes "
                                     "(aws 5, adaptive 1)", json_schema_extra={"unit": "tokens"})
    timeout_cost: float | None = Field(default=None, ge=0, description="aws: tokens a retry after a timeout takes (10)",
                                       json_schema_extra={"unit": "tokens"})
    success_refund: float | None = Field(default=None, ge=0, description="aws: tokens a first-attempt success "
                                         "gives back (1)", json_schema_extra={"unit": "tokens"})
    max_tokens: float | None = Field(default=None, gt=0, description="grpc: tokens to start with and at most (10); "
                                     "retries pass while tokens > max_tokens / 2", json_schema_extra={"unit": "tokens"})
    token_ratio: float | None = Field(default=None, ge=0, description="grpc: tokens a success adds (0.1)",
                                      json_schema_extra={"unit": "tokens"})
    per_call: float | None = Field(default=None, ge=0, description="adaptive: tokens each attempt adds (0.1)",
                                   json_schema_extra={"unit": "tokens"})
    refill: Literal["attempt", "operation"] = Field("attempt", description="adaptive: add per_call per attempt, "
                                                    "or only when an operation starts (the study's bucket)")

    def __post_init__(self) -> None:
        super().__post_init__()
        defaults = STYLES[self.style]
        for key in STYLE_KEYS:
            value = getattr(self, key)
            if key not in defaults:
                if value is not None:
                    raise ConfigError(f"policy.{key}", value, f"not a key of style = {self.style!r}; "
                                      f"its keys: style, scope, inner, {', '.join(defaults)}")
            elif value is None:
                setattr(self, key, defaults[key])
        if self.refill != "attempt" and self.style != "adaptive":
            raise ConfigError("policy.refill", self.refill, 'applies to style = "adaptive" only')
        self.full = _milli(self.max_tokens if self.style == "grpc" else self.capacity)   # type: ignore[arg-type]

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.shared = Bucket(self.full)
        self.by_client: dict[int, Bucket] = {}
        style = self.style                     # the per-run constants, in thousandths of a token
        if style == "aws":
            self.cost, self.timeout_milli = _milli(self.retry_cost), _milli(self.timeout_cost)   # type: ignore[arg-type]
            self.gain = _milli(self.success_refund)   # type: ignore[arg-type]
        elif style == "grpc":
            self.gain, self.floor = _milli(self.token_ratio), self.full // 2   # type: ignore[arg-type]
        else:
            self.cost, self.gain = _milli(self.retry_cost), _milli(self.per_call)   # type: ignore[arg-type]

    def bucket(self, op: "Op") -> Bucket:
        if self.scope == "global":
            return self.shared
        cid = op.client.id
        b = self.by_client.get(cid)
        if b is None:
            b = self.by_client[cid] = Bucket(self.full)
        return b

    def tokens(self, op: "Op") -> float:
        """The tokens the bucket `op` answers to holds now (for tests and traces)."""
        return self.bucket(op).tokens / SCALE

    # --- the policy contract -------------------------------------------------------------------
    def admit(self, op: "Op") -> bool:
        if self.refill == "operation" and not op.tries:     # the operation's first attempt: it starts now
            b = self.bucket(op)
            b.tokens = min(self.full, b.tokens + self.gain)
        return self.wrapped.admit(op)

    def record(self, op: "Op", outcome: int) -> None:
        b, style = self.bucket(op), self.style
        if style == "aws":
            if outcome == OK:
                b.tokens = min(self.full, b.tokens + (op.cost or self.gain))
        elif style == "grpc":
            if outcome == OK:
                b.tokens = min(self.full, b.tokens + self.gain)
            elif outcome in self.retryable:
                b.tokens = max(0, b.tokens - SCALE)
        elif self.refill == "attempt":
            b.tokens = min(self.full, b.tokens + self.gain)
        self.wrapped.record(op, outcome)

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        delay = super().retry_delay(op, outcome)
        if delay is None or delay < 0:
            return delay
        b, style = self.bucket(op), self.style
        if style == "aws":
            cost = self.timeout_milli if outcome == TIMEOUT else self.cost
            if b.tokens < cost:
                return REJECT
            b.tokens -= cost
            op.cost = cost
        elif style == "grpc":
            # tokens > max/2, in thousandths: an odd `full` has no exact half, so > floor(full/2) is it
            if b.tokens <= self.floor:
                return REJECT
        else:
            if b.tokens <= self.cost:
                return REJECT
            b.tokens -= self.cost
        return delay
