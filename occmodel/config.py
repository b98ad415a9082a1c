"""The `[scenario]` table as typed models.

Every key of a scenario is a field here (with its type, default and limits), so these models are
the single source of the reference in docs/configuration.md and of `occmodel schema`. Checking is
pydantic's; what the user reads when a check fails is `occmodel.errors`' (`ConfigError` is
re-exported here for callers that import it from its old home).
"""
from __future__ import annotations

import math
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .distributions import ZERO, Distribution
from .errors import ConfigError, validate  # noqa: F401  (ConfigError: its old home, still importable)
from .policies import build_policy
from .units import Capacity, Duration


class StrictModel(BaseModel):
    """A config table: unknown keys are errors (a typo must not silently mean the default)."""

    # strict: `clients = true`, `count = 2.0` and `pipelining = "yes"` are mistakes, not values to coerce
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class KeyChoice(StrictModel):
    count: int = Field(default=1, ge=1)
    choice: Literal["uniform", "zipf", "hotspot"] = "uniform"
    s: float = Field(default=1.1, gt=0)
    hot_keys: int = Field(default=1, ge=1)
    hot_fraction: float = Field(default=0.9, ge=0, le=1)
    affinity: float = Field(default=0.0, ge=0, le=1)   # share of a client's operations on its own keys


# A sanity limit on open arrivals (events per simulated second): past it a run's event count, not
# the model, decides how long it takes (`rate = 1e30` would never finish).
MAX_RATE = 1e6


class RateStep(StrictModel):
    until: Duration | None = None
    rate: float = Field(ge=0, le=MAX_RATE)
    ramp: bool = False        # the rate moves linearly from the previous step's rate to this one's


class Workload(StrictModel):
    kind: Literal["closed", "open", "batch"] = "closed"
    clients: int = Field(default=1, ge=1)
    think: Distribution = ZERO
    rate: float | None = Field(default=None, gt=0, le=MAX_RATE)
    schedule: list[RateStep] | None = None
    ops_per_client: int = Field(default=1, ge=1)
    keys: KeyChoice = KeyChoice()

    @model_validator(mode="after")
    def _rates(self) -> "Workload":
        if self.kind == "open" and (self.rate is None) == (self.schedule is None):
            raise ValueError("an open workload needs exactly one of rate (arrivals/s) or schedule")
        if self.schedule:
            untils = [s.until for s in self.schedule]
            if any(u is None for u in untils[:-1]) or untils != sorted(untils, key=lambda u: math.inf if u is None else u):
                raise ValueError("schedule steps need increasing 'until' times; only the last may omit it")
            if self.schedule[0].ramp or self.schedule[-1].ramp and self.schedule[-1].until is None:
                raise ValueError("ramp = true needs a previous step to ramp from and an 'until' to ramp to")
        return self


class Network(StrictModel):
    one_way: Distribution = ZERO
    pipelining: bool = True
    coalesce: Duration = 0.0
    loss: float = Field(default=0.0, ge=0, lt=1)


class Server(StrictModel):
    capacity: Capacity = math.inf
    service: Distribution = ZERO
    per_inflight: Duration = 0.0
    batch_interval: Duration = 0.0


class History(StrictModel):
    initial_events: int = Field(default=0, ge=0)
    per_event: Duration = 0.0


class _Window(StrictModel):
    start: Duration | None = None
    end: Duration | None = None
    target: Literal["all", "read", "commit"] = "all"

    @model_validator(mode="after")
    def _ordered(self) -> "_Window":
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}s) must be after start ({self.start}s)")
        return self


class DownFault(_Window):
    kind: Literal["down"]
    mode: Literal["fail_fast", "hang"] = "fail_fast"


class SlowFault(_Window):
    kind: Literal["slow"]
    factor: float = Field(gt=0)


class ErrorFault(_Window):
    kind: Literal["error"]
    probability: float = Field(ge=0, le=1)


Fault = typing.Annotated[DownFault | SlowFault | ErrorFault, Field(discriminator="kind")]


class Store(StrictModel):
    conflict: Literal["expected_version", "read_set"] = "expected_version"
    mvcc_window: Duration = 5.0
    read: Server = Server()
    commit: Server = Server()
    history: History = History()
    faults: list[Fault] = []

    @model_validator(mode="after")
    def _no_read_batching(self) -> "Store":
        if self.read.batch_interval:
            raise ValueError("batch_interval applies to commits only (store.commit.batch_interval)")
        return self


class Operation(StrictModel):
    kind: Literal["append", "reload", "value_check", "transaction", "call"] = "append"
    reads: int = Field(default=1, ge=0)
    writes: int = Field(default=1, ge=0)
    compute: Distribution = ZERO
    timeout: Duration = 0.0
    # only an operation's first attempt trusts the cache (a retry has read fresh versions), so at
    # most one failed value check can earn a free retry: 0 or 1, anything else is rejected
    value_check_retries: int = Field(default=1, ge=0, le=1)


class Scenario(StrictModel):
    """The model of one sweep point; `policy` stays a table, built per run by `policies.build`."""

    workload: Workload = Workload()
    network: Network = Network()
    store: Store = Store()
    operation: Operation = Operation()
    policy: dict[str, Any] = {"kind": "none"}

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        op, keys = self.operation, self.workload.keys.count
        if max(op.reads, op.writes) > keys:   # the key sampler draws distinct keys: it would never finish
            raise ValueError(f"an attempt touches max(reads, writes) = {max(op.reads, op.writes)} distinct keys "
                             f"but workload.keys.count is {keys}")
        w = self.workload
        if w.keys.affinity and w.kind == "open":
            raise ValueError("workload.keys.affinity needs clients that own keys: a closed or batch workload")
        if w.keys.affinity == 1 and len(range(0, keys, w.clients)) < max(op.reads, op.writes, 1):
            raise ValueError(f"with workload.keys.affinity = 1 each client draws only from its own "
                             f"{keys // w.clients or 1} key(s), fewer than the {max(op.reads, op.writes)} "
                             "distinct keys an attempt needs")
        if op.kind in ("append", "reload") and op.writes > op.reads:
            raise ValueError(f"operation.kind = {op.kind!r} writes keys it read: writes ({op.writes}) must be <= reads ({op.reads})")
        delays = [self.workload.think, self.network.one_way, self.store.read.service, self.store.commit.service,
                  op.compute]
        if self.workload.kind == "closed" and all(d.dist == "constant" and d.value == 0 for d in delays):
            raise ValueError("a closed workload in which every delay is zero never advances simulated time: "
                             "give think, network.one_way, a service time or operation.compute a positive value")
        hangs = self.network.loss > 0 or any(f.kind == "down" and f.mode == "hang" for f in self.store.faults)
        if hangs and op.timeout == 0:
            raise ValueError("lost messages and hanging faults are only found by a request timeout: set operation.timeout > 0")
        return self


def validate_scenario(data: Any, prefix: str = "scenario", base: Any = None) -> Scenario:
    """A `Scenario` from a `[scenario]`-shaped mapping, or one clear `ConfigError`; relative file
    paths in it (empirical `csv`) are resolved against the folder `base` (the config's)."""
    if isinstance(data, Scenario):
        return data
    if not isinstance(data, dict):
        raise ConfigError(prefix, data, "expected a table")
    scenario = validate(Scenario, data, prefix, {"base": base})
    build_policy(scenario.policy, f"{prefix}.policy")
    return scenario
