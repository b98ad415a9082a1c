"""The retry-policy contract and its registry.

A policy decides three things for an operation: may an attempt start now (`admit`: breakers
and budgets say no), what it learns from an attempt's outcome (`record`), and after a failure
whether to retry and after what delay (`retry_delay`). Subclasses of `Policy` usually write only
`backoff`; the common limits (`max_attempts`, `deadline`, `retry_on`) live here once.

Policies are pydantic dataclasses: the fields are the config keys (validated, with defaults),
and the instance built for a run also holds that run's state. Register one with `@register`.
"""
from __future__ import annotations

import dataclasses
import difflib
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass

from ..errors import ConfigError, from_pydantic
from ..outcomes import OK, RETRYABLE
from ..units import Duration, ValueType

if TYPE_CHECKING:
    from ..client import Op
    from ..model import Simulation

REJECT = -1.0  # a `retry_delay` meaning "a breaker or budget refused": the operation is rejected
REGISTRY: dict[str, type["Policy"]] = {}
STYLED: dict[tuple[str, str], type["Policy"]] = {}   # (kind, style) -> a library's own class
RetryOn = Literal["conflict", "error", "timeout", "too_old"]
# a policy table stays a mapping in the config models (built per run by `build_policy`); its JSON
# Schema is the union of every registered policy's, which occmodel.reference assembles and puts
# where this placeholder stands (pydantic resolves references itself, so it cannot be one yet)
POLICY_SCHEMA = {"occmodel": "policy"}
PolicyTable = Annotated[dict[str, Any], ValueType("policy", "a policy table: kind and that kind's keys (see Policies)",
                                                  POLICY_SCHEMA)]


def validated(cls: type) -> type:
    """Make `cls` a strict pydantic dataclass: its fields are config keys (for a base class that is
    not itself a policy kind; `register` applies it to those that are)."""
    return dataclass(config=ConfigDict(extra="forbid", arbitrary_types_allowed=True, strict=True), kw_only=True)(cls)


def register(kind: str, style: str | None = None):
    """Class decorator: make `cls` a validated dataclass and the policy for `kind = "<kind>"`
    (with `style`: for `kind = "<kind>", style = "<style>"`, a library's mechanism of its own)."""

    def wrap(cls: type) -> type:
        cls = validated(cls)
        cls.KIND = kind
        if style is None:
            REGISTRY[kind] = cls
        else:
            STYLED[(kind, style)] = cls
        return cls

    return wrap


def build_policy(table: Any, path: str = "policy") -> "Policy":
    """A fresh policy object (with fresh state) from a `[policy]`-shaped table."""
    if not isinstance(table, dict):
        raise ConfigError(path, table, "expected a table with a 'kind' key")
    kind = table.get("kind")
    if not isinstance(kind, str) or kind not in REGISTRY:     # a table or list as kind: not hashable
        raise ConfigError(f"{path}.kind", kind, f"expected one of {', '.join(sorted(REGISTRY))}")
    if "style" in table and table["style"] not in styles(kind):
        known = styles(kind)
        allowed = f"expected one of {', '.join(map(repr, known))}" if known else f"kind = {kind!r} has no styles"
        if known and "style" not in REGISTRY[kind].__pydantic_fields__:
            allowed += " (or no style: the project's own)"
        raise ConfigError(f"{path}.style", table["style"], allowed)
    cls = STYLED.get((kind, table.get("style")), REGISTRY[kind])
    args = {k: v for k, v in table.items() if k != "kind"}
    try:
        return cls(**args)
    except ValidationError as exc:
        err = from_pydantic(exc, args, path)
        if err.allowed.startswith("Unexpected keyword argument"):
            allowed = sorted(f.name for f in dataclasses.fields(cls))
            hint = difflib.get_close_matches(err.path.rsplit(".", 1)[-1], allowed, n=1)
            what = f"kind = {kind!r}" + (f", style = {table['style']!r}" if "style" in table else "")
            err = ConfigError(err.path, err.value, f"unknown key for {what}; allowed keys: kind, "
                              f"{', '.join(allowed)}" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        raise err from None
    except ConfigError as exc:
        # raised while building an inner policy, which names its keys from "policy": re-root them here
        if path != "policy" and exc.path.startswith("policy"):
            raise ConfigError(path + exc.path[len("policy"):], exc.value, exc.allowed) from None
        raise


def styles(kind: str) -> list[str]:
    """Every `style` a kind accepts: its own class's (a `style` field's choices) and the libraries'."""
    own = REGISTRY[kind].__pydantic_fields__.get("style")
    mine = set(get_args(own.annotation)) if own is not None else set()
    return sorted(mine | {style for k, style in STYLED if k == kind})


@validated
class Policy:
    """Base: retry every listed failure, up to `max_attempts` attempts and within `deadline`."""

    KIND: ClassVar[str] = ""
    # the delay depends only on the operation (and its client's jitter draws), never on the clock
    # or on other operations: the lean path may then decide a retry before its reply arrives
    TIMELESS: ClassVar[bool] = False
    label: str | None = Field(None, description="the policy's name in results, plots and bounds (required in [sweep] policy lists)")
    max_attempts: int = Field(default=10, ge=0, description="attempts in all, first included; 0 = unlimited",
                              json_schema_extra={"unit": "attempts"})
    deadline: Duration = Field(0.0, description="per-operation time limit: no retry that would start after it; 0 = none")
    retry_on: list[RetryOn] = Field(default_factory=lambda: ["conflict", "error", "timeout", "too_old"],
                                    description="which failed outcomes are retried (others end the operation)")

    def bind(self, sim: "Simulation") -> None:
        """Attach to one run: the clock and the metrics. Called once per run. Random draws
        (jitter) come from the operation's client, `op.client.jitter()`: a stream per client."""
        self.env = sim.env
        self.sim = sim
        self.retryable = frozenset(RETRYABLE[name] for name in self.retry_on)

    def admit(self, op: "Op") -> bool:
        return True

    def record(self, op: "Op", outcome: int) -> None:
        """Learn from an attempt's outcome (breakers count failures, budgets refund)."""

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        """Delay before the next attempt, None to give up, or `REJECT`."""
        if outcome not in self.retryable or 0 < self.max_attempts <= op.attempts:
            return None
        delay = self.backoff(op, outcome)
        if self.deadline and self.env.now + delay >= op.start + self.deadline:
            return None
        op.retries += 1
        return delay

    def backoff(self, op: "Op", outcome: int) -> float:
        """The delay before retry number `op.retries` (0 for the first retry)."""
        raise NotImplementedError

    def state(self, op: "Op") -> str | None:
        """The breaker state an operation sees (for traces); None when there is no breaker."""
        return None

    def finish(self, end: float) -> None:
        """The run ended at `end`: settle anything still open (breaker open time)."""

    def hedging(self) -> Any:
        """The `hedge` policy in this chain, if any (the client hedges its round trips by it)."""
        return None

    def request_timeout(self, op: "Op", timeout: float) -> float:
        """The timeout for a request now: the per-request one, cut to what the deadline leaves."""
        if not self.deadline:
            return timeout
        left = op.start + self.deadline - self.env.now
        return left if not timeout or left < timeout else timeout


@validated
class Wrapper(Policy):
    """A policy around another (`inner`): the inner one schedules, the wrapper may refuse."""

    inner: PolicyTable = Field(default_factory=lambda: {"kind": "exponential"},
                               description="the policy that schedules the retries (a policy table)")
    max_attempts: int = Field(default=0, ge=0, description="attempts in all over the inner policy's own limit; "
                              "0 = leave it to the inner policy", json_schema_extra={"unit": "attempts"})

    def __post_init__(self) -> None:
        self.wrapped = build_policy(self.inner, "policy.inner")
        inner = self.wrapped
        while isinstance(inner, Wrapper):   # two of a kind (any styles) would share their slots on `Op`
            if inner.KIND == self.KIND:
                raise ConfigError("policy.inner.kind", self.KIND, f"a {self.KIND} cannot wrap another one")
            inner = inner.wrapped

    def bind(self, sim: "Simulation") -> None:
        super().bind(sim)
        self.wrapped.bind(sim)
        self.deadline = self.deadline or self.wrapped.deadline

    def admit(self, op: "Op") -> bool:
        return self.wrapped.admit(op)

    def record(self, op: "Op", outcome: int) -> None:
        self.wrapped.record(op, outcome)

    def retry_delay(self, op: "Op", outcome: int) -> float | None:
        if 0 < self.max_attempts <= op.attempts:
            return None
        return self.wrapped.retry_delay(op, outcome)

    def state(self, op: "Op") -> str | None:
        return self.wrapped.state(op)

    def finish(self, end: float) -> None:
        self.wrapped.finish(end)

    def hedging(self) -> Any:
        return self.wrapped.hedging()


__all__ = ["OK", "REJECT", "REGISTRY", "Policy", "Wrapper", "build_policy", "register", "validated"]
